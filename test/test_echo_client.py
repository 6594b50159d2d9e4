"""Tests for example/echo_client.py, run against reference servers.

The client is exercised as a subprocess, mostly against an echo server built
with the third-party ``websockets`` library, so those tests do not depend on
mod_ws itself; the tests of closes, subprotocols, compression and TLS with the
example handlers run it against the real server (``python -m mod_ws -d
example`` as a subprocess, conftest's fixtures).  Every wait is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import importlib.util
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest
from conftest import EXAMPLE
from test_e2e_tls import CERT, TLS_ARGS
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
        """Echo every message; '/frag' pings first and fragments replies;
        '/bye?code=N' closes with N (reason 'bye') instead of echoing."""
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
                if ws.request.path.startswith("/bye?code="):
                    ws.close(int(ws.request.path.partition("=")[2]), "bye")
                elif ws.request.path == "/frag":
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
        "protocol: chat", "send: x", "recv: x", "close: code=1000 reason="]
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
# The server closing instead of echoing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["4001 custom reason", "1011 broken on purpose"])
def test_close_command_to_the_close_handler_exits_zero_printing_code_and_reason(
        server, command: str) -> None:
    result = run_client("-p", str(server.port), "-r", "/close", "-m", command)
    assert result.returncode == 0, result.stderr
    code, _, reason = command.partition(" ")
    assert result.stdout.splitlines() == [
        f"send: {command}", f"close: code={code} reason={reason}"]
    assert result.stderr == ""


def test_close_command_before_the_last_message_still_exits_non_zero(server) -> None:
    result = run_client("-p", str(server.port), "-r", "/close",
                        "-m", "4001 custom reason,never echoed")
    assert_one_line_error(result, "before all messages were echoed")
    assert result.stdout.splitlines() == [
        "send: 4001 custom reason", "close: code=4001 reason=custom reason"]


def test_an_internal_error_instead_of_the_last_echo_exits_non_zero(server) -> None:
    result = run_client("-p", str(server.port), "-r", "/internal_error",
                        "-m", "fine,raise out of cheese")
    assert_one_line_error(result, "before all messages were echoed")
    assert result.stdout.splitlines()[-1] == (
        "close: code=1011 reason=RuntimeError: out of cheese")


@pytest.mark.parametrize("code, status", [(1000, 0), (3001, 0), (4999, 0),
                                          (1001, 1), (1008, 1)])
def test_a_normal_close_code_instead_of_the_last_echo_exits_zero_an_error_code_non_zero(
        echo_server: EchoServer, code: int, status: int) -> None:
    result = run_client("-p", str(echo_server.port), "-r", f"/bye?code={code}",
                        "-m", "last")
    assert result.returncode == status, result.stderr
    assert result.stdout.splitlines() == [
        "send: last", f"close: code={code} reason=bye"]


def test_a_normal_close_before_the_last_message_exits_non_zero(
        echo_server: EchoServer) -> None:
    result = run_client("-p", str(echo_server.port), "-r", "/bye?code=1000",
                        "-m", "first,second")
    assert_one_line_error(result, "before all messages were echoed")


# ---------------------------------------------------------------------------
# --protocol, --deflate and --tls against the example handlers
# ---------------------------------------------------------------------------


def test_protocol_prints_the_subprotocol_the_server_chose(server) -> None:
    result = run_client("-p", str(server.port), "-r", "/subprotocol",
                        "--protocol", "chat.v1,chat.v2", "-m", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "protocol: chat.v2", "send: hi", "recv: [chat.v2] hi",
        "close: code=1000 reason="]


def test_protocol_prints_none_when_the_server_chose_none(
        echo_server: EchoServer) -> None:
    result = run_client("-p", str(echo_server.port), "--protocol", "other",
                        "-m", "x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "protocol: (none)"


def test_deflate_prints_permessage_deflate_and_both_directions_are_compressed(
        make_server) -> None:
    logged = make_server("-d", EXAMPLE, "--log-level", "info")
    big = "compress me " * 1000  # 12,000 bytes
    result = run_client("-p", str(logged.port), "--deflate", "-m", f"{big},,x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "extensions: permessage-deflate",
        f"send: {big}", f"recv: {big}", "send: ", "recv: ", "send: x", "recv: x",
        "close: code=1000 reason="]
    # The server's session line: three messages each way in far fewer bytes.
    line = logged.wait_for_stderr("/echo: closed by the client", RUN_TIMEOUT)
    assert line is not None, logged.stderr_text()
    assert "extensions permessage-deflate" in line
    sizes = re.search(r"received 3 messages in (\d+) bytes on the wire, "
                      r"sent 3 messages in (\d+) bytes", line)
    assert sizes is not None, line
    assert all(int(size) < 500 for size in sizes.groups()), line


def test_deflate_prints_none_when_the_handler_declines_extensions(server) -> None:
    result = run_client("-p", str(server.port), "-r", "/echo_noext",
                        "--deflate", "-m", "plain")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "extensions: (none)", "send: plain", "recv: plain",
        "close: code=1000 reason="]


def test_deflate_with_the_websockets_server_and_its_window_parameter(
        echo_server: EchoServer) -> None:
    big = "w" * 70000
    result = run_client("-p", str(echo_server.port), "--deflate",
                        "-m", f"a,{big},b")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("extensions: permessage-deflate"), lines[0]
    assert lines[1:7] == ["send: a", "recv: a", f"send: {big}", f"recv: {big}",
                          "send: b", "recv: b"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_tls_with_the_test_ca_echoes_over_wss(make_server, host: str) -> None:
    tls_server = make_server("-d", EXAMPLE, *TLS_ARGS)
    result = run_client("-s", host, "-p", str(tls_server.port), "--tls",
                        "--ca", str(CERT / "ca.pem"), "-m", "over,tls")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "send: over", "recv: over", "send: tls", "recv: tls",
        "close: code=1000 reason="]


def test_tls_with_deflate_and_a_close_command(make_server) -> None:
    tls_server = make_server("-d", EXAMPLE, *TLS_ARGS)
    result = run_client("-s", "localhost", "-p", str(tls_server.port), "--tls",
                        "--ca", str(CERT / "ca.pem"), "--deflate", "-r", "/close",
                        "-m", "hello,4002 secure bye")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "extensions: permessage-deflate", "send: hello", "recv: hello",
        "send: 4002 secure bye", "close: code=4002 reason=secure bye"]


def test_tls_refuses_a_server_certificate_another_ca_signed(make_server) -> None:
    tls_server = make_server("-d", EXAMPLE, *TLS_ARGS)
    result = run_client("-p", str(tls_server.port), "--tls",
                        "--ca", str(CERT / "other-ca.pem"), "-m", "a")
    assert_one_line_error(result, "cannot verify the certificate")
    assert result.stdout == ""


def test_tls_to_a_plain_server_fails_with_one_line(server) -> None:
    result = run_client("-p", str(server.port), "--tls",
                        "--ca", str(CERT / "ca.pem"), "-m", "a", "--timeout", "5")
    assert_one_line_error(result, "TLS handshake")


def test_ca_without_tls_is_a_usage_error() -> None:
    result = run_client("--ca", str(CERT / "ca.pem"))
    assert result.returncode == 2
    assert "--ca needs --tls" in result.stderr


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


@pytest.mark.parametrize("params", [
    {},
    {"client_no_context_takeover": None, "server_no_context_takeover": None},
], ids=["context-takeover", "no-context-takeover"])
def test_deflate_round_trip(client_module, params) -> None:
    sender = client_module.PerMessageDeflate(params)
    receiver = client_module.PerMessageDeflate(params)
    for message in [b"hello", b"", b"hello" * 1000, os.urandom(3000), b"hello"]:
        compressed = sender.compress(message)
        assert not compressed.endswith(b"\x00\x00\xff\xff")
        assert receiver.decompress(compressed) == message


def test_deflate_response_parameters(client_module) -> None:
    parse = client_module.parse_deflate_response
    assert parse("permessage-deflate") == {}
    assert parse("Permessage-Deflate; server_no_context_takeover; "
                 "server_max_window_bits=10") == {
        "server_no_context_takeover": None, "server_max_window_bits": "10"}
    for bad in ["x-other", "permessage-deflate, permessage-deflate",
                "permessage-deflate; client_max_window_bits=10",
                "permessage-deflate; server_max_window_bits=16",
                "permessage-deflate; server_no_context_takeover=1",
                ("permessage-deflate; server_no_context_takeover; "
                 "server_no_context_takeover")]:
        with pytest.raises(client_module.ClientError):
            parse(bad)
