"""pywebsocket3's `handshake.base`: the handshake exceptions and the header helpers
that handshakers written outside pywebsocket3 import (WPT's HTTP/2 and HTTP/3 ones).

The rules of mod_ws's own opening handshake live in mod_ws.protocol.opening; these
keep pywebsocket3's names and results for code that calls them directly.
"""

from __future__ import annotations

from typing import Any

from mod_ws import http_header_util
from mod_ws.common import DEFAULT_WEB_SOCKET_PORT, DEFAULT_WEB_SOCKET_SECURE_PORT, HOST_HEADER
from mod_ws.exceptions import AbortedByUserException, HandshakeException, VersionException


def get_default_port(is_secure: bool) -> int:
    return DEFAULT_WEB_SOCKET_SECURE_PORT if is_secure else DEFAULT_WEB_SOCKET_PORT


def validate_subprotocol(subprotocol: str) -> None:
    """Raises HandshakeException unless `subprotocol` is one token (RFC 6455 section 4.1)."""
    if not subprotocol:
        raise HandshakeException("Invalid subprotocol name: empty")
    state = http_header_util.ParsingState(subprotocol)
    http_header_util.consume_token(state)
    rest = http_header_util.peek(state)
    if rest is not None:
        raise HandshakeException(f"Invalid non-token string in subprotocol name: {rest!r}")


def parse_host_header(request: Any) -> tuple[str, int]:
    """(host, port) of the request's Host header, the port defaulting by scheme."""
    host, colon, port = request.headers_in[HOST_HEADER].partition(":")
    if not colon:
        return host, get_default_port(request.is_https())
    try:
        return host, int(port)
    except ValueError as e:
        raise HandshakeException(f"Invalid port number format: {e!r}") from None


def get_mandatory_header(request: Any, key: str) -> str:
    value = request.headers_in.get(key)
    if value is None:
        raise HandshakeException(f"Header {key} is not defined")
    return value


def validate_mandatory_header(request: Any, key: str, expected_value: str,
                              fail_status: int | None = None) -> None:
    """Raises HandshakeException (with `fail_status`) unless the header equals
    `expected_value`, ignoring case."""
    value = get_mandatory_header(request, key)
    if value.lower() != expected_value.lower():
        raise HandshakeException(
            f"Expected {expected_value!r} for header {key} but found {value!r} (case-insensitive)",
            fail_status)


def parse_token_list(data: str) -> list[str]:
    """The tokens of a `1#token` header value (comma-separated, white space allowed);
    HandshakeException if it is malformed or holds none."""
    state = http_header_util.ParsingState(data)
    tokens = []
    while True:
        token = http_header_util.consume_token(state)
        if token is not None:
            tokens.append(token)
        http_header_util.consume_lwses(state)
        if http_header_util.peek(state) is None:
            break
        if not http_header_util.consume_string(state, ","):
            raise HandshakeException(f"Expected a comma but found {http_header_util.peek(state)!r}")
        http_header_util.consume_lwses(state)
    if not tokens:
        raise HandshakeException("No valid token found")
    return tokens


__all__ = [
    "AbortedByUserException",
    "HandshakeException",
    "VersionException",
    "get_default_port",
    "get_mandatory_header",
    "parse_host_header",
    "parse_token_list",
    "validate_mandatory_header",
    "validate_subprotocol",
]
