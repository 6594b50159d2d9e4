"""--latency, --latency-jitter, --bandwidth and per-connection shaping, end to end
(mod_ws.server.shaping): the real server as a subprocess, independent clients."""

from __future__ import annotations

import json
import os
import socket
import struct
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from conftest import EXAMPLE, ServerProcess, settled_value, wait_for_value
from websockets.sync.client import connect
from wsraw import OP_BINARY, OP_TEXT, RawWebSocket, encode_frame

from mod_ws.options import parse_options
from mod_ws.standalone import build_config

TIMEOUT = 10.0
SLACK = 0.25  # seconds a loaded machine may add to a delay

# A handler for the tests below: `/probe?shape=LATENCY,JITTER,BANDWIDTH` (seconds,
# seconds, bytes/s or empty; repeatable) shapes its connection from the handler; then
# it echoes, answers "probe" with what it sees and "flood N SIZE" with N binary
# messages of SIZE random bytes.
PROBE_WSH = '''
    import json
    import os
    import sys
    import threading
    from urllib.parse import parse_qs, urlsplit

    from mod_ws import msgutil


    def web_socket_do_extra_handshake(request):
        pass


    def _shapers(request):
        shaping = sys.modules.get("mod_ws.server.shaping")
        count, transport = 0, request.connection.transport
        while transport is not None:
            count += shaping is not None and isinstance(transport, shaping.ShapedTransport)
            transport = vars(transport).get("_inner")
        return count


    def web_socket_transfer_data(request):
        for value in parse_qs(urlsplit(request.ws_resource).query).get("shape", []):
            latency, jitter, bandwidth = value.split(",")
            from mod_ws.server.shaping import shape_session
            shape_session(request, float(latency), float(jitter), int(bandwidth) if bandwidth else None)
        while True:
            message = msgutil.receive_message(request)
            if message is None:
                return
            if message == "probe":
                msgutil.send_message(request, json.dumps({
                    "imported": "mod_ws.server.shaping" in sys.modules,
                    "threads": [t.name for t in threading.enumerate()],
                    "shapers": _shapers(request),
                }))
            elif isinstance(message, str) and message.startswith("flood "):
                count, size = map(int, message.split()[1:])
                for _ in range(count):
                    msgutil.send_message(request, os.urandom(size), binary=True)
            else:
                msgutil.send_message(request, message, binary=isinstance(message, bytes))
'''


