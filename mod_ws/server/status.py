"""What the server saw lately, kept for a person: the status page.

Browsers hide a refused handshake's HTTP status from the page that asked (it sees only
an error and 1006), so the reason would otherwise be in the server's log alone. The
`StatusBoard` keeps a bounded record in memory: the sessions open now, the latest
refusals (status and reason) and session ends (codes, reasons, who closed), and the
handler files loaded or not. It is served at `/_mod_ws/status` (HTML that refreshes
itself) and `/_mod_ws/status.json` (the same as JSON), newest first. Header values are
never recorded, so `Authorization` and `Cookie` cannot show.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from mod_ws import __version__
from mod_ws.server.reporting import fields_of, format_address, session_fields, session_values

STATUS_PATH = "/_mod_ws/status"
STATUS_JSON_PATH = STATUS_PATH + ".json"
RECENT = 100  # refusals and session ends kept, each
_REFRESH_SECONDS = 2


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")


class StatusBoard:
    """The bounded record of one server; every method is safe from any thread."""

    def __init__(self, handlers: Callable[[], list[dict[str, Any]]],
                 recent: int = RECENT) -> None:
        """`handlers` lists the handler files (Dispatcher.handler_files)."""
        self._handlers = handlers
        self._lock = threading.Lock()
        self._refusals: deque[dict[str, Any]] = deque(maxlen=recent)
        self._closes: deque[tuple[float, tuple]] = deque(maxlen=recent)
        self._sessions: Callable[[], Iterable[Any]] = list
        self._totals = {"sessions": 0, "refusals": 0}
        self.started = time.time()

    def watch_sessions(self, sessions: Callable[[], Iterable[Any]]) -> None:
        """Where the open sessions' requests come from (the server's connections)."""
        self._sessions = sessions

    def refused(self, peer: Any, request_line: str, resource: str, status: int | None,
                reason: str) -> None:
        """A request answered with an error `status`, or left unanswered (None)."""
        entry = {"t": time.time(), "peer": format_address(peer),
                 "request": request_line, "resource": resource, "status": status,
                 "reason": reason}
        with self._lock:
            self._refusals.appendleft(entry)
            self._totals["refusals"] += 1

    def session_ended(self, request: Any) -> None:
        """A WebSocket session has ended (called once per session, by its carrier)."""
        # Kept unformatted, formatted when the page is read: this runs at every
        # session's end, on the way to closing its connection.
        entry = (time.time(), session_values(request))
        with self._lock:
            self._closes.appendleft(entry)
            self._totals["sessions"] += 1

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready values."""
        now = time.time()
        open_sessions = []
        for request in list(self._sessions()):
            try:
                open_sessions.append(session_fields(request))
            except AttributeError:  # between the 101 and the session's first step
                continue
        with self._lock:
            refusals, closes, totals = list(self._refusals), list(self._closes), dict(self._totals)
        refusals = [_with_time(entry) for entry in refusals]
        closes = [_with_time({"t": t, **fields_of(values)}) for t, values in closes]
        return {
            "server": {"version": __version__, "started": _stamp(self.started),
                       "uptime_seconds": round(now - self.started, 3),
                       "now": _stamp(now), **totals},
            "handlers": self._handlers(),
            "open": open_sessions,
            "refusals": refusals,
            "closes": closes,
        }

    def render_json(self) -> bytes:
        return json.dumps(self.snapshot(), indent=1).encode("utf-8")

    def render_html(self) -> bytes:
        data = self.snapshot()
        server = data["server"]
        parts = [
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"refresh\" content=\"{_REFRESH_SECONDS}\">"
            "<title>mod_ws status</title><style>"
            "body{font:14px/1.4 system-ui,sans-serif;margin:1rem;color-scheme:light dark}"
            "table{border-collapse:collapse;margin-bottom:1.2rem}"
            "td,th{border:1px solid #8886;padding:2px 6px;text-align:left;vertical-align:top}"
            "th{background:#8882}.failed{color:#c0392b}</style></head><body>",
            f"<h1>mod_ws {html.escape(server['version'])}</h1>",
            f"<p>up {server['uptime_seconds']:.0f} s since {html.escape(server['started'])}; "
            f"{server['sessions']} session(s) ended, {server['refusals']} refusal(s); "
            f"<a href=\"{STATUS_JSON_PATH}\">JSON</a>; refreshes every {_REFRESH_SECONDS} s</p>",
            _table("Handlers", ["resource", "file", "status", "error"], data["handlers"]),
            _table("Open sessions", ["peer", "resource", "carrier", "subprotocol", "extensions",
                                     "seconds", "received_messages", "received_wire_bytes",
                                     "sent_messages", "sent_wire_bytes"], data["open"]),
            _table("Recent refusals", ["time", "peer", "request", "status", "reason"],
                   data["refusals"]),
            _table("Recent session ends", ["time", "peer", "resource", "carrier", "state",
                                           "closed_by", "close_received", "close_sent",
                                           "failure", "seconds"], data["closes"]),
            "</body></html>\n",
        ]
        return "".join(parts).encode("utf-8")


def _with_time(entry: dict[str, Any]) -> dict[str, Any]:
    return {"t": entry["t"], "time": _stamp(entry["t"]), **entry}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):  # a close: code and reason
        return html.escape(" ".join(str(v) for v in value.values() if v not in (None, "")))
    if isinstance(value, list):
        return html.escape(", ".join(map(str, value)))
    return html.escape(str(value))


def _table(title: str, columns: list[str], rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join(
        "<tr" + (' class="failed"' if row.get("status") == "failed" else "") + ">"
        + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>"
        for row in rows
    ) or f"<tr><td colspan=\"{len(columns)}\">none</td></tr>"
    return f"<h2>{html.escape(title)} ({len(rows)})</h2><table><tr>{head}</tr>{body}</table>"


__all__ = ["RECENT", "STATUS_JSON_PATH", "STATUS_PATH", "StatusBoard"]
