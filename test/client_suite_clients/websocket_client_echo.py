"""An echo client on the `websocket-client` library (WebSocketApp), for the client suite.

    python websocket_client_echo.py ws://127.0.0.1:PORT/cases/1.1.1?agent=websocket-client

Runs the library's own event loop (`run_forever`, UTF-8 validation on) and sends
back every message from `on_message`: str (text) as text, bytes (binary) as binary.
(`on_data` would not do: for a message that came in fragments it is given the last
frame's opcode, continuation, instead of text or binary.) Pings, closes and errors
are left to the library, as an application using it would. websocket-client
implements no extensions, so it offers none.
"""

from __future__ import annotations

import sys

import websocket
from websocket import ABNF


def main(url: str) -> int:
    errors: list[str] = []

    def on_message(ws: websocket.WebSocketApp, message: str | bytes) -> None:
        ws.send(message, ABNF.OPCODE_TEXT if isinstance(message, str) else ABNF.OPCODE_BINARY)

    def on_error(_ws: websocket.WebSocketApp, error: Exception) -> None:
        errors.append(f"{type(error).__name__}: {error}")

    app = websocket.WebSocketApp(url, on_message=on_message, on_error=on_error)
    app.run_forever(skip_utf8_validation=False)
    for error in errors:
        print(f"websocket_client_echo: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
