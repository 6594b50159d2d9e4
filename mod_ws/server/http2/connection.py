"""One HTTP/2 connection: the reader, the streams and their threads, flow control.

The connection's own thread reads the TLS transport and feeds the `h2` state machine;
each request stream gets a thread of its own (mod_ws.server.http2.stream), which reads
and writes through a `StreamTransport` whose carrier is this connection. `h2` is not
thread-safe, so every call into it runs under `_lock`; bytes it has to send are taken
under that lock and written under `_send_lock` by whichever thread holds it, so
they leave in the order `h2` made them and no thread waits on the socket while
holding the state.

Flow control (RFC 9113 section 5.2): the connection's receive window is returned as
data arrives, a stream's only as its handler reads it, so a handler that stops
reading stalls its own stream and no other. Sending waits for both of the peer's
windows, bounded by --send-timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from mod_ws.server.config import ServerConfig
from mod_ws.server.multiplexed import StreamTransport
from mod_ws.server.reporting import format_address
from mod_ws.server.session import close_going_away
from mod_ws.server.transport import Transport

_logger = logging.getLogger("mod_ws.http2")

# A stream may hold this much unread data (its receive window): what one stalled
# handler costs at most, and enough for a 1 MiB message in few round trips.
STREAM_WINDOW = 1 << 20
# The connection's receive window, returned as data arrives.
CONNECTION_WINDOW = 1 << 24
# Bytes taken from the TLS connection per read.
READ_SIZE = 1 << 16
# Streams open at once, each with its thread.
MAX_CONCURRENT_STREAMS = 128
# How long a connection with no stream open is kept before GOAWAY.
IDLE_TIMEOUT = 60.0
# When the connection ends: how long its streams' threads are given to finish.
_GOODBYE_WAIT = 1.0


class _Stream:
    """What the connection keeps of one stream."""

    __slots__ = ("transport", "request", "unacked", "ended_here", "reset", "thread")

    def __init__(self, transport: StreamTransport) -> None:
        self.transport = transport
        self.request: Any = None  # the WebSocketRequest, once the stream carries one
        self.unacked = 0  # bytes read by the handler, not yet returned as window
        self.ended_here = False  # END_STREAM sent
        self.reset = False  # RST_STREAM sent or received
        self.thread: threading.Thread | None = None


class Http2Connection:
    """Serves one HTTP/2 connection on the thread that accepted it (the listener
    calls `run`, `open_requests`, `close_going_away` and `transport.abort`, as it
    does an HTTP/1.1 ConnectionHandler's)."""

    def __init__(self, config: ServerConfig, transport: Transport, remote_addr: Any,
                 local_addr: Any) -> None:
        self.config = config
        self.transport = transport
        self.remote_addr = remote_addr
        self.local_addr = local_addr
        self.peer = format_address(remote_addr)
        self._h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding=None, normalize_outbound_headers=True,
            # The request head is checked by mod_ws.server.extended_connect, and a
            # malformed one refused on its stream: h2 would end the whole connection,
            # and releases before 4.4 refuse even a well-formed ordinary CONNECT.
            validate_inbound_headers=False))
        self._h2.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: config.max_request_header_size,
        })
        # The header list limit is --max-request-header-size, answered 431 on the stream
        # (mod_ws.server.http2.stream); the decoder stops only a block far larger.
        self._h2.decoder.max_header_list_size = max(1 << 16, 4 * config.max_request_header_size)
        self._lock = threading.Lock()
        self._window_changed = threading.Condition(self._lock)
        self._send_lock = threading.Lock()
        self._streams: dict[int, _Stream] = {}
        self._connection_unacked = 0
        self._closed: str | None = None  # why the connection is gone
        self._going_away = False
        self._requested = False  # a request stream has been opened

    # The listener's side.

    def open_requests(self) -> list:
        with self._lock:
            return [s.request for s in self._streams.values() if s.request is not None]

    @property
    def going_away(self) -> bool:
        return self._going_away

    def close_going_away(self) -> None:
        """From the shutdown thread: 1001 to every WebSocket; no new streams; GOAWAY
        once the last stream has ended."""
        self._going_away = True
        with self._lock:
            requests = [s.request for s in self._streams.values() if s.request is not None]
            idle = not self._streams
        for request in requests:
            close_going_away(request)
        if idle:
            self._say_goodbye()

    def run(self) -> None:
        """Reads the connection until the peer leaves, breaks it, or says GOAWAY."""
        reason = "the client closed the connection"
        try:
            with self._lock:
                self._h2.initiate_connection()
                self._h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
            self._drain()
            _logger.info("%s: HTTP/2 connection opened", self.peer)
            reason = self._read_loop()
        except OSError as e:
            reason = f"connection lost: {e}"
        except Exception:  # noqa: BLE001 - one connection's fault must not reach the listener
            _logger.exception("unexpected error serving HTTP/2 for %s", self.peer)
            reason = "internal error"
        finally:
            self._end(reason)

    def _read_loop(self) -> str:
        """Feeds h2 what arrives; returns why the connection ends."""
        while True:
            with self._lock:
                idle = not self._streams
            if idle and self._going_away:
                return "the server is shutting down"
            # Before its first request a connection has --request-timeout, as an
            # HTTP/1.1 one has for its first head; between requests, IDLE_TIMEOUT.
            wait = IDLE_TIMEOUT if self._requested else self.config.request_timeout
            try:
                if idle:
                    data = self.transport.recv_within(READ_SIZE, time.monotonic() + wait)
                else:
                    data = self.transport.recv(READ_SIZE)
            except TimeoutError:
                _logger.info("%s: HTTP/2 connection %s for %g s: GOAWAY", self.peer,
                             "idle" if self._requested else "without a request", wait)
                self._say_goodbye()
                return "idle"
            if not data:
                return "the client closed the connection"
            with self._lock:
                try:
                    ended = self._on_events(self._h2.receive_data(data))
                except h2.exceptions.ProtocolError as e:
                    ended = f"HTTP/2 protocol error from the client: {e} (GOAWAY sent)"
                    _logger.warning("%s: %s", self.peer, ended)
                    self._goaway_after(e)
            self._drain()
            if ended is not None:
                return ended

    def _goaway_after(self, error: Exception) -> None:
        """h2 says GOAWAY itself after most protocol errors, not after a bad preface:
        then it is said here (under _lock)."""
        if self._h2.state_machine.state is h2.connection.ConnectionState.CLOSED:
            return  # GOAWAY is queued already
        code = getattr(error, "error_code", h2.errors.ErrorCodes.PROTOCOL_ERROR)
        try:
            self._h2.close_connection(error_code=code)
        except h2.exceptions.ProtocolError:
            pass

    def _on_events(self, events: list) -> str | None:
        """Handles what the peer sent (under _lock); returns why the connection ends,
        if it does."""
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                self._on_data(event)
            elif isinstance(event, h2.events.RequestReceived):
                self._on_request(event)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self._streams.get(event.stream_id)
                if stream is not None:
                    stream.transport.deliver_end()
            elif isinstance(event, h2.events.StreamReset):
                stream = self._streams.get(event.stream_id)
                if stream is not None:
                    reason = f"the client reset the stream ({_error_name(event.error_code)})"
                    _logger.info("%s: stream %d: %s", self.peer, event.stream_id, reason)
                    stream.reset = True
                    stream.transport.deliver_reset(reason)
                    self._window_changed.notify_all()
            elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
                self._window_changed.notify_all()
            elif isinstance(event, h2.events.ConnectionTerminated):
                reason = f"the client sent GOAWAY ({_error_name(event.error_code)})"
                _logger.info("%s: %s", self.peer, reason)
                return reason
        return None

    def _on_request(self, event: Any) -> None:
        from mod_ws.server.http2.stream import serve_stream  # the stream's side

        stream_id = event.stream_id
        self._requested = True
        if self._going_away:
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        peer_certificate = getattr(self.transport, "peer_certificate", None)
        transport = StreamTransport(self, stream_id, self.config.send_timeout, secure=True,
                                    peer_certificate=peer_certificate)
        stream = _Stream(transport)
        self._streams[stream_id] = stream
        thread = threading.Thread(target=serve_stream, args=(self, transport, event.headers),
                                  name=f"h2 stream {stream_id} of {self.peer}", daemon=True)
        stream.thread = thread
        try:
            thread.start()
        except RuntimeError as e:  # no thread can be started: refuse the stream
            _logger.warning("%s: stream %d refused: %s", self.peer, stream_id, e)
            del self._streams[stream_id]
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)

    def _on_data(self, event: Any) -> None:
        flow = event.flow_controlled_length
        self._connection_unacked += flow
        if self._connection_unacked >= CONNECTION_WINDOW // 4:
            self._h2.increment_flow_control_window(self._connection_unacked)
            self._connection_unacked = 0
        stream = self._streams.get(event.stream_id)
        if stream is None or stream.reset:
            return
        padding = flow - len(event.data)
        if padding:
            self._credit(event.stream_id, stream, padding)
        stream.transport.deliver(event.data)

    def _credit(self, stream_id: int, stream: _Stream, size: int) -> None:
        """Returns `size` bytes of the stream's window to the peer, batched (under _lock)."""
        stream.unacked += size
        if stream.unacked >= STREAM_WINDOW // 4:
            try:
                self._h2.increment_flow_control_window(stream.unacked, stream_id=stream_id)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                pass
            stream.unacked = 0

    # Writing.

    def _drain(self) -> None:
        """Writes what h2 has to send, in order; a broken connection ends every stream."""
        with self._send_lock:
            while True:
                with self._lock:
                    data = self._h2.data_to_send()
                if not data:
                    return
                try:
                    self.transport.sendall(data)
                except OSError as e:
                    self._fail(f"connection lost while sending: {e}")
                    raise

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self._closed is None:
                self._closed = reason
            for stream in self._streams.values():
                stream.transport.deliver_reset(reason)
            self._window_changed.notify_all()
        self.transport.abort()

    def _say_goodbye(self) -> None:
        """GOAWAY (no error), then our direction ends: the peer closes after it."""
        with self._lock:
            if self._closed is not None:
                return
            self._closed = "GOAWAY sent"
            self._h2.close_connection()
        try:
            self._drain()
        except OSError:
            return
        self.transport.half_close()

    def send_headers(self, stream_id: int, fields: list[tuple[str, str]], end_stream: bool = False) -> None:
        """The response head on a stream (from its thread)."""
        with self._lock:
            self._check_open(stream_id)
            try:
                self._h2.send_headers(stream_id, fields, end_stream=end_stream)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as e:
                raise ConnectionResetError(f"stream {stream_id}: {e}") from None
            if end_stream:
                self._streams[stream_id].ended_here = True
        self._drain()

    def attach(self, stream_id: int, request: Any) -> None:
        """The stream now carries `request`'s WebSocket (the status page and the
        shutdown see it)."""
        with self._lock:
            stream = self._streams.get(stream_id)
            if stream is not None:
                stream.request = request

    def _check_open(self, stream_id: int) -> _Stream:
        if self._closed is not None:
            raise ConnectionResetError(f"the HTTP/2 connection is closed: {self._closed}")
        stream = self._streams.get(stream_id)
        if stream is None or stream.reset:
            raise ConnectionResetError(f"stream {stream_id} was reset")
        return stream

    # The StreamCarrier protocol (mod_ws.server.multiplexed), from stream threads.

    def send(self, stream_id: int, data: bytes | memoryview, deadline: float) -> None:
        size = len(data)
        offset = 0
        while offset < size:
            with self._lock:
                while True:
                    self._check_open(stream_id)
                    try:
                        window = self._h2.local_flow_control_window(stream_id)
                    except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as e:
                        raise ConnectionResetError(f"stream {stream_id}: {e}") from None
                    if window > 0:
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError("the peer's flow-control window stayed shut")
                    self._window_changed.wait(left)
                frame_size = self._h2.max_outbound_frame_size
                while window > 0 and offset < size:
                    n = min(window, frame_size, size - offset)
                    piece = data if n == size else data[offset:offset + n]
                    try:
                        self._h2.send_data(stream_id, piece)
                    except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as e:
                        raise ConnectionResetError(f"stream {stream_id}: {e}") from None
                    offset += n
                    window -= n
            self._drain()

    def end_stream(self, stream_id: int) -> None:
        with self._lock:
            stream = self._streams.get(stream_id)
            if stream is None or stream.ended_here or stream.reset or self._closed is not None:
                return
            stream.ended_here = True
            try:
                self._h2.end_stream(stream_id)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                return
        self._drain()

    def reset_stream(self, stream_id: int) -> None:
        with self._lock:
            stream = self._streams.get(stream_id)
            if stream is None or stream.reset or self._closed is not None:
                return
            stream.reset = True
            self._window_changed.notify_all()
            try:
                self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                return
        try:
            self._drain()
        except OSError:
            pass

    def consumed(self, stream_id: int, size: int) -> None:
        with self._lock:
            stream = self._streams.get(stream_id)
            if stream is None or stream.reset or self._closed is not None:
                return
            self._credit(stream_id, stream, size)
            credited = stream.unacked == 0
        if credited:
            self._drain()

    def release(self, stream_id: int) -> None:
        with self._lock:
            stream = self._streams.get(stream_id)
        if stream is not None and not (stream.reset or stream.ended_here and stream.transport.peer_ended):
            self.reset_stream(stream_id)
        with self._lock:
            self._streams.pop(stream_id, None)
            last = not self._streams
        if last and self._going_away:
            self._say_goodbye()

    # The end.

    def _end(self, reason: str) -> None:
        """The reader is done: every stream ends, its thread is given a moment, the
        transport closes."""
        with self._lock:
            if self._closed is None:
                self._closed = reason
            streams = list(self._streams.values())
            for stream in streams:
                stream.transport.deliver_reset(f"HTTP/2 connection ended: {reason}")
            self._window_changed.notify_all()
        _logger.info("%s: HTTP/2 connection closed: %s", self.peer, reason)
        deadline = time.monotonic() + _GOODBYE_WAIT
        for stream in streams:
            if stream.thread is not None:
                stream.thread.join(max(0.0, deadline - time.monotonic()))
        self.transport.abort()
        self.transport.close()


def _error_name(code: Any) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error code {code}"


__all__ = ["Http2Connection"]
