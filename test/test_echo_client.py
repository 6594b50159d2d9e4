"""Tests for example/echo_client.py, run against reference servers.

The client is exercised as a subprocess against an echo server built with
the third-party ``websockets`` library, so these tests do not depend on
mod_ws itself.  Every wait is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import importlib.util
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "example" / "echo_client.py"
RUN_TIMEOUT = 30  # seconds; upper bound for any client subprocess
THREAD_JOIN_TIMEOUT = 5


def run_client(*args: str, timeout: float = RUN_TIMEOUT
               ) -> subprocess.CompletedProcess:
    """Run echo_client.py with ``args`` and capture its output as text."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [sys.executable, str(CLIENT), *args],
        capture_output=True, text=True, encoding="utf-8",
        timeout=timeout, env=env, cwd=str(ROOT))


def assert_one_line_error(result: subprocess.CompletedProcess,
                          *fragments: str) -> None:
    """Check the exit status and the single ``echo_client: error:`` line."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("echo_client: error: "), lines[0]
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]


# ---------------------------------------------------------------------------
# Reference servers
# ---------------------------------------------------------------------------


class EchoServer:
    """websockets-based echo server running in a background thread."""

    def __init__(self) -> None:
        self.sessions: list[dict] = []
        self.server = serve(self.handle, "127.0.0.1", 0,
                            select_subprotocol=self.select_subprotocol)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    @staticmethod
    def select_subprotocol(connection, subprotocols):
        """Accept 'chat' when offered; otherwise go on without one."""
        return "chat" if "chat" in subprotocols else None

    def handle(self, ws) -> None:
        """Echo every message; '/frag' pings first and fragments replies."""
        session = {
            "path": ws.request.path,
            "origin": ws.request.headers.get("Origin"),
            "subprotocol": ws.subprotocol,
            "messages": [],
        }
        self.sessions.append(session)
        try:
            for message in ws:
                session["messages"].append(message)
                if ws.request.path == "/frag":
                    ws.ping(b"are you there")
                    ws.send([message[:1], message[1:3], message[3:]])
                else:
                    ws.send(message)
        except ConnectionClosed:
            pass
        session["close_code"] = ws.close_code
        session["close_reason"] = ws.close_reason

    def __enter__(self) -> "EchoServer":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.thread.join(THREAD_JOIN_TIMEOUT)


@pytest.fixture(scope="module")
def echo_server() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


class PlainHTTPHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with an ordinary 200 page."""

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        body = b"<html><body>not a websocket</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             PlainHTTPHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(THREAD_JOIN_TIMEOUT)


class RawServer:
    """One-shot TCP server that answers the first request with ``reply``.

    With ``reply=None`` it accepts the connection and never answers.
    """

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(RUN_TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(RUN_TIMEOUT)
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                if self.reply is not None:
                    conn.sendall(self.reply)
                self.done.wait(RUN_TIMEOUT)
            except OSError:
                pass

    def __enter__(self) -> "RawServer":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.done.set()
        self.sock.close()
        self.thread.join(THREAD_JOIN_TIMEOUT)


# ---------------------------------------------------------------------------
# Successful sessions
# ---------------------------------------------------------------------------


def test_echo_two_messages(echo_server: EchoServer) -> None:
    result = run_client("-p", str(echo_server.port), "-m", "a,b")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "send: a", "recv: a",
        "send: b", "recv: b",
        "close: code=1000 reason=",
    ]
    assert result.stderr == ""


def test_default_messages(echo_server: EchoServer) -> None:
    result = run_client("-p", str(echo_server.port))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:6] == [
        "send: Hello", "recv: Hello",
        "send: <>", "recv: <>",
        "send: \u041f\u0440\u0438\u0432\u0435\u0442",
        "recv: \u041f\u0440\u0438\u0432\u0435\u0442",
    ]
    assert lines[6] == "close: code=1000 reason="


