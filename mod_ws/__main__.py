"""`python -m mod_ws` starts the standalone server."""

import sys

from mod_ws.standalone import main

sys.exit(main())
