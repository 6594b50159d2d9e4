"""The HTTP/1.1 Upgrade handshake (RFC 6455 sections 4.1 and 4.2): the checks and the
answer only this carrier has.

A WebSocket over HTTP/1.1 is a GET of HTTP/1.1 or later with Host, `Upgrade:
websocket`, a Connection `Upgrade` token and a Sec-WebSocket-Key, answered by 101
Switching Protocols with Sec-WebSocket-Accept. Everything else the client asks for is
checked by the rules every carrier shares (mod_ws.protocol.opening). Pure functions
over a header lookup; failures raise `HandshakeException` with the HTTP status.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from mod_ws.common import (
    CONNECTION_HEADER,
    HOST_HEADER,
    HTTP_STATUS_METHOD_NOT_ALLOWED,
    HTTP_STATUS_UPGRADE_REQUIRED,
    SEC_WEBSOCKET_ACCEPT_HEADER,
    SEC_WEBSOCKET_KEY_HEADER,
    SEC_WEBSOCKET_VERSION_HEADER,
    SUPPORTED_VERSION,
    UPGRADE_HEADER,
    WEBSOCKET_ACCEPT_UUID,
    WEBSOCKET_UPGRADE_TYPE,
    ExtensionParameter,
)
from mod_ws.exceptions import HandshakeException
from mod_ws.protocol.opening import (
    ClientOffer,
    HeaderLookup,
    check_client_offer,
    joined_value,
    response_fields,
    single_value,
)


@dataclass
class HandshakeRequest(ClientOffer):
    """What a valid HTTP/1.1 opening handshake asks for: the shared offer, the key and
    the host."""

    key: str = ""
    host: str = ""


def accept_for_key(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2), as bytes."""
    return base64.b64encode(hashlib.sha1(key + WEBSOCKET_ACCEPT_UUID).digest())


def compute_accept(key: str) -> str:
    """`accept_for_key` for a key as the header table holds it."""
    return accept_for_key(key.encode("ascii")).decode("ascii")


def _comma_items(value: str | None) -> list[str]:
    if value is None:
        return []
    return [item.strip(" \t").lower() for item in value.split(",")]


def wants_websocket(headers: HeaderLookup) -> bool:
    """Does the request ask to upgrade to WebSocket (`Upgrade: websocket`)?"""
    return WEBSOCKET_UPGRADE_TYPE in _comma_items(joined_value(headers, UPGRADE_HEADER))


def check_upgrade(headers: HeaderLookup) -> None:
    """Requires `Upgrade: websocket` (426 otherwise) and a Connection `Upgrade` token."""
    if not wants_websocket(headers):
        error = HandshakeException(
            "missing 'Upgrade: websocket' header", HTTP_STATUS_UPGRADE_REQUIRED
        )
        error.headers = [
            (UPGRADE_HEADER, WEBSOCKET_UPGRADE_TYPE),
            (SEC_WEBSOCKET_VERSION_HEADER, str(SUPPORTED_VERSION)),
        ]
        raise error
    if "upgrade" not in _comma_items(joined_value(headers, CONNECTION_HEADER)):
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


def check_upgrade_request(
    method: str, http_version: tuple[int, int], headers: HeaderLookup
) -> tuple[str, str]:
    """The HTTP/1.1 part of the handshake: returns (key, host) or raises HandshakeException."""
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
    host = single_value(headers, HOST_HEADER)
    if not host:
        raise HandshakeException(f"missing {HOST_HEADER} header")
    check_upgrade(headers)
    key = check_key(single_value(headers, SEC_WEBSOCKET_KEY_HEADER))
    return key, host


def check_request(
    method: str, http_version: tuple[int, int], headers: HeaderLookup
) -> HandshakeRequest:
    """The whole HTTP/1.1 opening handshake: this carrier's checks, then the shared ones."""
    key, host = check_upgrade_request(method, http_version, headers)
    offer = check_client_offer(headers)
    return HandshakeRequest(offer.version, offer.origin, offer.protocols, offer.extensions,
                            key=key, host=host)


def build_response_headers(
    key: str,
    protocol: str | None = None,
    extensions: list[ExtensionParameter] | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
) -> list[tuple[str, str]]:
    """The headers of the 101 response that completes the handshake."""
    return [
        (UPGRADE_HEADER, WEBSOCKET_UPGRADE_TYPE),
        (CONNECTION_HEADER, "Upgrade"),
        (SEC_WEBSOCKET_ACCEPT_HEADER, compute_accept(key)),
    ] + response_fields(protocol, extensions, extra_headers)


__all__ = [
    "HandshakeRequest",
    "accept_for_key",
    "build_response_headers",
    "check_key",
    "check_request",
    "check_upgrade",
    "check_upgrade_request",
    "compute_accept",
    "wants_websocket",
]
