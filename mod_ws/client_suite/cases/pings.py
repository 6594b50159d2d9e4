"""Group 2, pings and pongs (RFC 6455 sections 5.5.2 and 5.5.3): a ping must be
answered with a pong carrying the same payload, an unsolicited pong must be ignored,
and a control frame over 125 bytes or fragmented must fail the connection."""

from __future__ import annotations

from mod_ws.client_suite.case import Run, define
from mod_ws.client_suite.cases.flows import echo, failure, text
from mod_ws.client_suite.verdicts import Judgement
from mod_ws.client_suite.wire import CaseWire
from mod_ws.common import OPCODE_CONTINUATION, OPCODE_PING
from mod_ws.protocol.frames import build_frame

PONG_SAME = "answer with a pong carrying the same payload"


def _ping(payload: bytes) -> Run:
    def run(w: CaseWire) -> Judgement:
        return echo(w, lambda wire: wire.send_ping(payload), [], pongs=[payload])
    return run


define("2.1", "a ping with no payload", PONG_SAME, _ping(b""))
define("2.2", "a ping with the text payload 'Hello, world!'", PONG_SAME, _ping(b"Hello, world!"))
define("2.3", "a ping with a binary payload (00 ff fe fd fc fb 00 ff)", PONG_SAME,
       _ping(b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"))
define("2.4", "a ping with a 125-byte payload (the largest allowed)", PONG_SAME, _ping(b"*" * 125))


def _oversized(w: CaseWire) -> Judgement:
    return failure(w, lambda wire: wire.send_ping(b"*" * 126), probe=False)


define("2.5", "a ping with a 126-byte payload (control frames carry at most 125)",
       "fail the connection with 1002, not answer it", _oversized)


def _unsolicited_then_text(w: CaseWire) -> Judgement:
    def send(wire: CaseWire) -> None:
        wire.send_pong(b"", note="unsolicited")
        wire.send_text(b"after an unsolicited pong")
    return echo(w, send, [text(b"after an unsolicited pong")], pongs=[])


define("2.6", "an unsolicited pong with no payload, then a text message",
       "ignore the pong (send nothing for it) and echo the text", _unsolicited_then_text)


def _unsolicited_then_ping(w: CaseWire) -> Judgement:
    def send(wire: CaseWire) -> None:
        wire.send_pong(b"unsolicited", note="unsolicited")
        wire.send_ping(b"solicited")
    return echo(w, send, [], pongs=[b"solicited"])


define("2.7", "an unsolicited pong with payload 'unsolicited', then a ping 'solicited'",
       "answer only the ping, with a pong 'solicited'", _unsolicited_then_ping)


def _fragmented_ping(w: CaseWire) -> Judgement:
    def send(wire: CaseWire) -> None:
        wire.send_frame(OPCODE_PING, b"frag", fin=False)
        wire.send_frame(OPCODE_CONTINUATION, b"ment", fin=True)
    return failure(w, send, probe=False)


define("2.8", "a ping split into two frames (FIN clear, then a continuation)",
       "fail the connection with 1002 (RFC 6455 section 5.5: control frames MUST NOT be "
       "fragmented)", _fragmented_ping)

TEN = [f"ping-{i}".encode() for i in range(10)]


def _ten_pings(w: CaseWire) -> Judgement:
    def send(wire: CaseWire) -> None:
        for payload in TEN:
            wire.send_ping(payload)
    return echo(w, send, [], pongs=TEN, last_pong_enough=True)


define("2.9", "10 pings back to back, 'ping-0' to 'ping-9'",
       "answer each with its pong in order, or (RFC 6455 section 5.5.3 allows it) only the "
       "last one", _ten_pings)


def _trickled_ping(w: CaseWire) -> Judgement:
    frame = build_frame(OPCODE_PING, b"trickled")
    return echo(w, lambda wire: wire.trickle(frame, 200.0, 1, "ping 'trickled'"), [], pongs=[b"trickled"])


define("2.10", "a ping 'trickled' written a byte at a time, 5 ms apart",
       "answer with a pong 'trickled'", _trickled_ping)


def _ping_between(w: CaseWire) -> Judgement:
    def send(wire: CaseWire) -> None:
        wire.send_text(b"before")
        wire.send_ping(b"between")
        wire.send_text(b"after")
    return echo(w, send, [text(b"before"), text(b"after")], pongs=[b"between"])


define("2.11", "a text message, a ping 'between', another text message",
       "echo both messages and answer the ping", _ping_between)
