"""Group 10, the opening handshake (RFC 6455 section 4.1): a 101 that accepts a
subprotocol or an extension the client never offered must make the client fail the
connection (closing TCP, with or without a close frame) instead of using it."""

from __future__ import annotations

from typing import Any

from mod_ws.client_suite.case import define
from mod_ws.client_suite.cases.flows import failure
from mod_ws.client_suite.verdicts import Judgement
from mod_ws.client_suite.wire import CaseWire

FAIL = "fail the connection (close TCP, with or without a close frame) and echo nothing"


def _unoffered_protocol(request: Any) -> list[tuple[str, str]]:
    offered = set(request.ws_requested_protocols or [])
    name = next(n for n in ("mod-ws-unoffered", "mod-ws-unoffered-2") if n not in offered)
    return [("Sec-WebSocket-Protocol", name)]


def _unoffered_extension(request: Any) -> list[tuple[str, str]]:
    return [("Sec-WebSocket-Extensions", "x-mod-ws-unoffered")]


def _then_talk(w: CaseWire) -> Judgement:
    return failure(w, lambda wire: wire.send_text(b"is anyone using this connection?"), codes=None)


define("10.1", "a 101 that accepts the subprotocol 'mod-ws-unoffered', which the client did not offer",
       FAIL + " (section 4.1: the client MUST fail it)", _then_talk, extra_headers=_unoffered_protocol)
define("10.2", "a 101 that accepts the extension 'x-mod-ws-unoffered', which the client did not offer",
       FAIL + " (section 4.1: the client MUST fail it)", _then_talk, extra_headers=_unoffered_extension)
