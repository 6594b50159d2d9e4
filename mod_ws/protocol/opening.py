"""The opening-handshake rules every carrier shares (RFC 6455 section 4.2, as RFC 8441
and RFC 9220 carry them over HTTP/2 and HTTP/3).

Whether the request arrived as an HTTP/1.1 Upgrade or as an extended CONNECT, the
client asks for the same things in the same header fields: a version (only 13 is
spoken), subprotocols, extensions and an origin. `check_client_offer` validates those
and returns what was asked; `check_selected_protocol` holds a handler to what was
offered; `response_fields` gives the fields every successful answer carries. Each
carrier adds only its own checks and its own status line or pseudo-headers
(mod_ws.server.http1.upgrade for HTTP/1.1). Failures raise `HandshakeException`
carrying the HTTP status and headers to answer with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

from mod_ws.common import (
    HTTP_STATUS_INTERNAL_SERVER_ERROR,
    ORIGIN_HEADER,
    SEC_WEBSOCKET_EXTENSIONS_HEADER,
    SEC_WEBSOCKET_PROTOCOL_HEADER,
    SEC_WEBSOCKET_VERSION_HEADER,
    SUPPORTED_VERSION,
    ExtensionParameter,
    format_extensions,
    parse_extensions,
    parse_token_list,
)
from mod_ws.exceptions import HandshakeException, VersionException

T = TypeVar("T")


class HeaderLookup(Protocol):
    """The header access the checks need (mod_ws.protocol.headers.Headers has it)."""

    def get_all(self, name: str) -> list[str]: ...


@dataclass
class ClientOffer:
    """What a valid opening handshake asks for, on any carrier."""

    version: int
    origin: str | None
    protocols: list[str] | None
    extensions: list[ExtensionParameter] | None


def single_value(headers: HeaderLookup, name: str) -> str | None:
    """The value of a field that may appear once (400 if repeated), None when absent."""
    values = headers.get_all(name)
    if len(values) > 1:
        raise HandshakeException(f"more than one {name} header")
    return values[0].strip(" \t") if values else None


def joined_value(headers: HeaderLookup, name: str) -> str | None:
    """A list field's repeated lines joined with commas (RFC 9110 section 5.3)."""
    values = headers.get_all(name)
    return ", ".join(values) if values else None


def _parsed(headers: HeaderLookup, name: str, parse: Callable[[str], T]) -> T | None:
    """The parsed value of a list header (repeated fields joined), None when absent."""
    value = joined_value(headers, name)
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


def check_client_offer(headers: HeaderLookup) -> ClientOffer:
    """Validates the WebSocket fields of a request; raises HandshakeException on a fault."""
    version = check_version(single_value(headers, SEC_WEBSOCKET_VERSION_HEADER))
    protocols = _parsed(headers, SEC_WEBSOCKET_PROTOCOL_HEADER, _parse_protocols)
    extensions = _parsed(headers, SEC_WEBSOCKET_EXTENSIONS_HEADER, parse_extensions)
    origin = single_value(headers, ORIGIN_HEADER)
    return ClientOffer(version, origin, protocols, extensions)


def check_selected_protocol(selected: str | None, offered: list[str] | None) -> None:
    """A handler may only choose a subprotocol the client offered."""
    if selected is not None and selected not in (offered or []):
        raise HandshakeException(
            f"handler selected subprotocol {selected!r}, which the client did not offer "
            f"(offered: {offered or []})",
            HTTP_STATUS_INTERNAL_SERVER_ERROR,
        )


def response_fields(
    protocol: str | None = None,
    extensions: list[ExtensionParameter] | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
) -> list[tuple[str, str]]:
    """The fields every carrier's successful answer carries, after its own."""
    fields = []
    if protocol is not None:
        fields.append((SEC_WEBSOCKET_PROTOCOL_HEADER, protocol))
    if extensions:
        fields.append((SEC_WEBSOCKET_EXTENSIONS_HEADER, format_extensions(extensions)))
    if extra_headers:
        fields.extend(extra_headers)
    return fields


__all__ = [
    "ClientOffer",
    "HeaderLookup",
    "check_client_offer",
    "check_selected_protocol",
    "check_version",
    "joined_value",
    "response_fields",
    "single_value",
]
