"""Group 4, opcodes (RFC 6455 section 5.2): reserved data opcodes 3-7 and reserved
control opcodes 11-15 must fail the connection, whether or not they carry a payload
and whether or not a valid message came first."""

from __future__ import annotations

from mod_ws.client_suite.case import Run, define
from mod_ws.client_suite.cases.flows import failure, text
from mod_ws.client_suite.verdicts import Judgement
from mod_ws.client_suite.wire import CaseWire

FAIL = "fail the connection with 1002 (the opcode is reserved)"


def _reserved(opcode: int, payload: bytes, prelude: bool) -> Run:
    def run(w: CaseWire) -> Judgement:
        return failure(w, lambda wire: wire.send_frame(opcode, payload),
                       prelude=[text(b"before")] if prelude else ())
    return run


VARIANTS = ((b"", False, "with no payload"), (b"reserved", False, "with a payload"),
            (b"", True, "after a valid text message"), (b"reserved", False, "with a payload"),
            (b"reserved", True, "with a payload, after a valid text message"))

for sub, opcodes, kind in (("1", range(3, 8), "data"), ("2", range(11, 16), "control")):
    for number, (opcode, (payload, prelude, how)) in enumerate(zip(opcodes, VARIANTS), 1):
        define(f"4.{sub}.{number}", f"a frame with reserved {kind} opcode {opcode} {how}",
               ("echo the text, then " if prelude else "") + FAIL, _reserved(opcode, payload, prelude))
