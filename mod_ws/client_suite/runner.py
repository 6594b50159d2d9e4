"""The command line: run a WebSocket client against every case and print the verdicts.

    python -m mod_ws.client_suite --client 'python my_echo_client.py {url}' \\
        [--cases '1.*,5.2.*'] [--exclude '9.*'] [--agent NAME] [--out DIR] \\
        [--timeout S] [--jobs N]
    python -m mod_ws.client_suite --list     # the catalogue, with what each case expects
    python -m mod_ws.client_suite --root     # the handler root, for `python -m mod_ws -w ...`

The runner starts the real server (`python -m mod_ws`) as a subprocess on 127.0.0.1
and a free port, with the suite's handler root and the results directory (--out) as
document root, and runs the client command once per case, `{url}` replaced by the
case's URL (`ws://127.0.0.1:PORT/cases/6.3.2?agent=NAME`, shell-quoted). The client
is expected to echo every text and binary message it receives until the server
closes. Each run is bounded (--timeout): a client still running then has its process
group killed. The verdict is the case's own, read from the result the server wrote
(mod_ws.client_suite.results). The output is one table per group, then the line
`client-suite: N passed, M failed`; the exit status is 0 iff no case FAILED.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mod_ws.client_suite.catalogue import GROUPS, Case, all_cases, select, split_patterns
from mod_ws.client_suite.generate import HANDLER_ROOT
from mod_ws.client_suite.results import OUT_ENV, detail_path, report_html_path, safe_agent
from mod_ws.client_suite.verdicts import Verdict

START_TIMEOUT = 20.0  # seconds for the server's `listening on` line
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL for the server
RESULT_WAIT = 40.0  # seconds a case may still run after its client ended (its longest wait)
START_GRACE = 1.0  # seconds for a case to show it started, once its client has ended
KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL for a client's process group
DEFAULT_TIMEOUT = 60.0
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the directory holding mod_ws/


@dataclass
class CaseRun:
    """One case against the client: the verdict and how the client process ended."""

    case: Case
    verdict: Verdict
    reason: str
    observed: str = ""
    seconds: float = 0.0
    exit_status: int | None = None
    killed: bool = False


class SuiteServer:
    """`python -m mod_ws` serving the suite, stopped by its PID."""

    def __init__(self, out: Path, extra_args: list[str] | None = None) -> None:
        env = dict(os.environ)
        env[OUT_ENV] = str(out)
        env["PYTHONPATH"] = str(PACKAGE_PARENT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "mod_ws", "-H", "127.0.0.1", "-p", "0", "-d", str(out),
                   "-w", str(HANDLER_ROOT), *(extra_args or [])]
        self.log_path = out / "server.log"
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        self.port = self._wait_listening()

    def _wait_listening(self) -> int:
        assert self.proc.stderr is not None
        lines: list[str] = []
        found: list[int] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            with open(self.log_path, "w", encoding="utf-8") as log:
                for raw in iter(self.proc.stderr.readline, b""):
                    line = raw.decode("utf-8", "replace")
                    log.write(line)
                    log.flush()
                    if not found:
                        lines.append(line)
                        match = _LISTENING.search(line)
                        if match:
                            found.append(int(match.group(1)))
                            ready.set()
            ready.set()

        threading.Thread(target=read, name="mod_ws stderr", daemon=True).start()
        ready.wait(START_TIMEOUT)
        if not found:
            self.stop()
            raise RuntimeError("the mod_ws server did not start:\n" + "".join(lines[-20:]))
        return found[0]

    def url(self, case_id: str, agent: str) -> str:
        return f"ws://127.0.0.1:{self.port}/cases/{case_id}?agent={agent}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)


def default_agent(client: str) -> str:
    """The client script's name (`websockets_echo` for `python x/websockets_echo.py {url}`)."""
    try:
        words = shlex.split(client)
    except ValueError:
        words = client.split()
    for word in words:
        if word.endswith(".py"):
            return safe_agent(Path(word).stem)
    return safe_agent(Path(words[0]).name if words else "client")


def client_command(template: str, url: str) -> str:
    quoted = shlex.quote(url)
    return template.replace("{url}", quoted) if "{url}" in template else f"{template} {quoted}"


def _kill_group(proc: subprocess.Popen) -> None:
    """Ends the client's whole process group: SIGTERM, then SIGKILL."""
    for signum, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_result(path: Path, proc_started: float) -> dict | None:
    """The case's result once the server wrote it. A case that never started (no
    `.running` marker: the client never completed its handshake) is given only
    START_GRACE; one under way gets RESULT_WAIT to finish its bounded waits."""
    running = path.with_suffix(".running")
    now = time.monotonic()
    grace_until, deadline = now + START_GRACE, now + RESULT_WAIT
    while True:
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
            if result.get("started", 0) >= proc_started - 1.0:
                return result
        except (OSError, ValueError):
            pass
        now = time.monotonic()
        if now >= deadline or (now >= grace_until and not running.exists()):
            return None
        time.sleep(0.02)


