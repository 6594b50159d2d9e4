"""Byte sources and sinks under a connection, and the buffered reader over them.

`Stream` and the HTTP layer see only the small `Transport` interface (recv, recv_ready,
recv_into, sendall, settimeout, shutdown_write, close), so TLS and other carriers can slot in
without touching the protocol rules. `ByteReader` batches reads: one `recv` may carry
many frames, and a large payload is received straight into its own buffer.
"""

from __future__ import annotations

import socket
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


class Transport(Protocol):
    """What the WebSocket and HTTP layers need from a connection."""

    def recv(self, size: int) -> bytes: ...

    def recv_ready(self, size: int) -> bytes | None:
        """What has already arrived (b"" at EOF), without waiting: None if nothing has."""
        ...

    def recv_into(self, buffer: memoryview) -> int: ...

    def sendall(self, data: bytes) -> None: ...

    def settimeout(self, seconds: float | None) -> None: ...

    def shutdown_write(self) -> None: ...

    def shutdown(self) -> None: ...

    def close(self) -> None: ...


class SocketTransport:
    """A plain TCP socket as a Transport."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock
        # Bound methods taken once: these two sit on the hot path.
        self.recv = sock.recv
        self.sendall = sock.sendall if send_nowait is None else self._sendall_nowait_first

    def recv_ready(self, size: int) -> bytes | None:
        try:
            return self.socket.recv(size, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None

    def recv_into(self, buffer: memoryview) -> int:
        return self.socket.recv_into(buffer)

    def settimeout(self, seconds: float | None) -> None:
        self.socket.settimeout(seconds)

    def _sendall_nowait_first(self, data: bytes) -> None:
        """sendall that first tries to pass a small frame to the kernel without
        releasing the GIL; the rest, if the socket buffer is full, goes the usual way."""
        sock = self.socket
        if len(data) <= NOWAIT_SEND_LIMIT:
            # fileno() is read under the GIL, so no other thread can close and reuse it first.
            sent = send_nowait(sock.fileno(), data)
            if sent == len(data):
                return
            data = data[sent:]
        sock.sendall(data)

    def shutdown_write(self) -> None:
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def shutdown(self) -> None:
        """Unblocks any thread reading or writing: used at server shutdown."""
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.socket.close()


class ByteReader:
    """Buffered reads over a Transport; the only place bytes are pulled from it.

    The unconsumed bytes are `data[pos:]`. Parsers read them in place and advance
    `pos` (plain attributes, not properties: they are read for every message).
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.data: bytes | bytearray = b""
        self.pos = 0
        self._recv_size = FIRST_RECV_SIZE

    def buffered(self) -> int:
        return len(self.data) - self.pos

    def fill(self, wait: bool = True) -> bool:
        """Receives at least one more byte into the buffer, or raises on EOF.

        With `wait` False, takes only what has already arrived and returns False if
        nothing has (no timed wait, see read_until).
        """
        size = self._recv_size
        if self.pos >= len(self.data):
            self.data = b""  # an idle connection holds no spent bytes while it waits
            self.pos = 0
        try:
            data = self._transport.recv(size) if wait else self._transport.recv_ready(size)
        except (socket.timeout, TimeoutError):
            raise
        except OSError as e:
            raise ConnectionTerminatedException(f"connection lost: {e}") from None
        if data is None:
            return False
        if not data:
            raise ConnectionTerminatedException("connection closed by peer")
        self._recv_size = RECV_CHUNK if len(data) == size else IDLE_RECV_SIZE
        if self.pos >= len(self.data):
            self.data = data
        else:
            self.data = self.data[self.pos :] + data
        self.pos = 0
        return True

    def read_exact(self, length: int) -> bytes | bytearray:
        """Returns exactly `length` bytes, receiving a large remainder in place."""
        start = self.pos
        end = start + length
        if end <= len(self.data):
            self.pos = end
            return self.data[start:end]
        have = len(self.data) - start
        if length - have <= RECV_CHUNK:
            while len(self.data) - self.pos < length:
                self.fill()
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
                n = recv_into(view[received:])
                if n == 0:
                    raise ConnectionTerminatedException("connection closed by peer mid-frame")
                received += n
        except (socket.timeout, TimeoutError):
            raise
        except OSError as e:
            raise ConnectionTerminatedException(f"connection lost: {e}") from None
        finally:
            view.release()
        return result

    def read_some(self, max_length: int) -> bytes:
        """Returns up to `max_length` bytes, waiting only if nothing is buffered."""
        if self.buffered() == 0:
            self.fill()
        start = self.pos
        end = min(len(self.data), start + max_length)
        self.pos = end
        return bytes(self.data[start:end])

    def read_until(self, delimiter: bytes, max_length: int, deadline: float | None,
                   check_partial: Callable[[bytes], None] | None = None) -> bytes:
        """Returns bytes up to and including `delimiter`.

        Raises ValueError when `max_length` bytes pass without it, and TimeoutError
        when `deadline` (a time.monotonic() value) passes first. Bytes that have
        already arrived are taken without a timed wait (no timeout to set and reset
        on the socket, commonly for a whole request head). Before each wait,
        `check_partial` sees the bytes so far and may raise to stop waiting.
        """
        searched = self.pos
        timed = False
        try:
            while True:
                index = self.data.find(delimiter, searched)
                if index >= 0:
                    end = index + len(delimiter)
                    if end - self.pos > max_length:
                        raise ValueError("delimiter beyond the size limit")
                    data = bytes(self.data[self.pos : end])
                    self.pos = end
                    return data
                if len(self.data) - self.pos > max_length:
                    raise ValueError("no delimiter within the size limit")
                if check_partial is not None:
                    check_partial(bytes(self.data[self.pos :]))
                searched = max(self.pos, len(self.data) - len(delimiter) + 1) - self.pos
                if deadline is not None:
                    if not timed and self.fill(wait=False):
                        searched += self.pos
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("deadline passed")
                    self._transport.settimeout(remaining)
                    timed = True
                self.fill()
                searched += self.pos
        finally:
            if timed:
                try:
                    self._transport.settimeout(None)
                except OSError:
                    pass
