"""Byte sources and sinks under a connection, and the buffered reader over them.

`Transport` is the seam every carrier fills: a plain TCP socket (`SocketTransport`),
later a TLS connection or one stream of a multiplexed HTTP/2 or HTTP/3 connection. The
server gets its transports from a `TransportFactory`, so a new kind plugs in without
an edit of the server. Waits take deadlines as arguments; nothing here sets a timeout
as socket state. `ByteReader` batches reads: one `recv` may carry many frames, and a
large payload is received straight into its own buffer.
"""

from __future__ import annotations

import re
import select
import socket
import struct
import time
from typing import Callable, Protocol

from mod_ws.accelerators import speedups
from mod_ws.exceptions import ConnectionTerminatedException

send_nowait = speedups.send_nowait if speedups is not None else None

RECV_CHUNK = 65536
# An idle connection waits in a small read: a blocked recv holds its whole buffer, and
# a buffer of 512 bytes or less comes from Python's small-object allocator, packed
# densely (2 KiB ones cost 1,000 idle connections about 4 MiB of RSS more; bench/). A
# read that fills the small buffer means data is flowing: the next one takes RECV_CHUNK.
IDLE_RECV_SIZE = 256
# The first read of a connection takes most request heads whole, still from the
# small-object allocator (479 bytes plus the 33-byte bytes header is its 512 limit).
FIRST_RECV_SIZE = 479
# Sends up to this size first try one non-blocking send that keeps the GIL (see
# mod_ws/_speedups.c); larger ones would hold it for too long.
NOWAIT_SEND_LIMIT = 16384
# The longest delimiter ByteReader.read_until looks for (a request head's "\n\r\n").
DELIMITER_SPAN = 3

READABLE = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLNVAL
WRITABLE = select.POLLOUT | select.POLLERR | select.POLLHUP | select.POLLNVAL


class Transport(Protocol):
    """What the WebSocket and HTTP layers need from a connection.

    Concurrency: one thread may read (`recv*`) while another writes (`sendall`); the
    callers guarantee that no two reads and no two writes overlap (the Stream's read
    lock, the connection's write lock). A transport that cannot read and write at once
    (a pyOpenSSL connection) serialises the two itself. `abort` may be called from any
    thread at any time, and wakes every blocked call.

    Reads return b"" at the end of the stream and raise OSError when the connection
    breaks; `recv_within` raises TimeoutError once `deadline` (a time.monotonic()
    value) passes. `sendall` is bounded by the send timeout the transport was made with.
    """

    secure: bool  # carried over TLS (request.is_https())

    def recv(self, size: int) -> bytes:
        """Waits, as long as the connection lives, for at least one byte."""
        ...

    def recv_within(self, size: int, deadline: float) -> bytes:
        """`recv`, but raises TimeoutError if nothing arrives before `deadline`."""
        ...

    def recv_ready(self, size: int) -> bytes | None:
        """What has already arrived (b"" at EOF), without waiting: None if nothing has."""
        ...

    def recv_into(self, buffer: memoryview) -> int:
        """Waits for bytes and receives them into `buffer`; returns how many (0 at EOF)."""
        ...

    def sendall(self, data: bytes) -> None:
        """Writes every byte, or raises OSError (also when the send timeout passes)."""
        ...

    def half_close(self) -> None:
        """Ends our direction (TCP FIN; TLS also sends close_notify); reads go on."""
        ...

    def finish(self) -> None:
        """Says goodbye at the transport's own level before a clean close (TLS sends
        close_notify, without waiting); TCP has nothing to add."""
        ...

    def abort(self) -> None:
        """Ends both directions at once and wakes every thread blocked on them."""
        ...

    def close(self) -> None:
        """Releases the connection's resources; called once, after every other call."""
        ...


# Makes the transport of one accepted connection, on that connection's own thread (so
# a TLS handshake there delays no other connection); raising refuses the connection.
TransportFactory = Callable[[socket.socket], Transport]


def wait_for(sock: socket.socket, events: int, deadline: float | None) -> None:
    """Waits until `sock` is ready for `events` (READABLE, WRITABLE; a failed socket is
    ready for both), or raises TimeoutError once `deadline` passes (None: no bound)."""
    poller = select.poll()
    poller.register(sock, events)
    while True:
        if deadline is None:
            if poller.poll():
                return
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        if poller.poll(remaining * 1000.0):
            return


