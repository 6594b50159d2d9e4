"""permessage-deflate (RFC 7692) as the suite's cases do it: by hand.

Cases that test a client's permessage-deflate must say exactly what the 101 accepts
and exactly which bytes are compressed how, including responses and streams that
break the rules. So the suite declines the server's own processor (it would compress
and inflate by the rules) and negotiates here instead: it reads the client's offers
from `request.ws_requested_extensions`, writes its own `Sec-WebSocket-Extensions`
response into `request.extra_headers`, deflates what it sends with `Deflater`, and
inflates what the client sends back with `Inflater`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mod_ws.common import PERMESSAGE_DEFLATE_EXTENSION

TAIL = b"\x00\x00\xff\xff"  # RFC 7692 section 7.2.1: the empty block a sender strips
Params = Sequence[tuple[str, "str | None"]]


@dataclass
class Offer:
    """One permessage-deflate offer of the client, its parameters by name."""

    params: dict[str, str | None] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.params


def deflate_offers(request: Any) -> list[Offer]:
    """The client's permessage-deflate offers, in its order of preference."""
    offers = []
    for extension in request.ws_requested_extensions or []:
        if extension.name() == PERMESSAGE_DEFLATE_EXTENSION:
            offers.append(Offer(dict(extension.get_parameters())))
    return offers


def format_response(params: Params, name: str = PERMESSAGE_DEFLATE_EXTENSION) -> str:
    """A Sec-WebSocket-Extensions value: `name; p1; p2=v2`, parameters as given (also
    repeated or invalid ones, when that is the test)."""
    items = [name] + [p if v is None else f"{p}={v}" for p, v in params]
    return "; ".join(items)


class Deflater:
    """Compresses messages as a permessage-deflate sender (RFC 7692 section 7.2.1).

    One compressor for the whole connection (context takeover) unless a message asks
    for a fresh one; `window_bits` is the LZ77 window actually used, whatever the
    response declared (9..15: zlib cannot deflate in a 256-byte window)."""

    def __init__(self, window_bits: int = 15) -> None:
        self.window_bits = window_bits
        self._compressor = self._new()

    def _new(self) -> Any:
        return zlib.compressobj(6, zlib.DEFLATED, -self.window_bits, 9)

    def compress(self, data: bytes, *, fresh: bool = False, final_block: bool = False) -> bytes:
        """One message's payload: deflated, sync-flushed and stripped of its tail.

        `fresh` starts from an empty window (no context takeover); `final_block` ends
        the message with a BFINAL block instead (RFC 7692 section 7.2.3.3) and the
        next message then starts a new stream."""
        if fresh:
            self._compressor = self._new()
        if final_block:
            # Section 7.2.1's steps with a final block: the data does not end with an
            # empty stored block, so one is appended (00 00 00 ff ff) and its last 4
            # octets removed, leaving one 00 byte (the example in section 7.2.3.3).
            body = self._compressor.compress(data) + self._compressor.flush(zlib.Z_FINISH) + b"\x00"
            self._compressor = self._new()
            return body
        body = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        return body[:-len(TAIL)] if body.endswith(TAIL) else body


class InflateError(Exception):
    """A compressed message from the client does not inflate."""


class Inflater:
    """Inflates the client's compressed messages (RFC 7692 section 7.2.2).

    Within what was agreed: with `fresh_each` (client_no_context_takeover) every
    message starts from an empty window, so a client that took context over anyway
    shows up as an InflateError. The window is `window_bits` (client_max_window_bits),
    but zlib checks it only for references reaching past what one decompress call has
    produced; below 15 bits output is taken in pieces of half the window, so a
    reference further back than 1.5 windows fails ("invalid distance too far back")."""

    def __init__(self, fresh_each: bool = False, window_bits: int = 15, limit: int = 64 << 20) -> None:
        self.fresh_each = fresh_each
        self.window_bits = window_bits
        self.limit = limit
        self._piece = 1 << (window_bits - 1) if window_bits < 15 else 0
        self._decompressor = self._new()

    def _new(self) -> Any:
        return zlib.decompressobj(-self.window_bits)

    def inflate(self, payload: bytes) -> bytes:
        if self.fresh_each:
            self._decompressor = self._new()
        data = payload + TAIL
        out = []
        size = 0
        try:
            while data:
                most = self.limit - size + 1
                chunk = self._decompressor.decompress(data, min(most, self._piece) if self._piece else most)
                out.append(chunk)
                size += len(chunk)
                if size > self.limit:
                    raise InflateError(f"inflates to more than {self.limit} bytes")
                if self._decompressor.eof:
                    # A BFINAL block ended the stream: what follows starts a new one
                    # (only the tail we appended may remain).
                    data = self._decompressor.unused_data
                    self._decompressor = self._new()
                    if data == TAIL:
                        break
                else:
                    data = self._decompressor.unconsumed_tail
        except zlib.error as e:
            raise InflateError(f"does not inflate: {e}") from None
        return b"".join(out)


__all__ = ["Deflater", "InflateError", "Inflater", "Offer", "Params", "TAIL", "deflate_offers",
           "format_response"]
