"""The few shapes every case takes, so each group module only says what it sends.

- `echo`: send valid things, wait for the echoes (and pongs), close normally, and
  require all of them back (verdicts.judge_echo).
- `failure`: optionally a valid prelude, then the faulty frames (the trigger) and a
  probe ping, and require the client to fail the connection (verdicts.judge_failure).
  The wait ends as soon as the client reacts: closes, drops TCP, or accepts the fault
  by echoing or answering the probe.
- `closing`: the server's close frame is itself the subject.

Every wait is bounded: REACTION for a client to react to a fault, ECHO_WAIT for echoes
of small messages; cases of large messages pass more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from mod_ws.client_suite.verdicts import (
    Expected,
    Judgement,
    Observation,
    Verdict,
    judge_accept_or_fail,
    judge_echo,
    judge_failure,
)
from mod_ws.client_suite.wire import CaseWire
from mod_ws.common import OPCODE_BINARY, OPCODE_TEXT

REACTION = 2.0  # seconds a client has to react to a fault
ECHO_WAIT = 5.0  # seconds for the echoes of small messages
PROBE = b"probe"

Sender = Callable[[CaseWire], object]


def send_messages(w: CaseWire, messages: Expected) -> None:
    """Each (opcode, payload) as one frame."""
    for opcode, payload in messages:
        w.send_frame(opcode, payload)


def echo(w: CaseWire, send: Sender, expected: Expected, *, pongs: Sequence[bytes] | None = None,
         wait: float = ECHO_WAIT, last_pong_enough: bool = False) -> Judgement:
    """Sends, waits for every echo (and pong), then closes normally and judges."""
    w.trigger()
    send(w)
    wanted_pongs = len(pongs) if pongs else 0

    def done(obs: Observation) -> bool:
        if len(obs.messages) < len(expected):
            return False
        if last_pong_enough and pongs:
            return any(p == pongs[-1] for p, _ in obs.pongs)
        return len(obs.pongs) >= wanted_pongs

    w.collect(wait, done)
    w.close_normally()
    return judge_echo(w.obs, expected, pongs=pongs, last_pong_enough=last_pong_enough)


def echo_messages(w: CaseWire, messages: Expected, wait: float = ECHO_WAIT) -> Judgement:
    """The commonest case: send these messages, each in one frame, get them back."""
    return echo(w, lambda wire: send_messages(wire, messages), messages, wait=wait)


def prelude_then(w: CaseWire, prelude: Expected) -> None:
    """Valid messages first, each echoed before the case goes on."""
    if prelude:
        send_messages(w, prelude)
        w.wait_messages(len(prelude), ECHO_WAIT)


def failure(w: CaseWire, send: Sender, codes: Iterable[int] | None = (1002,), *, prelude: Expected = (),
            probe: bool = True, probe_answer_fails: bool = True, reaction: float = REACTION,
            **judge_options: object) -> Judgement:
    """A fault (the trigger) the client must fail the connection on. The probe ping
    after it tells a client that read on from one that stopped (for faults found in
    parsing; see verdicts.judge_failure for `probe_answer_fails`)."""
    prelude_then(w, prelude)
    w.trigger()
    send(w)
    if probe:
        w.send_ping(PROBE, note="probe: a client that failed the connection does not answer")
    trigger_at = w.obs.trigger_at

    def accepted(obs: Observation) -> bool:
        return bool(obs.messages_after(trigger_at) or (probe_answer_fails and obs.pongs_after(trigger_at)))

    w.collect(reaction, accepted)
    w.end()
    return judge_failure(w.obs, codes, prelude=prelude, probe_answer_fails=probe_answer_fails,
                         **judge_options)  # type: ignore[arg-type]


def closing(w: CaseWire, code: int | None, reason: bytes = b"", *, after: Sender | None = None,
            before: Sender | None = None) -> Judgement:
    """The server closes (validly); the client must answer with its own close. `after`
    sends more once the close is out (data the client must ignore); `before` is sent
    first (a message left unfinished)."""
    if before is not None:
        before(w)
    w.trigger("the server's close")
    w.send_close(code, reason)
    if after is not None:
        after(w)
    w.collect(REACTION)
    w.end()
    return judge_echo(w.obs, ())


def either(w: CaseWire, send: Sender, expected: Expected, *, accepted: Verdict, refused: Verdict,
           why: str, wait: float = REACTION, codes: Iterable[int] | None = None) -> Judgement:
    """Cases where the RFC allows the client to accept or to refuse (see
    verdicts.judge_accept_or_fail): send, wait for the echoes or a failure, close."""
    w.trigger()
    send(w)
    w.collect(wait, lambda obs: len(obs.messages) >= len(expected))
    w.close_normally()
    return judge_accept_or_fail(w.obs, expected, accepted_verdict=accepted, failed_verdict=refused,
                                why=why, codes=codes)


def text(data: str | bytes) -> tuple[int, bytes]:
    return OPCODE_TEXT, data.encode("utf-8") if isinstance(data, str) else data


def binary(data: bytes) -> tuple[int, bytes]:
    return OPCODE_BINARY, data


__all__ = ["ECHO_WAIT", "PROBE", "REACTION", "binary", "closing", "echo", "echo_messages", "either", "failure",
           "prelude_then", "send_messages", "text"]
