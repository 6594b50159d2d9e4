"""One QUIC connection: HTTP/3 in, WebSocket streams out, and the bridge between the
event loop that owns aioquic and the handler threads.

aioquic is sans-I/O and not thread-safe, so only the event-loop thread touches it.
Handler threads reach it through the `StreamCarrier` methods here, which never call
aioquic themselves: under one small lock they queue what to send on the stream (with
a `concurrent.futures.Future` to wait on) and wake the loop with
`call_soon_threadsafe`; the loop writes a queued item into aioquic only while the
stream's unacknowledged data stays under `SEND_BACKLOG`, and completes its future.
A handler's send waits on its future, bounded by its deadline; an item whose wait
timed out is cancelled, and the loop skips it (Future.set_running_or_notify_cancel
decides each race). A lost wake-up is impossible: every queued item schedules the
loop unless a wake-up is already pending, and the loop clears that flag before it
looks at the queue. The queue also keeps each stream's HEADERS, DATA and FIN in order.

Inbound, the loop hands each DATA payload to the stream's `StreamTransport`, and the
peer may send only `RECEIVE_WINDOW` bytes beyond what the handler has read: credit is
granted (mod_ws.server.http3.quic) when `consumed` reports reads, so a handler that
stops reading stalls its own stream and no other.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import socket
import threading
import time
from typing import Any, Protocol

from aioquic.h3.connection import ErrorCode, H3Connection, Setting
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.events import (
    ConnectionIdIssued,
    ConnectionIdRetired,
    ConnectionTerminated,
    HandshakeCompleted,
    ProtocolNegotiated,
    StopSendingReceived,
    StreamDataReceived,
    StreamReset,
)
from aioquic.quic.packet import QuicErrorCode

from mod_ws.common import (
    HTTP_STATUS_HEADERS_TOO_LARGE,
    HTTP_STATUS_SERVICE_UNAVAILABLE,
)
from mod_ws.exceptions import HttpError
from mod_ws.server.accept import missing_handler
from mod_ws.server.basic_auth import check_authorization
from mod_ws.server.config import ServerConfig
from mod_ws.server.extended_connect import (
    StreamRequest,
    check_extended_connect,
    parse_stream_request,
)
from mod_ws.server.http3.quic import CreditedQuicConnection, h3_buffered, is_request_stream
from mod_ws.server.multiplexed import StreamTransport, header_text
from mod_ws.server.pages import stream_refusal
from mod_ws.server.reporting import format_address, note_refusal
from mod_ws.server.sockets import plain_address

_logger = logging.getLogger("mod_ws.http3")

# The most a peer may send on a stream beyond what its handler has read, and the step
# by which credit is handed back (one MAX_STREAM_DATA per quarter window read).
RECEIVE_WINDOW = 256 * 1024
_GRANT_STEP = RECEIVE_WINDOW // 4
# A handler's send waits while aioquic holds this much of its stream's data unacknowledged.
SEND_BACKLOG = 1 << 20
_SEND_CHUNK = 1 << 16  # a large write is queued in pieces of this size
# While WebSockets are open the server pings, so the idle timeout ends only dead peers.
_KEEPALIVE_INTERVAL = 15.0
_PRUNE_ABOVE = 16  # stream records kept before finished ones are looked for after I/O

# What a stream queues for the loop, in order.
_HEADERS, _DATA, _FIN, _STOP = "headers", "data", "fin", "stop"

# A stream's life: its request head awaited, its WebSocket open, or over for us.
_HEAD, _OPEN, _DONE = "head", "open", "done"


class ConnectionOwner(Protocol):
    """What a connection needs from the server that routes its datagrams."""

    config: ServerConfig

    def route(self, cid: bytes, connection: Http3Connection) -> None: ...

    def unroute(self, cid: bytes) -> None: ...

    def connection_ended(self, connection: Http3Connection) -> None: ...

    def accepting(self) -> bool: ...

    def start_stream(self, connection: Http3Connection, transport: StreamTransport,
                     head: StreamRequest, resource: str | None, started: float) -> bool: ...


def error_name(code: int) -> str:
    """An HTTP/3 or QUIC error code as its name and number, for the log."""
    for codes in (ErrorCode, QuicErrorCode):
        try:
            return f"{codes(code).name} 0x{code:x}"
        except ValueError:
            pass
    return f"error code 0x{code:x}"


_settings_checked = False


def _check_settings(h3: H3Connection) -> None:
    """Warns once if this aioquic does not announce SETTINGS_ENABLE_CONNECT_PROTOCOL
    (RFC 9220 section 3), without which no client opens a WebSocket here."""
    global _settings_checked
    if _settings_checked:
        return
    _settings_checked = True
    if (h3.sent_settings or {}).get(Setting.ENABLE_CONNECT_PROTOCOL) != 1:
        _logger.warning("this aioquic does not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1: "
                        "clients will not open WebSockets over HTTP/3")


def refusal_fields(status: int, reason: str,
                   headers: list[tuple[str, str]] | None = None) -> tuple[list, bytes]:
    """The header block (as aioquic takes it) and text body of an error status
    answered on a stream."""
    fields, body = stream_refusal(status, reason, headers)
    return encode_fields(fields), body


def encode_fields(fields: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Header fields as aioquic takes them."""
    return [(name.encode("latin-1"), value.encode("latin-1", "replace")) for name, value in fields]


