"""Every default limit and timeout of mod_ws, written once.

The command line and the config file (mod_ws.options), the embedding API
(mod_ws.server.config.ServerConfig, mod_ws.standalone) and the protocol core
(mod_ws.protocol) all read these names, so a default cannot differ between them.
"""

# Listening.
PORT = 80
BACKLOG = 128

# Request heads (HTTP/1.1).
REQUEST_TIMEOUT = 10.0  # seconds to receive a whole request head
# Seconds for a whole opening handshake: its request head, the handler's
# web_socket_do_extra_handshake, up to the 101.
HANDSHAKE_TIMEOUT = 10.0
MAX_REQUEST_HEADER_SIZE = 16384  # bytes of request line plus header fields
MAX_HEADER_COUNT = 100  # header fields in one request

# WebSocket sessions.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024  # bytes of one received message (after inflating)
CLOSE_TIMEOUT = 5.0  # seconds to wait for the peer's close frame
SEND_TIMEOUT = 30.0  # seconds one write may stay blocked by a peer that stopped reading
# Keepalive (--ping-interval, --ping-timeout): off by default, as in pywebsocket3.
PING_TIMEOUT = 20.0  # seconds for the pong to a keepalive ping, once pinging is on
# Seconds to drain unread input after a refusal or a failure, so that our last bytes
# are not turned into a reset (never longer than the close timeout).
LINGER_TIMEOUT = 2.0

# TLS: the implementations --tls-module names, and the one used by default.
TLS_MODULES = ("pyopenssl", "ssl")
TLS_MODULE = "pyopenssl"

# CGI: seconds a CGI program may run before it is killed (504).
CGI_TIMEOUT = 30.0

# Shutdown.
SHUTDOWN_TIMEOUT = 5.0  # seconds to wait for connection threads to finish
