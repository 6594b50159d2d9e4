"""`--latency`, `--latency-jitter`, `--bandwidth`: a slow link between the server and a client.

`shape_session` puts a `ShapedTransport` between an upgraded session and its transport,
as `--log-frames` puts its traced one (mod_ws.server.frame_trace). What the server
writes after the 101 (the stream's frames, and raw bytes a handler writes with
`request.connection.write`) is then not written at once: `sendall` stamps it with a due
time, now + latency + uniform(-jitter, +jitter), never earlier than the previous
write's (so the order is kept; a negative delay clamps to 0, that is "as soon as the
link is free"), puts it in a queue and returns. One sender thread per shaped
connection (named `shape HOST:PORT`, started on the first write) writes each piece at
its due time, and with a bandwidth paces the bytes: a write every PACE_INTERVAL of
bandwidth × PACE_INTERVAL bytes, each piece leaving when its last byte would have
crossed the link. Latency is so pipelined as on a real link: twenty frames written
back to back arrive one latency later, not twenty.

Reads are not shaped (the connection's reader keeps reading the transport under
this one directly): a client's frames arrive as they are sent.

Bounds:
- the queue holds at most QUEUE_LIMIT bytes: a write beyond it waits for room (a
  small one, a ping or a close frame, may go SMALL_SLACK over, so the shared watchdog
  thread's keepalive pings never wait for a slow link); one larger write than the
  limit goes in when the queue is empty;
- ending the connection (`finish`, `half_close`, `close`) first lets what is queued go
  out, for at most the time it needs at the shaped rate plus the close timeout (and
  never more than MAX_DRAIN): what is then still queued is dropped and the connection
  cut; `abort` drops the queue at once and wakes every waiting thread;
- a failed write (the client went away, --send-timeout) ends the sender thread, fails
  the session with the same words the stream uses, and cuts the connection so a
  handler blocked reading wakes up; the next `sendall` raises the very OSError the
  transport raised, so the stream's own handling applies.

The carrier (mod_ws.server.http1.connection) ends a connection through
`connection.transport`, the shaper included: queued data still goes out before the
carrier's FIN, close_notify or close, and an abort drops it.

With --log-frames too, the traced transport sits under the shaped one: a frame is
logged when it goes on the wire, after its delay.

`shape_session` may also be called from a handler's web_socket_transfer_data
(`request.ws_stream.faults.shape`): the first call on a connection puts the shaper in,
later ones change its parameters for what is written from then on (the bandwidth
applies at once to what is still queued). Without any shaping option nothing here is
imported and no thread is started.
"""

from __future__ import annotations

import collections
import logging
import math
import random
import threading
import time
from typing import Any, Callable

from mod_ws.server.reporting import format_address
from mod_ws.server.transport import Transport

_logger = logging.getLogger(__name__)

# Bytes that may wait in one connection's queue before sendall waits for room.
QUEUE_LIMIT = 4 << 20
# Writes of at most SMALL_WRITE bytes (control frames) may exceed the limit by SMALL_SLACK.
SMALL_WRITE = 256
SMALL_SLACK = 64 << 10
# Without a bandwidth, one write gathers the pieces already due, up to this many bytes.
COALESCE_LIMIT = 64 << 10
# With a bandwidth: a write every PACE_INTERVAL seconds (at most MAX_CHUNK bytes each).
PACE_INTERVAL = 0.02
MAX_CHUNK = 64 << 10
# The longest ending a connection waits for queued data, whatever it would need.
MAX_DRAIN = 60.0
# How long `close` waits for the sender thread (woken by the abort before it).
JOIN_TIMEOUT = 5.0



def check_shaping(latency_s: float, jitter_s: float, bandwidth: float | None) -> None:
    """Raises ValueError unless the delays are seconds >= 0 and the bandwidth None or >= 1."""
    for name, value in (("latency", latency_s), ("jitter", jitter_s)):
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value < 0):
            raise ValueError(f"shaping {name} must be a finite number of seconds >= 0, not {value!r}")
    if bandwidth is not None and (isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float))
                                  or not math.isfinite(bandwidth) or bandwidth < 1):
        raise ValueError(f"shaping bandwidth must be None or bytes per second >= 1, not {bandwidth!r}")


