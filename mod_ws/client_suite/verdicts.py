"""What the client did (`Observation`) and what that earns it (`Verdict`): pure logic.

A case's code (mod_ws.client_suite.cases) drives the wire and fills an Observation
(mod_ws.client_suite.wire); the judges here turn it into a Judgement without touching
a socket, so the rules can be unit-tested with hand-made observations.

The verdicts, from RFC 6455 and RFC 7692's words:

- OK: the client did what the RFC requires (MUST) and recommends (SHOULD).
- NON-STRICT: it met the MUSTs but not a SHOULD: failed the connection without the
  close frame section 7.1.7 asks for, or with another status code than the
  appropriate one, or only after more data than needed (fail-fast cases).
- FAILED: it broke a MUST: accepted what it must refuse (echoed invalid UTF-8,
  answered a frame with reserved bits), refused what it must accept, left a close
  unanswered, sent a frame that breaks the protocol itself, or did nothing at all.
- INFORMATIONAL: the RFC allows more than one reaction; the one seen is recorded.
- UNIMPLEMENTED: the case needs an extension (permessage-deflate) the client did not
  offer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mod_ws.common import OPCODE_BINARY, OPCODE_TEXT, STATUS_NORMAL_CLOSURE


class Verdict(str, enum.Enum):
    OK = "OK"
    NON_STRICT = "NON-STRICT"
    FAILED = "FAILED"
    INFORMATIONAL = "INFORMATIONAL"
    UNIMPLEMENTED = "UNIMPLEMENTED"

    @property
    def passed(self) -> bool:
        """Everything but FAILED counts as passed in the runner's last line."""
        return self is not Verdict.FAILED

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str


@dataclass
class ReceivedMessage:
    """A data message the client sent, reassembled (and inflated if compressed)."""

    opcode: int
    payload: bytes
    at: float  # seconds since the case started, when its last frame arrived
    compressed: bool = False


@dataclass
class Observation:
    """Everything a case saw the client do; times are seconds since the case started."""

    messages: list[ReceivedMessage] = field(default_factory=list)
    pongs: list[tuple[bytes, float]] = field(default_factory=list)
    pings: list[bytes] = field(default_factory=list)
    # The client's close frame: (code, reason bytes); code None for an empty body.
    close: tuple[int | None, bytes] | None = None
    close_at: float | None = None
    tcp_closed_at: float | None = None  # the client closed (or reset) TCP
    server_close_at: float | None = None  # the server's close frame went out
    trigger_at: float | None = None  # the frame the case is about went out
    # Things the client itself did against the RFC (an unmasked frame, a bad close
    # code, a text message that is not UTF-8...), in the words of the rule.
    violations: list[str] = field(default_factory=list)
    timed_out: bool = False  # the last wait ended with nothing from the client
    waited: float = 0.0  # how long that last wait was allowed to be

    # Views the judges share.

    @property
    def client_closed_first(self) -> bool:
        """The client sent its close (or dropped TCP) before the server closed."""
        first = self.close_at if self.close is not None else self.tcp_closed_at
        return first is not None and (self.server_close_at is None or first < self.server_close_at)

    @property
    def reacted_at(self) -> float | None:
        """When the client ended its side: its close frame, else its TCP close."""
        return self.close_at if self.close is not None else self.tcp_closed_at

    def messages_after(self, moment: float | None) -> list[ReceivedMessage]:
        if moment is None:
            return list(self.messages)
        return [m for m in self.messages if m.at >= moment]

    def messages_before(self, moment: float | None) -> list[ReceivedMessage]:
        if moment is None:
            return []
        return [m for m in self.messages if m.at < moment]

    def pongs_after(self, moment: float | None) -> list[bytes]:
        return [p for p, at in self.pongs if moment is None or at >= moment]


Expected = Sequence[tuple[int, bytes]]  # (opcode, payload) of each message to echo


# Descriptions.

def preview(data: bytes, limit: int = 40) -> str:
    """A short printable rendering of a payload: text when it decodes, else hex."""
    head = data[:limit]
    try:
        text = head.decode("utf-8")
        if text.isprintable():
            shown = repr(text)
        else:
            shown = head.hex(" ")
    except UnicodeDecodeError:
        shown = head.hex(" ")
    return shown + (f"... ({len(data)} bytes)" if len(data) > limit else "")


