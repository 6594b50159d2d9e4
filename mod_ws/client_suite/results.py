"""Where verdicts go: an in-memory store in the server process, mirrored to files.

Cases run in the server (the handler threads); whoever wants the verdicts, the runner
or a person with a browser, is elsewhere. A handler tree cannot serve plain HTTP
resources, but the server serves static files from its document root, so the store
writes its report there, rewritten after every case, and the report *is* static:

    <out>/cases/report.json                  every agent's verdicts, and the catalogue
    <out>/cases/report/index.html            the same as a table (/cases/report redirects)
    <out>/cases/agents/<agent>/<id>.json     one case's full result with its wire log
    <out>/cases/agents/<agent>/<id>.html     the same as a page

With the document root (`-d`) set to <out>, they are at http://HOST:PORT/cases/report
and /cases/report.json beside the cases' own ws:// resources. <out> comes from the
environment variable MOD_WS_CLIENT_SUITE_OUT (the runner sets it; anyone starting
mod_ws by hand can too); without it results stay in memory only.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

OUT_ENV = "MOD_WS_CLIENT_SUITE_OUT"


def safe_agent(name: str) -> str:
    """An agent name usable as a directory name (the query string comes from anyone)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64].strip(".")
    return cleaned or "unknown"


def detail_path(out: Path, agent: str, case_id: str, suffix: str = ".json") -> Path:
    return out / "cases" / "agents" / safe_agent(agent) / f"{case_id}{suffix}"


def report_json_path(out: Path) -> Path:
    return out / "cases" / "report.json"


def report_html_path(out: Path) -> Path:
    return out / "cases" / "report" / "index.html"


def write_atomically(path: Path, text: str) -> None:
    """Readers (the runner polls these files) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class ResultStore:
    """Results keyed by agent and case id; thread-safe (cases run concurrently)."""

    def __init__(self, out: Path | None = None) -> None:
        self.out = out
        self._lock = threading.Lock()
        self._results: dict[str, dict[str, dict[str, Any]]] = {}

    def mark_running(self, agent: str, case_id: str) -> None:
        """Leaves `<id>.running` beside the result to come, so the runner knows a
        case is under way (and waits for it) even after the client has gone."""
        if self.out is not None:
            write_atomically(detail_path(self.out, agent, case_id, ".running"), str(time.time()))

    def record(self, result: dict[str, Any]) -> None:
        """Keeps one case's result (replacing an earlier run of the same case by the
        same agent) and rewrites the files."""
        from mod_ws.client_suite import report  # the renderer, only when writing

        agent = safe_agent(result["agent"])
        with self._lock:
            self._results.setdefault(agent, {})[result["case"]] = result
            if self.out is None:
                return
            # In this order: whoever sees report.json finds the pages it names, and
            # the runner, which waits for the case's JSON, finds everything written.
            write_atomically(detail_path(self.out, agent, result["case"], ".html"), report.case_page(result))
            summary = self._summary()
            write_atomically(report_html_path(self.out), report.index_page(summary))
            write_atomically(report_json_path(self.out), json.dumps(summary, indent=1, ensure_ascii=False))
            write_atomically(detail_path(self.out, agent, result["case"]),
                             json.dumps(result, indent=1, ensure_ascii=False))
            try:
                detail_path(self.out, agent, result["case"], ".running").unlink()
            except FileNotFoundError:
                pass

    def get(self, agent: str, case_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._results.get(safe_agent(agent), {}).get(case_id)

    def _summary(self) -> dict[str, Any]:
        from mod_ws.client_suite.catalogue import GROUPS, all_cases

        return {
            "suite": "mod_ws client suite",
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "groups": GROUPS,
            "cases": {c.id: {"group": c.group, "sends": c.sends, "expect": c.expect} for c in all_cases()},
            "agents": {
                agent: {
                    case_id: {key: result[key] for key in
                              ("verdict", "reason", "observed", "duration", "started") if key in result}
                    | {"detail": f"agents/{agent}/{case_id}.html"}
                    for case_id, result in sorted(results.items())
                }
                for agent, results in sorted(self._results.items())
            },
        }

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return self._summary()


_store: ResultStore | None = None
_store_lock = threading.Lock()


def store() -> ResultStore:
    """The server process's store, writing under $MOD_WS_CLIENT_SUITE_OUT if set."""
    global _store
    with _store_lock:
        if _store is None:
            out = os.environ.get(OUT_ENV)
            _store = ResultStore(Path(out) if out else None)
        return _store


__all__ = ["OUT_ENV", "ResultStore", "detail_path", "report_html_path", "report_json_path", "safe_agent",
           "store", "write_atomically"]
