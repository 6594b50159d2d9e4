"""Group 6, UTF-8 (RFC 6455 sections 5.6 and 8.1, RFC 3629): text messages that are
valid UTF-8, also with code points split across fragments, must be echoed; invalid
ones (anywhere, also split across fragments) must fail the connection with 1007,
and preferably on the fragment that carries the fault (fail fast)."""

from __future__ import annotations

from mod_ws.client_suite.case import Run, define
from mod_ws.client_suite.cases.flows import REACTION, echo, echo_messages, failure, text
from mod_ws.client_suite.verdicts import Judgement, judge_fail_fast
from mod_ws.client_suite.wire import CaseWire
from mod_ws.common import OPCODE_CONTINUATION, OPCODE_TEXT

KOSME = "κόσμε".encode()
FAIL = "fail the connection with 1007 (the text is not UTF-8)"

VALID = (
    ("6.1.1", "Hello-µ@ßöäüàá-UTF-8!!", "Latin-1 letters"),
    ("6.1.2", "κόσμε", "Greek"),
    ("6.1.3", "\u0080 \u0800 \U00010000", "the first code point of each sequence length"),
    ("6.1.4", "\u007f \u07ff \uffff \U0010ffff", "the last code point of each sequence length"),
    ("6.1.5", "\ud7ff \ue000 \ufffd", "the code points around the surrogates"),
    ("6.1.6", "\ufeff\x00BOM and NUL\x00", "a byte order mark and NUL characters"),
)
for case_id, string, what in VALID:
    define(case_id, f"a text message of valid UTF-8: {what}", "echo it",
           lambda w, data=string.encode("utf-8", "surrogatepass"): echo_messages(w, [text(data)]))


def _split(parts: list[bytes]) -> Run:
    def run(w: CaseWire) -> Judgement:
        def send(wire: CaseWire) -> None:
            for index, part in enumerate(parts):
                wire.send_frame(OPCODE_TEXT if index == 0 else OPCODE_CONTINUATION, part,
                                fin=index == len(parts) - 1)
        return echo(w, send, [text(b"".join(parts))])
    return run


define("6.2.1", "'κόσμε' in 11 fragments of one byte each (every code point split)", "echo 'κόσμε'",
       _split([KOSME[i:i + 1] for i in range(len(KOSME))]))
define("6.2.2", "a 4-byte code point (U+1F600) split 2+2 across two fragments", "echo it",
       _split([b"x\xf0\x9f", b"\x98\x80x"]))

INVALID = (
    ("6.3.1", KOSME + b"\x80" + KOSME, "a lone continuation byte (80)"),
    ("6.3.2", b"a\xc0\xafb", "an overlong '/' (C0 AF)"),
    ("6.3.3", b"a\xe0\x80\xafb", "an overlong 3-byte '/' (E0 80 AF)"),
    ("6.3.4", b"a\xed\xa0\x80b", "a UTF-16 surrogate, U+D800 (ED A0 80)"),
    ("6.3.5", b"a\xf4\x90\x80\x80b", "a code point above U+10FFFF (F4 90 80 80)"),
    ("6.3.6", b"a\xfe\xffb", "the bytes FE and FF"),
    ("6.3.7", KOSME + b"\xe2\x82", "a sequence cut short at the end (E2 82)"),
    ("6.3.8", b"a\xf8\x88\x80\x80\x80b", "a 5-byte form (F8 88 80 80 80)"),
    ("6.3.9", b"a\xed\xa0\xbd\xed\xb8\x80b", "a surrogate pair encoded as two 3-byte forms (CESU-8)"),
)
for case_id, data, what in INVALID:
    define(case_id, f"a text message with {what}", FAIL,
           lambda w, data=data: failure(w, lambda wire: wire.send_text(data), codes=(1007,),
                                         probe_answer_fails=False))


def _invalid_split(parts: list[bytes]) -> Run:
    def run(w: CaseWire) -> Judgement:
        def send(wire: CaseWire) -> None:
            for index, part in enumerate(parts):
                wire.send_frame(OPCODE_TEXT if index == 0 else OPCODE_CONTINUATION, part,
                                fin=index == len(parts) - 1)
        return failure(w, send, codes=(1007,), probe_answer_fails=False)
    return run


define("6.4.1", "a text message in 2 fragments: 'κόσμε', then a surrogate (ED A0 80)", FAIL,
       _invalid_split([KOSME, b"\xed\xa0\x80"]))
define("6.4.2", "a code point above U+10FFFF split across two fragments (F4 | 90 80 80)", FAIL,
       _invalid_split([KOSME + b"\xf4", b"\x90\x80\x80"]))
define("6.4.3", "a text message whose last code point is cut short across fragments (E2 | 82, end)",
       FAIL, _invalid_split([KOSME + b"\xe2", b"\x82"]))

FAST_WAIT = 1.0  # seconds the rest of the message is held back in 6.4.4


def _fail_fast(w: CaseWire) -> Judgement:
    w.trigger("a fragment with an invalid sequence")
    w.send_frame(OPCODE_TEXT, KOSME + b"\xed\xa0\x80" + KOSME, fin=False)
    w.collect(FAST_WAIT)
    rest_at = None
    if w.obs.close is None and w.obs.tcp_closed_at is None:
        rest_at = w.now()
        w.send_frame(OPCODE_CONTINUATION, b"the rest", fin=True)
        w.collect(REACTION, lambda obs: bool(obs.messages))
    w.end()
    return judge_fail_fast(w.obs, (1007,), rest_at)


define("6.4.4", f"a text fragment (FIN clear) with a surrogate in it; the rest follows {FAST_WAIT:g} s "
       "later unless the client has failed the connection by then",
       FAIL + " on the first fragment (OK), or only once the message ended (NON-STRICT)", _fail_fast)
