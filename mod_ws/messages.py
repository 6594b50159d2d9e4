"""Receive-side rules of RFC 6455: frames in, messages and control events out.

`MessageAssembler` is pure state: the caller parses a header, asks `check_header` whether
the frame may be read at all (so a bad frame fails before its payload is read), then
hands over the unmasked payload. It owns fragmentation, interleaved control frames,
UTF-8 validation (incremental, failing on the first bad frame) and the size limit.
"""

from __future__ import annotations

import codecs
from typing import Any, Union

from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_TEXT,
)
from mod_ws.deflate import MessageInflater
from mod_ws.exceptions import (
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
)
from mod_ws.frames import (
    KNOWN_OPCODES,
    MAX_CONTROL_PAYLOAD,
    FrameHeader,
    decode_close_payload,
    take_whole_message,
)

DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
RSV1_BIT = 0x40

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")

# What `receive_frame` returns for a complete unit: (opcode, value) where value is
# str for TEXT, bytes for BINARY/PING/PONG and (code, reason) for CLOSE.
Event = tuple[int, Union[str, bytes, tuple[int, str]]]


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

    def __init__(
        self,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        require_mask: bool = True,
        allowed_rsv_bits: int = 0,
    ) -> None:
        self.max_message_size = max_message_size
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

    def receive_buffered_message(self, data: bytes | bytearray, pos: int) -> tuple[int, Any, int] | None:
        """The fast path for the commonest frame: a whole small message, in `data`.

        Takes a final, masked, uncompressed text or binary frame of under 64 KiB that
        lies entirely in `data` at `pos` while no fragmented message is open, and
        returns its opcode, its value and the offset after it. Anything else returns
        None, and the caller takes the general path (parse_frame_header, check_header,
        receive_frame), which applies every rule and raises on a violation.
        """
        if self._opcode is not None:
            return None
        try:
            return take_whole_message(data, pos, self.max_message_size)
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
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Event",
    "MessageAssembler",
    "Utf8Validator",
]
