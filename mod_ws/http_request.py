"""HTTP/1.1 request heads: parsing (RFC 7230 section 3) and the header table.

Pure functions over the bytes of a request line and its header lines; the size and
time limits are enforced by the caller that reads them (mod_ws.http_handler).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from mod_ws.common import (
    HTTP_STATUS_BAD_REQUEST,
    HTTP_STATUS_HEADERS_TOO_LARGE,
    HTTP_STATUS_VERSION_NOT_SUPPORTED,
    TCHAR_CLASS,
    is_token,
)

MAX_HEADER_COUNT = 100

_VERSION = re.compile(r"HTTP/(\d)\.(\d)\Z")
# Request targets: visible ASCII only (RFC 7230 section 3.1.1 forbids white space).
_TARGET = re.compile(r"[\x21-\x7e]+\Z")
# Field values may hold HTAB but no other control character (RFC 7230 section 3.2).
_FIELD_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class HttpError(Exception):
    """A request the server answers with `status` and closes."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or []


class Headers:
    """Case-insensitive header table that keeps repeated fields and their order.

    Reads like the `headers_in` table pywebsocket3 handlers know: `get`, `[]`, `in`,
    plus `get_all` for repeated fields. Lookups scan the list (a request has at most
    MAX_HEADER_COUNT fields): an index by name would cost every held connection
    about 0.7 KiB more. For the same reason `pack` folds the fields into one string
    once the handshake is done; the next read unfolds them.
    """

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._fields: list[tuple[str, str]] | None = []
        self._packed = ""
        for name, value in items or []:
            self.add(name, value)

    @property
    def _items(self) -> list[tuple[str, str]]:
        fields = self._fields
        if fields is None:
            lines = self._packed.split("\n") if self._packed else []
            fields = [tuple(line.split(":", 1)) for line in lines]
            self._fields = fields
            self._packed = ""
        return fields

    def pack(self) -> None:
        """Keeps the fields as one string until they are read again.

        Each field is a tuple and two strings, about 170 bytes (bench/'s five-field
        request: 0.9 KiB); a connection held for minutes needs them rarely, if ever,
        after the handshake.
        """
        fields = self._fields
        if not fields:
            return
        packed = "\n".join(f"{name}:{value}" for name, value in fields)
        if packed.count("\n") != len(fields) - 1:
            return  # a value with a line break (never from the parser) stays unpacked
        self._packed = packed
        self._fields = None

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        size = len(key)  # lower() keeps the length of a token: most names differ in it
        return [v for n, v in self._items if len(n) == size and (n == name or n.lower() == key)]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.get_all(name)
        return values[0] if values else default

    def __getitem__(self, name: str) -> str | None:
        """The first value, or None for a missing field, as email.message.Message
        (pywebsocket3's headers_in) answers: handlers test `if headers_in['Cookie']:`."""
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        return [n for n, _ in self._items]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass
class RequestHead:
    """A parsed request line and header fields."""

    method: str
    target: str
    version: tuple[int, int]
    headers: Headers

    @property
    def version_string(self) -> str:
        return f"HTTP/{self.version[0]}.{self.version[1]}"


# What may start a request: empty lines (RFC 7230 section 3.5), then a method (a token).
_METHOD_SO_FAR = re.compile(rb"[\r\n]*(" + TCHAR_CLASS.encode("ascii") + rb"*)")
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
    lines = text.split("\r\n")
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
