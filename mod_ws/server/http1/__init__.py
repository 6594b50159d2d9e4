"""The HTTP/1.1 carrier: one TCP (or TLS) connection, its request heads, the Upgrade
handshake (RFC 6455 section 4) and the static files served beside it.

- `request_head`: parsing request lines and header fields (RFC 9112);
- `upgrade`: the checks only an HTTP/1.1 Upgrade has (GET, HTTP/1.1, Host, Upgrade,
  Connection, Sec-WebSocket-Key) and its 101 response with Sec-WebSocket-Accept;
- `connection`: one connection's life, from its first request head to its last byte.
"""
