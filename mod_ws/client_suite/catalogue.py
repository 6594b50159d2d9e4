"""The catalogue's model: a Case, the registry the group modules fill, and selection.

A case is data plus one function: its id (`6.3.2`), what it sends and which client
reactions are correct (both shown by `--list` and in the report), how the opening
handshake answers (no extension, a permessage-deflate response of the case's making,
or extra header fields), and `run(wire) -> Judgement`, which drives the connection and
judges what the client did (mod_ws.client_suite.wire, mod_ws.client_suite.verdicts).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
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


def all_cases() -> list[Case]:
    """Every case, in id order (importing the group modules first)."""
    import mod_ws.client_suite.cases  # noqa: F401 - fills the registry

    return sorted(_CASES.values(), key=lambda c: case_key(c.id))


def get_case(case_id: str) -> Case:
    all_cases()
    return _CASES[case_id]


def matches(case_id: str, pattern: str) -> bool:
    """`1.*` and `5.1?` are shell patterns; a plain `5.2` means 5.2 and all under it."""
    pattern = pattern.strip()
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(case_id, pattern)
    return case_id == pattern or case_id.startswith(pattern + ".")


def select(patterns: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> list[Case]:
    """The cases matching any of `patterns` (all when None) and none of `exclude`."""
    wanted = [p for p in (patterns or []) if p.strip()]
    skipped = [p for p in exclude if p.strip()]
    chosen = []
    for case in all_cases():
        if wanted and not any(matches(case.id, p) for p in wanted):
            continue
        if any(matches(case.id, p) for p in skipped):
            continue
        chosen.append(case)
    return chosen


def split_patterns(text: str | None) -> list[str]:
    """`1.*,5.2.*` -> ['1.*', '5.2.*']"""
    return [p.strip() for p in (text or "").split(",") if p.strip()]


__all__ = ["GROUPS", "Case", "Run", "all_cases", "case_key", "define", "get_case", "matches", "select",
           "split_patterns"]
