"""The helpers of pywebsocket3's `util` module that handlers call (and `_Inflater`,
which Chromium's permessage-deflate tests reach for).

Handlers written for pywebsocket3 often import `util` beside `msgutil` and `common`
(many import it and use nothing); this module lets them load and run unchanged.
"""

from __future__ import annotations

import logging

from mod_ws.accelerators import zlib


def pack_byte(value: int) -> bytes:
    """One byte with the value 0-255, as bytes."""
    return bytes((value,))


def hexify(data: bytes) -> str:
    """The bytes as two-digit hexadecimal numbers separated by spaces ("61 62"), for logs."""
    return data.hex(" ")


def get_class_logger(instance: object) -> logging.Logger:
    """The logger named after the module and class of `instance`."""
    cls = type(instance)
    return logging.getLogger(f"{cls.__module__}.{cls.__name__}")


def prepend_message_to_exception(message: str, exc: BaseException) -> None:
    """Puts `message` in front of the exception's text, for context when it is re-raised."""
    exc.args = (message + str(exc),)


class _Inflater:
    """pywebsocket3's raw-deflate inflater, which browser tests that read compressed
    frames themselves use: `append` compressed bytes, then `decompress(-1)` for all
    the output so far (or `decompress(n)` for at most n bytes). Data after a final
    block (BFINAL=1) is inflated as the start of a new stream."""

    def __init__(self, window_bits: int = 15) -> None:
        self._window_bits = window_bits
        self._pending = b""
        self.reset()

    def reset(self) -> None:
        """Starts a new stream, with an empty window."""
        self._decompressor = zlib.decompressobj(-self._window_bits)

    def append(self, data: bytes) -> None:
        self._pending += data

    def decompress(self, size: int) -> bytes:
        if size != -1 and size <= 0:
            raise ValueError("size must be -1 (everything) or positive")
        output = b""
        while True:
            limit = 0 if size == -1 else size - len(output)
            output += self._decompressor.decompress(self._pending, limit)
            self._pending = self._decompressor.unconsumed_tail
            rest = self._decompressor.unused_data
            if not rest:
                return output
            self._pending = rest
            self.reset()
            if size != -1 and len(output) >= size:
                return output
