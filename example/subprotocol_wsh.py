"""Chooses a subprotocol by the server's preference, then echoes with a prefix.

Shows `request.ws_requested_protocols` (what the client offered in
Sec-WebSocket-Protocol, None if nothing) and `request.ws_protocol` (the one chosen;
it goes back in the 101 response).

The server speaks `chat.v2` and `chat.v1` and prefers chat.v2, whatever order the
client lists them in. Then:
  * the client offered at least one of them: the most preferred one is chosen;
  * the client offered subprotocols, none of them known: the handshake is refused
    with 400 Bad Request. Accepting without a subprotocol would be allowed
    (RFC 6455 section 4.2.2), but a client that asks for one usually cannot work
    without it, and a refusal says so plainly;
  * the client offered none: accepted without a subprotocol.
Every message comes back prefixed with the protocol: "[chat.v2] hello", or
"[none] hello".

Try it (server started with `-d example` on port 8880):
    python example/echo_client.py -r /subprotocol --protocol chat.v1,chat.v2 -m hello
    python example/echo_client.py -r /subprotocol --protocol chat.v3 -m hello   # 400
"""

from mod_ws import handshake, msgutil

# Most preferred first.
_SUPPORTED = ("chat.v2", "chat.v1")


def web_socket_do_extra_handshake(request):
    offered = request.ws_requested_protocols
    if not offered:
        return  # no subprotocol asked for: none chosen
    for protocol in _SUPPORTED:
        if protocol in offered:
            request.ws_protocol = protocol
            return
    raise handshake.HandshakeException(
        "no supported subprotocol offered (supported: %s)" % ", ".join(_SUPPORTED), 400)


def web_socket_transfer_data(request):
    prefix = "[%s] " % (request.ws_protocol or "none")
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        if isinstance(message, bytes):
            msgutil.send_message(request, prefix.encode("ascii") + message, binary=True)
        else:
            msgutil.send_message(request, prefix + message)
