"""pywebsocket3's `handshake.hybi` helpers, for handlers that write their own response.

Browser tests check how a client treats a broken or unusual opening handshake, so
their handlers write the response themselves with `request.connection.write` (often
with a correct Sec-WebSocket-Accept computed here) and then raise
`AbortedByUserException` so the server adds nothing. As in pywebsocket3, keys and
accept values are bytes here.
"""

from __future__ import annotations

from mod_ws.exceptions import AbortedByUserException, HandshakeException, VersionException
from mod_ws.server.http1.upgrade import accept_for_key

# pywebsocket3's name: a Sec-WebSocket-Key as bytes in, its accept value as bytes out.
compute_accept = accept_for_key


def compute_accept_from_unicode(unicode_key: str) -> bytes:
    """`compute_accept` for a key given as str (as `request.headers_in` holds it)."""
    return accept_for_key(unicode_key.encode("utf-8"))


def format_header(name: str, value: str) -> str:
    """One response header line, with its CRLF."""
    return f"{name}: {value}\r\n"


__all__ = [
    "AbortedByUserException",
    "HandshakeException",
    "VersionException",
    "compute_accept",
    "compute_accept_from_unicode",
    "format_header",
]