def describe_close(close: tuple[int | None, bytes] | None) -> str:
    if close is None:
        return "no close frame"
    code, reason = close
    if code is None:
        return "an empty close frame"
    return f"close {code}" + (f" {preview(reason)}" if reason else "")


def describe(obs: Observation) -> str:
    """One line of what the client did, for the report's "observed" column."""
    parts = []
    if obs.messages:
        kinds = {OPCODE_TEXT: "text", OPCODE_BINARY: "binary"}
        sizes = ", ".join(f"{kinds.get(m.opcode, m.opcode)} {len(m.payload)} B" for m in obs.messages[:3])
        more = f" and {len(obs.messages) - 3} more" if len(obs.messages) > 3 else ""
        parts.append(f"sent {len(obs.messages)} message{'s' * (len(obs.messages) != 1)} ({sizes}{more})")
    if obs.pongs:
        parts.append(f"{len(obs.pongs)} pong{'s' * (len(obs.pongs) != 1)}")
    if obs.close is not None:
        when = ""
        if obs.close_at is not None and obs.trigger_at is not None:
            when = f" {1000 * (obs.close_at - obs.trigger_at):.0f} ms after the trigger"
        parts.append(describe_close(obs.close) + when)
    if obs.tcp_closed_at is not None:
        parts.append("closed TCP")
    if obs.timed_out and obs.close is None and obs.tcp_closed_at is None:
        parts.append(f"then nothing for {obs.waited:g} s")
    if obs.violations:
        parts.append("broke the protocol: " + "; ".join(obs.violations[:2]))
    return "; ".join(parts) or "nothing"


def _compare_messages(got: Sequence[ReceivedMessage], expected: Expected) -> str | None:
    """Why the messages differ from those expected, or None when they match."""
    names = {OPCODE_TEXT: "text", OPCODE_BINARY: "binary"}
    for index, ((opcode, payload), message) in enumerate(zip(expected, got)):
        if message.opcode != opcode:
            return (f"message {index + 1} came back as {names.get(message.opcode, message.opcode)}, "
                    f"not {names.get(opcode, opcode)}")
        if message.payload != payload:
            if len(message.payload) != len(payload):
                return (f"message {index + 1} came back with {len(message.payload)} bytes, "
                        f"not {len(payload)}")
            at = next(i for i, (a, b) in enumerate(zip(message.payload, payload)) if a != b)
            return f"message {index + 1} came back different from byte {at} on"
    if len(got) < len(expected):
        return f"echoed {len(got)} of {len(expected)} messages"
    if len(got) > len(expected):
        extra = got[len(expected)]
        return (f"sent {len(got) - len(expected)} message(s) more than the {len(expected)} expected "
                f"(the first: {preview(extra.payload)})")
    return None


# The judges.

def judge_closing(obs: Observation) -> Judgement:
    """The server closed (with a valid close): the client must answer with a close
    frame of its own (RFC 6455 section 5.5.1, MUST) and then let the server close TCP."""
    if obs.violations:
        return Judgement(Verdict.FAILED, "the client broke the protocol: " + "; ".join(obs.violations))
    if obs.server_close_at is None:
        return Judgement(Verdict.FAILED, "the case ended before the server's close went out")
    if obs.close is None:
        if obs.tcp_closed_at is not None:
            return Judgement(Verdict.FAILED, "closed TCP without answering the server's close frame "
                                             "(RFC 6455 section 5.5.1: it MUST send a close frame in response)")
        return Judgement(Verdict.FAILED, f"did not answer the server's close frame within {obs.waited:g} s")
    return Judgement(Verdict.OK, f"answered the close with {describe_close(obs.close)}")