class _Stream:
    """What the connection keeps of one request stream."""

    __slots__ = ("stream_id", "state", "transport", "outbound", "pump_scheduled",
                 "grant_scheduled", "unannounced", "fin_queued", "answered", "sent_fin",
                 "peer_ended", "broken")

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.state = _HEAD
        self.transport: StreamTransport | None = None
        # Under the connection's lock: the handler threads' side.
        self.outbound: collections.deque = collections.deque()
        self.pump_scheduled = False
        self.grant_scheduled = False
        self.unannounced = 0  # payload bytes read since credit was last computed
        self.fin_queued = False
        self.answered = False  # an error status was queued: a reset must not discard it
        # Set on the loop only (`broken` under the lock too, as sends check it).
        self.sent_fin = False
        self.peer_ended = False
        self.broken: str | None = None  # why nothing more can be sent


class Http3Connection:
    """One QUIC connection with HTTP/3 on it; a `StreamCarrier` for its streams.

    Everything but the StreamCarrier methods runs on the event-loop thread.
    """

    def __init__(self, owner: ConnectionOwner, quic: CreditedQuicConnection,
                 loop: asyncio.AbstractEventLoop, sock: socket.socket, peer: Any) -> None:
        self.owner = owner
        self.config = owner.config
        self.quic = quic
        self.h3: H3Connection | None = None
        self.loop = loop
        self.sock = sock
        self.remote_addr = plain_address(peer)
        self.local_addr = plain_address(sock.getsockname())
        self.peer = format_address(self.remote_addr)
        self._streams: dict[int, _Stream] = {}
        self._lock = threading.Lock()
        self._waiting: set[_Stream] = set()  # streams whose queue waits for acknowledgements
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._keepalive: asyncio.TimerHandle | None = None
        self._pings = itertools.count()
        self._opened = False
        self.closed = False
        # A peer that never completes the handshake (garbage, a spoofed Initial) is
        # forgotten after --handshake-timeout, not after the whole idle timeout.
        self._handshake_timer: asyncio.TimerHandle | None = loop.call_later(
            self.config.handshake_timeout, self._handshake_overdue)

    # The loop's side: datagrams, timers, events.

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """Feeds one datagram in; the server calls `after_io` once per batch."""
        self.quic.receive_datagram(data, addr, now=self.loop.time())
        self._process_events()

    def after_io(self) -> None:
        """Moves queued sends on (acknowledgements may have made room), then sends."""
        for stream in list(self._waiting):
            self._drain(stream)
        self.transmit()
        if len(self._streams) > _PRUNE_ABOVE:
            self._prune()

    def transmit(self) -> None:
        """Sends what aioquic has to send and sets its timer."""
        sendto = self.sock.sendto
        for data, addr in self.quic.datagrams_to_send(now=self.loop.time()):
            try:
                sendto(data, addr)
            except OSError:  # a full socket buffer or a gone route: QUIC recovers
                pass
        at = self.quic.get_timer()
        if at != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = at
            self._timer = None if at is None else self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.guarded(self._handle_timer)

    def _handle_timer(self) -> None:
        self.quic.handle_timer(now=self.loop.time())
        self._process_events()
        self.after_io()

    def guarded(self, step, *args) -> None:
        """Runs a loop step; an unexpected error closes this connection only."""
        try:
            step(*args)
        except Exception as e:  # noqa: BLE001 - one connection's fault must not stop the loop
            _logger.warning("%s: QUIC connection closed after an unexpected error: %r", self.peer, e)
            _logger.debug("the error", exc_info=True)
            try:
                self.quic.close(error_code=ErrorCode.H3_INTERNAL_ERROR, reason_phrase="internal error")
                self.transmit()
            except Exception as closing:  # noqa: BLE001 - the connection is being dropped anyway
                _logger.debug("%s: closing after the error failed too: %r", self.peer, closing)
            self._terminated("closed after an internal error")

    def _process_events(self) -> None:
        quic = self.quic
        while (event := quic.next_event()) is not None:
            if isinstance(event, StreamDataReceived):
                if is_request_stream(event.stream_id) and event.stream_id not in self._streams:
                    self._streams[event.stream_id] = _Stream(event.stream_id)
            elif isinstance(event, ProtocolNegotiated):
                if self.h3 is None:
                    self.h3 = H3Connection(quic)
                    _check_settings(self.h3)
            elif isinstance(event, HandshakeCompleted):
                self._opened = True
                if self._handshake_timer is not None:
                    self._handshake_timer.cancel()
                    self._handshake_timer = None
                _logger.info("%s: QUIC connection opened (ALPN %s)", self.peer, event.alpn_protocol)
                self._keepalive = self.loop.call_later(_KEEPALIVE_INTERVAL, self._keepalive_tick)
            elif isinstance(event, ConnectionIdIssued):
                self.owner.route(event.connection_id, self)
            elif isinstance(event, ConnectionIdRetired):
                self.owner.unroute(event.connection_id)
            elif isinstance(event, ConnectionTerminated):
                self._terminated(f"{event.reason_phrase or 'no reason given'} "
                                 f"({error_name(event.error_code)})")
                return
            if self.h3 is not None:
                for h3_event in self.h3.handle_event(event):
                    if isinstance(h3_event, DataReceived):
                        self._on_data(h3_event)
                    elif isinstance(h3_event, HeadersReceived):
                        self._on_headers(h3_event)
            if isinstance(event, StreamDataReceived):
                self._check_head_size(event.stream_id)
            elif isinstance(event, StreamReset):
                self._on_reset(event.stream_id,
                               f"stream reset by the client ({error_name(event.error_code)})")
            elif isinstance(event, StopSendingReceived):
                self._on_reset(event.stream_id, "the client stopped reading the stream "
                               f"(STOP_SENDING, {error_name(event.error_code)})", stopped=True)

    def _handshake_overdue(self) -> None:
        if not self._opened:
            self._terminated(f"no QUIC handshake within {self.config.handshake_timeout:g} s "
                             "(--handshake-timeout)")

    def _keepalive_tick(self) -> None:
        self._keepalive = None
        if self.closed:
            return
        if any(stream.state == _OPEN for stream in self._streams.values()):
            self.quic.send_ping(next(self._pings))
            self.guarded(self.transmit)
        self._keepalive = self.loop.call_later(_KEEPALIVE_INTERVAL, self._keepalive_tick)

    def _terminated(self, reason: str) -> None:
        """The QUIC connection is over: every stream's handler learns it."""
        if self.closed:
            return
        self.closed = True
        for handle in (self._timer, self._keepalive, self._handshake_timer):
            if handle is not None:
                handle.cancel()
        self._timer = self._keepalive = self._handshake_timer = None
        for stream in list(self._streams.values()):
            self._break(stream, f"QUIC connection closed: {reason}")
            stream.state = _DONE
        self._streams.clear()
        self._waiting.clear()
        if self._opened:
            _logger.info("%s: QUIC connection closed: %s", self.peer, reason)
        else:
            _logger.debug("%s: QUIC connection ended before its handshake: %s", self.peer, reason)
        self.owner.connection_ended(self)

    def shut(self, reason: str) -> None:
        """Closes the connection now (server shutdown): streams reset, CONNECTION_CLOSE sent."""
        if self.closed:
            return
        for stream in list(self._streams.values()):
            if stream.state == _OPEN:
                self._reset_now(stream, ErrorCode.H3_REQUEST_CANCELLED)
        self.quic.close(error_code=ErrorCode.H3_NO_ERROR, reason_phrase=reason)
        self.transmit()
        self._terminated(reason)

    # Requests.

    def _on_headers(self, event: HeadersReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None or stream.state != _HEAD:
            if stream is not None and stream.state == _OPEN and event.stream_ended:
                stream.peer_ended = True  # trailers end the stream
                stream.transport.deliver_end()
            return
        started = time.monotonic()
        try:
            fields = [(header_text(name), header_text(value)) for name, value in event.headers]
            head = parse_stream_request(fields)
        except HttpError as e:
            self._refuse(stream, None, e.status, str(e), e.headers)
            return
        stream.peer_ended = event.stream_ended
        try:
            resource = self._route(head)
        except HttpError as e:
            self._refuse(stream, head, e.status, str(e), e.headers)
            return
        transport = StreamTransport(self, stream.stream_id, self.config.send_timeout, secure=True)
        if event.stream_ended:
            transport.deliver_end()
        stream.transport = transport
        stream.state = _OPEN
        if not self.owner.start_stream(self, transport, head, resource, started):
            stream.transport = None
            stream.state = _HEAD
            self._refuse(stream, head, HTTP_STATUS_SERVICE_UNAVAILABLE,
                         "no thread could be started for the WebSocket")

    def _route(self, head: StreamRequest) -> str | None:
        """The checks the loop makes itself: the resource of a WebSocket to accept,
        None for a page (the stream's thread answers it: reading a file may wait), or
        HttpError."""
        if not self.owner.accepting():
            raise HttpError(HTTP_STATUS_SERVICE_UNAVAILABLE, "the server is shutting down")
        resource = check_extended_connect(head) if head.method == "CONNECT" else None
        if self.config.basic_auth is not None:
            check_authorization(head.headers, self.config.basic_auth)
        if resource is not None and self.config.dispatcher.get_handler_suite(resource) is None:
            raise missing_handler(self.config, resource)
        return resource

    def _check_head_size(self, stream_id: int) -> None:
        """A request head still arriving past --max-request-header-size is refused."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.state != _HEAD or self.h3 is None:
            return
        limit = self.config.max_request_header_size
        if h3_buffered(self.h3, stream_id) > limit:
            self._refuse(stream, None, HTTP_STATUS_HEADERS_TOO_LARGE,
                         f"request head exceeds {limit} bytes")

    def refused(self, line: str, target: str, status: int | None, reason: str) -> None:
        """Logs a refusal and keeps it for the status page."""
        note_refusal(_logger, self.config.status, self.remote_addr, line, target, status, reason)

    def _refuse(self, stream: _Stream, head: StreamRequest | None, status: int, reason: str,
                headers: list[tuple[str, str]] | None = None) -> None:
        """Answers an error status on the stream, from the loop, and is done with it."""
        self.refused(head.line if head else "-", head.path if head else "", status, reason)
        stream.state = _DONE
        fields, body = refusal_fields(status, reason, headers)
        try:
            self.h3.send_headers(stream.stream_id, fields)
            self.h3.send_data(stream.stream_id, body, end_stream=True)
            stream.sent_fin = True
            if not stream.peer_ended:
                self.quic.stop_stream(stream.stream_id, ErrorCode.H3_NO_ERROR)
        except Exception as e:  # noqa: BLE001 - the stream went away meanwhile
            _logger.debug("%s: stream %d: refusal not sent: %r", self.peer, stream.stream_id, e)
        self._prune()

    # Inbound data and credit.

    def _on_data(self, event: DataReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None or stream.state != _OPEN:
            return  # a refused or finished stream: dropped
        transport = stream.transport
        if event.data:
            transport.deliver(event.data)
        if event.stream_ended:
            stream.peer_ended = True
            transport.deliver_end()
        elif self._credit(stream) - self.quic.window(stream.stream_id) >= _GRANT_STEP:
            # Framing and ignored frames used the window up: give it back at once.
            self._grant(stream)

    def _credit(self, stream: _Stream) -> int:
        """The offset the peer may send up to: RECEIVE_WINDOW beyond the bytes the
        server still holds unread (in the transport, or in an unfinished frame)."""
        stream_id = stream.stream_id
        held = stream.transport.buffered + h3_buffered(self.h3, stream_id)
        return self.quic.received(stream_id) - held + RECEIVE_WINDOW

    def _grant(self, stream: _Stream) -> None:
        with self._lock:
            stream.grant_scheduled = False
            stream.unannounced = 0  # before the transport's count is read: none is lost
        if (stream.state == _OPEN and not stream.peer_ended
                and self.quic.grant(stream.stream_id, self._credit(stream))):
            self.transmit()

    def _on_reset(self, stream_id: int, reason: str, stopped: bool = False) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if not stopped:
            stream.peer_ended = True
        if stream.state == _OPEN:
            _logger.info("%s: stream %d: %s", self.peer, stream_id, reason)
            self._break(stream, reason)
        else:
            stream.state = _DONE
            self._prune()

    def _break(self, stream: _Stream, reason: str) -> None:
        """The stream can carry nothing more: its handler and its waiting sends learn why."""
        with self._lock:
            if stream.broken is None:
                stream.broken = reason
            items = list(stream.outbound)
            stream.outbound.clear()
        self._waiting.discard(stream)
        for _, _, future in items:
            if future is not None and future.set_running_or_notify_cancel():
                future.set_exception(ConnectionResetError(reason))
        if stream.transport is not None:
            stream.transport.deliver_reset(reason)

    def _prune(self) -> None:
        """Forgets the finished streams aioquic has dropped too."""
        for stream_id in [sid for sid, s in self._streams.items()
                          if s.state == _DONE and not self.quic.has_stream(sid)]:
            del self._streams[stream_id]

    # Outbound: the queue the handler threads fill.

    def _pump(self, stream: _Stream) -> None:
        with self._lock:
            stream.pump_scheduled = False
        self._drain(stream)
        self.transmit()

    def _drain(self, stream: _Stream) -> None:
        """Writes the stream's queued items into aioquic while its backlog allows."""
        queue = stream.outbound
        stream_id = stream.stream_id
        while True:
            with self._lock:
                if not queue:
                    break
                kind, payload, future = queue[0]
                if (kind == _DATA and not (future is not None and future.cancelled())
                        and self.quic.send_backlog(stream_id) >= SEND_BACKLOG):
                    self._waiting.add(stream)
                    return
                queue.popleft()
            if future is not None and not future.set_running_or_notify_cancel():
                continue  # its sender gave up waiting
            try:
                self._write(stream, kind, payload)
            except Exception as e:  # noqa: BLE001 - aioquic refuses: the stream is gone
                reason = stream.broken or f"the stream cannot be sent on: {e!r}"
                if future is not None:
                    future.set_exception(ConnectionResetError(reason))
                self._break(stream, reason)
                return
            if future is not None:
                future.set_result(None)
        self._waiting.discard(stream)

    def _write(self, stream: _Stream, kind: str, payload: Any) -> None:
        if stream.broken is not None:
            raise ConnectionResetError(stream.broken)
        stream_id = stream.stream_id
        if kind == _DATA:
            self.h3.send_data(stream_id, payload, end_stream=False)
        elif kind == _HEADERS:
            self.h3.send_headers(stream_id, payload)
        elif kind == _FIN:
            if not stream.sent_fin:
                self.h3.send_data(stream_id, b"", end_stream=True)
                stream.sent_fin = True
        elif kind == _STOP and not stream.peer_ended:
            self.quic.stop_stream(stream_id, ErrorCode.H3_NO_ERROR)

    def _reset_now(self, stream: _Stream, code: int) -> None:
        """RESET_STREAM (a no-op in aioquic once all we sent is acknowledged) unless
        the stream carries an error answer, which must reach the client; STOP_SENDING
        unless the peer's direction has ended."""
        stream_id = stream.stream_id
        try:
            if not stream.answered:  # aioquic ignores it for a direction already reset
                self.quic.reset_stream(stream_id, code)
            if not stream.peer_ended and self.quic.has_stream(stream_id):
                self.quic.stop_stream(stream_id, code)
        except (ValueError, RuntimeError) as e:
            _logger.debug("%s: stream %d: reset not sent: %r", self.peer, stream_id, e)
        self._break(stream, "stream reset by the server")

    def _call_soon(self, callback, *args) -> bool:
        """Runs `callback` on the loop thread soon; False once the loop is gone."""
        try:
            self.loop.call_soon_threadsafe(self.guarded, callback, *args)
        except RuntimeError:  # the loop is closed: the server has stopped
            return False
        return True

    def _queue(self, stream: _Stream, items: list[tuple[str, Any, Any]]) -> None:
        """Queues items from any thread; raises ConnectionResetError if the stream is broken."""
        with self._lock:
            if stream.broken is not None:
                raise ConnectionResetError(stream.broken)
            stream.outbound.extend(items)
            wake = not stream.pump_scheduled
            stream.pump_scheduled = True
        if wake and not self._call_soon(self._pump, stream):
            raise ConnectionResetError("the HTTP/3 server has stopped")

    def _stream(self, stream_id: int) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise ConnectionResetError(f"stream {stream_id} is gone")
        return stream

    # The StreamCarrier, called from handler threads (and the watchdog, the shutdown thread).

    def send(self, stream_id: int, data: bytes | memoryview, deadline: float) -> None:
        """Queues `data` and waits until aioquic has taken all of it (see the module
        docstring); TimeoutError at `deadline`, ConnectionResetError if the stream breaks."""
        if not data:
            return
        data = bytes(data)
        futures = [concurrent.futures.Future() for _ in range(0, len(data), _SEND_CHUNK)]
        self._queue(self._stream(stream_id),
                    [(_DATA, data[i * _SEND_CHUNK:(i + 1) * _SEND_CHUNK], future)
                     for i, future in enumerate(futures)])
        try:
            futures[-1].result(max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            for future in futures:
                future.cancel()
            if futures[-1].cancelled() or not futures[-1].done():
                raise TimeoutError("the stream's send backlog did not drain in time") from None
            futures[-1].result()  # taken after all, or broken
        except concurrent.futures.CancelledError:
            raise ConnectionResetError("the stream was closed") from None

    def send_headers(self, stream_id: int, fields: list[tuple[str, str]]) -> None:
        """Queues a header block (the answer to the CONNECT), in order with the data."""
        self._queue(self._stream(stream_id), [(_HEADERS, encode_fields(fields), None)])

    def respond(self, stream_id: int, status: int, reason: str,
                headers: list[tuple[str, str]] | None = None) -> None:
        """Queues a whole error answer: status, text body, FIN, and STOP_SENDING."""
        stream = self._stream(stream_id)
        fields, body = refusal_fields(status, reason, headers)
        with self._lock:
            stream.fin_queued = stream.answered = True
        self._queue(stream, [(_HEADERS, fields, None), (_DATA, body, None), (_FIN, None, None),
                             (_STOP, None, None)])

    def end_stream(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        with self._lock:
            if stream.fin_queued:
                return
            stream.fin_queued = True
        try:
            self._queue(stream, [(_FIN, None, None)])
        except ConnectionResetError:
            pass

    def reset_stream(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None:
            self._call_soon(self._reset_later, stream)

    def _reset_later(self, stream: _Stream) -> None:
        if stream.state == _OPEN and not (stream.sent_fin and stream.peer_ended):
            self._reset_now(stream, ErrorCode.H3_REQUEST_CANCELLED)
            self.transmit()

    def consumed(self, stream_id: int, size: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        with self._lock:
            stream.unannounced += size
            if stream.unannounced < _GRANT_STEP or stream.grant_scheduled:
                return
            stream.grant_scheduled = True
        self._call_soon(self._grant, stream)

    def release(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None:
            self._call_soon(self._release, stream)

    def _release(self, stream: _Stream) -> None:
        if stream.state != _OPEN:
            return
        if not stream.sent_fin:  # not ended by the handler: cut
            self._reset_now(stream, ErrorCode.H3_REQUEST_CANCELLED)
        stream.state = _DONE
        self._break(stream, "stream closed")
        stream.transport = None
        self._prune()
        self.transmit()


__all__ = [
    "RECEIVE_WINDOW",
    "SEND_BACKLOG",
    "ConnectionOwner",
    "Http3Connection",
    "encode_fields",
    "refusal_fields",
]
