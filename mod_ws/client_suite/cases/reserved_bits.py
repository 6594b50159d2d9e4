"""Group 3, reserved bits (RFC 6455 section 5.2): with no extension agreed (the suite
declines every offer here), a frame with RSV1, RSV2 or RSV3 set must fail the
connection; after it, the client must not answer the probe ping."""

from __future__ import annotations

from mod_ws.client_suite.case import Run, define
from mod_ws.client_suite.cases.flows import failure, text
from mod_ws.client_suite.verdicts import Judgement
from mod_ws.client_suite.wire import CaseWire
from mod_ws.common import OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_TEXT

FAIL = "fail the connection with 1002 (RFC 6455 section 5.2: no extension gives the bit a meaning)"


def _reserved(opcode: int, payload: bytes, rsv1: bool = False, rsv2: bool = False, rsv3: bool = False,
              prelude: bool = False, **options: object) -> Run:
    def run(w: CaseWire) -> Judgement:
        return failure(w, lambda wire: wire.send_frame(opcode, payload, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3),
                       prelude=[text(b"before")] if prelude else (), **options)  # type: ignore[arg-type]
    return run


define("3.1", "a text frame with RSV1 set (permessage-deflate declined)", FAIL,
       _reserved(OPCODE_TEXT, b"rsv1", rsv1=True))
define("3.2", "a text frame with RSV2 set", FAIL, _reserved(OPCODE_TEXT, b"rsv2", rsv2=True))
define("3.3", "a text frame with RSV3 set", FAIL, _reserved(OPCODE_TEXT, b"rsv3", rsv3=True))
define("3.4", "a binary frame with RSV1 and RSV3 set", FAIL,
       _reserved(OPCODE_BINARY, b"\x00\x01\x02", rsv1=True, rsv3=True))
define("3.5", "a ping with all three reserved bits set", FAIL + ", not answer the ping",
       _reserved(OPCODE_PING, b"rsv", rsv1=True, rsv2=True, rsv3=True))
define("3.6", "a close frame (1000) with RSV2 set", FAIL + ", not answer it as a normal close",
       _reserved(OPCODE_CLOSE, b"\x03\xe8", rsv2=True, probe=False, answering_normally_fails=True))
define("3.7", "a text message to echo, then a text frame with RSV2 set",
       "echo the first, then " + FAIL, _reserved(OPCODE_TEXT, b"rsv2", rsv2=True, prelude=True))
