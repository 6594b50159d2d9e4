"""`python -m mod_ws.client_suite`: the runner (mod_ws.client_suite.runner)."""

import sys

from mod_ws.client_suite.runner import main

sys.exit(main())
