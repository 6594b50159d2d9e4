"""The threaded shell: sockets, threads and the carriers that bring WebSocket sessions.

- `listener`: listening sockets and the server object, a thread per connection;
- `workers`: the threads that wait for connections and serve them;
- `transport`: the byte source/sink under a connection (`Transport`, `SocketTransport`,
  the transport factory seam) and the buffered reader over it;
- `config`: what every connection needs from the server's options;
- `accept`: the opening-handshake steps every carrier shares (client checks, the
  request object, dispatch, the extra handshake, negotiation);
- `session`: `Stream`, the blocking message API handlers call, and the session's run
  from the handler's start to the last byte;
- `request`: the request and connection objects handed to handlers;
- `static_files`: resolving and describing files under the document root;
- `tls`: the TLS context (pyOpenSSL or `ssl`) and `TlsTransport`, the TLS side of the seam;
- `basic_auth`: the HTTP Basic check every request passes with --basic-auth;
- `cgi`: CGI programs under --cgi-paths;
- `http1/`: the HTTP/1.1 carrier (request heads, the Upgrade handshake and its 101,
  static files, the connection's life cycle). HTTP/2 and HTTP/3 carriers go beside it.

The shell holds no protocol rules of its own: those live in `mod_ws.protocol`.
"""
