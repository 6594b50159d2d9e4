"""Group 12, permessage-deflate (RFC 7692), negotiated by the suite itself
(mod_ws.client_suite.compression) on the client's first offer.

12.1: compressed messages the client must inflate and echo (fragmented, with context
taken over, with a BFINAL block, empty, uncompressed ones in between, 1 MiB).
12.2: compression faults the client must fail on (RSV1 on a continuation or a
control frame, data that does not inflate, or inflates to invalid UTF-8, and RSV1
when the extension was not agreed: that one runs for every client).
12.3: parameters: honoured ones, ones the server breaks after agreeing to them (the
client may notice or not: INFORMATIONAL), and responses the client must refuse
(RFC 7692 section 5: an unknown parameter, an invalid value, a parameter twice).

Without a permessage-deflate offer from the client, the 12.1, 12.3 and other 12.2
cases are UNIMPLEMENTED.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from mod_ws.client_suite.case import Run, define
from mod_ws.client_suite.cases.flows import binary, echo, either, failure, text
from mod_ws.client_suite.compression import Deflater, Offer, Params
from mod_ws.client_suite.verdicts import Judgement, Verdict
from mod_ws.client_suite.wire import CaseWire
from mod_ws.common import OPCODE_CONTINUATION, OPCODE_PING, OPCODE_TEXT

SNCT = "server_no_context_takeover"
CNCT = "client_no_context_takeover"
SMWB = "server_max_window_bits"
CMWB = "client_max_window_bits"

# 1000 letters no deflater can shorten, twice: the second copy is a back-reference
# 1000 bytes away, further than a 2**9-byte window reaches.
_RANDOM = random.Random(7692)
UNCOMPRESSIBLE = "".join(_RANDOM.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(1000)).encode()
TWICE = UNCOMPRESSIBLE * 2


def accept(offer: Offer, *extra: tuple[str, str | None]) -> Params:
    """A valid response to `offer`: what the offer demands of the server (RFC 7692
    sections 7.1.1.1 and 7.1.2.1), then `extra` (parameters the server adds)."""
    params: list[tuple[str, str | None]] = []
    names = {name for name, _ in extra}
    if offer.has(SNCT) and SNCT not in names:
        params.append((SNCT, None))
    if offer.params.get(SMWB) and SMWB not in names:
        params.append((SMWB, offer.params[SMWB]))
    return params + list(extra)


def plain(offer: Offer) -> Params:
    return accept(offer)


def sender_for(w: CaseWire) -> tuple[Deflater, bool]:
    """A deflater within what was agreed, and whether each message must start afresh."""
    bits = int(w.agreed.get(SMWB) or 15)
    return Deflater(max(bits, 9)), SNCT in w.agreed


def _compressed(messages: list[tuple[int, bytes]], *, fragments: int = 1, final_block: bool = False,
                uncompressed_between: bool = False) -> Run:
    def run(w: CaseWire) -> Judgement:
        deflater, fresh = sender_for(w)
        expected = []

        def send(wire: CaseWire) -> None:
            for index, (opcode, data) in enumerate(messages):
                if uncompressed_between and index % 2 == 1:
                    wire.send_frame(opcode, data, note="uncompressed")
                    continue
                body = deflater.compress(data, fresh=fresh, final_block=final_block)
                size = -(-len(body) // fragments) or 1
                pieces = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
                for n, piece in enumerate(pieces):
                    wire.send_frame(opcode if n == 0 else OPCODE_CONTINUATION, piece,
                                    fin=n == len(pieces) - 1, rsv1=n == 0,
                                    note=f"deflated {len(data)} bytes" if n == 0 else "")
        expected.extend(messages)
        return echo(w, send, expected, wait=30.0)
    return run


ECHO = "inflate and echo it (compressed or not)"

define("12.1.1", "a compressed text message 'Hello, permessage-deflate!'", ECHO,
       _compressed([text(b"Hello, permessage-deflate!")]), negotiate=plain)
define("12.1.2", "a compressed 64 KiB binary message", ECHO,
       _compressed([binary((b"mod_ws " * 9363)[:65536])]), negotiate=plain)
define("12.1.3", "a compressed text message in 3 fragments (RSV1 on the first only)", ECHO,
       _compressed([text(b"fragmented and compressed " * 20)], fragments=3), negotiate=plain)
define("12.1.4", "two compressed text messages, the second referring back into the first "
       "(context takeover)", "inflate and echo both",
       _compressed([text(TWICE[:1500]), text(TWICE[:1500])]), negotiate=plain)
define("12.1.5", "a compressed empty text message", ECHO, _compressed([text(b"")]), negotiate=plain)
define("12.1.6", "a compressed text message ending in a BFINAL block (RFC 7692 section 7.2.3.3), "
       "then another", "inflate and echo both",
       _compressed([text(b"final block " * 10), text(b"after the final block")], final_block=True),
       negotiate=plain)
define("12.1.7", "compressed, uncompressed and compressed text messages in turn (RFC 7692 "
       "section 6: a message may go uncompressed)", "echo all three",
       _compressed([text(b"one " * 20), text(b"two, not compressed"), text(b"three " * 20)],
                   uncompressed_between=True), negotiate=plain)
define("12.1.8", "a compressed 1 MiB text message", ECHO,
       _compressed([text(b"All work and no play makes Jack a dull boy. " * 23831)]), negotiate=plain)

FAIL = "fail the connection with 1002"


def _fault(send: Callable[[CaseWire, Deflater], object], codes: tuple[int, ...] = (1002,),
           in_payload: bool = False) -> Run:
    """A fault the client must fail on; `in_payload` for faults found only when the
    message is inflated or decoded (see verdicts.judge_failure)."""
    def run(w: CaseWire) -> Judgement:
        deflater, _ = sender_for(w) if w.deflate else (Deflater(), False)
        return failure(w, lambda wire: send(wire, deflater), codes=codes, probe_answer_fails=not in_payload)
    return run


def _rsv1_continuation(w: CaseWire, deflater: Deflater) -> None:
    body = deflater.compress(b"RSV1 belongs on the first frame only " * 4)
    half = len(body) // 2
    w.send_frame(OPCODE_TEXT, body[:half], fin=False, rsv1=True)
    w.send_frame(OPCODE_CONTINUATION, body[half:], fin=True, rsv1=True)


define("12.2.1", "a compressed text message in 2 fragments, RSV1 set on the continuation too",
       FAIL + " (RFC 7692 section 6.1: RSV1 is for a message's first frame)",
       _fault(_rsv1_continuation), negotiate=plain)
define("12.2.2", "a ping with RSV1 set and a deflated payload",
       FAIL + " (RFC 7692 section 6.1: control frames are never compressed), not answer it",
       _fault(lambda w, d: w.send_frame(OPCODE_PING, d.compress(b"compressed ping"), rsv1=True)),
       negotiate=plain)
define("12.2.3", "a text frame with RSV1 set whose payload is not deflate data",
       "fail the connection with 1007 or 1002 (it cannot be inflated)",
       _fault(lambda w, d: w.send_frame(OPCODE_TEXT, b"\xff\xff\xff\xff not deflate data", rsv1=True),
              codes=(1007, 1002), in_payload=True), negotiate=plain)
define("12.2.4", "a compressed text message that inflates to invalid UTF-8",
       "fail the connection with 1007",
       _fault(lambda w, d: w.send_frame(OPCODE_TEXT, d.compress(b"bad \xed\xa0\x80 text"), rsv1=True),
              codes=(1007,), in_payload=True), negotiate=plain)
define("12.2.5", "a deflated text message with RSV1 set while permessage-deflate was declined "
       "(runs for every client)", FAIL + " (RFC 6455 section 5.2: no extension was agreed)",
       _fault(lambda w, d: w.send_frame(OPCODE_TEXT, d.compress(b"Hello, not negotiated"), rsv1=True)))


def _honoured_no_context(w: CaseWire) -> Judgement:
    return _compressed([text(TWICE[:1500]), text(TWICE[:1500])])(w)


define("12.3.1", "server_no_context_takeover in the response, and two messages each compressed "
       "from an empty window", "inflate and echo both", _honoured_no_context,
       negotiate=lambda offer: accept(offer, (SNCT, None)))

BROKEN_WHY = ("the server broke what it agreed to; RFC 7692 lets a client rely on the agreement "
              "(and reset or shrink its window) or not, so either reaction is recorded")


def _context_taken_over_anyway(w: CaseWire) -> Judgement:
    deflater = Deflater(15)
    first, second = deflater.compress(TWICE[:1500]), deflater.compress(TWICE[:1500])

    def send(wire: CaseWire) -> None:
        wire.send_frame(OPCODE_TEXT, first, rsv1=True)
        wire.send_frame(OPCODE_TEXT, second, rsv1=True, note="refers back into the first message")
    return either(w, send, [text(TWICE[:1500])] * 2, accepted=Verdict.INFORMATIONAL,
                  refused=Verdict.INFORMATIONAL, why=BROKEN_WHY, codes=(1007, 1002))


define("12.3.2", "server_no_context_takeover in the response, yet the second message refers back "
       "into the first", "inflate both (it kept its context) or fail the connection: either is "
       "recorded (INFORMATIONAL)", _context_taken_over_anyway,
       negotiate=lambda offer: accept(offer, (SNCT, None)))


def _small_window(offer: Offer) -> Params:
    bits = min(9, int(offer.params.get(SMWB) or 15))
    return accept(offer, (SMWB, str(bits)))


def _window_exceeded(w: CaseWire) -> Judgement:
    body = Deflater(15).compress(TWICE)

    def send(wire: CaseWire) -> None:
        wire.send_frame(OPCODE_TEXT, body, rsv1=True, note="a back-reference 1000 bytes away")
    return either(w, send, [text(TWICE)], accepted=Verdict.INFORMATIONAL, refused=Verdict.INFORMATIONAL,
                  why=BROKEN_WHY, codes=(1007, 1002))


define("12.3.3", "server_max_window_bits=9 in the response (512 bytes), yet a message compressed "
       "with a 32 KiB window", "inflate it (its window is larger anyway) or fail the connection: "
       "either is recorded (INFORMATIONAL)", _window_exceeded, negotiate=_small_window)


def _client_limits(offer: Offer) -> Params:
    extra: list[tuple[str, str | None]] = [(CNCT, None)]
    if offer.has(CMWB):
        extra.append((CMWB, "9"))
    return accept(offer, *extra)


define("12.3.4", "client_no_context_takeover (and client_max_window_bits=9 when offered) in the "
       "response, then the same 2000-byte text twice, compressed",
       "echo both, compressing each message from an empty window within 512 bytes (checked by "
       "inflating them that way)",
       _compressed([text(TWICE), text(TWICE)]), negotiate=_client_limits)

REFUSE = ("fail the connection (RFC 7692 section 5: a response it cannot accept): close TCP, with or "
          "without a close frame, and echo nothing")


def _refused(w: CaseWire) -> Judgement:
    return failure(w, lambda wire: wire.send_text(b"is anyone using this connection?"), codes=None)


define("12.3.5", "a response with the unknown parameter x_mod_ws_unknown", REFUSE, _refused,
       negotiate=lambda offer: accept(offer, ("x_mod_ws_unknown", None)))
define("12.3.6", "a response with server_max_window_bits=16 (valid: 8 to 15)", REFUSE, _refused,
       negotiate=lambda offer: [(SMWB, "16")])
define("12.3.7", "a response with server_no_context_takeover twice", REFUSE, _refused,
       negotiate=lambda offer: [(SNCT, None), (SNCT, None)])
define("12.3.8", "a response with client_max_window_bits=7 (valid: 8 to 15)", REFUSE, _refused,
       negotiate=lambda offer: accept(offer, (CMWB, "7")))