def run_case(server: SuiteServer, case: Case, template: str, agent: str, out: Path,
             timeout: float) -> CaseRun:
    """Runs the client once against `case` and reads the case's verdict."""
    result_path = detail_path(out, agent, case.id)
    for stale in (result_path, result_path.with_suffix(".running")):
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
    log_path = out / "clients" / agent / f"{case.id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = client_command(template, server.url(case.id, agent))
    started_wall = time.time()
    started = time.monotonic()
    killed = False
    with open(log_path, "wb") as log:
        log.write(f"$ {command}\n".encode())
        log.flush()
        proc = subprocess.Popen(command, shell=True, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            killed = True
        _kill_group(proc)  # also whatever the command left behind
    seconds = time.monotonic() - started
    result = _wait_result(result_path, started_wall)
    status = proc.returncode
    if result is None:
        why = (f"killed after {timeout:g} s" if killed else f"exited with status {status}")
        return CaseRun(case, Verdict.FAILED, f"no result: the client never completed the opening "
                                             f"handshake ({why}; see {log_path})", "", seconds, status, killed)
    reason = result["reason"]
    if killed:
        reason += f" (the client was still running after {timeout:g} s and was killed)"
    return CaseRun(case, Verdict(result["verdict"]), reason, result.get("observed", ""), seconds, status, killed)


def run_suite(template: str, cases: list[Case], agent: str, out: Path, timeout: float, jobs: int,
              progress: IO[str] | None = None) -> list[CaseRun]:
    """Starts the server, runs every case (`jobs` at a time), stops the server."""
    server = SuiteServer(out)
    runs: dict[str, CaseRun] = {}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(run_case, server, case, template, agent, out, timeout): case for case in cases}
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                run = future.result()
                runs[run.case.id] = run
                if progress is not None:
                    print(f"[{done}/{len(cases)}] {run.case.id} {run.verdict}", file=progress, flush=True)
    finally:
        server.stop()
    return [runs[case.id] for case in cases if case.id in runs]


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_tables(runs: list[CaseRun], width: int = 100) -> str:
    """One table per group: case, verdict, reason; with the group's tally."""
    lines = []
    by_group: dict[str, list[CaseRun]] = {}
    for run in runs:
        by_group.setdefault(run.case.group, []).append(run)
    for group, group_runs in by_group.items():
        tally = {}
        for run in group_runs:
            tally[run.verdict.value] = tally.get(run.verdict.value, 0) + 1
        counts = ", ".join(f"{n} {v}" for v, n in tally.items())
        lines.append(f"{group} {GROUPS.get(group, '')} ({len(group_runs)} cases: {counts})")
        for run in group_runs:
            lines.append(f"  {run.case.id:<8} {run.verdict.value:<13} {_shorten(run.reason, width)}")
        lines.append("")
    return "\n".join(lines)


def summary_line(runs: list[CaseRun]) -> str:
    failed = sum(1 for run in runs if not run.verdict.passed)
    return f"client-suite: {len(runs) - failed} passed, {failed} failed"


def format_catalogue(cases: list[Case]) -> str:
    lines = []
    group = None
    for case in cases:
        if case.group != group:
            group = case.group
            if lines:
                lines.append("")
            lines.append(f"{group} {GROUPS[group]}")
        lines.append(f"  {case.id:<8} {case.sends}")
        lines.append(f"  {'':<8}   expects: {case.expect}" + ("  [permessage-deflate]" if case.needs_deflate else ""))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mod_ws.client_suite",
        description="Runs a WebSocket client against the mod_ws client suite: a server that breaks "
                    "RFC 6455 and RFC 7692 on purpose, case by case, and judges how the client copes.")
    parser.add_argument("--client", metavar="CMD",
                        help="the client command; {url} is replaced by each case's ws:// URL (shell "
                             "syntax; the client must echo every message until the server closes)")
    parser.add_argument("--cases", metavar="PATTERNS", help="comma-separated case ids or patterns "
                        "(1.*,5.2.*; a plain 5.2 means 5.2 and all under it); default: all")
    parser.add_argument("--exclude", metavar="PATTERNS", help="cases to leave out, in the same syntax")
    parser.add_argument("--agent", help="the name results are kept under (default: the client script's name)")
    parser.add_argument("--out", metavar="DIR", help="where the reports go and the server's document "
                        "root (default: a new temporary directory)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds one client run may take before its process group is killed "
                             f"(default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="cases to run at once (default 1; timings are most telling with 1)")
    parser.add_argument("--list", action="store_true", help="print the catalogue and exit")
    parser.add_argument("--root", action="store_true", help="print the handler root and exit")
    args = parser.parse_args(argv)
    if not (args.list or args.root or args.client):
        parser.error("--client is required (or --list, --root)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.root:
        print(HANDLER_ROOT)
        return 0
    cases = select(split_patterns(args.cases) or None, split_patterns(args.exclude))
    if args.list:
        print(format_catalogue(cases))
        print(f"\n{len(cases)} of {len(all_cases())} cases")
        return 0
    if not cases:
        print(f"client-suite: no case matches {args.cases!r}", file=sys.stderr)
        return 2
    agent = safe_agent(args.agent or default_agent(args.client))
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mod_ws-client-suite-"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        runs = run_suite(args.client, cases, agent, out, args.timeout, args.jobs,
                         progress=sys.stderr if sys.stderr.isatty() else None)
    except RuntimeError as e:
        print(f"client-suite: {e}", file=sys.stderr)
        return 2
    print(f"agent {agent}, {len(runs)} cases in {time.monotonic() - started:.1f} s; "
          f"report: {report_html_path(out)}\n")
    print(format_tables(runs))
    print(summary_line(runs))
    return 0 if all(run.verdict.passed for run in runs) else 1


__all__ = ["CaseRun", "SuiteServer", "client_command", "default_agent", "format_catalogue", "format_tables",
           "main", "run_case", "run_suite", "summary_line"]
