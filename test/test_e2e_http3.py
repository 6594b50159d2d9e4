"""WebSockets over HTTP/3 (RFC 9220) end to end: the real server with --http3-port,
against an independent client on aioquic's client side (test/h3_client.py) that checks
the server's certificate against cert/ca.pem.

Every client runs on the test's own thread and every wait is bounded.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import ssl
import threading
import time
import urllib.request
import zlib
from pathlib import Path

import pytest

pytest.importorskip("aioquic", minversion="1.7")  # the oldest the server accepts

from aioquic.h3.connection import ErrorCode, FrameType, Setting, encode_frame  # noqa: E402
from conftest import EXAMPLE, ROOT, run_mod_ws, settled_value, wait_for_value  # noqa: E402
from h3_client import OP_BINARY, OP_CONT, OP_TEXT, H3Client  # noqa: E402
from wsraw import encode_frame as ws_frame  # noqa: E402

CERT = ROOT / "cert"
TLS_ARGS = ("--tls", "-k", CERT / "server-key.pem", "-c", CERT / "server.pem")
H3_ARGS = TLS_ARGS + ("--http3-port", "0", "--log-level", "info")
H3_BANNER = re.compile(r"HTTP/3 \(QUIC\) on UDP \S+:(\d+)")
TIMEOUT = 10.0
WINDOW = 256 * 1024  # the server's receive window per stream (mod_ws.server.http3.connection)

# Reads nothing for `seconds` (from the query), then counts what it receives and says
# how much on "count".
STALL_HANDLER = """
import time

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    time.sleep(float(request.ws_resource.partition("seconds=")[2] or 2))
    total = 0
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        if message == "count":
            request.ws_stream.send_message("received %d" % total)
        else:
            total += len(message)
"""

# Sends `n` binary messages of 64 KiB as fast as the stream takes them, then "done".
FLOOD_HANDLER = """
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    n = int(request.ws_resource.partition("n=")[2] or 100)
    for _ in range(n):
        request.ws_stream.send_message(b"x" * 65536, binary=True)
    request.ws_stream.send_message("done")
"""

# Takes longer over its extra handshake than --handshake-timeout allows.
SLOW_HANDSHAKE_HANDLER = """
import time

def web_socket_do_extra_handshake(request):
    time.sleep(3)

def web_socket_transfer_data(request):
    pass
"""


def h3_port(server) -> int:
    line = server.wait_for_stderr(lambda text: H3_BANNER.search(text) is not None, TIMEOUT)
    assert line is not None, server.stderr_text()
    return int(H3_BANNER.search(line).group(1))


def start_h3(make, *extra) -> tuple:
    server = make("-d", EXAMPLE, *H3_ARGS, *extra)
    return server, h3_port(server)


@pytest.fixture(scope="module")
def handlers(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("h3_handlers")
    (root / "stall_wsh.py").write_text(STALL_HANDLER)
    (root / "flood_wsh.py").write_text(FLOOD_HANDLER)
    (root / "slow_wsh.py").write_text(SLOW_HANDSHAKE_HANDLER)
    for name in ("echo_wsh.py", "close_wsh.py"):
        (root / name).write_text((EXAMPLE / name).read_text())
    return root


@pytest.fixture(scope="module")
def h3(make_module_server) -> tuple:
    """(server, UDP port) of one server serving example/ over HTTP/3."""
    return start_h3(make_module_server)


@pytest.fixture(scope="module")
def h3_custom(make_module_server, handlers) -> tuple:
    """(server, UDP port) serving the handlers above, with short timeouts."""
    return start_h3(make_module_server, "-w", handlers, "--send-timeout", "1",
                    "--close-timeout", "1", "--handshake-timeout", "1")


@pytest.fixture
def client(h3):
    with H3Client(h3[1]).connect() as c:
        yield c


def no_traceback(server) -> None:
    text = server.stderr_text()
    assert "Traceback" not in text, text


def finish_cleanly(ws) -> None:
    """The client's side of a close handshake started by the server, then its FIN."""
    ws.send_close(1000, end_stream=True)


