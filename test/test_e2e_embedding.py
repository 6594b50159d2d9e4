"""End to end: mod_ws embedded the way web-platform-tests embeds pywebsocket3.

WPT's tools/serve builds the server with `standalone._parse_args_and_config` and
`standalone.WebSocketServer(opts)` in a child process; test/embedders/like_wpt.py
repeats those steps name for name, and these tests talk to it with independent
clients and check that stopping it leaves no thread and no descriptor behind.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import wsraw
from conftest import connect_wss
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
EMBEDDER = Path(__file__).resolve().parent / "embedders" / "like_wpt.py"
CERT = ROOT / "cert"
TIMEOUT = 10.0


class Embedded:
    """The embedding child process: its bound ports, and a way to stop it."""

    def __init__(self, *args: str, cwd: Path = ROOT) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(EMBEDDER), *map(str, args)], cwd=cwd, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(TIMEOUT)
            raise AssertionError(f"embedder printed nothing: {self.proc.stderr.read()}")
        self.started = json.loads(line)
        self.ports = self.started["ports"]

    def request_stop(self) -> None:
        """Has the child run WPT's stop: shutdown, server_close, join."""
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()

    def stop(self) -> dict:
        """Runs WPT's stop and waits for it; returns what the child has left."""
        if not self.proc.stdin.closed:
            self.request_stop()
        out, err = self.proc.communicate(timeout=TIMEOUT + 20)
        assert self.proc.returncode == 0, err
        self.stderr = err
        return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)


@pytest.fixture
def embed():
    started: list[Embedded] = []

    def start(*args: str, cwd: Path = ROOT) -> Embedded:
        embedded = Embedded(*args, cwd=cwd)
        started.append(embedded)
        return embedded

    yield start
    for embedded in started:
        embedded.kill()


def test_wpt_embedding_serves_echo_and_stops_leaving_no_thread_or_socket(embed):
    server = embed("-H", "127.0.0.1", "-p", "0", "-d", ROOT, "-w", ROOT / "example")
    assert server.started["args"] == []
    assert len(server.ports) == 1 and server.ports[0] > 0
    with connect(f"ws://127.0.0.1:{server.ports[0]}/echo", open_timeout=TIMEOUT) as ws:
        ws.send("through the WPT embedding")
        assert ws.recv(timeout=TIMEOUT) == "through the WPT embedding"
    left = server.stop()
    assert left["threads"] == ["MainThread"], left
    assert left["descriptors_left"] == 0, left
    assert left["sockets_after_close"] == 0, left


def test_shutdown_closes_open_websockets_with_1001(embed):
    server = embed("-H", "127.0.0.1", "-p", "0", "-d", ROOT / "example")
    with wsraw.RawWebSocket.connect(server.ports[0], "/echo") as held:
        server.request_stop()
        frame = held.recv_frame(timeout=TIMEOUT)
        assert frame.opcode == wsraw.OP_CLOSE, frame
        assert int.from_bytes(frame.payload[:2], "big") == 1001, frame
        held.send_close(1001)
        left = server.stop()
    assert left["threads"] == ["MainThread"], left
    assert left["descriptors_left"] == 0, left


def test_localhost_binds_every_address_on_one_port_as_wpt_asserts(embed):
    server = embed("-H", "localhost", "-p", "0", "-d", ROOT / "example")
    assert server.ports and all(port == server.ports[0] for port in server.ports), server.ports
    with connect(f"ws://localhost:{server.ports[0]}/echo", open_timeout=TIMEOUT) as ws:
        ws.send("localhost")
        assert ws.recv(timeout=TIMEOUT) == "localhost"
    server.stop()


def test_a_port_in_use_leaves_sockets_empty_instead_of_raising(embed):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    with taken:
        server = embed("-H", "127.0.0.1", "-p", taken.getsockname()[1], "-d", ROOT / "example")
        assert server.ports == []
        server.proc.wait(TIMEOUT)
        assert server.proc.returncode == 0
        assert "Address already in use" in server.proc.stderr.read()


def test_wss_embedding_with_wpt_tls_options(embed):
    server = embed("-H", "127.0.0.1", "-p", "0", "-d", ROOT / "example",
                   "--tls", "--private-key", CERT / "server-key.pem",
                   "--certificate", CERT / "server.pem")
    context = ssl.create_default_context(cafile=str(CERT / "ca.pem"))
    with connect_wss(f"wss://localhost:{server.ports[0]}/echo", ssl=context,
                 open_timeout=TIMEOUT) as ws:
        ws.send("secure")
        assert ws.recv(timeout=TIMEOUT) == "secure"
        server.request_stop()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    left = server.stop()
    assert left["threads"] == ["MainThread"], left
    assert left["descriptors_left"] == 0, left
