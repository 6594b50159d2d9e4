"""Completes the handshake, then drops the connection without a closing handshake.

Unlike abort_wsh.py (which refuses the handshake itself), the 101 goes out and the
connection opens. The first message the client sends makes
web_socket_transfer_data raise AbortedByUserException: the server then closes the
TCP connection at once, sending no close frame. That is an abnormal closure; clients
report it as 1006 (a code no close frame ever carries), and a browser's close event
has wasClean false.

If the client closes first, the closing handshake runs as usual.

Try it (server started with `-d example` on port 8880): connect from
http://127.0.0.1:8880/console.html to ws://127.0.0.1:8880/abort_after_handshake and
send anything, or
    python example/echo_client.py -r /abort_after_handshake -m hello
"""

from mod_ws import handshake, msgutil


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    message = msgutil.receive_message(request)
    if message is None:
        return  # the client closed first
    raise handshake.AbortedByUserException(
        "abort_after_handshake_wsh drops the connection after %r" % (message,))