# Opening.


def test_extended_connect_is_answered_200_and_settings_enable_connect_protocol(h3, client):
    server, _ = h3
    assert client.alpn == "h3"
    assert client.h3.received_settings.get(Setting.ENABLE_CONNECT_PROTOCOL) == 1
    ws = client.websocket("/echo", extra=[("sec-websocket-protocol", "chat, superchat")])
    names = [name for name, _ in ws.state.headers]
    assert b"sec-websocket-accept" not in names and b"upgrade" not in names
    assert b"connection" not in names
    assert ws.state.header("sec-websocket-protocol") == "chat"  # echo_wsh takes the first offer
    assert ws.echo("hello over HTTP/3") == "hello over HTTP/3"
    ws.send_close(1000)
    assert ws.expect_close() == (1000, "")
    no_traceback(server)


def test_text_and_binary_messages_echo(client):
    ws = client.websocket("/echo")
    for text in ["hello", "κόσμε", "x" * 200_000]:
        assert ws.echo(text) == text
    # Larger than the server's stream window: flow-control credit must come back.
    for data in [b"\x00\xff" * 40_000, bytes(range(256)) * 4096]:
        ws.send_binary(data)
        opcode, payload, _ = ws.recv_message()
        assert opcode == OP_BINARY and payload == data


def test_a_fragmented_message_is_echoed_whole(client):
    ws = client.websocket("/echo")
    ws.send_frame(OP_TEXT, "frag", fin=False)
    ws.send_frame(OP_CONT, "men", fin=False)
    ws.send_frame(OP_CONT, "ted", fin=True)
    opcode, payload, _ = ws.recv_message()
    assert (opcode, payload) == (OP_TEXT, b"fragmented")


def test_permessage_deflate_round_trips_a_compressed_frame(client):
    ws = client.websocket("/echo", extra=[("sec-websocket-extensions", "permessage-deflate")])
    assert ws.state.header("sec-websocket-extensions").startswith("permessage-deflate")
    text = "compressed over QUIC " * 500
    deflater = zlib.compressobj(wbits=-15)
    body = deflater.compress(text.encode()) + deflater.flush(zlib.Z_SYNC_FLUSH)
    assert body.endswith(b"\x00\x00\xff\xff")
    ws.send_frame(OP_TEXT, body[:-4], rsv=4)
    opcode, payload, frames = ws.recv_message()
    assert opcode == OP_TEXT and frames[0].rsv == 4
    inflater = zlib.decompressobj(wbits=-15)
    assert inflater.decompress(payload + b"\x00\x00\xff\xff").decode() == text


# Closing.


def test_close_started_by_the_client_is_answered_and_the_stream_ended(h3, client):
    server, _ = h3
    ws = client.websocket("/echo")
    ws.send_close(1000, "bye")
    assert ws.expect_close() == (1000, "bye")
    ws.wait_ended()
    assert ws.state.ended and ws.state.reset is None
    client.send(ws.stream_id, b"", end_stream=True)
    assert server.wait_for_stderr(lambda line: "/echo" in line and "bye" in line, TIMEOUT)


def test_close_started_by_the_server_ends_the_stream_with_fin(client):
    ws = client.websocket("/close")
    assert ws.echo("not a code") == "not a code"
    ws.send_text("4001 done")
    assert ws.expect_close() == (4001, "done")
    finish_cleanly(ws)
    ws.wait_ended()
    assert ws.state.reset is None