class SocketEnds:
    """How a transport over one socket ends; the plain and the TLS transport share it."""

    socket: socket.socket

    def half_close(self) -> None:
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def abort(self) -> None:
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.socket.close()


# SO_SNDTIMEO's value is a struct timeval.
_TIMEVAL = struct.Struct("ll")


def set_send_timeout(sock: socket.socket, seconds: float) -> None:
    """Bounds each blocking send on `sock` (SO_SNDTIMEO); 0 would mean forever, so
    the shortest is one microsecond."""
    whole = int(seconds)
    micro = max(int((seconds - whole) * 1_000_000), 1 if whole == 0 else 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _TIMEVAL.pack(whole, micro))


def _send_timeout_of(sock: socket.socket) -> float:
    whole, micro = _TIMEVAL.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _TIMEVAL.size))
    return whole + micro / 1_000_000


class SocketTransport(SocketEnds):
    """A plain TCP socket as a Transport (also the default TransportFactory)."""

    secure = False

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock
        # Bound methods taken once: these two sit on the hot path.
        self.recv = sock.recv
        self.sendall = self._sendall_bounded if send_nowait is None else self._sendall_nowait_first

    def recv_within(self, size: int, deadline: float) -> bytes:
        wait_for(self.socket, READABLE, deadline)
        return self.socket.recv(size)

    def recv_ready(self, size: int) -> bytes | None:
        try:
            return self.socket.recv(size, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None

    def recv_into(self, buffer: memoryview) -> int:
        return self.socket.recv_into(buffer)

    def _sendall_nowait_first(self, data: bytes) -> None:
        """sendall that first tries to pass a small frame to the kernel without
        releasing the GIL; the rest, if the socket buffer is full, goes the usual way."""
        sock = self.socket
        sent = 0
        if len(data) <= NOWAIT_SEND_LIMIT:
            # fileno() is read under the GIL, so no other thread can close and reuse it first.
            sent = send_nowait(sock.fileno(), data)
            if sent == len(data):
                return
        self._send_rest(data, sent)

    def _sendall_bounded(self, data: bytes) -> None:
        """sendall without the accelerator: one send that does not wait, then the rest."""
        try:
            sent = self.socket.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        if sent != len(data):
            self._send_rest(data, sent)

    def _send_rest(self, data: bytes, sent: int) -> None:
        """Sends `data[sent:]` within the socket's send timeout (SO_SNDTIMEO, from
        --send-timeout) for the whole rest. The kernel bounds each send call, and a
        client that reads a little now and then would stretch a write over many
        timeouts, so each send gets only the time left. BlockingIOError or
        TimeoutError when it runs out."""
        sock = self.socket
        timeout = _send_timeout_of(sock)
        if timeout == 0:  # no SO_SNDTIMEO: the socket blocks as long as it takes
            sock.sendall(memoryview(data)[sent:])
            return
        deadline = time.monotonic() + timeout
        view = memoryview(data)[sent:]
        try:
            while view:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"send timed out after {timeout:g} s")
                set_send_timeout(sock, left)
                view = view[sock.send(view):]
        finally:
            view.release()
            if sock.fileno() >= 0:
                set_send_timeout(sock, timeout)

    def finish(self) -> None:
        pass


