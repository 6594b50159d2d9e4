"""HTTP/1.1 request heads: parsing a request line and its header fields (RFC 9112).

Pure functions over the bytes of a request head; the size and time limits are
enforced by the connection that reads them (mod_ws.server.http1.connection).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mod_ws.common import (
    HTTP_STATUS_BAD_REQUEST,
    HTTP_STATUS_HEADERS_TOO_LARGE,
    HTTP_STATUS_VERSION_NOT_SUPPORTED,
    TCHAR_CLASS,
    is_token,
)
from mod_ws.defaults import MAX_HEADER_COUNT
from mod_ws.exceptions import HttpError
from mod_ws.protocol.headers import Headers

_VERSION = re.compile(r"HTTP/(\d)\.(\d)\Z")
# Request targets: visible ASCII only (RFC 7230 section 3.1.1 forbids white space).
_TARGET = re.compile(r"[\x21-\x7e]+\Z")
# Field values may hold HTAB but no other control character (RFC 7230 section 3.2).
_FIELD_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass
class RequestHead:
    """A parsed request line and header fields."""

    method: str
    target: str
    version: tuple[int, int]
    headers: Headers
    started: float = 0.0  # time.monotonic() when its first byte was awaited

    @property
    def version_string(self) -> str:
        return f"HTTP/{self.version[0]}.{self.version[1]}"


# What may start a request: empty lines (RFC 7230 section 3.5), then a method (a token).
_METHOD_SO_FAR = re.compile(rb"[\r\n]*(" + TCHAR_CLASS.encode("ascii") + rb"*)")
# The empty line that ends a head: lines end in CRLF, or in a bare LF, which RFC 9112
# section 2.2 lets a recipient accept (pywebsocket3 does, and clients under test send it).
HEAD_END = re.compile(rb"\n\r?\n")
_LINE_END = re.compile(r"\r?\n")
# A TLS record header: content type 22 (handshake), protocol version 3.x.
_TLS_HANDSHAKE = b"\x16\x03"


def check_head_start(data: bytes) -> None:
    """Raises HttpError (400) as soon as the bytes received so far cannot begin a
    request head, so that binary garbage or a TLS ClientHello on this plain port is
    answered at once instead of after the request timeout."""
    match = _METHOD_SO_FAR.match(data)
    rest = data[match.end():]
    if not rest:
        return  # no more than the start of a method yet
    if rest.startswith(_TLS_HANDSHAKE):
        raise HttpError(HTTP_STATUS_BAD_REQUEST,
                        "a TLS handshake on a plain HTTP port: connect with ws:// or http://")
    if not match.group(1) or rest[:1] != b" ":
        raise HttpError(HTTP_STATUS_BAD_REQUEST,
                        f"not an HTTP request: it starts with bytes {data[:12].hex(' ')}")


def parse_request_head(data: bytes) -> RequestHead:
    """Parses a request head that ends with an empty line; raises HttpError on faults."""
    text = data.decode("latin-1")
    lines = _LINE_END.split(text)
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise HttpError(HTTP_STATUS_BAD_REQUEST, "empty request")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise HttpError(HTTP_STATUS_BAD_REQUEST, f"malformed request line {lines[0][:80]!r}")
    method, target, version_text = parts
    if not is_token(method):
        raise HttpError(HTTP_STATUS_BAD_REQUEST, f"malformed method {method[:40]!r}")
    if not _TARGET.match(target):
        raise HttpError(HTTP_STATUS_BAD_REQUEST, f"malformed request target {target[:80]!r}")
    match = _VERSION.match(version_text)
    if not match:
        raise HttpError(HTTP_STATUS_BAD_REQUEST, f"malformed HTTP version {version_text[:20]!r}")
    version = (int(match.group(1)), int(match.group(2)))
    if version[0] != 1:
        raise HttpError(HTTP_STATUS_VERSION_NOT_SUPPORTED, f"HTTP version {version_text} is not supported")
    if len(lines) - 1 > MAX_HEADER_COUNT:
        raise HttpError(HTTP_STATUS_HEADERS_TOO_LARGE, f"more than {MAX_HEADER_COUNT} header fields")
    headers = Headers()
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            raise HttpError(HTTP_STATUS_BAD_REQUEST, "obsolete header line folding")
        name, colon, value = line.partition(":")
        if not colon or not is_token(name):
            raise HttpError(HTTP_STATUS_BAD_REQUEST, f"malformed header line {line[:80]!r}")
        value = value.strip(" \t")
        if _FIELD_CONTROL.search(value):
            raise HttpError(HTTP_STATUS_BAD_REQUEST, f"control character in header {name!r}")
        headers.add(name, value)
    return RequestHead(method, target, version, headers)
