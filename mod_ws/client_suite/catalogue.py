"""The catalogue: every case (mod_ws.client_suite.case) the group modules define, and
selection by pattern.

The group modules (mod_ws.client_suite.cases) register their cases with `define` as
they load; `all_cases` loads them first, so the registry is always whole.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

import mod_ws.client_suite.cases  # noqa: F401 - each group module registers its cases
from mod_ws.client_suite.case import _CASES, GROUPS, Case, Run, case_key, define


def all_cases() -> list[Case]:
    """Every case, in id order."""
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