def test_subprotocol(echo_server: EchoServer) -> None:
    before = len(echo_server.sessions)
    result = run_client("-p", str(echo_server.port), "-m", "x",
                        "--protocol", "chat", "-v")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "send: x", "recv: x", "close: code=1000 reason="]
    assert "Sec-WebSocket-Protocol: chat" in result.stderr
    assert "protocol: chat" in result.stderr
    session = echo_server.sessions[before]
    assert session["subprotocol"] == "chat"


def test_origin_and_resource(echo_server: EchoServer) -> None:
    before = len(echo_server.sessions)
    result = run_client("-p", str(echo_server.port), "-m", "o",
                        "-r", "/echo?x=1", "--origin", "http://example.com")
    assert result.returncode == 0, result.stderr
    session = echo_server.sessions[before]
    assert session["path"] == "/echo?x=1"
    assert session["origin"] == "http://example.com"


def test_close_code_and_reason(echo_server: EchoServer) -> None:
    result = run_client("-p", str(echo_server.port), "-m", "q",
                        "--close-code", "4000", "--close-reason", "bye now")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "close: code=4000 reason=bye now"


def test_fragmented_reply_and_ping(echo_server: EchoServer) -> None:
    result = run_client("-p", str(echo_server.port), "-r", "/frag",
                        "-m", "fragmented,\u00e9t\u00e9 \u2603")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "send: fragmented", "recv: fragmented",
        "send: \u00e9t\u00e9 \u2603", "recv: \u00e9t\u00e9 \u2603",
        "close: code=1000 reason=",
    ]


def test_long_messages_use_extended_lengths(echo_server: EchoServer) -> None:
    medium = "m" * 300      # 16-bit length
    large = "L" * 70000     # 64-bit length
    before = len(echo_server.sessions)
    result = run_client("-p", str(echo_server.port), "-m",
                        f"{medium},{large}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:4] == [
        f"send: {medium}", f"recv: {medium}",
        f"send: {large}", f"recv: {large}"]
    assert echo_server.sessions[before]["messages"] == [medium, large]


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------


def test_connection_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_client("-p", str(port), "-m", "a", "--timeout", "5")
    assert_one_line_error(result, "cannot connect", str(port))
    assert result.stdout == ""


def test_plain_http_server(http_server: int) -> None:
    result = run_client("-p", str(http_server), "-m", "a", "--timeout", "5")
    assert_one_line_error(result, "200", "101")


def test_bad_accept_header() -> None:
    reply = (b"HTTP/1.1 101 Switching Protocols\r\n"
             b"Upgrade: websocket\r\n"
             b"Connection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: "
             + base64.b64encode(hashlib.sha1(b"wrong").digest())
             + b"\r\n\r\n")
    with RawServer(reply) as server:
        result = run_client("-p", str(server.port), "-m", "a",
                            "--timeout", "5")
    assert_one_line_error(result, "Sec-WebSocket-Accept")


def test_silent_server_times_out() -> None:
    with RawServer(None) as server:
        result = run_client("-p", str(server.port), "-m", "a",
                            "--timeout", "1")
    assert_one_line_error(result, "timed out")


# ---------------------------------------------------------------------------
# Helpers, imported directly
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client_module():
    spec = importlib.util.spec_from_file_location("echo_client", CLIENT)
    module = importlib.util.module_from_spec(spec)
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # keep example/ free of __pycache__
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


def test_accept_matches_rfc_example(client_module) -> None:
    # Sample key and answer given in RFC 6455 section 1.3.
    assert (client_module.expected_accept("dGhlIHNhbXBsZSBub25jZQ==")
            == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 65536])
def test_mask_round_trip(client_module, size: int) -> None:
    payload = os.urandom(size)
    mask = b"\x12\x34\x56\x78"
    masked = client_module.mask_payload(payload, mask)
    assert len(masked) == size
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert masked == expected
    assert client_module.mask_payload(masked, mask) == payload


def test_ipv6_host_header_is_bracketed(client_module) -> None:
    assert client_module.host_header("::1", 8880) == "[::1]:8880"
    assert client_module.host_header("127.0.0.1", 80) == "127.0.0.1:80"
