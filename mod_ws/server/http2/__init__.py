"""The HTTP/2 carrier (RFC 9113), chosen by ALPN h2 on the TLS port with --http2.

WebSockets open on its streams by extended CONNECT (RFC 8441), through the same shared
accept and session as an HTTP/1.1 Upgrade; the status page and static files are
served on its streams too, so a browser loads a page and opens its WebSockets on one
connection. The `h2` library (the `mod_ws[h2]` extra) keeps the connection's state.

- `connection`: one HTTP/2 connection: its reader, its streams' threads, flow control
  both ways, GOAWAY and shutdown;
- `stream`: what one request stream is answered with (a WebSocket, a page, a refusal).
"""
