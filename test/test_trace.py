"""Unit tests of the frame tracer behind --log-frames (mod_ws.protocol.trace)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_ws.protocol.frames import build_frame, encode_frame_header
from mod_ws.protocol.trace import FrameTracer

FRAMES = (
    build_frame(0x1, b"hello", True, mask_key=b"abcd"),
    build_frame(0x2, b"x" * 70_000, False),
    build_frame(0x0, b"", True),
    build_frame(0x9, b"", True, mask_key=os.urandom(4)),
    build_frame(0x8, b"\x03\xe8bye", True, mask_key=os.urandom(4)),
)
EXPECTED = [
    "TEXT fin rsv=000 5 bytes masked b'hello'",
    "BINARY more rsv=000 70000 bytes b'" + "x" * 32 + "'...",
    "CONT fin rsv=000 0 bytes b''",
    "PING fin rsv=000 0 bytes masked b''",
    "CLOSE fin rsv=000 5 bytes masked code 1000 b'\\x03\\xe8bye'",
]


def traced(pieces) -> list[str]:
    lines: list[str] = []
    tracer = FrameTracer(lines.append)
    for piece in pieces:
        tracer.feed(piece)
    return lines


def test_each_frame_is_described_once_with_its_payload_unmasked():
    assert traced([b"".join(FRAMES)]) == EXPECTED


@settings(max_examples=80, deadline=None)
@given(cuts=st.lists(st.integers(0, sum(map(len, FRAMES))), max_size=40))
def test_the_description_does_not_depend_on_how_the_bytes_are_cut(cuts):
    data = b"".join(FRAMES)
    points = sorted(set(cuts)) + [len(data)]
    pieces, start = [], 0
    for point in points:
        pieces.append(memoryview(data)[start:point])
        start = point
    assert traced(pieces) == EXPECTED


def test_reserved_bits_and_unknown_opcodes_are_described_not_judged():
    frame = bytes([0x80 | 0x40 | 0x10 | 0x3, 0x01]) + b"!"
    assert traced([frame]) == ["opcode 0x3 fin rsv=101 1 bytes b'!'"]


def test_a_length_no_frame_may_have_stops_the_trace_after_saying_so():
    header = bytes([0x82, 0x7F]) + (1 << 63).to_bytes(8, "big")
    lines = traced([header, b"more bytes", build_frame(0x1, b"later", True)])
    assert len(lines) == 1 and "tracing stops" in lines[0] and "82 7f 80" in lines[0]


@pytest.mark.parametrize("length", [125, 126, 65535, 65536])
def test_every_length_encoding(length):
    header = encode_frame_header(0x2, length)
    assert traced([header, b"\0" * length]) == [
        f"BINARY fin rsv=000 {length} bytes {bytes(min(length, 32))!r}..."]
