"""Answers the opening handshake itself, wrongly: a 101 with a bad Sec-WebSocket-Accept.

A handler may write any response it likes with `request.connection.write` and then
raise AbortedByUserException, so the server adds nothing of its own. A client must
refuse this connection (RFC 6455 section 4.1: the accept value must match the key).
Add `?good` to the URL to get a correct 101 written the same way (then the server
writes nothing more either: the connection just closes).
"""

from mod_ws.handshake import AbortedByUserException
from mod_ws.handshake.hybi import compute_accept_from_unicode


def web_socket_do_extra_handshake(request):
    key = request.headers_in["Sec-WebSocket-Key"]
    accept = compute_accept_from_unicode(key).decode("ascii") if request.ws_resource.endswith("?good") \
        else "bm90IHRoZSByaWdodCB2YWx1ZQ=="
    request.connection.write(
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    raise AbortedByUserException("the handler wrote its own response")


def web_socket_transfer_data(request):
    pass  # never reached: the handshake was aborted after the handler's own response
