"""The opening handshake of RFC 6455 section 4.2, as pure checks over request headers.

`check_request` takes a method, an HTTP version and a header lookup (anything with a
case-insensitive `get_all(name)`) and returns what the client asked for, or raises a
`HandshakeException` carrying the HTTP status and headers to answer with. Nothing here
reads a socket or knows HTTP/1.1 syntax, so other transports can reuse the checks.
The submodule `hybi` keeps pywebsocket3's helpers for handlers that write their own
response.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

from mod_ws.common import (
    CONNECTION_HEADER,
    HOST_HEADER,
    HTTP_STATUS_INTERNAL_SERVER_ERROR,
    HTTP_STATUS_METHOD_NOT_ALLOWED,
    HTTP_STATUS_UPGRADE_REQUIRED,
    ORIGIN_HEADER,
    SEC_WEBSOCKET_ACCEPT_HEADER,
    SEC_WEBSOCKET_EXTENSIONS_HEADER,
    SEC_WEBSOCKET_KEY_HEADER,
    SEC_WEBSOCKET_PROTOCOL_HEADER,
    SEC_WEBSOCKET_VERSION_HEADER,
    SUPPORTED_VERSION,
    UPGRADE_HEADER,
    WEBSOCKET_ACCEPT_UUID,
    WEBSOCKET_UPGRADE_TYPE,
    ExtensionParameter,
    format_extensions,
    parse_extensions,
    parse_token_list,
)
from mod_ws.exceptions import (
    AbortedByUserException,
    HandshakeException,
    VersionException,
)

T = TypeVar("T")


class HeaderLookup(Protocol):
    def get_all(self, name: str) -> list[str]: ...


@dataclass
class HandshakeRequest:
    """What a valid opening handshake asks for."""

    key: str
    version: int
    host: str
    origin: str | None
    protocols: list[str] | None
    extensions: list[ExtensionParameter] | None


def accept_for_key(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2), as bytes."""
    return base64.b64encode(hashlib.sha1(key + WEBSOCKET_ACCEPT_UUID).digest())


def compute_accept(key: str) -> str:
    """`accept_for_key` for a key as the header table holds it."""
    return accept_for_key(key.encode("ascii")).decode("ascii")


def _single(headers: HeaderLookup, name: str) -> str | None:
    values = headers.get_all(name)
    if len(values) > 1:
        raise HandshakeException(f"more than one {name} header")
    return values[0].strip(" \t") if values else None


def _joined(headers: HeaderLookup, name: str) -> str | None:
    values = headers.get_all(name)
    return ", ".join(values) if values else None


def _comma_items(value: str | None) -> list[str]:
    if value is None:
        return []
    return [item.strip(" \t").lower() for item in value.split(",")]


def _parsed(headers: HeaderLookup, name: str, parse: Callable[[str], T]) -> T | None:
    """The parsed value of a list header (repeated fields joined), None when absent."""
    value = _joined(headers, name)
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as e:  # ExtensionParsingException is one
        raise HandshakeException(f"bad {name}: {e}") from None


def _parse_protocols(value: str) -> list[str]:
    protocols = parse_token_list(value)
    if not protocols:
        raise ValueError("no subprotocol in the header")
    return protocols


def check_upgrade(headers: HeaderLookup) -> None:
    """Requires `Upgrade: websocket` (426 otherwise) and a Connection `Upgrade` token."""
    if WEBSOCKET_UPGRADE_TYPE not in _comma_items(_joined(headers, UPGRADE_HEADER)):
        error = HandshakeException(
            "missing 'Upgrade: websocket' header", HTTP_STATUS_UPGRADE_REQUIRED
        )
        error.headers = [
            (UPGRADE_HEADER, WEBSOCKET_UPGRADE_TYPE),
            (SEC_WEBSOCKET_VERSION_HEADER, str(SUPPORTED_VERSION)),
        ]
        raise error
    if "upgrade" not in _comma_items(_joined(headers, CONNECTION_HEADER)):
        raise HandshakeException("Connection header lacks the 'Upgrade' token")


