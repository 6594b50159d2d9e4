"""Echoes like echo_wsh.py, but declines every extension the client offers."""

from mod_ws import msgutil


def web_socket_do_extra_handshake(request):
    # An empty processor list declines every offer, permessage-deflate included.
    request.ws_extension_processors = []


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        msgutil.send_message(request, message, binary=isinstance(message, bytes))
