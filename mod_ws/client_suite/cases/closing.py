"""Group 7, close handling (RFC 6455 sections 5.5.1, 7.1 and 7.4): a valid close must
be answered with a close of the client's own, and data after it ignored; a close with
a 1-byte body, a code no endpoint may send, a reason over 123 bytes or a reason that
is not UTF-8 must fail the connection (1002, or 1007 for the reason's encoding)."""

from __future__ import annotations

from mod_ws.client_suite.case import Run, define
from mod_ws.client_suite.cases.flows import REACTION, closing, failure
from mod_ws.client_suite.verdicts import Judgement, Verdict, describe_close, judge_closing
from mod_ws.client_suite.wire import CaseWire
from mod_ws.common import OPCODE_CONTINUATION, OPCODE_TEXT

ANSWER = "answer with a close frame of its own (RFC 6455 section 5.5.1)"

define("7.1.1", "a close 1000 with reason 'bye'", ANSWER, lambda w: closing(w, 1000, b"bye"))
define("7.1.2", "a close frame with no body", ANSWER + " (with no code, or 1000)", lambda w: closing(w, None))


def _fail_on_close(payload: bytes, codes: tuple[int, ...] = (1002,), lenient: str | None = None) -> Run:
    def run(w: CaseWire) -> Judgement:
        return failure(w, lambda wire: wire.send_close(payload=payload), codes=codes, probe=False,
                       answering_normally_fails=True, lenient=lenient)
    return run


define("7.1.3", "a close frame with a 1-byte body", "fail the connection with 1002",
       _fail_on_close(b"\x03"))
define("7.1.4", "a close 1000, then a text message", ANSWER + " and ignore (not echo) the text",
       lambda w: closing(w, 1000, after=lambda wire: wire.send_text(b"after the close")))
define("7.1.5", "a text fragment (FIN clear), a close 1000, then the message's last fragment",
       ANSWER + " and echo nothing",
       lambda w: closing(w, 1000, before=lambda wire: wire.send_frame(OPCODE_TEXT, b"frag", fin=False),
                         after=lambda wire: wire.send_frame(OPCODE_CONTINUATION, b"ment", fin=True)))
define("7.1.6", "a close 1000 with a 123-byte reason (the largest allowed)", ANSWER,
       lambda w: closing(w, 1000, b"r" * 123))
define("7.1.7", "a close 1000 with a 124-byte reason (a 126-byte control frame)",
       "fail the connection with 1002", _fail_on_close(b"\x03\xe8" + b"r" * 124))

LINGER = 2.0  # seconds 7.1.8 keeps TCP open after the client's answer


def _server_keeps_tcp(w: CaseWire) -> Judgement:
    w.trigger("the server's close")
    w.send_close(1000)
    w.collect(REACTION)
    answered = judge_closing(w.obs)
    if answered.verdict is not Verdict.OK or w.obs.tcp_closed_at is not None:
        w.end()
        if answered.verdict is not Verdict.OK:
            return answered
        return Judgement(Verdict.INFORMATIONAL, f"answered with {describe_close(w.obs.close)} and closed "
                                                "TCP at once, without waiting for the server to")
    answered_at = w.now()
    closed = w.faults.peer_closed(LINGER)
    waited = w.now() - answered_at
    if closed:
        w.obs.tcp_closed_at = w.now()
        w.event("the client closed TCP")
    w.end()
    if closed:
        return Judgement(Verdict.INFORMATIONAL, f"answered with {describe_close(w.obs.close)}, then closed "
                                                f"TCP itself {1000 * waited:.0f} ms later")
    return Judgement(Verdict.INFORMATIONAL, f"answered with {describe_close(w.obs.close)}, then kept TCP "
                                            f"open for the {LINGER:g} s the server waited")


define("7.1.8", f"a close 1000; after the client's answer the server leaves TCP open for {LINGER:g} s",
       ANSWER + "; how long it then waits for the server to close TCP (RFC 6455 section 7.1.1) "
       "is recorded (INFORMATIONAL)", _server_keeps_tcp)

VALID_CODES = (1001, 1003, 1007, 1011, 1012, 3000, 4999)
for number, code in enumerate(VALID_CODES, 1):
    define(f"7.2.{number}", f"a close with the valid code {code}", ANSWER,
           lambda w, code=code: closing(w, code))

RESERVED_WHY = ("RFC 6455 section 7.4.2 reserves it for future revisions without saying that a "
                "receiver must refuse it; failing with 1002 is the stricter reading")
INVALID_CODES = (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
for number, code in enumerate(INVALID_CODES, 1):
    reserved = code in (1016, 2999)
    define(f"7.3.{number}", f"a close with the code {code}, which no endpoint may send",
           "fail the connection with 1002" + (" (answering it normally is NON-STRICT)" if reserved else
                                              ", not answer it normally"),
           _fail_on_close(code.to_bytes(2, "big"), lenient=RESERVED_WHY if reserved else None))

define("7.4.1", "a close 1000 whose reason is not UTF-8 (a surrogate, ED A0 80)",
       "fail the connection with 1007 (RFC 6455 section 7.1.6: the reason is UTF-8)",
       _fail_on_close(b"\x03\xe8bad \xed\xa0\x80 reason", codes=(1007,)))
define("7.4.2", "a close 1000 with the UTF-8 reason 'κόσμε'", ANSWER,
       lambda w: closing(w, 1000, "κόσμε".encode()))
