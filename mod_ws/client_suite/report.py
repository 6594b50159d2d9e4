"""The report as HTML: the verdict table of every agent (`index_page`) and one case's
page with its wire log (`case_page`). Pure functions of the store's data; the runner's
text table is in mod_ws.client_suite.runner."""

from __future__ import annotations

import html
from typing import Any

from mod_ws.client_suite.catalogue import case_key

COLOURS = {"OK": "#bfe8bf", "NON-STRICT": "#f2e6a0", "FAILED": "#f2b0b0", "INFORMATIONAL": "#c8d8f0",
           "UNIMPLEMENTED": "#dddddd"}
STYLE = """<style>
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 2px 6px; vertical-align: top; font-size: 90%; }
th { background: #eee; text-align: left; }
td.v a { color: black; text-decoration: none; display: block; }
code, .log td { font-family: monospace; }
</style>"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _verdict_cell(verdict: str, href: str | None = None, title: str = "") -> str:
    inner = _e(verdict) if href is None else f'<a href="{_e(href)}" title="{_e(title)}">{_e(verdict)}</a>'
    return f'<td class="v" style="background:{COLOURS.get(verdict, "#fff")}">{inner}</td>'


def index_page(summary: dict[str, Any]) -> str:
    """A row per case, a column per agent; each cell links to the case's page."""
    agents = sorted(summary.get("agents", {}))
    groups = summary.get("groups", {})
    rows = []
    header = "".join(f"<th>{_e(a)}</th>" for a in agents)
    totals = []
    for agent in agents:
        results = summary["agents"][agent].values()
        failed = sum(1 for r in results if r["verdict"] == "FAILED")
        totals.append(f"<td>{len(results) - failed} passed, {failed} failed</td>")
    current_group = None
    for case_id in sorted(summary.get("cases", {}), key=case_key):
        case = summary["cases"][case_id]
        if case["group"] != current_group:
            current_group = case["group"]
            rows.append(f'<tr><th colspan="{len(agents) + 2}">{_e(current_group)} '
                        f'{_e(groups.get(current_group, ""))}</th></tr>')
        cells = []
        for agent in agents:
            result = summary["agents"][agent].get(case_id)
            if result is None:
                cells.append("<td></td>")
            else:
                cells.append(_verdict_cell(result["verdict"], "../" + result["detail"], result.get("reason", "")))
        rows.append(f'<tr><td><b>{_e(case_id)}</b></td><td>{_e(case["sends"])}<br><i>{_e(case["expect"])}</i>'
                    f'</td>{"".join(cells)}</tr>')
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mod_ws client suite</title>"
            f"{STYLE}</head><body><h1>mod_ws client suite</h1><p>Updated {_e(summary.get('updated', ''))}; "
            'the same as JSON: <a href="../report.json">report.json</a>.</p>'
            f"<table><tr><th>case</th><th>sends / expects</th>{header}</tr>"
            f"<tr><td></td><td></td>{''.join(totals)}</tr>{''.join(rows)}</table></body></html>\n")


def case_page(result: dict[str, Any]) -> str:
    """One case's result: what was sent and expected, the verdict, and the wire log."""
    facts = [
        ("agent", result.get("agent")), ("sends", result.get("sends")), ("expects", result.get("expect")),
        ("observed", result.get("observed")), ("reason", result.get("reason")),
        ("duration", f"{result.get('duration', 0):.3f} s"),
        ("offered extensions", result.get("offered_extensions") or "none"),
        ("response extensions", result.get("agreed_extensions") or "none"),
    ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    log_rows = []
    for entry in result.get("log", []):
        direction = {">": "server &gt;", "<": "&lt; client", "*": ""}.get(entry.get("dir", ""), "")
        if "event" in entry:
            what = f"<i>{_e(entry['event'])}</i>"
        elif "raw" in entry:
            what = f"{entry['raw']} raw bytes {_e(entry.get('payload', ''))}"
        else:
            what = (f"{_e(entry['name'])} fin={int(entry['fin'])} rsv={_e(entry['rsv'])} "
                    f"len={entry['length']}" + (f" declared={entry['declared']}" if "declared" in entry else "")
                    + (" masked" if entry.get("masked") else "")
                    + (f" code={entry['code']}" if "code" in entry else "")
                    + f" {_e(entry.get('payload', ''))}")
        note = f" <i>({_e(entry['note'])})</i>" if entry.get("note") else ""
        log_rows.append(f"<tr><td>{entry.get('t', 0):.6f}</td><td>{direction}</td><td>{what}{note}</td></tr>")
    if result.get("log_dropped"):
        log_rows.append(f"<tr><td></td><td></td><td><i>... {result['log_dropped']} more entries "
                        "not kept</i></td></tr>")
    verdict = result.get("verdict", "")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{_e(result.get('case'))} {_e(verdict)}</title>{STYLE}</head><body>"
            f'<h1>Case {_e(result.get("case"))}: <span style="background:{COLOURS.get(verdict, "#fff")}">'
            f'{_e(verdict)}</span></h1><p><a href="../../report/">all results</a></p>'
            f"<table>{rows}</table><h2>Wire log</h2><table class=\"log\"><tr><th>t (s)</th><th></th>"
            f"<th>frame</th></tr>{''.join(log_rows)}</table></body></html>\n")


__all__ = ["case_page", "index_page"]
