"""permessage-deflate data transforms (RFC 7692 section 7.2), over zlib raw deflate.

Pure: bytes in, bytes out. `MessageDeflater` compresses outgoing messages (or their
fragments) and strips the empty-block tail; `MessageInflater` appends the tail and
inflates received messages, never producing more than the size limit allows, so a
decompression bomb fails with 1009 instead of eating memory.
"""

from __future__ import annotations

from mod_ws.accelerators import zlib
from mod_ws.common import STATUS_INVALID_FRAME_PAYLOAD_DATA
from mod_ws.exceptions import InvalidFrameException, MessageTooBigException

# RFC 7692 section 7.2.1: a sync flush ends with this empty stored block; the sender
# removes it from the end of every message and the receiver puts it back.
EMPTY_BLOCK_TAIL = b"\x00\x00\xff\xff"
MIN_WINDOW_BITS = 8
MAX_WINDOW_BITS = 15
# zlib's raw deflate cannot use a 256-byte window (it silently uses 512).
MIN_ZLIB_DEFLATE_WINDOW_BITS = 9
# A test server's messages are short-lived, so speed wins over the last few percent of
# ratio. On bench/'s 64 KiB JSON text with context takeover: stdlib zlib level 4
# compresses at 11 ms/MB to a ratio of 0.256 (its default, 6: 26 ms/MB, 0.237); zlib-ng
# (mod_ws.accelerators) reaches a like ratio at its level 3, 0.258, in 5 ms/MB.
DEFAULT_COMPRESSION_LEVEL = 4 if zlib.__name__ == "zlib" else 3


# Senders end a message, or with pywebsocket3's set_bfinal every frame, with one final
# block; each further stream in a frame costs a copy of the rest of the frame (zlib's
# unused_data), so a frame of many empty final blocks would take quadratic time.
MAX_STREAMS_PER_FRAME = 8


class DecompressionError(InvalidFrameException):
    """A compressed message does not inflate (RFC 7692 section 8: fail with 1007)."""

    close_code = STATUS_INVALID_FRAME_PAYLOAD_DATA


class MessageDeflater:
    """Compresses outgoing messages with or without LZ77 context takeover."""

    def __init__(self, window_bits: int = MAX_WINDOW_BITS, no_context_takeover: bool = False,
                 level: int = DEFAULT_COMPRESSION_LEVEL) -> None:
        if not MIN_ZLIB_DEFLATE_WINDOW_BITS <= window_bits <= MAX_WINDOW_BITS:
            raise ValueError(f"window bits {window_bits} not in 9..15")
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.level = level
        self.bfinal = False
        self.enabled = True  # False: messages go out uncompressed (RSV1 clear)
        self._compressor = self._new_compressor()
        self._in_message = False

    def _new_compressor(self):
        return zlib.compressobj(self.level, zlib.DEFLATED, -self.window_bits)

    def compress(self, data: bytes, end: bool = True) -> bytes:
        """Compresses one message, or one fragment of it when `end` is False.

        Every fragment is sync-flushed so it can be sent at once; the last one has the
        empty-block tail removed (or, with bfinal, ends in a final block).
        """
        if not self._in_message and self.no_context_takeover:
            self._compressor = self._new_compressor()
        compressor = self._compressor
        if end and self.bfinal:
            # RFC 7692 section 7.2.3.4: the final block, then one byte that starts an
            # empty stored block (BFINAL=0, BTYPE=00), which the 4-byte tail the
            # receiver appends completes. Receivers that keep one inflate stream
            # (Chromium's) fail the next message without it.
            output = compressor.compress(data) + compressor.flush(zlib.Z_FINISH) + b"\x00"
            self._compressor = self._new_compressor()  # a finished stream cannot go on
            self._in_message = False
            return output
        output = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        self._in_message = not end
        if end and output.endswith(EMPTY_BLOCK_TAIL):
            output = output[:-4]
        return output


class MessageInflater:
    """Inflates received messages, bounded by `max_size` bytes per message."""

    def __init__(self, max_size: int, no_context_takeover: bool = False) -> None:
        self.max_size = max_size
        self.no_context_takeover = no_context_takeover
        self._decompressor = zlib.decompressobj(-MAX_WINDOW_BITS)
        self._produced = 0  # bytes inflated so far for the current message

    def _inflate(self, data: bytes) -> bytes:
        allowance = self.max_size - self._produced
        try:
            output = self._decompressor.decompress(data, allowance + 1)
            streams = 1
            while self._decompressor.unused_data and len(output) <= allowance:
                # Bytes after a final block (BFINAL=1) begin a new deflate stream with
                # an empty window (RFC 7692 section 7.2.3.4; the sender reset too).
                streams += 1
                if streams > MAX_STREAMS_PER_FRAME:
                    raise DecompressionError(
                        f"more than {MAX_STREAMS_PER_FRAME} deflate streams in one frame")
                data = self._decompressor.unused_data
                self._decompressor = zlib.decompressobj(-MAX_WINDOW_BITS)
                output += self._decompressor.decompress(data, allowance + 1 - len(output))
        except zlib.error as e:
            raise DecompressionError(f"compressed message does not inflate: {e}") from None
        self._produced += len(output)
        if self._produced > self.max_size or self._decompressor.unconsumed_tail:
            raise MessageTooBigException(
                f"compressed message inflates beyond the limit of {self.max_size} bytes"
            )
        return output

    def decompress(self, data: bytes, end: bool) -> bytes:
        """Inflates one frame's payload of a compressed message; `end` on its last frame."""
        output = self._inflate(data)
        if end:
            if not self._decompressor.eof:  # a sender using BFINAL needs no tail
                output += self._inflate(EMPTY_BLOCK_TAIL)
            if self._decompressor.eof or self.no_context_takeover:
                # After a final block the stream is over; start a new window.
                self._decompressor = zlib.decompressobj(-MAX_WINDOW_BITS)
            self._produced = 0
        return output
