"""An echo client on the `websockets` library's sync API, for the client suite.

    python websockets_echo.py ws://127.0.0.1:PORT/cases/1.1.1?agent=websockets

Connects (offering permessage-deflate, the library's default), sends back every
message as it came, text as text and binary as binary, and ends when the connection
does. Everything else is the library's: answering pings and closes, and failing the
connection on a protocol violation. max_size is 32 MiB so the 16 MiB case fits; the
exit status is 0 after a clean close, 1 otherwise (the suite judges on the wire, not
by this).
"""

from __future__ import annotations

import sys

from websockets.exceptions import ConnectionClosedOK, WebSocketException
from websockets.sync.client import connect

MAX_SIZE = 32 * 1024 * 1024


def main(url: str) -> int:
    try:
        with connect(url, max_size=MAX_SIZE, open_timeout=10, close_timeout=3) as ws:
            for message in ws:
                ws.send(message)
    except ConnectionClosedOK:
        return 0
    except (WebSocketException, OSError) as e:
        print(f"websockets_echo: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
