"""Reads the client's cookies and sets one on the 101 response, then echoes.

Shows `request.headers_in` (the request's header fields) and
`request.extra_headers` (fields added to the handshake response).

The first message the server sends is the Cookie header it received, as
`cookie: <value>`, or `cookie: (none)`. The 101 response sets
`ws_visits=N`, one more than the ws_visits the client sent (1 the first time), so a
browser that reconnects from console.html sees the count go up. After that first
message every message is echoed.

Try it (server started with `-d example` on port 8880): connect from
http://127.0.0.1:8880/console.html to ws://127.0.0.1:8880/cookie a few times, or
    python -c "import websocket; ws = websocket.create_connection(
        'ws://127.0.0.1:8880/cookie', cookie='ws_visits=41'); print(ws.recv())"
"""

from http.cookies import CookieError, SimpleCookie

from mod_ws import msgutil

_COOKIE_NAME = "ws_visits"


def _visits(cookie_header):
    """The ws_visits count in a Cookie header value; 0 when absent or not a number."""
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header or "")
    except CookieError:
        return 0
    morsel = cookies.get(_COOKIE_NAME)
    if morsel is None or not morsel.value.isdigit():
        return 0
    return int(morsel.value)


def web_socket_do_extra_handshake(request):
    cookie_header = request.headers_in.get("Cookie")
    # Remember what was seen for web_socket_transfer_data: same request object.
    request.cookie_seen = cookie_header
    visits = _visits(cookie_header) + 1
    request.extra_headers.append(
        ("Set-Cookie", "%s=%d; Path=/; Max-Age=3600; SameSite=Lax" % (_COOKIE_NAME, visits)))


def web_socket_transfer_data(request):
    seen = request.cookie_seen
    msgutil.send_message(request, "cookie: %s" % (seen if seen else "(none)"))
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        msgutil.send_message(request, message, binary=isinstance(message, bytes))