def judge_echo(obs: Observation, expected: Expected, *, pongs: Sequence[bytes] | None = None,
               last_pong_enough: bool = False) -> Judgement:
    """The client must accept everything it was sent: echo `expected` (in order), send
    exactly `pongs` (when given), and answer the server's closing close frame.

    With `last_pong_enough`, a pong for only the most recent of several pings passes,
    as RFC 6455 section 5.5.3 allows."""
    if obs.violations:
        return Judgement(Verdict.FAILED, "the client broke the protocol: " + "; ".join(obs.violations))
    if obs.client_closed_first:
        done = "" if len(obs.messages) >= len(expected) else f" after {len(obs.messages)} of {len(expected)} echoes"
        how = (describe_close(obs.close) if obs.close is not None else "dropping TCP")
        return Judgement(Verdict.FAILED, f"failed the connection ({how}){done} where everything it "
                                         "was sent is valid")
    difference = _compare_messages(obs.messages, expected)
    if difference is not None:
        return Judgement(Verdict.FAILED, difference)
    if pongs is not None:
        got = [p for p, _ in obs.pongs]
        if got != list(pongs) and not (last_pong_enough and pongs and got == [pongs[-1]]):
            unexpected = [p for p in got if p not in pongs]
            if unexpected:
                return Judgement(Verdict.FAILED, f"sent a pong nobody asked for: {preview(unexpected[0])}")
            if not got:
                return Judgement(Verdict.FAILED, "never answered the ping with a pong "
                                                 "(RFC 6455 section 5.5.2: it MUST)")
            return Judgement(Verdict.FAILED, f"answered {len(pongs)} ping(s) with pongs "
                                             f"{[preview(p) for p in got]}, expected {[preview(p) for p in pongs]}")
    closing = judge_closing(obs)
    if closing.verdict is not Verdict.OK:
        return closing
    what = f"echoed {len(expected)} message{'s' * (len(expected) != 1)}" if expected else "echoed nothing"
    if pongs:
        what += f", answered with {len(obs.pongs)} pong{'s' * (len(obs.pongs) != 1)}"
    return Judgement(Verdict.OK, f"{what}; {closing.reason}")


def judge_failure(obs: Observation, codes: Iterable[int] | None = (1002,), *,
                  prelude: Expected = (), answering_normally_fails: bool = False,
                  lenient: str | None = None, probe_answer_fails: bool = True) -> Judgement:
    """The client must fail the connection (RFC 6455 section 7.1.7) on the frame sent at
    `obs.trigger_at`: echo nothing after it, answer no ping after it, and send a close
    frame with one of `codes` (any code when None) before closing TCP.

    `prelude` is what it must have echoed before the trigger. When the trigger is the
    server's own (invalid) close frame, a close 1000 in answer is acceptance, not
    failure: `answering_normally_fails`. `lenient` makes merely answering the trigger
    NON-STRICT instead of FAILED, with that explanation (codes the RFC only reserves).

    A frame-level fault (reserved bits, opcodes, fragmentation) is found when the frame
    is parsed, so a pong for the ping sent after it shows the client read on past it
    (section 7.1.7: it MUST NOT go on processing data). Invalid UTF-8 is found when
    the payload is interpreted (section 8.1), which a client may do later than it
    handles the next control frame: for those, `probe_answer_fails` is False and only
    the close that follows counts."""
    code_set = None if codes is None else set(codes)
    before = obs.messages_before(obs.trigger_at)
    if prelude:
        difference = _compare_messages(before, prelude)
        if difference is not None:
            return Judgement(Verdict.FAILED, f"before the trigger: {difference}")
    after = obs.messages_after(obs.trigger_at)
    if after:
        return Judgement(Verdict.FAILED, f"accepted it: echoed {preview(after[0].payload)} instead of "
                                         "failing the connection")
    answered_probe = bool(obs.pongs_after(obs.trigger_at))
    if answered_probe and probe_answer_fails:
        return Judgement(Verdict.FAILED, "ignored it: answered the ping sent after it instead of "
                                         "failing the connection")
    later = " (after answering the ping sent after it)" if answered_probe else ""
    if obs.violations:
        return Judgement(Verdict.FAILED, "the client broke the protocol: " + "; ".join(obs.violations))
    expected = ("a close frame" if code_set is None
                else "close " + " or ".join(str(c) for c in sorted(code_set)))
    if obs.close is not None:
        code = obs.close[0]
        if answering_normally_fails and code in (None, STATUS_NORMAL_CLOSURE):
            if lenient:
                return Judgement(Verdict.NON_STRICT, f"answered normally ({describe_close(obs.close)}); {lenient}")
            return Judgement(Verdict.FAILED, f"answered the close normally ({describe_close(obs.close)}) "
                                             f"instead of failing the connection with {expected}")
        if code_set is None or code in code_set:
            return Judgement(Verdict.OK, f"failed the connection with {describe_close(obs.close)}{later}")
        return Judgement(Verdict.NON_STRICT, f"failed the connection{later}, but with "
                                             f"{describe_close(obs.close)} where {expected} is the "
                                             "appropriate status")
    if obs.tcp_closed_at is not None:
        if code_set is None and not answering_normally_fails:
            return Judgement(Verdict.OK, f"failed the connection (closed TCP){later}")
        return Judgement(Verdict.NON_STRICT, f"dropped TCP without a close frame{later} (RFC 6455 section "
                                             f"7.1.7: it SHOULD send {expected} first)")
    return Judgement(Verdict.FAILED, f"neither failed the connection nor did anything else within "
                                     f"{obs.waited:g} s")