class ShapedTransport:
    """A transport whose writes cross a slow link: delayed and paced on a sender
    thread (see the module docstring); reads pass through."""

    def __init__(self, inner: Transport, latency_s: float = 0.0, jitter_s: float = 0.0,
                 bandwidth: float | None = None, *, name: str = "shape",
                 drain_grace: float = 5.0,
                 on_failure: Callable[[OSError], None] | None = None) -> None:
        check_shaping(latency_s, jitter_s, bandwidth)
        self._inner = inner
        self._inner_sendall = inner.sendall
        self.secure = inner.secure
        # Reads are not shaped: the inner transport's own methods.
        self.recv = inner.recv
        self.recv_within = inner.recv_within
        self.recv_ready = inner.recv_ready
        self.recv_into = inner.recv_into
        self._name = name
        self._drain_grace = drain_grace
        self._on_failure = on_failure
        self._cond = threading.Condition(threading.Lock())
        # Pieces not yet written: [due time, bytes, offset written so far].
        self._queue: collections.deque[list] = collections.deque()
        self._queued = 0  # bytes in the queue
        self._in_flight = 0  # bytes the sender thread is writing now
        self._last_due = 0.0
        self._link_free = 0.0  # with a bandwidth: when the last paced piece left
        self._error: OSError | None = None  # the failed write's, raised by sendall from then on
        self._stopped = False  # aborted or closed: nothing more goes out
        self._thread: threading.Thread | None = None
        self._set(latency_s, jitter_s, bandwidth)

    def _set(self, latency_s: float, jitter_s: float, bandwidth: float | None) -> None:
        self._latency = float(latency_s)
        self._jitter = float(jitter_s)
        self._bandwidth = None if bandwidth is None else float(bandwidth)
        if bandwidth is not None:
            self._chunk = max(1, min(MAX_CHUNK, int(bandwidth * PACE_INTERVAL)))
            # A sender that woke late may catch up by one piece, no more.
            self._burst = self._chunk / self._bandwidth
        # Nothing to delay: a write with nothing queued goes out on the caller's thread.
        self._direct = not latency_s and not jitter_s and bandwidth is None

    @property
    def shaping(self) -> tuple[float, float, float | None]:
        """(latency in seconds, jitter in seconds, bytes per second or None)."""
        return self._latency, self._jitter, self._bandwidth

    def reshape(self, latency_s: float, jitter_s: float, bandwidth: float | None) -> None:
        """New parameters: the delays for what is written from now on, the bandwidth
        at once (also for what is queued)."""
        check_shaping(latency_s, jitter_s, bandwidth)
        with self._cond:
            self._set(latency_s, jitter_s, bandwidth)
            self._cond.notify_all()

    # Writing (callers never overlap two writes: the connection's write lock).

    def sendall(self, data: bytes) -> None:
        if type(data) is not bytes:
            data = bytes(data)  # the caller may reuse its buffer once we return
        cond = self._cond
        with cond:
            self._check_open()
            if not data:
                return
            if self._direct and not self._queue and not self._in_flight:
                direct = True
            else:
                direct = False
                size = len(data)
                limit = QUEUE_LIMIT + SMALL_SLACK if size <= SMALL_WRITE else QUEUE_LIMIT
                while self._queued and self._queued + size > limit:
                    cond.wait()
                    self._check_open()
                now = time.monotonic()
                delay = self._latency
                if self._jitter:
                    delay += random.uniform(-self._jitter, self._jitter)
                due = now + delay if delay > 0 else now
                if due < self._last_due:
                    due = self._last_due  # never overtakes an earlier write
                self._last_due = due
                was_empty = not self._queue
                self._queue.append([due, data, 0])
                self._queued += size
                if self._thread is None:
                    self._start_sender()
                elif was_empty:
                    cond.notify_all()
        if direct:
            self._inner_sendall(data)

    def _check_open(self) -> None:
        """Raises the failed write's error, or ConnectionAbortedError once aborted; the
        caller holds the lock."""
        if self._error is not None:
            raise self._error.with_traceback(None)
        if self._stopped:
            raise ConnectionAbortedError("the shaped connection was aborted or closed")

    def _start_sender(self) -> None:
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        try:
            thread.start()
        except RuntimeError as e:  # no thread to be had: the write fails as a send would
            item = self._queue.pop()
            self._queued -= len(item[1])
            raise OSError(f"cannot start the shaping thread: {e}") from None
        self._thread = thread

    # The sender thread.

    def _run(self) -> None:
        cond = self._cond
        try:
            while True:
                with cond:
                    data = self._next_write()
                    if data is None:
                        return
                try:
                    self._inner_sendall(data)
                except Exception as e:
                    self._fail(e)
                    return
                with cond:
                    self._in_flight = 0
                    cond.notify_all()
        finally:
            with cond:
                self._in_flight = 0
                cond.notify_all()

    def _next_write(self) -> bytes | None:
        """Waits until the next piece is due and takes it off the queue (None once
        stopped); called with the lock held."""
        cond = self._cond
        queue = self._queue
        while True:
            if self._stopped:
                return None
            if not queue:
                cond.wait()
                continue
            head_due = queue[0][0]
            now = time.monotonic()
            bandwidth = self._bandwidth
            if bandwidth is None:
                if now < head_due:
                    cond.wait(head_due - now)
                    continue
                return self._take_due(now)
            start = max(self._link_free, head_due, now - self._burst)
            count = self._available(self._chunk, start)
            send_at = start + count / bandwidth  # when its last byte would be across
            if now < send_at:
                cond.wait(send_at - now)
                continue
            self._link_free = send_at
            return self._take_bytes(count)

    def _take_due(self, now: float) -> bytes:
        """The head piece whole, with the pieces due behind it up to COALESCE_LIMIT."""
        queue = self._queue
        due, data, offset = queue.popleft()
        parts = [data[offset:] if offset else data]
        total = len(parts[0])
        while queue and queue[0][0] <= now:
            due, data, offset = queue[0]
            if total + len(data) - offset > COALESCE_LIMIT:
                break
            queue.popleft()
            parts.append(data[offset:] if offset else data)
            total += len(data) - offset
        self._queued -= total
        self._in_flight = total
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _available(self, limit: int, by: float) -> int:
        """Bytes of the pieces due by `by`, from the head on, up to `limit`."""
        total = 0
        for due, data, offset in self._queue:
            if due > by:
                break
            total += len(data) - offset
            if total >= limit:
                return limit
        return total

    def _take_bytes(self, count: int) -> bytes:
        """Exactly `count` bytes from the head of the queue on (pieces may be split)."""
        queue = self._queue
        parts = []
        left = count
        while left:
            item = queue[0]
            data, offset = item[1], item[2]
            end = min(len(data), offset + left)
            parts.append(data if offset == 0 and end == len(data) else data[offset:end])
            left -= end - offset
            if end == len(data):
                queue.popleft()
            else:
                item[2] = end
        self._queued -= count
        self._in_flight = count
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _fail(self, error: Exception) -> None:
        """A write failed: nothing more goes out, sendall raises `error` from now on,
        the session fails and the connection is cut (a blocked reader wakes)."""
        if not isinstance(error, OSError):
            error = OSError(f"{type(error).__name__}: {error}")
        with self._cond:
            aborted = self._stopped
            if self._error is None:
                self._error = error
            self._queue.clear()
            self._queued = 0
            self._cond.notify_all()
        if aborted:  # the abort made the write fail: nothing to report
            return
        _logger.debug("%s: shaped write failed: %s", self._name, error)
        if self._on_failure is not None:
            try:
                self._on_failure(error)
            except Exception:
                _logger.exception("%s: on_failure callback raised", self._name)
        self.abort()

    # Ending.

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until everything queued is written; False if `timeout` (default: what
        the queue needs at the shaped rate plus the drain grace, at most MAX_DRAIN)
        passed first. True at once when aborted or after a failed write."""
        cond = self._cond
        with cond:
            if not self._queue and not self._in_flight:
                return True
            now = time.monotonic()
            if timeout is None:
                need = max(0.0, self._last_due - now)
                if self._bandwidth is not None:
                    need += (self._queued + self._in_flight) / self._bandwidth
                timeout = min(need + self._drain_grace, MAX_DRAIN)
            deadline = now + timeout
            while ((self._queue or self._in_flight) and not self._stopped
                   and self._error is None):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                cond.wait(left)
            return True

    def _end_writes(self) -> None:
        """Lets what is queued go out (bounded); past the bound, drops it and cuts."""
        if not self.flush():
            _logger.debug("%s: shaped data not written within the bound: dropped, connection cut",
                          self._name)
            self.abort()

    def _drop(self) -> None:
        """Nothing more goes out; the queue is dropped and every waiter woken."""
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._queued = 0
            self._cond.notify_all()

    def _stop(self) -> None:
        """Before the transport is closed: queued data out (bounded), the sender thread
        ended and joined (it must not write to a closed descriptor)."""
        self._end_writes()
        self._drop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT)
            if thread.is_alive():
                _logger.warning("%s: the shaping thread did not end within %g s",
                                self._name, JOIN_TIMEOUT)

    def finish(self) -> None:
        self._end_writes()
        self._inner.finish()

    def half_close(self) -> None:
        self._end_writes()
        self._inner.half_close()

    def abort(self) -> None:
        self._drop()
        self._inner.abort()

    def close(self) -> None:
        self._stop()
        self._inner.close()

    def __getattr__(self, name: str) -> Any:  # peer_certificate, socket, ...
        if name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)


def _chain(transport: Any) -> list[Any]:
    """`transport` and the transports it wraps (through their `_inner`), outermost first."""
    chain = [transport]
    while True:
        inner = getattr(chain[-1], "__dict__", {}).get("_inner")
        if inner is None or inner in chain:
            return chain
        chain.append(inner)


def find_shaper(transport: Any) -> ShapedTransport | None:
    """The ShapedTransport in `transport`'s chain of wrappers, if any."""
    return next((t for t in _chain(transport) if isinstance(t, ShapedTransport)), None)


