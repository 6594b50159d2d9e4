"""The sans-I/O WebSocket core: bytes in, events out; events in, bytes out.

Nothing in this package opens, reads or writes a socket, starts a thread or sleeps.
It holds every rule of RFC 6455 and RFC 7692 that does not depend on how the bytes
travel, so each carrier (HTTP/1.1 over TCP or TLS, later HTTP/2 and HTTP/3 streams)
runs the same rules:

- `frames`: the frame codec (headers in and out of bytes, masking);
- `messages`: the frame-read sequence over a buffered byte source (limits,
  unmasking, UTF-8, inflate, fragmentation) that yields messages and control events;
- `closing`: the close handshake as one state machine, and the close payload rules;
- `deflate`: the permessage-deflate transforms;
- `opening`: the opening-handshake checks every carrier shares (version,
  subprotocols, extensions, origin) and the fields of a successful answer;
- `headers`: the case-insensitive header table handed to handlers as `headers_in`.
"""
