"""The extended CONNECT (RFC 8441 section 4, RFC 9220 section 3): the checks and the
answer of a WebSocket opened on one stream of an HTTP/2 or HTTP/3 connection.

Both carriers send the same request: `:method CONNECT`, `:protocol websocket`,
`:scheme`, `:path`, `:authority` and the usual Sec-WebSocket-* fields, but no
Sec-WebSocket-Key, Upgrade or Connection; the answer is `:status 200` with the shared
response fields and no Sec-WebSocket-Accept. Pure functions over the stream's header
block; a refusal is an HttpError with the status to answer on that stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from mod_ws.common import (
    HOST_HEADER,
    HTTP_STATUS_BAD_REQUEST,
    HTTP_STATUS_NOT_IMPLEMENTED,
    WEBSOCKET_UPGRADE_TYPE,
)
from mod_ws.exceptions import HttpError
from mod_ws.protocol.headers import Headers
from mod_ws.protocol.opening import response_fields


@dataclass
class StreamRequest:
    """A stream's request head: the pseudo-header fields and the regular ones.

    `headers` holds the regular fields, plus Host from `:authority` when the client sent
    no Host (handlers written for HTTP/1.1 read Host).
    """

    method: str
    path: str
    scheme: str | None
    authority: str | None
    protocol: str | None  # the :protocol of an extended CONNECT
    headers: Headers

    @property
    def line(self) -> str:
        """`METHOD path` for the log and the status page."""
        return f"{self.method} {self.path}"


# Pseudo-header fields a request may carry (RFC 9113 section 8.3.1, RFC 8441 section 4).
_REQUEST_PSEUDO = frozenset((":method", ":scheme", ":authority", ":path", ":protocol"))
# Fields that belong to one HTTP/1.1 connection: malformed in HTTP/2 and HTTP/3.
_CONNECTION_SPECIFIC = frozenset(("connection", "keep-alive", "proxy-connection",
                                  "transfer-encoding", "upgrade"))


def parse_stream_request(fields: list[tuple[str, str]]) -> StreamRequest:
    """Checks a request's header block (RFC 9113 section 8.2 and 8.3; RFC 9114 section
    4.3) and splits it into a StreamRequest; a malformed one is an HttpError 400 for its
    stream alone, whatever the HTTP/2 or HTTP/3 library let through."""
    pseudo: dict[str, str] = {}
    headers = Headers()
    for name, value in fields:
        if name.startswith(":"):
            if name not in _REQUEST_PSEUDO:
                raise HttpError(HTTP_STATUS_BAD_REQUEST, f"unknown pseudo-header field {name[:40]}")
            if name in pseudo:
                raise HttpError(HTTP_STATUS_BAD_REQUEST, f"pseudo-header field {name} repeated")
            if len(headers):
                raise HttpError(HTTP_STATUS_BAD_REQUEST, f"pseudo-header field {name} after a "
                                "regular field")
            pseudo[name] = value
            continue
        if not name or name != name.lower():
            raise HttpError(HTTP_STATUS_BAD_REQUEST, f"field name {name[:40]!r} is not lower case")
        if name in _CONNECTION_SPECIFIC or (name == "te" and value.strip().lower() != "trailers"):
            raise HttpError(HTTP_STATUS_BAD_REQUEST, f"connection-specific field {name} "
                            "(RFC 9113 section 8.2.2)")
        headers.add(name, value)
    method = pseudo.get(":method")
    if not method:
        raise HttpError(HTTP_STATUS_BAD_REQUEST, "request without :method")
    if method == "CONNECT" and ":protocol" not in pseudo:
        present = [n for n in (":scheme", ":path") if n in pseudo]
        if present:  # an ordinary CONNECT has only :method and :authority
            raise HttpError(HTTP_STATUS_BAD_REQUEST, f"CONNECT without :protocol has {present[0]}")
    elif method != "CONNECT":
        if ":protocol" in pseudo:
            raise HttpError(HTTP_STATUS_BAD_REQUEST, f":protocol on a {method[:20]} request")
        for name in (":scheme", ":path"):
            if not pseudo.get(name):
                raise HttpError(HTTP_STATUS_BAD_REQUEST, f"{method[:20]} request without {name}")
    authority = pseudo.get(":authority")
    if authority and HOST_HEADER not in headers:
        headers.add(HOST_HEADER, authority)
    return StreamRequest(method=method, path=pseudo.get(":path", ""),
                         scheme=pseudo.get(":scheme"), authority=authority,
                         protocol=pseudo.get(":protocol"), headers=headers)


def check_extended_connect(request: StreamRequest) -> str:
    """The carrier's own checks of a CONNECT: returns the resource (`:path`) of a
    WebSocket, or raises HttpError (501 for a tunnel or another protocol)."""
    if request.protocol is None:
        raise HttpError(HTTP_STATUS_NOT_IMPLEMENTED,
                        "CONNECT without :protocol (a tunnel) is not supported")
    if request.protocol != WEBSOCKET_UPGRADE_TYPE:
        raise HttpError(HTTP_STATUS_NOT_IMPLEMENTED,
                        f":protocol {request.protocol!r} is not supported; only 'websocket' is")
    for name, value in ((":scheme", request.scheme), (":path", request.path),
                        (":authority", request.authority)):
        if not value:
            raise HttpError(HTTP_STATUS_BAD_REQUEST, f"extended CONNECT without {name}")
    if request.scheme not in ("https", "http"):
        raise HttpError(HTTP_STATUS_BAD_REQUEST, f":scheme {request.scheme!r} is not https or http")
    if not request.path.startswith("/"):
        raise HttpError(HTTP_STATUS_BAD_REQUEST, f":path {request.path[:80]!r} does not start with /")
    return request.path


def accepted_fields(websocket_request) -> list[tuple[str, str]]:
    """The answer that opens the WebSocket: `:status 200` and the shared fields, names
    in lower case as HTTP/2 and HTTP/3 require."""
    fields = response_fields(websocket_request.ws_protocol, websocket_request.ws_extensions,
                             websocket_request.extra_headers)
    return [(":status", "200")] + [(name.lower(), value) for name, value in fields]


__all__ = ["StreamRequest", "accepted_fields", "check_extended_connect", "parse_stream_request"]