def _failure_words(error: OSError) -> str:
    """How the session's end line names a failed write (as mod_ws.server.session does)."""
    if isinstance(error, (BlockingIOError, TimeoutError)):
        return "send timed out (--send-timeout): the client stopped reading"
    return f"connection lost while sending: {error}"


def shape_session(request: Any, latency_s: float = 0.0, jitter_s: float = 0.0,
                  bandwidth: float | None = None) -> ShapedTransport | None:
    """Shapes what the server writes on `request`'s session from now on: delayed by
    `latency_s` seconds ± `jitter_s` and paced to `bandwidth` bytes per second (None:
    no limit). Called after the 101 (run_session does for --latency and --bandwidth;
    a handler may from web_socket_transfer_data). A second call on a connection
    changes the parameters of its shaper instead of adding another. Returns the
    shaper, or None when there was none and nothing is to be shaped. ValueError for a
    negative or non-finite delay or a bandwidth under 1."""
    check_shaping(latency_s, jitter_s, bandwidth)
    stream = request.ws_stream
    if stream is None:
        raise ValueError("shaping applies to an open WebSocket session: call shape_session "
                         "from web_socket_transfer_data")
    connection = request.connection
    shaper = find_shaper(connection.transport)
    if shaper is None:
        with connection.write_lock:  # no write in progress while the send path changes
            shaper = find_shaper(connection.transport)
            if shaper is None:
                if not latency_s and not jitter_s and bandwidth is None:
                    return None  # nothing to shape: the connection keeps its direct path
                closing = request.close_handshake

                def lost(error: OSError) -> None:
                    closing.lose(_failure_words(error))

                shaper = ShapedTransport(
                    connection.transport, latency_s, jitter_s, bandwidth,
                    name=f"shape {format_address(connection.remote_addr)}",
                    drain_grace=max(1.0, stream._options.close_timeout), on_failure=lost)
                connection.transport = shaper
                stream.replace_sendall(shaper.sendall)
                return shaper
    shaper.reshape(latency_s, jitter_s, bandwidth)
    return shaper


__all__ = ["ShapedTransport", "check_shaping", "find_shaper", "shape_session"]
