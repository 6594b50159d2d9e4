"""Echo handler for the pywebsocket3 standalone server used by bench/bench.py.

Does what example/echo_wsh.py does for mod_ws: every message comes back unchanged,
text as text and binary as binary, until the client closes.
"""

from pywebsocket3 import msgutil


def web_socket_do_extra_handshake(request):
    pass  # accept whatever the server negotiated (including permessage-deflate)


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        msgutil.send_message(request, message, binary=not isinstance(message, str))
