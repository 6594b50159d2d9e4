"""Echoes every message back, text as text and binary as binary.

Send the text `Goodbye` to have the server start the closing handshake.
"""

from mod_ws import msgutil

_GOODBYE_MESSAGE = "Goodbye"


def web_socket_do_extra_handshake(request):
    # Accept the first subprotocol offered, if any, so clients that insist get one.
    if request.ws_requested_protocols:
        request.ws_protocol = request.ws_requested_protocols[0]


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        if isinstance(message, str):
            msgutil.send_message(request, message)
            if message == _GOODBYE_MESSAGE:
                return
        else:
            msgutil.send_message(request, message, binary=True)


def web_socket_passive_closing_handshake(request):
    # Echo the client's close code and reason back to it.
    if request.ws_close_code == 1005:
        return None, ""
    return request.ws_close_code, request.ws_close_reason
