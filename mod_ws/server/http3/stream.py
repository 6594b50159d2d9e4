"""One WebSocket over one HTTP/3 stream, on its own handler thread.

The loop has checked what it can without waiting (the method, the extended CONNECT's
pseudo-header fields, authentication, that a handler exists); this thread runs the
shared accept (mod_ws.server.accept: the handler's web_socket_do_extra_handshake may
take its time), answers `:status 200` or the refusal's status, runs the session, and
ends the stream cleanly: our FIN, then the peer's within --close-timeout, else a reset
(RESET_STREAM and STOP_SENDING).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from mod_ws.common import HTTP_STATUS_REQUEST_TIMEOUT, format_extensions
from mod_ws.defaults import LINGER_TIMEOUT
from mod_ws.exceptions import ConnectionTerminatedException, HttpError
from mod_ws.protocol.closing import FAILED
from mod_ws.server import session
from mod_ws.server.accept import accept_within
from mod_ws.server.config import ServerConfig
from mod_ws.server.extended_connect import StreamRequest, accepted_fields
from mod_ws.server.http3.connection import Http3Connection
from mod_ws.server.multiplexed import StreamTransport
from mod_ws.server.pages import send_on_stream, stream_page
from mod_ws.server.reporting import log_access, masked_headers
from mod_ws.server.request import Connection, WebSocketRequest

_logger = logging.getLogger("mod_ws.http3")
PROTOCOL = "HTTP/3"

# Called with the request once its session is open (returning whether the server is
# going away: then the session is told 1001 at once), and with it again when it ends.
SessionOpened = Callable[[WebSocketRequest], bool]
SessionClosed = Callable[[WebSocketRequest], None]


def serve_stream(config: ServerConfig, link: Http3Connection, transport: StreamTransport,
                 head: StreamRequest, resource: str | None, started: float,
                 opened: SessionOpened, closed: SessionClosed) -> None:
    """The stream thread's whole work: one extended CONNECT, or one page (`resource`
    None: a GET or HEAD of the status page or a static file)."""
    connection = Connection(transport, link.remote_addr, link.local_addr)
    stream_id = transport.stream_id
    ended = False  # the stream ended cleanly (or was answered): no reset needed
    try:
        if resource is None:
            _serve_page(config, link, transport, head)
            ended = True
            return
        request = _accept(config, link, connection, head, resource, started)
        if request is None:
            return
        if opened(request):
            session.close_going_away(request)
        try:
            session.run_session(request, config.dispatcher, config.close_timeout)
        finally:
            closed(request)
        if config.status is not None:
            config.status.session_ended(request)
        ended = _end_stream(transport, config.close_timeout
                            if request.close_handshake.state is not FAILED
                            else min(config.close_timeout, LINGER_TIMEOUT))
    except _Answered:
        ended = True
    except ConnectionTerminatedException as e:
        _logger.debug("%s: stream %d: %s", link.peer, stream_id, e)
    except OSError as e:
        _logger.debug("%s: stream %d: stream error: %s", link.peer, stream_id, e)
    except Exception:
        _logger.exception("unexpected error serving stream %d of %s", stream_id, link.peer)
    finally:
        if not ended:
            transport.abort()  # wakes helper threads blocked reading the stream
        connection.run_close_callbacks()
        transport.close()


class _Answered(Exception):
    """The stream was answered with an error status: nothing more to do on it."""


def _accept(config: ServerConfig, link: Http3Connection, connection: Connection,
            head: StreamRequest, resource: str, started: float) -> WebSocketRequest | None:
    """The shared accept and the answer: the request with its 200 sent, or None when
    the handler aborted (the stream is then reset); a refusal raises _Answered."""
    stream_id = connection.transport.stream_id

    def answer_overrun(reason: str) -> None:  # on the watchdog's thread
        link.respond(stream_id, HTTP_STATUS_REQUEST_TIMEOUT, reason)

    try:
        request = accept_within(config, connection, started, answer_overrun, "CONNECT", resource,
                                PROTOCOL, head.headers, True)
    except HttpError as e:
        link.refused(head.line, head.path, e.status, str(e))
        link.respond(stream_id, e.status, str(e), e.headers)
        raise _Answered from None
    if request is None:
        link.refused(head.line, head.path, None, "the handler aborted the opening handshake "
                     "(AbortedByUserException): nothing was answered")
        return None
    fields = accepted_fields(request)
    if _logger.isEnabledFor(logging.DEBUG):
        _logger.debug("%s %s: request header fields: %s", link.peer, resource,
                      masked_headers(head.headers.items()))
        _logger.debug("%s %s: 200 with subprotocol %s, extensions %s; response header fields: %s",
                      link.peer, resource, request.ws_protocol or "none",
                      format_extensions(request.ws_extensions or []) or "none",
                      masked_headers(fields))
    if request.handshake_response_delay:  # faults.delay_handshake_response
        time.sleep(request.handshake_response_delay)
    link.send_headers(stream_id, fields)
    log_access(link.remote_addr, "CONNECT", head.path, PROTOCOL, 200)
    return request


def _serve_page(config: ServerConfig, link: Http3Connection, transport: StreamTransport,
                head: StreamRequest) -> None:
    """The status page or a static file (mod_ws.server.pages), or its refusal."""
    try:
        page = stream_page(config, head.method, head.path, head.headers)
    except HttpError as e:
        link.refused(head.line, head.path, e.status, str(e))
        link.respond(transport.stream_id, e.status, str(e), e.headers)
        status = e.status
    else:
        send_on_stream(lambda fields: link.send_headers(transport.stream_id, fields), transport,
                       head.method, page)
        status = page.status
    log_access(link.remote_addr, head.method, head.path, PROTOCOL, status)


def _end_stream(transport: StreamTransport, timeout: float) -> bool:
    """Our FIN, then the peer's within `timeout`; False if it did not come (the
    stream is then reset). A failed session waits less (as HTTP/1.1 lingers): its
    close frame, if it sent one, may still reach the client."""
    if transport.failure is not None:
        return False
    transport.finish()
    return transport.wait_for_peer_end(time.monotonic() + timeout)


__all__ = ["serve_stream"]
