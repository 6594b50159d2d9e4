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
import time
from typing import Callable

from mod_ws.common import (
    HTTP_STATUS_INTERNAL_SERVER_ERROR,
    HTTP_STATUS_NOT_FOUND,
    HTTP_STATUS_REQUEST_TIMEOUT,
    PERMESSAGE_DEFLATE_EXTENSION,
)
from mod_ws.exceptions import (
    AbortedByUserException,
    ConnectionTerminatedException,
    DispatchException,
    HandshakeException,
    HttpError,
)
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


def missing_handler(config: ServerConfig, resource: str) -> HttpError:
    """The refusal of a WebSocket to a resource without a handler: 500 with the error
    when its handler file failed to load, 404 otherwise."""
    failure = config.dispatcher.load_failure(resource)
    if failure is not None:
        return HttpError(HTTP_STATUS_INTERNAL_SERVER_ERROR, failure)
    return HttpError(HTTP_STATUS_NOT_FOUND, f"no WebSocket handler for {resource.split('?')[0]}")


def accept_within(
    config: ServerConfig,
    connection: Connection,
    started: float,
    answer_overrun: Callable[[str], None],
    method: str,
    resource: str,
    protocol: str,
    headers: Headers,
    secure: bool,
) -> WebSocketRequest | None:
    """`accept_websocket` bounded by --handshake-timeout from `started`, with its
    refusals as HttpError.

    The handler's extra handshake may take any time: the watchdog ends it at the bound.
    Then, on the watchdog's thread, the overrun is logged and recorded, `answer_overrun`
    (reason) answers 408 if the handler has written nothing, and the transport is
    aborted; this thread then raises ConnectionTerminatedException.
    """
    # [done, overrun], kept here: a held connection keeps none of it.
    state = [False, False]

    def overrun() -> None:
        with connection.write_lock:
            if state[0]:  # done meanwhile
                return
            state[1] = True
            reason = (f"opening handshake not completed within {config.handshake_timeout:g} s "
                      "(--handshake-timeout)")
            _logger.warning("%s: %s", format_address(connection.remote_addr), reason)
            if config.status is not None:
                config.status.refused(connection.remote_addr, "-", "", HTTP_STATUS_REQUEST_TIMEOUT,
                                      reason)
            if not connection.written:
                try:
                    answer_overrun(reason)
                except OSError:
                    pass
        connection.transport.abort()

    watch = config.watchdog.schedule(started + config.handshake_timeout - time.monotonic(), overrun)
    try:
        request = accept_websocket(config, connection, method, resource, protocol, headers, secure)
    except (HandshakeException, DispatchException) as e:
        raise HttpError(e.status, str(e), getattr(e, "headers", [])) from None
    finally:
        with connection.write_lock:
            state[0] = True
            overran = state[1]
        config.watchdog.cancel(watch)
    if overran:
        raise ConnectionTerminatedException("the opening handshake overran --handshake-timeout")
    return request


__all__ = ["accept_websocket", "accept_within", "missing_handler"]
