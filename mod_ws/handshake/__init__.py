"""pywebsocket3's `handshake` module, for handlers: the exceptions that refuse or drop
an opening handshake, and the HTTP/1.1 helpers handlers writing their own response use.

Only names are kept here. The rules live in mod_ws.protocol.opening (what every
carrier checks) and mod_ws.server.http1.upgrade (the HTTP/1.1 Upgrade and its 101);
the submodule `hybi` keeps pywebsocket3's helpers with bytes in and out.
"""

from __future__ import annotations

from mod_ws.exceptions import (
    AbortedByUserException,
    HandshakeException,
    VersionException,
)
from mod_ws.protocol.opening import check_selected_protocol
from mod_ws.server.http1.upgrade import (
    HandshakeRequest,
    accept_for_key,
    build_response_headers,
    check_request,
    compute_accept,
)

__all__ = [
    "AbortedByUserException",
    "HandshakeException",
    "HandshakeRequest",
    "VersionException",
    "accept_for_key",
    "build_response_headers",
    "check_request",
    "check_selected_protocol",
    "compute_accept",
]
