"""Group 1, framing: text and binary messages of the sizes where the length encoding
changes (RFC 6455 section 5.2: 7-bit up to 125, 16-bit up to 65535, 64-bit beyond),
frames split across TCP segments, non-minimal length encodings and a masked frame."""

from __future__ import annotations

import struct

from mod_ws.client_suite.case import Run, define
from mod_ws.client_suite.cases.flows import echo, either, failure, text
from mod_ws.client_suite.verdicts import Judgement, Verdict
from mod_ws.client_suite.wire import CaseWire
from mod_ws.common import OPCODE_BINARY, OPCODE_TEXT
from mod_ws.protocol.frames import build_frame

SIZES = (0, 125, 126, 127, 65535, 65536)
TRICKLED_SIZE = 65536
TRICKLE_CHUNK = 4096
TRICKLE_RATE = 1 << 20  # bytes per second: 64 KiB in 64 ms, 16 pieces


def text_payload(size: int) -> bytes:
    return b"*" * size


def binary_payload(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def _one_message(opcode: int, payload: bytes) -> Run:
    def run(w: CaseWire) -> Judgement:
        return echo(w, lambda wire: wire.send_frame(opcode, payload), [(opcode, payload)])
    return run


def _trickled(opcode: int, payload: bytes) -> Run:
    def run(w: CaseWire) -> Judgement:
        frame = build_frame(opcode, payload)
        return echo(w, lambda wire: wire.trickle(frame, TRICKLE_RATE, TRICKLE_CHUNK,
                                                 f"one {len(payload)}-byte frame"),
                    [(opcode, payload)])
    return run


for kind, opcode, make in (("text", OPCODE_TEXT, text_payload), ("binary", OPCODE_BINARY, binary_payload)):
    sub = "1" if opcode == OPCODE_TEXT else "2"
    for number, size in enumerate(SIZES, 1):
        define(f"1.{sub}.{number}", f"a {kind} message of {size} bytes in one frame",
               "echo it", _one_message(opcode, make(size)))
    define(f"1.{sub}.7", f"a {kind} message of {TRICKLED_SIZE} bytes in one frame, written "
           f"{TRICKLE_CHUNK} bytes at a time (the frame arrives in pieces)",
           "echo it", _trickled(opcode, make(TRICKLED_SIZE)))


NON_MINIMAL_WHY = ("RFC 6455 section 5.2 makes the minimal length encoding the sender's duty "
                   "and says nothing of what a receiver does with another")


def _non_minimal(header: bytes) -> Run:
    payload = b"Hello"

    def run(w: CaseWire) -> Judgement:
        return either(w, lambda wire: wire.send_raw(header + payload, "text 'Hello', length not minimally encoded"),
                      [text(payload)], accepted=Verdict.INFORMATIONAL, refused=Verdict.INFORMATIONAL,
                      why=NON_MINIMAL_WHY)
    return run


define("1.3.1", "a 5-byte text frame whose length is written in the 16-bit form",
       "echo it or fail the connection: either is recorded (INFORMATIONAL)",
       _non_minimal(b"\x81\x7e" + struct.pack("!H", 5)))
define("1.3.2", "a 5-byte text frame whose length is written in the 64-bit form",
       "echo it or fail the connection: either is recorded (INFORMATIONAL)",
       _non_minimal(b"\x81\x7f" + struct.pack("!Q", 5)))


def _masked(w: CaseWire) -> Judgement:
    return failure(w, lambda wire: wire.send_frame(OPCODE_TEXT, b"masked by the server",
                                                   mask_key=b"\x37\xfa\x21\x3d"))


define("1.4.1", "a text frame the server masked",
       "fail the connection with 1002 (RFC 6455 section 5.1: a client MUST close the "
       "connection if it detects a masked frame)", _masked)

