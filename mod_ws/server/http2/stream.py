"""One HTTP/2 request stream, on its own thread: a WebSocket, a page or a refusal.

An extended CONNECT (RFC 8441) takes the carrier's checks in
mod_ws.server.extended_connect and the shared accept in mod_ws.server.accept, is
answered `:status 200` and runs the same session as an HTTP/1.1 Upgrade; after its
close handshake the stream ends both ways (END_STREAM). A GET or HEAD gets the status
page or a static file. A refusal is a status with a one-line reason on this stream
only; the connection goes on serving its other streams.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mod_ws.common import (
    HTTP_STATUS_HEADERS_TOO_LARGE,
    HTTP_STATUS_INTERNAL_SERVER_ERROR,
    HTTP_STATUS_SERVICE_UNAVAILABLE,
    format_extensions,
)
from mod_ws.exceptions import ConnectionTerminatedException, HttpError
from mod_ws.server import session
from mod_ws.server.accept import accept_within, missing_handler
from mod_ws.server.basic_auth import check_authorization
from mod_ws.server.extended_connect import (
    StreamRequest,
    accepted_fields,
    check_extended_connect,
    parse_stream_request,
)
from mod_ws.server.multiplexed import StreamTransport, header_text
from mod_ws.server.pages import send_on_stream, stream_page, stream_refusal
from mod_ws.server.reporting import log_access, masked_headers, note_refusal
from mod_ws.server.request import Connection

_logger = logging.getLogger("mod_ws.http2")

PROTOCOL = "HTTP/2"


def serve_stream(carrier: Any, transport: StreamTransport, raw_fields: list) -> None:
    """Answers one stream of `carrier` (an Http2Connection); runs on the stream's thread."""
    link = Connection(transport, carrier.remote_addr, carrier.local_addr)
    request: StreamRequest | None = None
    try:
        fields = [(header_text(n), header_text(v)) for n, v in raw_fields]
        size = sum(len(n) + len(v) + 32 for n, v in fields)  # RFC 9113 section 6.5.2
        limit = carrier.config.max_request_header_size
        if size > limit:
            raise HttpError(HTTP_STATUS_HEADERS_TOO_LARGE,
                            f"request header list of {size} bytes exceeds {limit}")
        request = parse_stream_request(fields)
        _route(carrier, link, transport, request)
    except HttpError as e:
        _refuse(carrier, transport, request, e.status, str(e), e.headers)
    except (ConnectionTerminatedException, OSError) as e:
        _logger.debug("%s: stream %d ended: %s", carrier.peer, transport.stream_id, e)
    except Exception:  # noqa: BLE001 - one stream's fault must not reach the others
        _logger.exception("unexpected error serving stream %d of %s", transport.stream_id, carrier.peer)
        _refuse(carrier, transport, request, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal server error")
    finally:
        transport.deliver_reset("the stream is closed")  # wakes a helper thread still reading
        link.run_close_callbacks()
        transport.close()


def _route(carrier: Any, link: Connection, transport: StreamTransport, request: StreamRequest) -> None:
    config = carrier.config
    if config.basic_auth is not None:
        check_authorization(request.headers, config.basic_auth)
    if request.method == "CONNECT":
        _serve_websocket(carrier, link, transport, request, check_extended_connect(request))
        return
    page = stream_page(config, request.method, request.path, request.headers)
    send_on_stream(lambda fields: carrier.send_headers(transport.stream_id, fields), transport,
                   request.method, page)
    _log_access(carrier, request, page.status)


def _serve_websocket(carrier: Any, link: Connection, transport: StreamTransport,
                     request: StreamRequest, resource: str) -> None:
    config = carrier.config
    started = time.monotonic()
    if carrier.going_away:
        raise HttpError(HTTP_STATUS_SERVICE_UNAVAILABLE, "the server is shutting down")
    if config.dispatcher.get_handler_suite(resource) is None:
        raise missing_handler(config, resource)
    stream_id = transport.stream_id

    def answer_overrun(reason: str) -> None:
        _send_refusal(carrier, transport, "CONNECT", 408, reason)

    websocket = accept_within(config, link, started, answer_overrun, "CONNECT", resource,
                              PROTOCOL, request.headers, True)
    if websocket is None:
        note_refusal(_logger, config.status, carrier.remote_addr, request.line, request.path, None,
                     "the handler aborted the opening handshake (AbortedByUserException): the "
                     "stream was reset")
        transport.abort()
        return
    fields = accepted_fields(websocket)
    if _logger.isEnabledFor(logging.DEBUG):
        _logger.debug("%s %s: stream %d: request header fields: %s", carrier.peer, resource,
                      stream_id, masked_headers(request.headers.items()))
        _logger.debug("%s %s: stream %d: 200 with subprotocol %s, extensions %s", carrier.peer,
                      resource, stream_id, websocket.ws_protocol or "none",
                      format_extensions(websocket.ws_extensions or []) or "none")
    if websocket.handshake_response_delay:
        time.sleep(websocket.handshake_response_delay)
    carrier.send_headers(stream_id, fields)
    _log_access(carrier, request, 200)
    request.headers.pack()
    carrier.attach(stream_id, websocket)
    if carrier.going_away:  # shutdown began while we were handshaking
        session.close_going_away(websocket)
    session.run_session(websocket, config.dispatcher, config.close_timeout)
    if config.status is not None:
        config.status.session_ended(websocket)
    # The WebSocket's end is the stream's: END_STREAM both ways (RFC 8441 section 5).
    transport.finish()
    if not transport.wait_for_peer_end(time.monotonic() + config.close_timeout):
        transport.abort()


def _refuse(carrier: Any, transport: StreamTransport, request: StreamRequest | None, status: int,
            reason: str, headers: list[tuple[str, str]] | None = None) -> None:
    """Logs and records a refusal and answers it on the stream, if it still can."""
    line = request.line if request is not None else "-"
    note_refusal(_logger, carrier.config.status, carrier.remote_addr, line,
                 request.path if request else "", status, reason, carrier=PROTOCOL)
    try:
        _send_refusal(carrier, transport, request.method if request else "", status, reason, headers)
    except OSError:
        return
    if request is not None:
        _log_access(carrier, request, status)


def _send_refusal(carrier: Any, transport: StreamTransport, method: str, status: int, reason: str,
                  headers: list[tuple[str, str]] | None = None) -> None:
    fields, body = stream_refusal(status, reason, headers)
    if method == "HEAD":
        carrier.send_headers(transport.stream_id, fields, end_stream=True)
        return
    carrier.send_headers(transport.stream_id, fields)
    transport.sendall(body)
    transport.finish()


def _log_access(carrier: Any, request: StreamRequest, status: int) -> None:
    log_access(carrier.remote_addr, request.method, request.path, PROTOCOL, status)


__all__ = ["serve_stream"]