def check_key(key: str | None) -> str:
    """Sec-WebSocket-Key must be the base64 encoding of exactly 16 bytes."""
    if key is None:
        raise HandshakeException(f"missing {SEC_WEBSOCKET_KEY_HEADER} header")
    try:
        decoded = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise HandshakeException(f"{SEC_WEBSOCKET_KEY_HEADER} {key!r} is not base64") from None
    if len(decoded) != 16:
        raise HandshakeException(
            f"{SEC_WEBSOCKET_KEY_HEADER} decodes to {len(decoded)} bytes, not 16"
        )
    return key


def check_version(version: str | None) -> int:
    """Only version 13 is spoken; any other answers 426 naming it (section 4.4)."""
    if version is None:
        error = HandshakeException(f"missing {SEC_WEBSOCKET_VERSION_HEADER} header")
        error.headers = [(SEC_WEBSOCKET_VERSION_HEADER, str(SUPPORTED_VERSION))]
        raise error
    if version != str(SUPPORTED_VERSION):
        raise VersionException(
            f"unsupported {SEC_WEBSOCKET_VERSION_HEADER} {version!r}", str(SUPPORTED_VERSION)
        )
    return SUPPORTED_VERSION


def check_request(
    method: str, http_version: tuple[int, int], headers: HeaderLookup
) -> HandshakeRequest:
    """Validates a client's opening handshake; raises HandshakeException on any fault."""
    if method != "GET":
        error = HandshakeException(
            f"method {method} is not allowed for WebSocket", HTTP_STATUS_METHOD_NOT_ALLOWED
        )
        error.headers = [("Allow", "GET")]
        raise error
    if http_version < (1, 1):
        raise HandshakeException(
            f"HTTP/{http_version[0]}.{http_version[1]} cannot upgrade; HTTP/1.1 is required"
        )
    host = _single(headers, HOST_HEADER)
    if not host:
        raise HandshakeException(f"missing {HOST_HEADER} header")
    check_upgrade(headers)
    key = check_key(_single(headers, SEC_WEBSOCKET_KEY_HEADER))
    version = check_version(_single(headers, SEC_WEBSOCKET_VERSION_HEADER))

    protocols = _parsed(headers, SEC_WEBSOCKET_PROTOCOL_HEADER, _parse_protocols)
    extensions = _parsed(headers, SEC_WEBSOCKET_EXTENSIONS_HEADER, parse_extensions)
    origin = _single(headers, ORIGIN_HEADER)
    return HandshakeRequest(key, version, host, origin, protocols, extensions)


def check_selected_protocol(selected: str | None, offered: list[str] | None) -> None:
    """A handler may only choose a subprotocol the client offered."""
    if selected is not None and selected not in (offered or []):
        raise HandshakeException(
            f"handler selected subprotocol {selected!r}, which the client did not offer "
            f"(offered: {offered or []})",
            HTTP_STATUS_INTERNAL_SERVER_ERROR,
        )


def build_response_headers(
    key: str,
    protocol: str | None = None,
    extensions: list[ExtensionParameter] | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
) -> list[tuple[str, str]]:
    """The headers of the 101 response that completes the handshake."""
    headers = [
        (UPGRADE_HEADER, WEBSOCKET_UPGRADE_TYPE),
        (CONNECTION_HEADER, "Upgrade"),
        (SEC_WEBSOCKET_ACCEPT_HEADER, compute_accept(key)),
    ]
    if protocol is not None:
        headers.append((SEC_WEBSOCKET_PROTOCOL_HEADER, protocol))
    if extensions:
        headers.append((SEC_WEBSOCKET_EXTENSIONS_HEADER, format_extensions(extensions)))
    if extra_headers:
        headers.extend(extra_headers)
    return headers


__all__ = [
    "AbortedByUserException",
    "HandshakeException",
    "HandshakeRequest",
    "VersionException",
    "accept_for_key",
    "build_response_headers",
    "check_request",
    "compute_accept",
]