def test_the_stream_is_reset_when_the_peer_never_ends_it(h3_custom):
    """After the close handshake the server FINs, waits --close-timeout for the
    client's FIN, then resets the stream: STOP_SENDING (its own data, all acknowledged,
    needs no RESET_STREAM)."""
    _, port = h3_custom
    with H3Client(port).connect() as client:
        ws = client.websocket("/close")
        ws.send_text("1000 ")
        assert ws.expect_close() == (1000, "")
        ws.send_close(1000)  # the close frame, but no FIN
        ws.wait_ended()
        client.wait_for(lambda: ws.state.stopped is not None, TIMEOUT, "STOP_SENDING")
        assert ws.state.reset is None


# Several WebSockets on one connection; back-pressure.


def test_a_handler_that_does_not_read_stalls_only_its_own_stream(h3_custom):
    _, port = h3_custom
    with H3Client(port).connect() as client:
        stalled = client.websocket("/stall?seconds=2")
        echo = client.websocket("/echo")
        for _ in range(8):
            stalled.send_binary(b"s" * 65536)
        started = time.monotonic()
        while time.monotonic() - started < 1.5:
            assert echo.echo("still here " * 1000) == "still here " * 1000
        # Only the initial window was granted, nothing more, while the handler slept.
        remote_window = client.quic._streams[stalled.stream_id].max_stream_data_remote
        assert remote_window == WINDOW
        stalled.send_text("count")
        _, payload, _ = stalled.recv_message(TIMEOUT)
        assert payload == b"received %d" % (8 * 65536)
        assert client.quic._streams[stalled.stream_id].max_stream_data_remote > WINDOW


def test_a_send_blocked_by_the_peers_window_times_out_and_resets_the_stream(h3_custom):
    server, port = h3_custom
    with H3Client(port, max_stream_data=65536, reads=False).connect() as client:
        flood = client.websocket("/flood?n=200")
        client.wait_for(lambda: flood.state.reset is not None, TIMEOUT, "the stream's reset")
        assert len(flood.state.data) <= 65536
        echo = client.websocket("/echo")
        assert echo.echo("unharmed") == "unharmed"
    assert server.wait_for_stderr(lambda line: "/flood" in line and "timed out" in line, TIMEOUT)


def test_a_client_that_ignores_flow_control_loses_only_its_connection(h3_custom):
    server, port = h3_custom
    with H3Client(port).connect() as other, H3Client(port).connect() as cheat:
        stalled = cheat.websocket("/stall?seconds=1")
        # Pretend the server granted far more than it did.
        cheat.quic._streams[stalled.stream_id].max_stream_data_remote = 1 << 30
        cheat.quic._remote_max_data = 1 << 30
        stalled.send_binary(b"c" * (2 * WINDOW))
        cheat.wait_for(lambda: cheat.terminated is not None, TIMEOUT, "the connection's close")
        assert cheat.terminated.error_code == 0x3  # FLOW_CONTROL_ERROR
        assert other.websocket("/echo").echo("unharmed") == "unharmed"
    no_traceback(server)


# Refusals: a status on the stream, never the connection.


def refused(client: H3Client, stream_id: int) -> tuple[int, str]:
    state = client.response(stream_id)
    client.wait_for(lambda: state.ended, TIMEOUT, "the end of the refusal")
    assert state.header("content-type") == "text/plain; charset=utf-8"
    return state.status, state.data.decode()


def test_a_handler_refusing_in_extra_handshake_answers_on_the_stream_only(h3, client):
    server, _ = h3
    stream_id = client.connect_request("/origin_check", extra=[("origin", "http://example.com")])
    status, body = refused(client, stream_id)
    assert status == 403 and body.startswith("403 Forbidden: ") and "example.com" in body
    assert client.terminated is None
    assert client.websocket("/origin_check").echo("next stream") == "next stream"
    assert server.wait_for_stderr(lambda line: "mod_ws.http3" in line and "403" in line, TIMEOUT)


def test_a_handshake_over_the_timeout_is_answered_408(h3_custom):
    _, port = h3_custom
    with H3Client(port).connect() as client:
        status, body = refused(client, client.connect_request("/slow"))
        assert status == 408 and "--handshake-timeout" in body
        assert client.websocket("/echo").echo("next") == "next"


