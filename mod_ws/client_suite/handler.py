"""What each generated handler file (handlers/cases/<id>_wsh.py) binds to.

mod_ws maps resource `/cases/6.3.2` to the file `<root>/cases/6.3.2_wsh.py`, so every
case needs a file of its own at that path. The files are three lines each, written by
mod_ws.client_suite.generate from the catalogue: they call `case_handler(id)` here,
which gives the two handler functions. All the logic is in the package; the handler
tree only names the resources. (A map file of aliases to one dispatcher would need
`-m` on every server command line; a plain `-w ROOT` is easier to hand to people.)

Per connection: `web_socket_do_extra_handshake` reads `?agent=NAME`, declines every
extension the server would negotiate (so reserved bits mean nothing), and, for cases
that test permessage-deflate, writes the case's own extension response. Then
`web_socket_transfer_data` runs the case on a CaseWire, always ends the connection
itself (the server sends nothing of its own), and records the result in the store.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from mod_ws.client_suite.catalogue import Case, get_case
from mod_ws.client_suite.compression import Params, deflate_offers, format_response
from mod_ws.client_suite.results import store
from mod_ws.client_suite.verdicts import Judgement, Verdict, describe
from mod_ws.client_suite.wire import CaseWire

_logger = logging.getLogger("mod_ws.client_suite")


@dataclass
class _Connection:
    """What the handshake decided, for the session (kept on the request)."""

    agent: str
    offered: str | None
    agreed: Params | None = None  # the permessage-deflate response's parameters
    response: str | None = None  # ... as the header value sent
    unimplemented: str | None = None  # why the case cannot run against this client


def agent_of(resource: str) -> str:
    values = parse_qs(urlsplit(resource).query).get("agent")
    return values[0] if values and values[0] else "unknown"


def prepare(case: Case, request: Any) -> _Connection:
    """The opening handshake's part of a case (see the module docstring)."""
    connection = _Connection(agent_of(request.ws_resource), request.headers_in.get("Sec-WebSocket-Extensions"))
    del request.ws_extension_processors[:]  # the server negotiates nothing itself
    if case.negotiate is not None:
        offers = deflate_offers(request)
        if offers:
            connection.agreed = list(case.negotiate(offers[0]))
            connection.response = format_response(connection.agreed)
            request.extra_headers.append(("Sec-WebSocket-Extensions", connection.response))
        else:
            connection.unimplemented = "the client offered no permessage-deflate"
    if case.extra_headers is not None:
        request.extra_headers.extend(case.extra_headers(request))
    return connection


def run(case: Case, request: Any, connection: _Connection) -> dict[str, Any]:
    """Runs the case on the open connection and returns (and stores) its result."""
    started = time.time()
    clock = time.monotonic()
    try:
        store().mark_running(connection.agent, case.id)
    except OSError:
        _logger.exception("client suite: could not mark case %s as running", case.id)
    w = CaseWire(request)
    if connection.agreed is not None:
        w.agree(connection.agreed)
    try:
        if connection.unimplemented:
            w.close_normally()
            judgement = Judgement(Verdict.UNIMPLEMENTED, connection.unimplemented)
        else:
            judgement = case.run(w)
    except Exception as e:  # a bug in the suite, not the client's doing: say so
        _logger.exception("client suite case %s raised", case.id)
        judgement = Judgement(Verdict.FAILED, f"the case itself raised {type(e).__name__}: {e} "
                                              "(a fault in the suite, not the client)")
    finally:
        w.end()
    obs = w.obs
    reaction = None
    if obs.reacted_at is not None and obs.trigger_at is not None:
        reaction = round(1000 * (obs.reacted_at - obs.trigger_at), 3)
    result = {
        "agent": connection.agent,
        "case": case.id,
        "group": case.group,
        "sends": case.sends,
        "expect": case.expect,
        "verdict": judgement.verdict.value,
        "reason": judgement.reason,
        "observed": describe(obs),
        "started": started,
        "duration": round(time.monotonic() - clock, 6),
        "client_close": (None if obs.close is None else
                         {"code": obs.close[0], "reason": obs.close[1].decode("utf-8", "replace")}),
        "client_closed_tcp": obs.tcp_closed_at is not None,
        "reaction_ms": reaction,
        "violations": obs.violations,
        "offered_extensions": connection.offered,
        "agreed_extensions": connection.response,
        "log": w.log,
        "log_dropped": w.log_dropped,
    }
    try:
        store().record(result)
    except OSError:
        _logger.exception("client suite: could not write the result of case %s", case.id)
    return result


def case_handler(case_id: str) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    """web_socket_do_extra_handshake and web_socket_transfer_data for one case."""
    case = get_case(case_id)

    def web_socket_do_extra_handshake(request: Any) -> None:
        request.client_suite_connection = prepare(case, request)

    def web_socket_transfer_data(request: Any) -> None:
        run(case, request, request.client_suite_connection)

    return web_socket_do_extra_handshake, web_socket_transfer_data


__all__ = ["agent_of", "case_handler", "prepare", "run"]
