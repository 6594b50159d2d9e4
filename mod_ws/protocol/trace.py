"""Frames described from a byte stream, for `--log-frames`.

`FrameTracer` is fed the bytes of one direction of a connection as they pass, in any
pieces, and describes each frame once its header and the first bytes of its payload
are in: opcode, FIN and RSV bits, length, whether it is masked, and the start of the
payload (unmasked, escaped). It keeps at most a header and that preview, whatever the
frame's size, and never judges: a broken frame is described as it came.
"""

from __future__ import annotations

from typing import Callable

from mod_ws.exceptions import InvalidFrameException
from mod_ws.protocol.frames import MAX_HEADER_SIZE, FrameHeader, apply_mask, parse_frame_header

OPCODE_NAMES = {0x0: "CONT", 0x1: "TEXT", 0x2: "BINARY", 0x8: "CLOSE", 0x9: "PING", 0xA: "PONG"}
PREVIEW_BYTES = 32


def describe_frame(fin: bool, rsv: tuple[bool, bool, bool], opcode: int, length: int,
                   masked: bool, preview: bytes) -> str:
    """One frame in words: `TEXT fin rsv=000 5 bytes masked b'hello'` (a close frame
    also names its code)."""
    name = OPCODE_NAMES.get(opcode, f"opcode {opcode:#x}")
    bits = "".join("1" if bit else "0" for bit in rsv)
    more = "..." if length > len(preview) else ""
    code = f" code {int.from_bytes(preview[:2], 'big')}" if opcode == 0x8 and len(preview) >= 2 else ""
    return (f"{name} {'fin' if fin else 'more'} rsv={bits} {length} bytes"
            f"{' masked' if masked else ''}{code} {preview!r}{more}")


class FrameTracer:
    """Describes each frame in a byte stream fed piece by piece."""

    def __init__(self, emit: Callable[[str], None], preview: int = PREVIEW_BYTES) -> None:
        self._emit = emit
        self._preview = preview
        self._pending = b""  # the header so far; then the payload preview so far
        self._header: FrameHeader | None = None  # the frame being passed, once known
        self._skip = 0  # payload bytes of that frame still to pass unseen
        self._lost = False  # framing lost (a header no frame can have): nothing more

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view and not self._lost:
            if self._skip:
                taken = min(self._skip, len(view))
                self._skip -= taken
                view = view[taken:]
            elif self._header is None:
                room = MAX_HEADER_SIZE - len(self._pending)
                self._pending += bytes(view[:room])
                view = view[room:]
                after_header = self._take_header()
                if after_header:  # bytes that came with the header: the payload's first
                    self.feed(after_header)
            else:
                wanted = min(self._header.payload_length, self._preview) - len(self._pending)
                self._pending += bytes(view[:wanted])
                view = view[wanted:]
                if len(self._pending) == min(self._header.payload_length, self._preview):
                    self._finish_frame()

    def _take_header(self) -> bytes:
        """Parses the header gathered in `_pending`, if whole; returns what followed it."""
        try:
            parsed = parse_frame_header(self._pending)
        except InvalidFrameException as e:
            self._emit(f"frame header {self._pending.hex(' ')}: {e}; tracing stops")
            self._lost = True
            return b""
        if parsed is None:
            return b""
        self._header, offset = parsed
        rest, self._pending = self._pending[offset:], b""
        if self._header.payload_length == 0:
            self._finish_frame()
        return rest

    def _finish_frame(self) -> None:
        header = self._header
        preview = self._pending
        if header.mask_key is not None and preview:
            preview = apply_mask(preview, header.mask_key)
        self._emit(describe_frame(header.fin, (header.rsv1, header.rsv2, header.rsv3),
                                  header.opcode, header.payload_length,
                                  header.mask_key is not None, bytes(preview)))
        self._skip = header.payload_length - len(self._pending)
        self._pending = b""
        self._header = None


__all__ = ["FrameTracer", "describe_frame"]