class ByteReader:
    """Buffered reads over a Transport; the only place bytes are pulled from it.

    The unconsumed bytes are `data[pos:]`. Parsers read them in place and advance
    `pos` (plain attributes, not properties: they are read for every message). This is
    the `BufferedSource` that mod_ws.protocol.messages reads frames from. Every wait
    takes an optional deadline (a time.monotonic() value; TimeoutError once it passes).
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.data: bytes | bytearray = b""
        self.pos = 0
        self.received = 0  # bytes taken from the transport so far (for the session's log)
        self._recv_size = FIRST_RECV_SIZE

    def buffered(self) -> int:
        return len(self.data) - self.pos

    def consumed(self) -> int:
        """Bytes taken from the transport and read past so far."""
        return self.received - (len(self.data) - self.pos)

    def replace_transport(self, transport: Transport) -> None:
        """Reads from `transport` from now on (one wrapping the old, as --log-frames does)."""
        self._transport = transport

    def fill(self, deadline: float | None = None, wait: bool = True) -> bool:
        """Receives at least one more byte into the buffer, or raises on EOF.

        With `wait` False, takes only what has already arrived and returns False if
        nothing has (no timed wait, see read_until). One function, not several: it runs
        for every read, and a held connection waits in it (each frame on an idle
        thread's stack is memory held; bench/, idle scenario).
        """
        size = self._recv_size
        if self.pos >= len(self.data):
            self.data = b""  # an idle connection holds no spent bytes while it waits
            self.pos = 0
        transport = self._transport
        try:
            if not wait:
                data = transport.recv_ready(size)
                if data is None:
                    return False
            elif deadline is None:
                data = transport.recv(size)
            else:
                data = transport.recv_within(size, deadline)
        except TimeoutError:
            raise
        except OSError as e:
            raise ConnectionTerminatedException(f"connection lost: {e}") from None
        if not data:
            raise ConnectionTerminatedException("connection closed by peer")
        self._recv_size = RECV_CHUNK if len(data) == size else IDLE_RECV_SIZE
        self.received += len(data)
        if self.pos >= len(self.data):
            self.data = data
        else:
            self.data = self.data[self.pos :] + data
        self.pos = 0
        return True

    def read_exact(self, length: int, deadline: float | None = None) -> bytes | bytearray:
        """Returns exactly `length` bytes, receiving a large remainder in place."""
        start = self.pos
        end = start + length
        if end <= len(self.data):
            self.pos = end
            return self.data[start:end]
        have = len(self.data) - start
        if length - have <= RECV_CHUNK:
            while len(self.data) - self.pos < length:
                self.fill(deadline)
            return self.read_exact(length)
        result = bytearray(length)
        view = memoryview(result)
        view[:have] = self.data[start:]
        self.data = b""
        self.pos = 0
        received = have
        recv_into = self._transport.recv_into
        try:
            while received < length:
                if deadline is None:
                    n = recv_into(view[received:])
                    self.received += n
                else:  # a timed wait for each piece, copied in; the rest stays buffered
                    self.fill(deadline)
                    n = min(len(self.data), length - received)
                    view[received : received + n] = self.data[:n]
                    self.pos = n
                if n == 0:
                    raise ConnectionTerminatedException("connection closed by peer mid-frame")
                received += n
        except TimeoutError:
            raise
        except OSError as e:
            raise ConnectionTerminatedException(f"connection lost: {e}") from None
        finally:
            view.release()
        return result

    def read_some(self, max_length: int, deadline: float | None = None) -> bytes:
        """Returns up to `max_length` bytes, waiting only if nothing is buffered."""
        if self.pos >= len(self.data):
            self.fill(deadline)
        start = self.pos
        end = min(len(self.data), start + max_length)
        self.pos = end
        return bytes(self.data[start:end])

    def read_until(self, delimiter: re.Pattern[bytes], max_length: int, deadline: float,
                   check_partial: Callable[[bytes], None] | None = None) -> bytes:
        """Returns bytes up to and including the first match of `delimiter`, a pattern
        of fixed-length alternatives no longer than DELIMITER_SPAN bytes.

        Raises ValueError when `max_length` bytes pass without it, and TimeoutError
        when `deadline` passes first. Bytes that have already arrived are taken
        without a timed wait (commonly a whole request head). Before each wait,
        `check_partial` sees the bytes so far and may raise to stop waiting.
        """
        searched = self.pos
        ready_taken = False
        while True:
            found = delimiter.search(self.data, searched)
            if found is not None:
                end = found.end()
                if end - self.pos > max_length:
                    raise ValueError("delimiter beyond the size limit")
                data = bytes(self.data[self.pos : end])
                self.pos = end
                return data
            if len(self.data) - self.pos > max_length:
                raise ValueError("no delimiter within the size limit")
            if check_partial is not None:
                check_partial(bytes(self.data[self.pos :]))
            searched = max(self.pos, len(self.data) - DELIMITER_SPAN + 1) - self.pos
            if not ready_taken and self.fill(wait=False):
                searched += self.pos
                continue
            ready_taken = True
            self.fill(deadline)
            searched += self.pos
