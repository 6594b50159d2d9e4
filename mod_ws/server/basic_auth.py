"""HTTP Basic authentication (RFC 7617) for every request, WebSocket or static.

`--basic-auth` turns it on with `--basic-auth-credential user:password` (default
`test:test`, as in pywebsocket3). A request without the right `Authorization` field is
answered 401 with a `WWW-Authenticate` challenge; the credential is compared in
constant time, so its bytes cannot be guessed one by one from response times.
"""

from __future__ import annotations

import base64
import hmac

from mod_ws.common import HTTP_STATUS_UNAUTHORIZED
from mod_ws.exceptions import HttpError
from mod_ws.protocol.opening import HeaderLookup

REALM = "mod_ws"
CHALLENGE = ("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"')


def expected_authorization(credential: str) -> bytes:
    """The Authorization value that `user:password` must arrive as."""
    return b"Basic " + base64.b64encode(credential.encode("utf-8"))


def check_authorization(headers: HeaderLookup, expected: bytes) -> None:
    """Raises HttpError 401 (with the challenge) unless the request carries `expected`."""
    values = headers.get_all("Authorization")
    if not values:
        raise HttpError(HTTP_STATUS_UNAUTHORIZED, "authentication required (HTTP Basic)", [CHALLENGE])
    scheme, _, token = values[0].strip().partition(" ")
    given = f"Basic {token.strip()}".encode("latin-1", "replace") if scheme.lower() == "basic" else b""
    if len(values) > 1 or not hmac.compare_digest(given, expected):
        raise HttpError(HTTP_STATUS_UNAUTHORIZED, "wrong credentials (HTTP Basic)", [CHALLENGE])


__all__ = ["CHALLENGE", "check_authorization", "expected_authorization"]
