"""pywebsocket3's `stream` module, for handlers: `Stream` (`request.ws_stream`), its
exceptions, and the frame helpers handlers use to craft raw frames.

`Stream` itself lives with the session it serves (mod_ws.server.session); the helpers
below keep pywebsocket3's names and signatures over mod_ws's frame codec
(mod_ws.protocol.frames) and close payload codec (mod_ws.protocol.closing).
"""

from __future__ import annotations

import logging
import os
from typing import Callable

from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
)
from mod_ws.exceptions import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
    UnsupportedFrameException,
)
from mod_ws.protocol.closing import check_close_code, encode_close_payload
from mod_ws.protocol.frames import (
    MAX_CONTROL_PAYLOAD,
    Frame,
    build_frame,
    encode_frame_header,
    read_frame,
)
from mod_ws.server.session import Stream, StreamOptions

# Frame helpers for handlers that craft raw frames (pywebsocket3 names and signatures).


def create_length_header(length: int, mask: bool) -> bytes:
    """The length part of a header (with the mask bit, without a masking key)."""
    header = encode_frame_header(0, length)
    return bytes((header[1] | (0x80 if mask else 0),)) + header[2:]


def create_header(
    opcode: int, payload_length: int, fin: int, rsv1: int, rsv2: int, rsv3: int, mask: bool
) -> bytes:
    """A frame header with the mask bit set when `mask`, without the masking key."""
    for bit in (fin, rsv1, rsv2, rsv3):
        if bit not in (0, 1, False, True):
            raise ValueError("FIN and RSV bits must be 0 or 1")
    header = encode_frame_header(
        opcode, payload_length, bool(fin), bool(rsv1), bool(rsv2), bool(rsv3),
        mask_key=b"\0\0\0\0" if mask else None,
    )
    return header[:-4] if mask else header


def _create_frame(opcode: int, payload: bytes, fin: int, mask: bool) -> bytes:
    return build_frame(opcode, payload, bool(fin), mask_key=os.urandom(4) if mask else None)


def create_text_frame(
    message: str | bytes, opcode: int = OPCODE_TEXT, fin: int = 1, mask: bool = False,
    frame_filters: list | None = None,
) -> bytes:
    """A whole text (or, with `opcode`, any) frame; str is encoded as UTF-8."""
    payload = message.encode("utf-8") if isinstance(message, str) else message
    return _create_frame(opcode, payload, fin, mask)


def create_binary_frame(
    message: bytes, opcode: int = OPCODE_BINARY, fin: int = 1, mask: bool = False,
    frame_filters: list | None = None,
) -> bytes:
    """A whole binary (or, with `opcode`, any) frame."""
    return _create_frame(opcode, message, fin, mask)


def _create_control_frame(opcode: int, body: bytes, mask: bool) -> bytes:
    # A control frame over 125 bytes is crafted with create_text_frame(opcode=...).
    if len(body) > MAX_CONTROL_PAYLOAD:
        raise BadOperationException(f"control frame payload of {len(body)} bytes exceeds 125")
    return _create_frame(opcode, body, 1, mask)


def create_ping_frame(body: bytes, mask: bool = False, frame_filters: list | None = None) -> bytes:
    return _create_control_frame(OPCODE_PING, body, mask)


def create_pong_frame(body: bytes, mask: bool = False, frame_filters: list | None = None) -> bytes:
    return _create_control_frame(OPCODE_PONG, body, mask)


def create_close_frame(body: bytes, mask: bool = False, frame_filters: list | None = None) -> bytes:
    return _create_control_frame(OPCODE_CLOSE, body, mask)


def create_closing_handshake_body(code: int | None, reason: str | bytes) -> bytes:
    """A Close frame body for `code` and `reason` (empty when code is None); codes are
    checked as close_connection checks them (BadOperationException)."""
    if code is not None:
        check_close_code(code)
    return encode_close_payload(code, reason or "")


def parse_frame(
    receive_bytes: Callable[[int], bytes], logger: logging.Logger | None = None,
    ws_version: int = 13, unmask_receive: bool = True,
) -> tuple[int, bytes, int, int, int, int]:
    """Reads one frame through `receive_bytes(n)`.

    Returns (opcode, payload, fin, rsv1, rsv2, rsv3); raises InvalidFrameException when
    the frame's mask bit is not what `unmask_receive` expects.
    """
    return read_frame(receive_bytes, unmask_receive)


__all__ = [
    "BadOperationException",
    "ConnectionTerminatedException",
    "Frame",
    "InvalidFrameException",
    "InvalidUTF8Exception",
    "MessageTooBigException",
    "Stream",
    "StreamOptions",
    "UnsupportedFrameException",
    "create_binary_frame",
    "create_close_frame",
    "create_closing_handshake_body",
    "create_header",
    "create_length_header",
    "create_ping_frame",
    "create_pong_frame",
    "create_text_frame",
    "parse_frame",
]
