"""The opening handshake's steps every carrier shares, once the carrier's own are done.

A carrier (the HTTP/1.1 Upgrade in mod_ws.server.http1, later an HTTP/2 or HTTP/3
extended CONNECT) checks what only it has, then calls `accept_websocket` with what
every carrier has: the method, the resource, a header table, its HTTP version, whether
it is secure, and the connection. Here the client's offer is checked (version,
subprotocols, extensions, origin), the request object is built, the handler's
web_socket_do_extra_handshake runs, its subprotocol choice is checked and the
extensions are negotiated. The carrier then answers in its own way (101, or
`:status 200`): its own fields, then mod_ws.protocol.opening.response_fields of the
request's subprotocol, extensions and extra headers.
"""

from __future__ import annotations

import logging

from mod_ws.common import PERMESSAGE_DEFLATE_EXTENSION
from mod_ws.exceptions import AbortedByUserException
from mod_ws.extensions import get_extension_processor, negotiate
from mod_ws.protocol import opening
from mod_ws.protocol.headers import Headers
from mod_ws.server.config import ServerConfig
from mod_ws.server.reporting import format_address
from mod_ws.server.request import Connection, WebSocketRequest
from mod_ws.server.session import Stream

_logger = logging.getLogger(__name__)


def accept_websocket(
    config: ServerConfig,
    connection: Connection,
    method: str,
    resource: str,
    protocol: str,
    headers: Headers,
    secure: bool,
) -> WebSocketRequest | None:
    """Runs the shared steps; returns the request, ready for its session, or None when
    the handler aborted the handshake (AbortedByUserException: nothing is answered).

    Raises HandshakeException or DispatchException, each carrying the HTTP status to
    refuse with (and HandshakeException the headers to add).
    """
    dispatcher = config.dispatcher
    offer = opening.check_client_offer(headers)
    request = WebSocketRequest(method, resource, protocol, headers, connection, secure)
    request.ws_origin = offer.origin
    request.ws_version = offer.version
    request.ws_requested_protocols = offer.protocols
    request.ws_requested_extensions = offer.extensions
    request.ws_extension_processors = [
        processor for processor in map(get_extension_processor, offer.extensions or [])
        if processor is not None
    ]
    request.ws_stream = Stream(request, config.stream_options(),
                               passive_closing_handshake=dispatcher.passive_closing_handshake)
    try:
        dispatcher.do_extra_handshake(request)
    except AbortedByUserException as e:
        _logger.info("%s: %s aborted the handshake: %s", format_address(connection.remote_addr),
                     resource, e)
        return None
    opening.check_selected_protocol(request.ws_protocol, request.ws_requested_protocols)
    accepted, compression = negotiate(request.ws_extension_processors, config.max_message_size)
    if compression is not None:
        request.ws_stream.enable_compression(*compression)
    request.ws_extensions = accepted or None
    request.ws_deflate = any(e.name() == PERMESSAGE_DEFLATE_EXTENSION for e in accepted)
    return request


__all__ = ["accept_websocket"]
