"""Shared fixtures for the end-to-end tests (test_e2e_*.py).

The server under test always runs as a real subprocess (`python -m mod_ws`) listening
on 127.0.0.1 with a port the OS picks; tests talk to it over loopback with independent
clients. Every server started here is stopped by its PID in fixture teardown, and
every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example"
START_TIMEOUT = 15.0  # seconds for the server to print its listening line
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL

_LISTENING_RE = re.compile(r"^mod_ws: listening on (?:\[[^\]]*\]|[^\s:;,]+):(\d+)")


# An idle server on one listening socket: its main thread, one thread waiting for a
# connection (mod_ws.server.workers) and the watchdog (mod_ws.server.watchdog).
IDLE_THREADS = 3


def wait_for_value(read: Callable[[], int], target: int, timeout: float) -> int:
    """Polls `read()` until it returns `target` or `timeout` passes; returns the last value
    (thread and descriptor counts settle a moment after connections end)."""
    deadline = time.monotonic() + timeout
    value = read()
    while value != target and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def settled_value(read: Callable[[], int], quiet: float = 0.3, timeout: float = 5.0) -> int:
    """`read()` once it has not changed for `quiet` seconds (or when `timeout` passes):
    a server's baseline, taken after its waiting thread has set itself up."""
    deadline = time.monotonic() + timeout
    value = read()
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        current = read()
        if current != value:
            value, stable_since = current, time.monotonic()
        elif time.monotonic() - stable_since >= quiet:
            break
    return value


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if extra:
        env.update(extra)
    return env


class ServerProcess:
    """A running `python -m mod_ws`; stderr is collected by a reader thread."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.port: int | None = None
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._reader = threading.Thread(target=self._read_stderr, name=f"stderr of {proc.pid}",
                                        daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def stderr_lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_lines())

    def wait_for_stderr(self, predicate: Callable[[str], bool] | str,
                        timeout: float = 5.0) -> str | None:
        """The first stderr line matching (substring or predicate), waiting up to `timeout`."""
        if isinstance(predicate, str):
            needle = predicate
            predicate = lambda line: needle in line
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines:
                    if predicate(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (not self._reader.is_alive() and self.proc.poll() is not None):
                    return None
                self._changed.wait(min(remaining, 0.2))

    def wait_listening(self, timeout: float = START_TIMEOUT) -> int:
        line = self.wait_for_stderr(lambda l: _LISTENING_RE.match(l) is not None, timeout)
        if line is None:
            self.stop()
            raise RuntimeError(f"mod_ws did not start (exit {self.proc.returncode}):\n{self.stderr_text()}")
        match = _LISTENING_RE.match(line)
        assert match
        self.port = int(match.group(1))
        return self.port

    def url(self, path: str = "/echo") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return f"ws://127.0.0.1:{self.port}{path}"

    def send_signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5.0)
        return code

    def stop(self) -> int:
        """SIGTERM, wait up to 10 s, then SIGKILL; returns the exit status."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self._reader.join(5.0)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode

    def thread_count(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"^Threads:\s+(\d+)", status, re.MULTILINE).group(1))

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


def connect_wss(url: str, **kwargs):
    """websockets' sync client over TLS, its opening handshake tried a second time when
    the first times out waiting for the response.

    That client reads and writes one SSL object from two threads at once. A TLS 1.3
    session ticket arriving as it writes its request now and then leaves the request
    unsent (here 14 of 3,000 connections to mod_ws over pyOpenSSL, 2 of 2,000 over the
    standard library's ssl, none of 2,000 when the server sent no tickets), so the server
    never sees it. A second time out is a real one.
    """
    from websockets.sync.client import connect

    try:
        return connect(url, **kwargs)
    except TimeoutError as e:
        if "handshake response" not in str(e):
            raise
        return connect(url, **kwargs)


def spawn_server(*args: str, cwd: str | os.PathLike | None = None,
                 env: dict[str, str] | None = None, defaults: bool = True) -> ServerProcess:
    """Launches mod_ws without waiting for it (defaults: -H 127.0.0.1 -p 0 first)."""
    command = [sys.executable, "-m", "mod_ws"]
    if defaults:
        command += ["-H", "127.0.0.1", "-p", "0"]
    command += [str(a) for a in args]
    proc = subprocess.Popen(command, cwd=str(cwd or ROOT), env=server_env(env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    return ServerProcess(proc)


def start_server(*args: str, cwd: str | os.PathLike | None = None,
                 env: dict[str, str] | None = None, defaults: bool = True) -> ServerProcess:
    """Starts mod_ws and waits (bounded) for its `listening on` line; the caller must stop() it."""
    server = spawn_server(*args, cwd=cwd, env=env, defaults=defaults)
    server.wait_listening()
    return server


def run_mod_ws(*args: str, cwd: str | os.PathLike | None = None,
               timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Runs mod_ws expecting it to exit by itself (start-up errors)."""
    return subprocess.run([sys.executable, "-m", "mod_ws", *map(str, args)],
                          cwd=str(cwd or ROOT), env=server_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, encoding="utf-8", timeout=timeout,
                          check=False)


class _Servers:
    """Starts servers and remembers them, so teardown can stop every one."""

    def __init__(self) -> None:
        self.started: list[ServerProcess] = []

    def __call__(self, *args: str, **kwargs) -> ServerProcess:
        server = spawn_server(*args, **kwargs)
        self.started.append(server)
        server.wait_listening()
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def make_server() -> Iterator[Callable[..., ServerProcess]]:
    """Factory: make_server(*args, cwd=None, env=None, defaults=True) -> started server.

    Every server it started is stopped (by PID) when the test ends.
    """
    servers = _Servers()
    try:
        yield servers
    finally:
        servers.stop_all()


@pytest.fixture(scope="module")
def make_module_server() -> Iterator[Callable[..., ServerProcess]]:
    """Like make_server, for servers shared by the tests of one module."""
    servers = _Servers()
    try:
        yield servers
    finally:
        servers.stop_all()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """One server for the whole module, serving example/ (handlers /echo /close /abort)."""
    proc = start_server("-d", str(EXAMPLE))
    try:
        yield proc
    finally:
        proc.stop()


def _child_pids() -> set[int]:
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            pass
    return pids


@pytest.fixture(autouse=True)
def _e2e_leaves_nothing_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """In test_e2e_* modules: a test must not leave threads or child processes behind."""
    if not request.module.__name__.rpartition(".")[2].startswith("test_e2e_"):
        yield
        return
    threads_before = set(threading.enumerate())
    children_before = _child_pids()
    yield
    deadline = time.monotonic() + 5.0
    while True:
        extra_threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        extra_children = _child_pids() - children_before
        if not extra_threads and not extra_children:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra_threads, f"test left threads running: {[t.name for t in extra_threads]}"
    assert not extra_children, f"test left child processes: {sorted(extra_children)}"
