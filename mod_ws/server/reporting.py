"""What the log says about a WebSocket connection, in lines a tester can read.

One line at info when a session ends (peer, resource, subprotocol, extensions, how long,
messages and bytes each way, who closed with what, or why it failed); one access line
per answered request; one warning per refusal; at debug, the opening handshake's
header fields with credentials masked. The words are built here so every carrier logs
the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

_access_logger = logging.getLogger("mod_ws.access")

# Fields whose values are secrets: logged as their length only.
_MASKED_FIELDS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def masked_headers(fields: Iterable[tuple[str, str]]) -> str:
    """Header fields on one line, `Name: value; ...`, secrets shown as their length."""
    return "; ".join(
        f"{name}: ({len(value)} bytes, masked)" if name.lower() in _MASKED_FIELDS else f"{name}: {value}"
        for name, value in fields
    )


def describe_session(request: Any) -> str:
    """The line logged when a session ends."""
    stream = request.ws_stream
    extensions = ", ".join(e.name() for e in request.ws_extensions or []) or "none"
    return (
        f"{_peer(request)} {request.ws_resource}: {request.close_handshake.describe()}; "
        f"{time.monotonic() - request.accepted_at:.3f} s; subprotocol "
        f"{request.ws_protocol or 'none'}; extensions {extensions}; received "
        f"{_count(stream.received_messages, stream.received_bytes)}, sent "
        f"{_count(stream.sent_messages, stream.sent_bytes)}"
    )


def session_values(request: Any) -> tuple:
    """The session's end as it stands, unformatted: cheap enough for every session's
    end (the status page keeps these and formats them when it is read)."""
    closing = request.close_handshake
    stream = request.ws_stream
    return (request.connection.remote_addr, request.ws_resource, closing.state, closing.initiator,
            closing.sent, closing.received, closing.failure,
            time.monotonic() - request.accepted_at, request.ws_protocol, request.ws_extensions,
            stream.received_messages, stream.received_bytes, stream.sent_messages,
            stream.sent_bytes, request.protocol)


def fields_of(values: tuple) -> dict[str, Any]:
    """session_values as named fields, JSON-ready."""
    (peer, resource, state, initiator, sent, received, failure, seconds, protocol, extensions,
     received_messages, received_bytes, sent_messages, sent_bytes, carrier) = values
    return {
        "event": "session",
        "peer": format_address(peer),
        "resource": resource,
        "carrier": carrier,  # HTTP/1.1, HTTP/2 or HTTP/3: what the WebSocket rode
        "state": state.value,
        "closed_by": initiator,
        "close_sent": {"code": sent[0], "reason": sent[1]} if sent else None,
        "close_received": {"code": received[0], "reason": received[1]} if received else None,
        "failure": failure,
        "seconds": round(seconds, 3),
        "subprotocol": protocol,
        "extensions": [e.name() for e in extensions or []],
        "received_messages": received_messages,
        "received_wire_bytes": received_bytes,
        "sent_messages": sent_messages,
        "sent_wire_bytes": sent_bytes,
    }


def session_fields(request: Any) -> dict[str, Any]:
    """The session's end as fields, for --log-format json and the status page."""
    return fields_of(session_values(request))


def _count(messages: int, size: int) -> str:
    return f"{messages} message{'' if messages == 1 else 's'} in {size} bytes on the wire"


def format_address(address: Any) -> str:
    """`host:port` (`[host]:port` for IPv6) of a socket address tuple."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def reachable_host(server_host: str) -> str:
    """Where a local client reaches a server listening on `server_host`."""
    if server_host in ("", "0.0.0.0"):  # every interface ('' is dual-stack IPv6 or IPv4)
        return "127.0.0.1"
    if server_host == "::":
        return "::1"
    return server_host


def log_access(remote_addr: Any, method: str, target: str, protocol: str, status: int) -> None:
    """The access line of one answered request: `peer "METHOD target PROTOCOL" status`."""
    if _access_logger.isEnabledFor(logging.INFO):
        _access_logger.info('%s "%s %s %s" %d', format_address(remote_addr), method, target,
                            protocol, status)


def note_refusal(logger: logging.Logger, board: Any, remote_addr: Any, line: str, target: str,
                 status: int | None, reason: str, carrier: str = "") -> None:
    """A refused request: one warning naming the peer, the request line (with the
    carrier, when given), the status and the reason (none when nothing was answered:
    `status` None), and the refusal kept on the status page `board`, if it is on."""
    if status is not None:
        shown = f"{line} ({carrier})" if carrier else line
        logger.warning("%s %r: %d %s", format_address(remote_addr), shown, status, reason)
    if board is not None:
        board.refused(remote_addr, line, target, status, reason)


def _peer(request: Any) -> str:
    return format_address(request.connection.remote_addr)


__all__ = ["describe_session", "fields_of", "format_address", "log_access", "masked_headers",
           "note_refusal", "reachable_host", "session_fields", "session_values"]
