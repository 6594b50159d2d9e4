"""Raises an exception on request, to show what the client sees when a handler fails.

Every message is echoed, except the text `raise` (optionally followed by words, as in
`raise out of cheese`): then web_socket_transfer_data raises
RuntimeError(words). The server logs the traceback and closes the connection with
1011 (internal error); the close reason names the exception, "RuntimeError: out of
cheese" (cut to fit the 123 bytes a close reason may have; the server's
--no-error-details sends no reason).

Try it (server started with `-d example` on port 8880):
    python example/echo_client.py -r /internal_error -m 'hello,raise out of cheese'
"""

from mod_ws import msgutil

_TRIGGER = "raise"


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        if isinstance(message, str):
            command, _, words = message.partition(" ")
            if command == _TRIGGER:
                # Not caught here on purpose: the server turns it into the 1011 close.
                raise RuntimeError(words or "the client asked for an internal error")
        msgutil.send_message(request, message, binary=isinstance(message, bytes))
