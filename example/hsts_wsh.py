"""Adds Strict-Transport-Security to the 101 response, says so, then echoes.

Shows adding a response header with `request.extra_headers` and telling a secure
connection from a plain one with `request.is_https()`.

HSTS (RFC 6797) tells a browser to use only https:// and wss:// for this host from
now on. Browsers obey it only when it arrives over TLS and ignore it on a plain
connection (RFC 6797 section 8.1), so try this over wss://. max-age is one minute:
a browser that remembers HSTS for localhost refuses every plain http://localhost
page until it expires.

The first message says whether the header counts on this connection; every
message after that is echoed.

Try it, over TLS with the test certificates in cert/:
    python -m mod_ws -H 127.0.0.1 -p 8443 -d example --tls \\
        --private-key cert/server-key.pem --certificate cert/server.pem
    python example/echo_client.py --tls --ca cert/ca.pem -p 8443 -r /hsts -m hi -v
(-v prints the response head with the Strict-Transport-Security line; the reply
printed for `hi` is the note, as it comes first.)
"""

from mod_ws import msgutil

_HSTS_VALUE = "max-age=60"


def web_socket_do_extra_handshake(request):
    request.extra_headers.append(("Strict-Transport-Security", _HSTS_VALUE))


def web_socket_transfer_data(request):
    if request.is_https():
        note = "browsers now use only https:// and wss:// here for 60 s"
    else:
        note = "browsers ignore it on a plain ws:// connection; connect with wss://"
    msgutil.send_message(
        request, "Strict-Transport-Security: %s sent on the 101: %s" % (_HSTS_VALUE, note))
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        msgutil.send_message(request, message, binary=isinstance(message, bytes))
