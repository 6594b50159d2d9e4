"""An in-memory Transport for tests of the session and the accept without sockets."""

from __future__ import annotations

from mod_ws.protocol.frames import parse_frame_header


class MemoryTransport:
    """A Transport over scripted bytes: each `recv` hands out the next chunk (at most
    `size` bytes of it); once the script is spent, reads see EOF, or a timed read
    times out when `then` is "wait". Every write is kept."""

    secure = False

    def __init__(self, *chunks: bytes, then: str = "eof") -> None:
        self.chunks = [bytes(c) for c in chunks if c]
        self.then = then
        self.sent = bytearray()
        self.broken = False
        self.half_closed = False

    def _next(self, size: int) -> bytes:
        if not self.chunks:
            return b""
        chunk = self.chunks[0]
        if len(chunk) <= size:
            self.chunks.pop(0)
            return chunk
        self.chunks[0] = chunk[size:]
        return chunk[:size]

    def recv(self, size: int) -> bytes:
        return self._next(size)

    def recv_within(self, size: int, deadline: float) -> bytes:
        if not self.chunks and self.then == "wait":
            raise TimeoutError("deadline passed")
        return self._next(size)

    def recv_ready(self, size: int) -> bytes | None:
        return self._next(size) if self.chunks else None

    def recv_into(self, buffer: memoryview) -> int:
        data = self._next(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def sendall(self, data: bytes) -> None:
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        self.sent += data

    def half_close(self) -> None:
        self.half_closed = True

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        self.broken = True

    def close(self) -> None:
        pass

    def frames(self) -> list[tuple[int, bool, bool, bytes]]:
        """(opcode, fin, rsv1, payload) of every frame written so far."""
        out = []
        data = bytes(self.sent)
        pos = 0
        while pos < len(data):
            header, start = parse_frame_header(data, pos)
            assert header.mask_key is None  # a server never masks
            end = start + header.payload_length
            out.append((header.opcode, header.fin, header.rsv1, data[start:end]))
            pos = end
        return out
