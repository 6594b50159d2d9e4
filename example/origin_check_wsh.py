"""Accepts browsers only from this machine's own pages, then echoes.

Shows how a handler checks the Origin header in web_socket_do_extra_handshake and
refuses a handshake with an HTTP status of its choosing.

Accepted:
  * an Origin of http:// or https:// on 127.0.0.1, localhost or [::1], any port
    (the pages this server itself serves, such as console.html);
  * no Origin at all: non-browser clients (echo_client.py, the websockets library)
    do not send one, and Origin protects nothing against them anyway.
Refused with 403 Forbidden: every other origin, including `null`, the origin that
sandboxed iframes and file:// pages send - any page can make itself `null`, so it
proves nothing about where the page came from.

Try it (server started with `-d example` on port 8880):
    python example/echo_client.py -r /origin_check --origin http://localhost:8880
    python example/echo_client.py -r /origin_check --origin http://example.com   # 403
"""

from urllib.parse import urlsplit

from mod_ws import handshake, msgutil

_ALLOWED_SCHEMES = ("http", "https")
_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")


def _origin_allowed(origin):
    if origin is None:
        return True  # not a browser
    try:
        parts = urlsplit(origin)
    except ValueError:  # such as an unclosed [ in an IPv6 address
        return False
    return parts.scheme in _ALLOWED_SCHEMES and parts.hostname in _ALLOWED_HOSTS


def web_socket_do_extra_handshake(request):
    if not _origin_allowed(request.ws_origin):
        # The status rides on the exception: the client gets "403 Forbidden".
        raise handshake.HandshakeException(
            "origin %r is not allowed" % request.ws_origin, 403)


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        msgutil.send_message(request, message, binary=isinstance(message, bytes))
