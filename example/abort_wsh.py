"""Refuses every handshake by dropping the connection without a response."""

from mod_ws import handshake


def web_socket_do_extra_handshake(request):
    raise handshake.AbortedByUserException("abort_wsh refuses every connection")


def web_socket_transfer_data(request):
    pass