def test_unknown_protocol_and_plain_connect_are_501(client):
    status, body = refused(client, client.connect_request("/echo", protocol="connect-udp"))
    assert status == 501 and "connect-udp" in body
    status, body = refused(client, client.request([(":method", "CONNECT"),
                                                   (":authority", "localhost:443")]))
    assert status == 501 and "tunnel" in body
    assert client.websocket("/echo").echo("still serving") == "still serving"


def test_no_handler_is_404(client):
    status, body = refused(client, client.connect_request("/no/such/handler"))
    assert status == 404 and body == "404 Not Found: no WebSocket handler for /no/such/handler\n"


def get(client: H3Client, path: str, method: str = "GET"):
    """A whole GET (or HEAD, POST) exchange on a stream of its own: its state once ended."""
    stream_id = client.request([(":method", method), (":scheme", "https"), (":path", path),
                                (":authority", "localhost")], end_stream=True)
    state = client.response(stream_id)
    client.wait_for(lambda: state.ended or state.reset is not None, TIMEOUT, f"the end of {path}")
    return state


def test_static_files_and_the_status_page_over_http3(client):
    # (No HEAD here: aioquic's client checks a response's Content-Length against its
    # body whatever the method, and closes the connection over an answer to HEAD.)
    page = get(client, "/console.html")
    assert page.status == 200 and page.header("content-type").startswith("text/html")
    assert page.data == (ROOT / "example" / "console.html").read_bytes()
    assert page.header("content-length") == str(len(page.data))
    assert get(client, "/_mod_ws/status.json").status == 200
    missing = get(client, "/nothere.html")
    assert missing.status == 404 and b"/nothere.html not found" in missing.data
    plain = get(client, "/echo")  # a WebSocket resource asked for by GET
    assert plain.status == 405 and plain.header("allow") == "CONNECT"
    posted = get(client, "/console.html", "POST")
    assert posted.status == 405 and posted.header("allow") == "GET, HEAD"
    assert client.websocket("/echo").echo("pages and a WebSocket") == "pages and a WebSocket"


