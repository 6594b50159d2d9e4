"""A case of the catalogue, and the registry the group modules fill as they load.

A case is data plus one function: its id (`6.3.2`), what it sends and which client
reactions are correct (both shown by `--list` and in the report), how the opening
handshake answers (no extension, a permessage-deflate response of the case's making,
or extra header fields), and `run(wire) -> Judgement`, which drives the connection and
judges what the client did (mod_ws.client_suite.wire, mod_ws.client_suite.verdicts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from mod_ws.client_suite.compression import Offer, Params

if TYPE_CHECKING:
    from mod_ws.client_suite.verdicts import Judgement
    from mod_ws.client_suite.wire import CaseWire

# What a case does on its connection: drive it, then judge the client.
Run = Callable[["CaseWire"], "Judgement"]

# Group number -> title, in the order of the report.
GROUPS: dict[str, str] = {
    "1": "framing",
    "2": "pings and pongs",
    "3": "reserved bits",
    "4": "opcodes",
    "5": "fragmentation",
    "6": "UTF-8",
    "7": "close handling",
    "9": "limits and large messages",
    "10": "opening handshake",
    "12": "permessage-deflate",
}


@dataclass(frozen=True)
class Case:
    """One test case of the catalogue."""

    id: str
    sends: str  # what the server sends, in words
    expect: str  # which client reactions are correct, in words
    run: Callable[[CaseWire], Judgement]
    # The permessage-deflate response for the client's first offer: the parameters
    # (valid or not) to answer with. None: every extension is declined. A case with
    # one is UNIMPLEMENTED for a client that offers no permessage-deflate.
    negotiate: Callable[[Offer], Params] | None = None
    # Extra header fields for the 101 (a subprotocol or extension nobody asked for).
    extra_headers: Callable[[Any], list[tuple[str, str]]] | None = None

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def needs_deflate(self) -> bool:
        return self.negotiate is not None


_CASES: dict[str, Case] = {}


def case_key(case_id: str) -> tuple[int, ...]:
    """Sorts ids numerically: 1.2 < 1.10."""
    return tuple(int(part) for part in case_id.split("."))


def define(case_id: str, sends: str, expect: str, run: Callable[[CaseWire], Judgement], **options: Any) -> Case:
    """Adds a case to the catalogue (the group modules call this at import)."""
    if case_id in _CASES:
        raise ValueError(f"case {case_id} defined twice")
    if case_id.split(".", 1)[0] not in GROUPS:
        raise ValueError(f"case {case_id} is in no group")
    case_key(case_id)  # numeric parts only
    case = Case(case_id, sends, expect, run, **options)
    _CASES[case_id] = case
    return case


__all__ = ["GROUPS", "Case", "Run", "case_key", "define"]
