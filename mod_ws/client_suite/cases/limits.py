"""Group 9, limits and large messages: 1 MiB and 16 MiB messages, a message in a
thousand fragments, a thousand messages back to back, and frames that declare
impossible (2**63) or absurd (2**63 - 1) lengths."""

from __future__ import annotations

from mod_ws.client_suite.case import Run, define
from mod_ws.client_suite.cases.flows import REACTION, binary, echo, echo_messages, failure, text
from mod_ws.client_suite.verdicts import Judgement, Verdict, judge_oversized
from mod_ws.client_suite.wire import CaseWire
from mod_ws.common import OPCODE_BINARY, OPCODE_CONTINUATION

MIB = 1 << 20
LARGE_WAIT = 30.0  # seconds for a 16 MiB echo, loopback and a slow client alike


def _pattern(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


define("9.1.1", "a 1 MiB text message in one frame", "echo it",
       lambda w: echo_messages(w, [text(b"x" * MIB)], wait=LARGE_WAIT))
define("9.1.2", "a 1 MiB binary message in one frame", "echo it",
       lambda w: echo_messages(w, [binary(_pattern(MIB))], wait=LARGE_WAIT))
define("9.1.3", "a 16 MiB binary message in one frame", "echo it (the client needs a message "
       "size limit of at least 16 MiB)", lambda w: echo_messages(w, [binary(_pattern(16 * MIB))], wait=LARGE_WAIT))


def _many_fragments(w: CaseWire) -> Judgement:
    payload = _pattern(MIB)

    def send(wire: CaseWire) -> None:
        for index in range(1024):
            wire.send_frame(OPCODE_BINARY if index == 0 else OPCODE_CONTINUATION,
                            payload[index * 1024:(index + 1) * 1024], fin=index == 1023)
    return echo(w, send, [binary(payload)], wait=LARGE_WAIT)


define("9.2.1", "a 1 MiB binary message in 1024 fragments of 1 KiB", "echo it", _many_fragments)


def _many_messages(w: CaseWire) -> Judgement:
    messages = [text(f"message {i:07d}".encode()) for i in range(1000)]
    judgement = echo_messages(w, messages, wait=LARGE_WAIT)
    obs = w.obs
    if judgement.verdict is Verdict.OK and obs.messages and obs.trigger_at is not None:
        seconds = obs.messages[-1].at - obs.trigger_at
        return Judgement(Verdict.OK, f"{judgement.reason}; all 1000 back in {1000 * seconds:.0f} ms")
    return judgement


define("9.2.2", "1000 text messages of 15 bytes back to back", "echo them all, in order", _many_messages)


def _declared(length: int, tail: bytes) -> Run:
    def send(wire: CaseWire) -> None:
        wire.send_frame(OPCODE_BINARY, tail, length=length)
    return send


define("9.3.1", "a binary frame whose 64-bit length has its top bit set (2**63)",
       "fail the connection with 1002 (RFC 6455 section 5.2: the top bit MUST be 0)",
       lambda w: failure(w, _declared(1 << 63, b""), probe=False))


def _absurd(w: CaseWire) -> Judgement:
    w.trigger()
    _declared((1 << 63) - 1, b"\x00" * 1024)(w)
    w.collect(REACTION)
    w.end()
    return judge_oversized(w.obs, (1009,))


define("9.3.2", "a binary frame declaring 2**63 - 1 bytes, then 1 KiB of it and silence",
       "fail the connection with 1009 (message too big) at once: OK; otherwise failing is "
       "NON-STRICT, and so is waiting for the payload (RFC 6455 section 10.4: a client SHOULD "
       "limit message sizes)", _absurd)
