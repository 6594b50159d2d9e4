"""Closes with the code and reason the client asks for.

Send a text message `CODE REASON` (e.g. `4001 done`); the server starts the closing
handshake with that code and reason. Any other message is echoed. Code and reason of
the client's own close are echoed too.
"""

from mod_ws import msgutil


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        if isinstance(message, str):
            code, _, reason = message.partition(" ")
            if code.isdigit():
                request.ws_stream.close_connection(int(code), reason)
                return
        msgutil.send_message(request, message, binary=isinstance(message, bytes))


def web_socket_passive_closing_handshake(request):
    if request.ws_close_code == 1005:
        return None, ""
    return request.ws_close_code, request.ws_close_reason