@pytest.fixture(scope="module")
def probe_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shaping")
    (root / "probe_wsh.py").write_text(textwrap.dedent(PROBE_WSH), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def probe_server(make_module_server, probe_root: Path) -> ServerProcess:
    """No server-wide shaping; --send-timeout 1 for the test of a client that stops reading."""
    return make_module_server("-d", probe_root, "--send-timeout", "1", "--log-level", "info")


def round_trip(ws, message: str = "ping") -> float:
    started = time.monotonic()
    ws.send(message)
    assert ws.recv(timeout=TIMEOUT) == message
    return time.monotonic() - started


def probe(ws) -> dict:
    ws.send("probe")
    return json.loads(ws.recv(timeout=TIMEOUT))


def shape_threads(state: dict) -> list[str]:
    return [name for name in state["threads"] if name.startswith("shape ")]


# The options reach the session.


def test_the_options_become_the_stream_options_in_seconds() -> None:
    config = build_config(parse_options(["-d", str(EXAMPLE), "--latency", "200",
                                         "--latency-jitter", "20", "--bandwidth", "100000"]))
    assert (config.latency, config.latency_jitter, config.bandwidth) == (0.2, 0.02, 100000)
    assert config.stream_options().shaping == (0.2, 0.02, 100000)
    assert build_config(parse_options(["-d", str(EXAMPLE)])).stream_options().shaping is None
    only_bandwidth = build_config(parse_options(["-d", str(EXAMPLE), "--bandwidth", "5"]))
    assert only_bandwidth.stream_options().shaping == (0.0, 0.0, 5)


# Server-wide shaping.


def test_latency_delays_each_echo_and_pipelines_messages_sent_back_to_back(make_server) -> None:
    server = make_server("-d", EXAMPLE, "--latency", "200", "--log-frames")
    with connect(server.url("/echo"), open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        for _ in range(2):
            assert 0.2 <= round_trip(ws) < 0.2 + SLACK
        started = time.monotonic()
        for i in range(20):
            ws.send(f"message {i}")
        echoes = [ws.recv(timeout=TIMEOUT) for _ in range(20)]
        elapsed = time.monotonic() - started
    assert echoes == [f"message {i}" for i in range(20)]
    # One latency for the lot, not twenty (4 s): the link is pipelined.
    assert 0.2 <= elapsed < 0.2 + 2 * SLACK
    # The answer to the client's close was still queued when the handler returned: it
    # went out before the server closed TCP, and --log-frames saw it on its way.
    assert ws.protocol.close_rcvd is not None and ws.close_code == 1000
    assert server.wait_for_stderr("/echo > CLOSE fin rsv=000 2 bytes code 1000")


def test_jitter_varies_the_delays_within_their_bounds_and_keeps_the_order(make_server) -> None:
    server = make_server("-d", EXAMPLE, "--latency", "100", "--latency-jitter", "50")
    with connect(server.url("/echo"), open_timeout=TIMEOUT) as ws:
        delays = [round_trip(ws, f"m{i}") for i in range(12)]
        assert min(delays) >= 0.05
        assert max(delays) < 0.15 + SLACK
        assert max(delays) - min(delays) > 0.01, delays  # they do vary
        for i in range(50):
            ws.send(f"burst {i}")
        assert [ws.recv(timeout=TIMEOUT) for _ in range(50)] == [f"burst {i}" for i in range(50)]


def test_bandwidth_paces_a_large_message_in_pieces(make_server) -> None:
    server = make_server("-d", EXAMPLE, "--bandwidth", "100000")
    size = 300_000
    payload = os.urandom(size)
    with RawWebSocket.connect(server.port, "/echo_noext") as ws:
        ws.send(encode_frame(OP_BINARY, payload))
        started = time.monotonic()
        received = b""
        at_one_second = None
        ws.sock.settimeout(0.1)
        while len(received) < size + 10 and time.monotonic() - started < TIMEOUT:
            if at_one_second is None and time.monotonic() - started >= 1.0:
                at_one_second = len(received)
            try:
                data = ws.sock.recv(65536)
            except socket.timeout:
                continue
            assert data, "the server closed"
            received += data
        elapsed = time.monotonic() - started
    assert received[:2] == b"\x82\x7f" and struct.unpack("!Q", received[2:10])[0] == size
    assert received[10:] == payload
    # 300 KB at 100 KB/s: about 3 s, arriving a piece at a time (about 100 KB a second).
    assert 2.5 <= elapsed < 3.0 + 4 * SLACK
    assert at_one_second is not None and 40_000 <= at_one_second <= 180_000, at_one_second


def test_thread_count_returns_to_the_baseline_after_shaped_connections_close(make_server) -> None:
    server = make_server("-d", EXAMPLE, "--latency", "50")
    baseline = settled_value(server.thread_count)
    with ExitStack() as stack:
        clients = [stack.enter_context(connect(server.url("/echo"), open_timeout=TIMEOUT))
                   for _ in range(5)]
        for ws in clients:
            assert round_trip(ws) >= 0.05
        # Each connection has its thread and its shaper's.
        assert server.thread_count() >= baseline + 10
    assert wait_for_value(server.thread_count, baseline, TIMEOUT) == baseline


# Shaping from a handler, one connection at a time.


def test_a_handler_shapes_its_own_connection_only_and_a_second_call_updates_it(
        probe_server: ServerProcess) -> None:
    with connect(probe_server.url("/probe"), open_timeout=TIMEOUT, compression=None) as plain:
        # Without shaping options nothing of it is loaded or started.
        state = probe(plain)
        assert state["imported"] is False and shape_threads(state) == []
        assert round_trip(plain) < 0.1
        # Shaped at 0.5 s, then changed to 0.25 s: one shaper, not two stacked (0.75 s).
        url = probe_server.url("/probe?shape=0.5,0,&shape=0.25,0,")
        with connect(url, open_timeout=TIMEOUT, compression=None) as shaped:
            delay = round_trip(shaped)
            assert 0.25 <= delay < 0.5, delay
            state = probe(shaped)
            assert state["shapers"] == 1
            assert shape_threads(state) == [f"shape 127.0.0.1:{shaped.local_address[1]}"]
            # The other connection on the same server is not delayed.
            assert round_trip(plain) < 0.1
            assert probe(plain)["shapers"] == 0


def test_a_client_that_disconnects_with_data_queued_leaves_nothing_behind(
        probe_server: ServerProcess) -> None:
    baseline = settled_value(probe_server.thread_count)
    # 400 KB queued at 20 KB/s: 20 s of sending, cut short by the client.
    ws = RawWebSocket.connect(probe_server.port, "/probe?shape=0,0,20000")
    ws.send(encode_frame(OP_TEXT, b"flood 4 100000"))
    assert ws.read_exact(1000, TIMEOUT)  # the first pieces arrive
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.close()  # an RST, with most of the data still queued
    assert wait_for_value(probe_server.thread_count, baseline, TIMEOUT) == baseline
    with connect(probe_server.url("/probe"), open_timeout=TIMEOUT) as other:
        assert round_trip(other) < 0.5
    assert "Traceback" not in probe_server.stderr_text()


def test_a_client_that_stops_reading_fails_the_shaped_session_at_the_send_timeout(
        probe_server: ServerProcess) -> None:
    baseline = settled_value(probe_server.thread_count)
    ws = RawWebSocket.connect(probe_server.port, "/probe?shape=0.05,0,")
    try:
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        ws.send(encode_frame(OP_TEXT, b"flood 64 1000000"))  # never read
        line = probe_server.wait_for_stderr(
            lambda line: "/probe?shape=0.05,0," in line and "failed:" in line, TIMEOUT)
        assert line is not None and "send timed out (--send-timeout)" in line, line
        assert wait_for_value(probe_server.thread_count, baseline, TIMEOUT) == baseline
    finally:
        ws.close()
    assert "Traceback" not in probe_server.stderr_text()
