"""Receive-side rules of RFC 6455: frames in, messages and control events out.

`MessageAssembler.next_event(source)` is the whole frame-read sequence in one call:
over a buffered byte source (`BufferedSource`: the connection's reader, or bytes in a
test) it parses each header, fails a bad frame on its header alone (before its payload
is read), unmasks, validates UTF-8 as the payload arrives, inflates, reassembles
fragments and applies the size limit, and returns the next message or control frame.
The source only supplies bytes; every rule is here. The steps it is made of
(`check_header`, `text_validator`, `receive_frame`) stay callable on their own for
tests and for carriers that already hold whole frames.
"""

from __future__ import annotations

import codecs
import math
from typing import Any, Protocol, Union

from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_TEXT,
)
from mod_ws.defaults import MAX_MESSAGE_SIZE
from mod_ws.exceptions import (
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
)
from mod_ws.protocol.closing import decode_close_payload
from mod_ws.protocol.deflate import MessageInflater
from mod_ws.protocol.frames import (
    KNOWN_OPCODES,
    MAX_CONTROL_PAYLOAD,
    FrameHeader,
    apply_mask,
    parse_frame_header,
    take_whole_message,
)

RSV1_BIT = 0x40
# A text payload longer than what is buffered is read and validated in pieces of this
# size, so invalid UTF-8 fails the connection while the rest is still in flight.
TEXT_PIECE_SIZE = 65536

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")

# What `receive_frame` returns for a complete unit: (opcode, value) where value is
# str for TEXT, bytes for BINARY/PING/PONG and (code, reason) for CLOSE.
Event = tuple[int, Union[str, bytes, tuple[int, str]]]


class BufferedSource(Protocol):
    """What `next_event` reads from: buffered bytes `data[pos:]` and ways to get more.

    `data` and `pos` are plain attributes (read for every message); a parser reads the
    bytes in place and advances `pos`. Each wait takes an optional deadline (a
    time.monotonic() value) and raises TimeoutError when it passes; without one it
    waits as long as the connection lives. A source that ends raises
    ConnectionTerminatedException.
    """

    data: bytes | bytearray
    pos: int

    def fill(self, deadline: float | None = None) -> bool:
        """Receives at least one more byte into `data` (and returns True)."""
        ...

    def read_exact(self, length: int, deadline: float | None = None) -> bytes | bytearray:
        """Consumes exactly `length` bytes."""
        ...

    def read_some(self, max_length: int, deadline: float | None = None) -> bytes:
        """Consumes up to `max_length` bytes, waiting only if none is buffered."""
        ...


class Utf8Validator:
    """Incremental UTF-8 decoding that rejects a bad sequence as early as it can.

    CPython's incremental decoder already rejects most bad prefixes at once; an
    encoded surrogate (ED A0..BF) is only caught when its third byte arrives, so
    that prefix is checked here to fail on the frame that carries it.
    """

    def __init__(self) -> None:
        self._decoder = _Utf8Decoder()

    def decode(self, data: bytes, final: bool) -> str:
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as e:
            raise InvalidUTF8Exception(f"text is not valid UTF-8: {e.reason}") from None
        if not final:
            pending = self._decoder.getstate()[0]
            if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                raise InvalidUTF8Exception("text is not valid UTF-8: encoded surrogate")
        return text