def test_a_connect_without_path_is_refused(h3):
    server, port = h3
    # Without :scheme either, it is ours to refuse: 400 on the stream.
    with H3Client(port).connect() as client:
        stream_id = client.request([(":method", "CONNECT"), (":protocol", "websocket"),
                                    (":authority", "localhost")])
        status, body = refused(client, stream_id)
        assert status == 400 and ":scheme" in body
    # With :scheme https, aioquic finds the request malformed: H3_MESSAGE_ERROR, and
    # the server goes on serving other connections.
    with H3Client(port).connect() as client:
        client.request([(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                        (":authority", "localhost"), ("sec-websocket-version", "13")])
        client.wait_for(lambda: client.terminated is not None, TIMEOUT, "the connection's close")
        assert client.terminated.error_code == ErrorCode.H3_MESSAGE_ERROR
    with H3Client(port).connect() as client:
        assert client.websocket("/echo").echo("after") == "after"
    no_traceback(server)


def test_a_malformed_header_block_closes_only_that_connection(h3):
    server, port = h3
    with H3Client(port).connect() as bad, H3Client(port).connect() as good:
        stream_id = bad.quic.get_next_available_stream_id()
        bad.quic.send_stream_data(stream_id, encode_frame(FrameType.HEADERS, b"\xff\xfe\xfd\x00garbage"))
        bad.transmit()
        bad.wait_for(lambda: bad.terminated is not None, TIMEOUT, "the connection's close")
        assert bad.terminated.error_code == ErrorCode.QPACK_DECOMPRESSION_FAILED
        assert good.websocket("/echo").echo("unharmed") == "unharmed"
    no_traceback(server)


def test_a_handler_abort_resets_the_stream(client):
    # AbortedByUserException in the extra handshake: no answer, the stream reset.
    stream_id = client.connect_request("/abort")
    client.wait_for(lambda: client.stream(stream_id).reset is not None, TIMEOUT, "a reset")
    assert client.stream(stream_id).headers is None
    # faults.reset() mid-session: RESET_STREAM and STOP_SENDING.
    ws = client.websocket("/misbehave")
    ws.send_text("reset")
    client.wait_for(lambda: ws.state.reset is not None and ws.state.stopped is not None, TIMEOUT,
                    "RESET_STREAM and STOP_SENDING")
    assert ws.state.reset == ErrorCode.H3_REQUEST_CANCELLED
    assert client.websocket("/echo").echo("next") == "next"


# Streams and connections that end badly.


def test_a_stream_reset_mid_message_harms_no_other_stream(h3):
    server, port = h3
    with H3Client(port).connect() as client, H3Client(port).connect() as other:
        doomed = client.websocket("/echo")
        sibling = client.websocket("/echo")
        neighbour = other.websocket("/echo")
        client.send(doomed.stream_id, ws_frame(OP_BINARY, b"p" * 1000)[:300])
        # RESET_STREAM alone: the server must reset its own direction by itself.
        client.reset(doomed.stream_id, stop=False)
        assert server.wait_for_stderr(
            lambda line: f"stream {doomed.stream_id}: stream reset by the client" in line, TIMEOUT)
        assert sibling.echo("sibling") == "sibling"
        assert neighbour.echo("neighbour") == "neighbour"
        client.wait_for(lambda: doomed.state.reset is not None, TIMEOUT, "the server's reset")
    no_traceback(server)


@pytest.fixture(scope="module")
def counted(make_module_server) -> tuple:
    """A server of its own, whose thread count the tests watch."""
    return start_h3(make_module_server)


def test_closing_the_quic_connection_ends_its_handlers(counted):
    server, port = counted
    baseline = settled_value(server.thread_count)
    client = H3Client(port).connect()
    sockets = [client.websocket("/echo") for _ in range(3)]
    for i, ws in enumerate(sockets):
        assert ws.echo(f"ws {i}") == f"ws {i}"
    assert wait_for_value(server.thread_count, baseline + 3, TIMEOUT) == baseline + 3
    client.close()
    assert wait_for_value(server.thread_count, baseline, TIMEOUT) == baseline
    assert server.wait_for_stderr(lambda line: "QUIC connection closed" in line, TIMEOUT)


def test_a_vanished_client_is_ended_by_the_idle_timeout(counted):
    server, port = counted
    baseline = settled_value(server.thread_count)
    client = H3Client(port, idle_timeout=1.0).connect()
    ws = client.websocket("/echo")
    assert ws.echo("then silence") == "then silence"
    assert wait_for_value(server.thread_count, baseline + 1, TIMEOUT) == baseline + 1
    client.vanish()
    assert wait_for_value(server.thread_count, baseline, TIMEOUT) == baseline
    assert server.wait_for_stderr(lambda line: "Idle timeout" in line, TIMEOUT)


def test_garbage_datagrams_are_dropped(counted):
    server, port = counted
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        for garbage in [b"", b"\x00", b"hello", bytes(range(256)) * 5, b"\xc0" + b"\xff" * 1300,
                        b"\x40" + b"\x01" * 50]:
            sock.sendto(garbage, ("127.0.0.1", port))
        # A long header of an unknown version is answered with Version Negotiation.
        sock.sendto(b"\xc0\x1a\x2a\x3a\x4a\x08" + b"D" * 8 + b"\x08" + b"S" * 8 + b"\x00" * 1200,
                    ("127.0.0.1", port))
        answer, _ = sock.recvfrom(2048)
        assert answer[1:5] == b"\x00\x00\x00\x00"  # version 0: Version Negotiation
    with H3Client(port).connect() as client:
        assert client.websocket("/echo").echo("after garbage") == "after garbage"
    no_traceback(server)


def test_the_status_page_lists_http3_sessions_and_refusals(counted):
    server, port = counted
    context = ssl.create_default_context(cafile=str(CERT / "ca.pem"))
    url = f"https://localhost:{server.port}/_mod_ws/status.json"
    with H3Client(port).connect() as client:
        refused(client, client.connect_request("/nowhere"))
        ws = client.websocket("/echo")
        assert ws.echo("listed") == "listed"
        with urllib.request.urlopen(url, context=context, timeout=TIMEOUT) as response:
            status = json.loads(response.read())
        carriers = {e["carrier"] for e in status["open"] if e["resource"] == "/echo"}
        assert carriers == {"HTTP/3"}, status["open"]
        assert any("/nowhere" in entry["request"] and entry["status"] == 404
                   for entry in status["refusals"]), status["refusals"]


# Start-up and shutdown.


def test_sigterm_sends_1001_and_the_server_exits(make_server):
    server, port = start_h3(make_server)
    with H3Client(port).connect() as client:
        ws = client.websocket("/echo")
        assert ws.echo("before shutdown") == "before shutdown"
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert ws.expect_close()[0] == 1001
        # Until the open WebSocket has ended, the server answers new ones 503.
        status, body = refused(client, client.connect_request("/echo"))
        assert status == 503 and "shutting down" in body
        finish_cleanly(ws)
        assert server.wait(TIMEOUT) == 0
        assert time.monotonic() - started < 5.0
    no_traceback(server)


def test_shutdown_is_bounded_when_a_client_never_answers(make_server):
    server, port = start_h3(make_server, "--shutdown-timeout", "1")
    with H3Client(port).connect() as client:
        ws = client.websocket("/echo")
        assert ws.echo("then deaf") == "then deaf"
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(TIMEOUT) == 0  # the client pumps nothing meanwhile
        assert time.monotonic() - started < 1.0 + 1.5
    no_traceback(server)


def test_a_udp_port_in_use_is_one_line(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = run_mod_ws("-H", "127.0.0.1", "-p", "0", "-d", EXAMPLE, *TLS_ARGS,
                            "--http3-port", str(port))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "UDP port" in lines[0] and str(port) in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("key, certificate, named", [
    ("client-key.pem", "server.pem", "does not match"),  # a key of another certificate
    ("server-key.pem", "missing.pem", "missing.pem"),
])
def test_a_bad_certificate_or_key_with_http3_is_one_line(key, certificate, named):
    result = run_mod_ws("-H", "127.0.0.1", "-p", "0", "-d", EXAMPLE, "--tls",
                        "-k", ROOT / "cert" / key, "-c", ROOT / "cert" / certificate,
                        "--http3-port", "0")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_an_embedded_server_stops_leaving_no_thread_or_socket():
    from mod_ws.embedded import Server

    server = Server(EXAMPLE, use_tls=True, certificate=str(CERT / "server.pem"),
                    private_key=str(CERT / "server-key.pem"), http3_port=0).start()
    carrier = server._server.side_carriers[0]
    port = carrier.addresses[0][1]
    with H3Client(port).connect() as client:
        ws = client.websocket("/echo")
        assert ws.echo("in process") == "in process"
        other = client.websocket("/close")
        started = time.monotonic()
        stopper = threading.Thread(target=server.stop, name="stop the embedded server")
        stopper.start()
        try:
            for each in (ws, other):
                assert each.expect_close()[0] == 1001
                finish_cleanly(each)
            client.wait_for(lambda: not stopper.is_alive(), TIMEOUT, "the server's stop")
        finally:
            stopper.join(TIMEOUT)
        assert time.monotonic() - started < 3.0
    assert not [t.name for t in threading.enumerate() if t.name.startswith("h3 ")]
    assert all(sock.fileno() == -1 for sock in carrier._sockets)