def judge_fail_fast(obs: Observation, codes: Iterable[int], rest_sent_at: float | None) -> Judgement:
    """As judge_failure, and the failure should come on the fragment that carries the
    fault, before the rest of the message (`rest_sent_at`) went out: later is NON-STRICT."""
    judgement = judge_failure(obs, codes)
    if judgement.verdict is not Verdict.OK:
        return judgement
    reacted = obs.reacted_at
    if rest_sent_at is not None and reacted is not None and reacted >= rest_sent_at:
        return Judgement(Verdict.NON_STRICT, f"{judgement.reason}, but only after the rest of the "
                                             "message arrived, not on the fragment that carried the fault")
    return Judgement(Verdict.OK, f"{judgement.reason}, on the faulty fragment "
                                 f"({1000 * (reacted - (obs.trigger_at or 0.0)):.0f} ms after it)")


def judge_oversized(obs: Observation, codes: Iterable[int]) -> Judgement:
    """A frame declares more than any client could hold (and only part of it follows):
    failing at once with one of `codes` (1009) is OK; failing otherwise, or waiting for
    the payload, is NON-STRICT (RFC 6455 section 10.4: a client SHOULD limit message
    and frame sizes, and fail the connection past them)."""
    code_set = set(codes)
    if obs.violations:
        return Judgement(Verdict.FAILED, "the client broke the protocol: " + "; ".join(obs.violations))
    if obs.messages:
        return Judgement(Verdict.FAILED, f"sent a message back ({preview(obs.messages[0].payload)})")
    if obs.close is not None:
        if obs.close[0] in code_set:
            return Judgement(Verdict.OK, f"failed the connection with {describe_close(obs.close)}")
        return Judgement(Verdict.NON_STRICT, f"failed the connection with {describe_close(obs.close)}, "
                                             f"where {' or '.join(map(str, sorted(code_set)))} is the appropriate status")
    if obs.tcp_closed_at is not None:
        return Judgement(Verdict.NON_STRICT, "dropped TCP without a close frame")
    return Judgement(Verdict.NON_STRICT, f"kept waiting for the payload for {obs.waited:g} s (RFC 6455 "
                                         "section 10.4: a client SHOULD limit the size of messages)")


def judge_accept_or_fail(obs: Observation, expected: Expected, *, accepted_verdict: Verdict,
                         failed_verdict: Verdict, why: str, codes: Iterable[int] | None = None) -> Judgement:
    """Cases where the RFC allows either reaction: echoing `expected` earns
    `accepted_verdict`, failing the connection (with one of `codes`, any when None)
    earns `failed_verdict`; `why` says what the RFC leaves open. Anything else (a
    wrong echo, silence, a protocol violation) is FAILED."""
    if obs.violations:
        return Judgement(Verdict.FAILED, "the client broke the protocol: " + "; ".join(obs.violations))
    if not obs.client_closed_first:
        echo = judge_echo(obs, expected)
        if echo.verdict is Verdict.OK:
            return Judgement(accepted_verdict, f"accepted it: {echo.reason} ({why})")
        return echo
    failure = judge_failure(obs, codes)
    if failure.verdict is Verdict.FAILED:
        return failure
    return Judgement(failed_verdict, f"refused it: {failure.reason} ({why})")


__all__ = [
    "Expected",
    "Judgement",
    "Observation",
    "ReceivedMessage",
    "Verdict",
    "describe",
    "describe_close",
    "judge_accept_or_fail",
    "judge_closing",
    "judge_echo",
    "judge_fail_fast",
    "judge_failure",
    "judge_oversized",
    "preview",
]