class MessageAssembler:
    """Turns validated frames into messages, enforcing the RFC 6455 receive rules."""

    # The largest data frame's payload (None: only the message limit applies).
    max_frame_size: int | None = None
    _frame_limit = math.inf

    def __init__(
        self,
        max_message_size: int = MAX_MESSAGE_SIZE,
        require_mask: bool = True,
        allowed_rsv_bits: int = 0,
        max_frame_size: int | None = None,
    ) -> None:
        self.max_message_size = max_message_size
        if max_frame_size is not None:
            # Set only when given: every attribute of an assembler is memory that each
            # held connection keeps (bench/, idle scenario; its dict must stay small).
            self.max_frame_size = max_frame_size
            self._frame_limit = max_frame_size
            self._whole_limit = min(max_message_size, max_frame_size)
            self.receive_buffered_message = self._receive_buffered_message_within_frame_limit
        self.require_mask = require_mask
        # RSV bits an extension has claimed (0x40 for RSV1, as in the header byte).
        self.allowed_rsv_bits = allowed_rsv_bits
        self._opcode: int | None = None  # opcode of the message in progress
        self._parts: list = []
        self._size = 0
        self._utf8: Utf8Validator | None = None
        # permessage-deflate (RFC 7692): set once negotiated; RSV1 marks a compressed message.
        self.inflater: MessageInflater | None = None
        self._compressed = False

    def enable_inflate(self, inflater: MessageInflater) -> None:
        """Accepts RSV1 on the first frame of a message as 'compressed' from now on."""
        self.inflater = inflater
        self.allowed_rsv_bits |= RSV1_BIT

    @property
    def in_message(self) -> bool:
        """Is a fragmented message waiting for its continuation frames?"""
        return self._opcode is not None

    @property
    def message_opcode(self) -> int | None:
        """Opcode of the data message in progress, if any."""
        return self._opcode

    def check_header(self, header: FrameHeader) -> None:
        """Fails a frame on its header alone, before its payload is read."""
        opcode = header.opcode
        if self.require_mask and header.mask_key is None:
            raise InvalidFrameException("client frame is not masked")
        if header.rsv_bits & ~self.allowed_rsv_bits:
            raise InvalidFrameException(
                f"reserved bits 0x{header.rsv_bits:02x} set without a negotiated extension"
            )
        if header.rsv1 and (opcode == OPCODE_CONTINUATION or opcode >= OPCODE_CLOSE):
            # RFC 7692 section 6.1: only a message's first frame says it is compressed.
            raise InvalidFrameException(f"RSV1 set on a frame with opcode 0x{opcode:x}")
        if opcode not in KNOWN_OPCODES:
            raise InvalidFrameException(f"reserved opcode 0x{opcode:x}")
        if opcode >= OPCODE_CLOSE:
            if not header.fin:
                raise InvalidFrameException("fragmented control frame")
            if header.payload_length > MAX_CONTROL_PAYLOAD:
                raise InvalidFrameException(
                    f"control frame payload of {header.payload_length} bytes exceeds 125"
                )
            return
        if opcode == OPCODE_CONTINUATION:
            if self._opcode is None:
                raise InvalidFrameException("continuation frame without a message to continue")
        elif self._opcode is not None:
            raise InvalidFrameException("new data frame while a fragmented message is open")
        if header.payload_length > self._frame_limit:
            raise MessageTooBigException(
                f"frame of {header.payload_length} bytes exceeds the frame limit of "
                f"{self.max_frame_size}"
            )
        size = self._size + header.payload_length
        compressed = header.rsv1 or (opcode == OPCODE_CONTINUATION and self._compressed)
        # The inflater bounds a compressed message's inflated size; its wire size may
        # exceed that on incompressible data, by at most an eighth for any zlib settings.
        limit = self.max_message_size + (self.max_message_size >> 3) + 64 if compressed \
            else self.max_message_size
        if size > limit:
            raise MessageTooBigException(
                f"message of at least {size} bytes exceeds the limit of "
                f"{self.max_message_size}"
            )

    def text_validator(self, header: FrameHeader) -> Utf8Validator | None:
        """The validator for a checked text frame whose payload arrives in pieces.

        A caller that reads a long text frame piece by piece runs each unmasked piece
        through this validator's `decode(piece, False)`, so invalid UTF-8 fails the
        connection as soon as it arrives, then hands the joined text to
        `receive_frame(header, b"", text)`. Returns None for non-text frames.
        """
        if header.rsv1 or (header.opcode == OPCODE_CONTINUATION and self._compressed):
            return None  # compressed bytes are not text until inflated
        if header.opcode == OPCODE_TEXT:
            return Utf8Validator()
        if header.opcode == OPCODE_CONTINUATION and self._opcode == OPCODE_TEXT:
            return self._utf8
        return None

    def next_event(self, source: BufferedSource, deadline: float | None = None) -> Event:
        """Reads frames from `source` until a message or a control frame is complete.

        Returns (opcode, value): str for TEXT, bytes for BINARY, PING and PONG, and
        (code, reason) for CLOSE. A violation raises the InvalidFrameException that
        names it (its `close_code` is what to fail the connection with); a source that
        ends raises ConnectionTerminatedException, and a passed `deadline`
        TimeoutError. Frames of a message in progress are kept across calls.
        """
        while True:
            data = source.data
            pos = source.pos
            if len(data) - pos < 2:
                source.fill(deadline)  # not even a frame header yet
                continue
            # The commonest frame first: a whole small message already buffered.
            whole = self.receive_buffered_message(data, pos)
            if whole is not None:
                opcode, value, source.pos = whole
                return opcode, value
            event = self._next_frame(source, deadline)
            if event is not None:
                return event

    def _next_frame(self, source: BufferedSource, deadline: float | None) -> Event | None:
        """Reads one frame (any kind, every rule applied); returns its event, if any."""
        while True:
            parsed = parse_frame_header(source.data, source.pos)
            if parsed is not None:
                break
            source.fill(deadline)
        header, offset = parsed
        self.check_header(header)
        source.pos = offset
        length = header.payload_length
        if length > len(source.data) - offset:
            validator = self.text_validator(header)
            if validator is not None:
                text = self._read_text(source, header, validator, deadline)
                return self.receive_frame(header, b"", text, validator)
        payload = source.read_exact(length, deadline)
        if header.mask_key is not None:
            payload = apply_mask(payload, header.mask_key)
        return self.receive_frame(header, bytes(payload))

    @staticmethod
    def _read_text(source: BufferedSource, header: FrameHeader, validator: Utf8Validator,
                   deadline: float | None) -> str:
        """Reads a text payload as it arrives, validating each piece (fail fast, 1007)."""
        mask_key = header.mask_key
        remaining = header.payload_length
        offset = 0
        pieces = []
        while remaining:
            piece = source.read_some(min(remaining, TEXT_PIECE_SIZE), deadline)
            if mask_key is not None:
                shift = offset & 3  # the key continues where the last piece ended
                piece = apply_mask(piece, mask_key[shift:] + mask_key[:shift])
            pieces.append(validator.decode(piece, False))
            offset += len(piece)
            remaining -= len(piece)
        return "".join(pieces)

    def receive_buffered_message(self, data: bytes | bytearray, pos: int) -> tuple[int, Any, int] | None:
        """The fast path for the commonest frame: a whole small message, in `data`.

        Takes a final, masked, uncompressed text or binary frame of under 64 KiB that
        lies entirely in `data` at `pos` while no fragmented message is open, and
        returns its opcode, its value and the offset after it. Anything else returns
        None, and `next_event` takes the general path (parse_frame_header,
        check_header, receive_frame), which applies every rule and raises on a violation.
        """
        if self._opcode is not None:
            return None
        try:
            return take_whole_message(data, pos, self.max_message_size)
        except UnicodeDecodeError as e:
            raise InvalidUTF8Exception(f"text is not valid UTF-8: {e.reason}") from None

    def _receive_buffered_message_within_frame_limit(self, data: bytes | bytearray,
                                                     pos: int) -> tuple[int, Any, int] | None:
        """receive_buffered_message with --max-frame-size: the fast path takes no frame
        over it, so check_header refuses those."""
        if self._opcode is not None:
            return None
        try:
            return take_whole_message(data, pos, self._whole_limit)
        except UnicodeDecodeError as e:
            raise InvalidUTF8Exception(f"text is not valid UTF-8: {e.reason}") from None

    def receive_frame(
        self,
        header: FrameHeader,
        payload: bytes,
        text: str | None = None,
        validator: Utf8Validator | None = None,
    ) -> Event | None:
        """Feeds one checked frame; returns a complete event or None mid-message.

        `text` and `validator` are given when the payload was already decoded piece
        by piece through `text_validator(header)`.
        """
        opcode = header.opcode
        if opcode >= OPCODE_CLOSE:
            if opcode == OPCODE_CLOSE:
                return OPCODE_CLOSE, decode_close_payload(payload)
            return opcode, payload
        if opcode != OPCODE_CONTINUATION:
            self._compressed = header.rsv1 and self.inflater is not None
            if header.fin and text is None:  # the common case: a whole message in one frame
                if self._compressed:
                    self._compressed = False
                    payload = self.inflater.decompress(payload, True)
                if opcode == OPCODE_TEXT:
                    try:
                        return OPCODE_TEXT, payload.decode("utf-8")
                    except UnicodeDecodeError as e:
                        raise InvalidUTF8Exception(
                            f"text is not valid UTF-8: {e.reason}"
                        ) from None
                return OPCODE_BINARY, payload
            self._opcode = opcode
            if opcode == OPCODE_TEXT:
                self._utf8 = validator or Utf8Validator()
        self._size += header.payload_length
        if self._compressed:
            payload = self.inflater.decompress(payload, header.fin)
        if self._utf8 is not None:
            if text is None:
                text = self._utf8.decode(payload, header.fin)
            elif header.fin:
                self._utf8.decode(b"", True)  # a sequence cut off at the end
            self._parts.append(text)
        else:
            self._parts.append(payload)
        if not header.fin:
            return None
        message_opcode = self._opcode
        parts = self._parts
        self._opcode = None
        self._parts = []
        self._size = 0
        self._utf8 = None
        self._compressed = False
        if message_opcode == OPCODE_TEXT:
            return OPCODE_TEXT, "".join(parts)
        return OPCODE_BINARY, b"".join(parts)


__all__ = [
    "BufferedSource",
    "Event",
    "MessageAssembler",
    "Utf8Validator",
]
