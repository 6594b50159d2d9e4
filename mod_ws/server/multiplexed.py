"""One stream of a multiplexed connection (HTTP/2, HTTP/3) as a `Transport`.

An extended CONNECT (RFC 8441, RFC 9220) turns one stream of a shared connection into
a WebSocket's byte stream. The connection's own thread (or event loop) reads the
connection and hands each stream its bytes (`deliver`), its end (`deliver_end`) or its
reset (`deliver_reset`); the stream's handler thread reads them through the usual
`ByteReader`, as it would read a socket. What the handler has read is handed back as
flow-control credit (`StreamCarrier.consumed`), so a handler that stops reading stalls
its own stream and no other: the peer may send only as much as the stream's window,
and the buffer here never holds more than that.

Writes go to the carrier, which waits (bounded by the send timeout) for the peer's
flow-control window. Ending our direction is END_STREAM (HTTP/2) or a FIN (QUIC);
aborting is a stream reset, the multiplexed form of a TCP reset (RFC 8441 section 5).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Protocol


class StreamCarrier(Protocol):
    """What a stream transport needs from the connection it is a stream of.

    Every method may be called from the stream's handler threads, concurrently with
    the connection's reader; the carrier serialises access to its protocol state.
    """

    def send(self, stream_id: int, data: bytes | memoryview, deadline: float) -> None:
        """Sends `data` on the stream as the peer's flow-control windows allow;
        raises TimeoutError once `deadline` passes, OSError once the stream is gone."""
        ...

    def end_stream(self, stream_id: int) -> None:
        """Ends our direction of the stream (idempotent)."""
        ...

    def reset_stream(self, stream_id: int) -> None:
        """Resets the stream, unless both directions have already ended."""
        ...

    def consumed(self, stream_id: int, size: int) -> None:
        """`size` delivered bytes were read: the peer may send that much more."""
        ...

    def release(self, stream_id: int) -> None:
        """The stream's transport is closed: the carrier forgets the stream."""
        ...


class StreamTransport:
    """A Transport over one stream (see the module docstring).

    Concurrency as `Transport` says: one reader and one writer at a time, `abort` from
    anywhere. `deliver*` are called by the carrier's reading side only.
    """

    def __init__(self, carrier: StreamCarrier, stream_id: int, send_timeout: float,
                 secure: bool = True,
                 peer_certificate: Callable[[], dict | None] | None = None) -> None:
        self.secure = secure
        self.stream_id = stream_id
        self._carrier = carrier
        self._send_timeout = send_timeout
        self._peer_certificate = peer_certificate
        self._chunks: collections.deque[bytes] = collections.deque()
        self._arrived = threading.Condition(threading.Lock())
        self._ended = False  # the peer ended its direction
        self._failure: str | None = None  # why the stream is gone (reset, connection lost)
        self.buffered = 0  # delivered bytes not yet read

    # The carrier's side.

    def deliver(self, data: bytes) -> None:
        """Bytes the peer sent on the stream, in order."""
        if not data:
            return
        with self._arrived:
            self._chunks.append(data)
            self.buffered += len(data)
            self._arrived.notify()

    def deliver_end(self) -> None:
        """The peer ended its direction: reads return b"" once the buffer is empty."""
        with self._arrived:
            self._ended = True
            self._arrived.notify_all()

    def deliver_reset(self, reason: str) -> None:
        """The stream is gone (reset by the peer, or the connection ended): reads and
        writes raise ConnectionResetError naming `reason`."""
        with self._arrived:
            if self._failure is None:
                self._failure = reason
            self._arrived.notify_all()

    @property
    def peer_ended(self) -> bool:
        return self._ended

    @property
    def failure(self) -> str | None:
        return self._failure

    # The Transport protocol.

    def _take(self, size: int, deadline: float | None, wait: bool = True) -> bytes | None:
        with self._arrived:
            while not self._chunks:
                if self._failure is not None:
                    raise ConnectionResetError(self._failure)
                if self._ended:
                    return b""
                if not wait:
                    return None
                if deadline is None:
                    self._arrived.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError("deadline passed")
                    self._arrived.wait(left)
            chunk = self._chunks.popleft()
            if len(chunk) > size:
                self._chunks.appendleft(chunk[size:])
                chunk = chunk[:size]
            self.buffered -= len(chunk)
        self._carrier.consumed(self.stream_id, len(chunk))
        return chunk

    def recv(self, size: int) -> bytes:
        return self._take(size, None)  # type: ignore[return-value]

    def recv_within(self, size: int, deadline: float) -> bytes:
        return self._take(size, deadline)  # type: ignore[return-value]

    def recv_ready(self, size: int) -> bytes | None:
        return self._take(size, None, wait=False)

    def recv_into(self, buffer: memoryview) -> int:
        data = self._take(len(buffer), None)
        buffer[: len(data)] = data  # type: ignore[arg-type]
        return len(data)  # type: ignore[arg-type]

    def sendall(self, data: bytes) -> None:
        if self._failure is not None:
            raise ConnectionResetError(self._failure)
        try:
            self._carrier.send(self.stream_id, data, time.monotonic() + self._send_timeout)
        except TimeoutError:
            raise TimeoutError(f"send timed out after {self._send_timeout:g} s "
                               "(the peer's flow-control window stayed shut)") from None

    def half_close(self) -> None:
        self._carrier.end_stream(self.stream_id)

    def finish(self) -> None:
        self._carrier.end_stream(self.stream_id)

    def abort(self) -> None:
        self.deliver_reset("stream aborted by the server")
        self._carrier.reset_stream(self.stream_id)

    def close(self) -> None:
        self._carrier.release(self.stream_id)

    def wait_for_peer_end(self, deadline: float) -> bool:
        """Discards what the peer still sends until it ends its direction; True if it
        did before `deadline` (after a close handshake, END_STREAM both ways)."""
        try:
            while self._take(1 << 16, deadline):
                pass
        except (TimeoutError, OSError):
            return False
        return True

    def peer_certificate(self) -> dict | None:
        """The connection's verified client certificate (see request.get_peer_cert)."""
        return self._peer_certificate() if self._peer_certificate is not None else None

    def __repr__(self) -> str:
        return f"<StreamTransport {self.stream_id}>"


def header_text(value: Any) -> str:
    """A header name or value as text: the multiplexed carriers' libraries give bytes."""
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


__all__ = ["StreamCarrier", "StreamTransport", "header_text"]
