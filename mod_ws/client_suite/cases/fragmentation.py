"""Group 5, fragmentation (RFC 6455 section 5.4): fragmented messages (with empty
fragments, and with control frames between fragments, which are allowed) must be
reassembled and echoed; a continuation with no message begun, a new data frame
inside a fragmented message, and a fragmented control frame must fail the connection."""

from __future__ import annotations

from mod_ws.client_suite.case import Run, define
from mod_ws.client_suite.cases.flows import closing, echo, failure, text
from mod_ws.client_suite.verdicts import Judgement
from mod_ws.client_suite.wire import CaseWire
from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
)
from mod_ws.protocol.frames import build_frame

FAIL = "fail the connection with 1002"


def send_fragments(w: CaseWire, opcode: int, parts: list[bytes]) -> None:
    """One message in len(parts) frames: the first with `opcode`, then continuations."""
    for index, part in enumerate(parts):
        w.send_frame(opcode if index == 0 else OPCODE_CONTINUATION, part, fin=index == len(parts) - 1)


def _fragmented(opcode: int, parts: list[bytes]) -> Run:
    def run(w: CaseWire) -> Judgement:
        return echo(w, lambda wire: send_fragments(wire, opcode, parts), [(opcode, b"".join(parts))])
    return run


define("5.1", "a text message in 2 fragments ('fragment1', 'fragment2')", "echo 'fragment1fragment2'",
       _fragmented(OPCODE_TEXT, [b"fragment1", b"fragment2"]))
define("5.2", "a binary message in 3 fragments", "echo the whole message",
       _fragmented(OPCODE_BINARY, [b"\x00\x01", b"\x02\x03\x04", b"\xff"]))
define("5.3", "a text message in 5 fragments, the first, middle and last empty",
       "echo 'fragment'", _fragmented(OPCODE_TEXT, [b"", b"frag", b"", b"ment", b""]))


def _control_between(control: int, answered: bool) -> Run:
    def run(w: CaseWire) -> Judgement:
        def send(wire: CaseWire) -> None:
            wire.send_frame(OPCODE_TEXT, b"frag", fin=False)
            wire.send_frame(control, b"between")
            wire.send_frame(OPCODE_CONTINUATION, b"ment", fin=True)
        return echo(w, send, [text(b"fragment")], pongs=[b"between"] if answered else [])
    return run


define("5.4", "a text message in 2 fragments with a ping 'between' them",
       "answer the ping and echo 'fragment' (control frames may come between fragments)",
       _control_between(OPCODE_PING, True))
define("5.5", "a text message in 2 fragments with an unsolicited pong between them",
       "ignore the pong and echo 'fragment'", _control_between(OPCODE_PONG, False))

THOUSAND = bytes(range(97, 123)) * 38 + b"abcdefghijkl"  # 1000 bytes


def _one_byte_fragments(w: CaseWire) -> Judgement:
    parts = [THOUSAND[i:i + 1] for i in range(len(THOUSAND))]
    return echo(w, lambda wire: send_fragments(wire, OPCODE_TEXT, parts), [text(THOUSAND)])


define("5.6", "a 1000-byte text message in 1000 one-byte fragments", "echo it", _one_byte_fragments)


def _trickled_fragments(w: CaseWire) -> Judgement:
    frames = [build_frame(OPCODE_TEXT, b"frag", fin=False), build_frame(OPCODE_PING, b"between"),
              build_frame(OPCODE_CONTINUATION, b"ment", fin=True)]

    def send(wire: CaseWire) -> None:
        for frame in frames:
            wire.trickle(frame, 500.0, 1, "a fragment or the ping")
    return echo(w, send, [text(b"fragment")], pongs=[b"between"])


define("5.7", "2 text fragments with a ping between, every frame written a byte at a time",
       "answer the ping and echo 'fragment'", _trickled_fragments)


def _bad_sequence(frames: list[tuple[int, bytes, bool]]) -> Run:
    def run(w: CaseWire) -> Judgement:
        def send(wire: CaseWire) -> None:
            for opcode, payload, fin in frames:
                wire.send_frame(opcode, payload, fin=fin)
        return failure(w, send)
    return run


define("5.8", "a continuation frame (FIN set) with no message begun", FAIL,
       _bad_sequence([(OPCODE_CONTINUATION, b"orphan", True)]))
define("5.9", "two continuation frames (FIN clear, then set) with no message begun", FAIL,
       _bad_sequence([(OPCODE_CONTINUATION, b"orphan", False), (OPCODE_CONTINUATION, b"s", True)]))
define("5.10", "a text fragment (FIN clear), then a whole text frame inside the message", FAIL,
       _bad_sequence([(OPCODE_TEXT, b"first", False), (OPCODE_TEXT, b"second", True)]))
define("5.11", "a text fragment (FIN clear), then a binary frame inside the message", FAIL,
       _bad_sequence([(OPCODE_TEXT, b"first", False), (OPCODE_BINARY, b"second", True)]))
define("5.12", "a close frame (1000) with FIN clear, then its continuation",
       FAIL + " (control frames MUST NOT be fragmented), not answer it as a normal close",
       lambda w: failure(w, lambda wire: (wire.send_frame(OPCODE_CLOSE, b"\x03\xe8", fin=False),
                                          wire.send_frame(OPCODE_CONTINUATION, b"", fin=True)),
                         probe=False, answering_normally_fails=True))
define("5.13", "a text fragment (FIN clear), then a close 1000 in the middle of the message",
       "answer the close (a control frame may come between fragments) and echo nothing",
       lambda w: closing(w, 1000, before=lambda wire: wire.send_frame(OPCODE_TEXT, b"unfinished", fin=False)))

