"""End to end: the command line, config files, handler loading, logging and life cycle."""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import textwrap
import time

import pytest
import wsraw
from conftest import EXAMPLE, IDLE_THREADS, run_mod_ws, settled_value, wait_for_value
from websockets.sync.client import connect
from wsraw import OP_BINARY, OP_CONT, OP_TEXT, RawWebSocket

TIMEOUT = 5.0


def ws_connect(url: str, **kwargs):
    options = {"open_timeout": TIMEOUT, "close_timeout": TIMEOUT, "ping_interval": None, "proxy": None}
    options.update(kwargs)
    return connect(url, **options)


def echo_once(url: str, text: str = "ping") -> str:
    with ws_connect(url) as ws:
        ws.send(text)
        return ws.recv(timeout=TIMEOUT)


def assert_start_up_error(result, *words: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {result.stderr!r}"
    line = lines[0]
    assert line.startswith("mod_ws: error: "), line
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"
    assert result.stdout == ""
    return line


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


ECHO_HANDLER = """
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
"""


# --- start-up errors ----------------------------------------------------------------------


def test_port_in_use_exits_2_with_one_line_naming_the_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_mod_ws("-H", "127.0.0.1", "-p", port, "-d", EXAMPLE)
    assert_start_up_error(result, str(port))


def test_unknown_option_exits_2_with_one_line_naming_it():
    result = run_mod_ws("-H", "127.0.0.1", "-p", "0", "--no-such-option")
    assert_start_up_error(result, "--no-such-option")


def test_tls_without_its_key_exits_2_naming_the_missing_option():
    result = run_mod_ws("-H", "127.0.0.1", "-p", "0", "--tls")
    assert_start_up_error(result, "--tls needs --private-key")



def test_nonexistent_document_root_exits_2_naming_it(tmp_path):
    missing = tmp_path / "does-not-exist"
    result = run_mod_ws("-H", "127.0.0.1", "-p", "0", "-d", missing)
    assert_start_up_error(result, str(missing))


def test_out_of_range_port_exits_2_naming_the_option():
    result = run_mod_ws("-H", "127.0.0.1", "-p", "70000")
    assert_start_up_error(result, "--port", "70000")


def test_nonexistent_handler_root_exits_2(tmp_path):
    result = run_mod_ws("-H", "127.0.0.1", "-p", "0", "-d", tmp_path, "-w", "nowhere")
    assert_start_up_error(result, "nowhere")


# --- config file --------------------------------------------------------------------------


def test_config_file_sets_port_host_document_root_and_log_level(make_server, tmp_path):
    config = write(tmp_path / "server.ini", f"""
        # mod_ws test configuration
        [pywebsocket]
        port = 0
        server_host = 127.0.0.1
        document_root = {EXAMPLE}
        log_level = debug
    """)
    server = make_server("--config", config, defaults=False)
    assert server.wait_for_stderr("listening on 127.0.0.1:")
    assert echo_once(server.url("/echo"), "configured") == "configured"
    # debug level includes the INFO access log line of the handshake.
    assert server.wait_for_stderr('"GET /echo HTTP/1.1" 101', TIMEOUT), server.stderr_text()


def test_command_line_overrides_config_file(make_server, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        config = write(tmp_path / "server.ini", f"""
            [pywebsocket]
            port = {busy.getsockname()[1]}
            server_host = 127.0.0.1
            document_root = {tmp_path / "missing-root"}
            log_level = debug
        """)
        # The busy port and the missing root in the file would both be fatal.
        server = make_server("--config", config, "-p", "0", "-d", EXAMPLE, "--log-level", "warning",
                             defaults=False)
        assert server.port != busy.getsockname()[1]
    assert echo_once(server.url("/echo"), "overridden") == "overridden"
    # A refusal is logged at WARNING; the access line (INFO) before it must be absent.
    wsraw.http_exchange(server.port, wsraw.handshake_request("/missing"))
    assert server.wait_for_stderr("/missing", TIMEOUT)
    assert not any('" 101' in line for line in server.stderr_lines()), server.stderr_text()


def test_config_file_with_unknown_key_exits_2_naming_the_line(tmp_path):
    config = write(tmp_path / "bad.ini", """
        [pywebsocket]
        port = 0
        no_such_key = 1
    """)
    result = run_mod_ws("--config", config)
    assert_start_up_error(result, "line 3", "no_such_key")


# --- handlers -----------------------------------------------------------------------------


def test_handler_map_file_alias_serves_existing_handler(make_server, tmp_path):
    map_file = write(tmp_path / "map.txt", """
        # alias      existing
        /alias       /echo
        /bad-alias   /no-such-handler
    """)
    server = make_server("-d", EXAMPLE, "-m", map_file)
    assert echo_once(server.url("/alias"), "via alias") == "via alias"
    assert echo_once(server.url("/echo"), "original") == "original"
    assert server.wait_for_stderr("/no-such-handler", TIMEOUT), server.stderr_text()


def test_broken_handler_is_logged_and_refused_with_500_while_good_ones_serve(make_server, tmp_path):
    write(tmp_path / "good_wsh.py", ECHO_HANDLER)
    write(tmp_path / "broken_wsh.py", "def web_socket_transfer_data(request) oops\n")
    write(tmp_path / "incomplete_wsh.py", "def web_socket_transfer_data(request):\n    pass\n")
    server = make_server("-d", tmp_path)
    listening = server.wait_for_stderr("listening on")
    assert listening.endswith("1 handler(s): /good"), listening
    assert server.wait_for_stderr("broken_wsh.py"), server.stderr_text()
    assert server.wait_for_stderr("incomplete_wsh.py"), server.stderr_text()
    assert echo_once(server.url("/good"), "good") == "good"
    response, _ = wsraw.http_exchange(server.port, wsraw.handshake_request("/broken"))
    assert response.status == 500
    body = response.body.decode()
    assert "broken_wsh.py failed to load: SyntaxError" in body and body.count("\n") == 1, body
    response, _ = wsraw.http_exchange(server.port, wsraw.handshake_request("/incomplete"))
    assert response.status == 500
    assert "web_socket_do_extra_handshake is not defined" in response.body.decode()
    # Plain HTTP to the same path is not a handshake: it is looked up as a file.
    response, _ = wsraw.http_exchange(server.port, b"GET /broken HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 404


def test_handler_root_w_is_relative_to_document_root(make_server, tmp_path):
    docs = tmp_path / "docs"
    write(docs / "handlers" / "deep" / "thing_wsh.py", ECHO_HANDLER)
    write(docs / "page.txt", "static page\n")
    server = make_server("-d", docs, "-w", "handlers")
    assert echo_once(server.url("/deep/thing"), "relative -w") == "relative -w"
    with wsraw.Conn.open(server.port) as conn:
        conn.send(b"GET /page.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.read_http_response().body == b"static page\n"


def test_scan_dir_loads_only_handlers_under_it(make_server, tmp_path):
    write(tmp_path / "a" / "x_wsh.py", ECHO_HANDLER)
    write(tmp_path / "b" / "y_wsh.py", ECHO_HANDLER)
    server = make_server("-d", tmp_path, "-s", "a")
    listening = server.wait_for_stderr("listening on")
    assert listening.endswith("1 handler(s): /a/x"), listening
    assert echo_once(server.url("/a/x"), "scanned") == "scanned"
    response, _ = wsraw.http_exchange(server.port, wsraw.handshake_request("/b/y"))
    assert response.status == 404


# --- logging ------------------------------------------------------------------------------


def test_log_file_receives_the_log_instead_of_stderr(make_server, tmp_path):
    log_file = tmp_path / "mod_ws.log"
    server = make_server("-d", EXAMPLE, "--log-file", log_file, "--log-level", "info")
    assert echo_once(server.url("/echo")) == "ping"
    deadline = time.monotonic() + TIMEOUT
    while '"GET /echo HTTP/1.1" 101' not in log_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert '"GET /echo HTTP/1.1" 101' in log_file.read_text()
    assert not any("[INFO]" in line for line in server.stderr_lines()), server.stderr_text()


def test_log_level_info_logs_access_lines_for_websocket_and_static(make_server):
    server = make_server("-d", EXAMPLE, "--log-level", "info")
    assert echo_once(server.url("/echo?q=1")) == "ping"
    with wsraw.Conn.open(server.port) as conn:
        conn.send(b"GET /console.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert conn.read_http_response().status == 200
    assert server.wait_for_stderr('"GET /echo?q=1 HTTP/1.1" 101', TIMEOUT), server.stderr_text()
    line = server.wait_for_stderr('"GET /console.html HTTP/1.1" 200', TIMEOUT)
    assert line and "127.0.0.1" in line, server.stderr_text()


def test_default_log_level_keeps_stderr_to_the_start_up_banner(make_server):
    server = make_server("-d", EXAMPLE)
    assert echo_once(server.url("/echo")) == "ping"
    server.stop()
    lines = server.stderr_lines()
    assert lines[0].startswith("mod_ws: listening on 127.0.0.1:"), lines
    assert f"  console http://127.0.0.1:{server.port}/console.html" in lines
    assert all(line.startswith("  ") for line in lines[1:]), lines  # nothing but the banner


# --- a pywebsocket3-style handler -----------------------------------------------------------

COMPAT_HANDLER = """
from mod_ws import msgutil
from mod_ws.handshake import HandshakeException


def web_socket_do_extra_handshake(request):
    origin = request.headers_in.get("Origin")
    if origin == "http://evil.example":
        raise HandshakeException("origin %s refused" % origin, 403)


def web_socket_transfer_data(request):
    receiver = msgutil.MessageReceiver(request)
    sender = msgutil.MessageSender(request)
    host, port = request.connection.remote_addr[:2]
    sender.send("resource=%s" % request.ws_resource)
    sender.send("origin=%s" % request.headers_in.get("Origin"))
    sender.send("remote=%s:%d" % (host, port))
    while True:
        message = receiver.receive()
        if message is None:
            return
        opcode = request.ws_stream.get_last_received_opcode()
        if message == "fragments":
            request.ws_stream.send_message("one,", end=False)
            request.ws_stream.send_message("two,", end=False)
            request.ws_stream.send_message("three", end=True)
        else:
            kind = "binary" if isinstance(message, bytes) else "text"
            sender.send("%s opcode=%d len=%d" % (kind, opcode, len(message)))
"""


@pytest.fixture
def compat_server(make_server, tmp_path):
    write(tmp_path / "compat_wsh.py", COMPAT_HANDLER)
    return make_server("-d", tmp_path)


def test_pywebsocket3_style_handler_sees_resource_origin_and_remote_address(compat_server):
    ws = RawWebSocket.connect(compat_server.port, "/compat?room=7&x=y",
                              headers=[("Origin", "http://good.example")])
    with ws:
        local_host, local_port = ws.sock.getsockname()[:2]
        greeting = [ws.recv_message(TIMEOUT)[1].decode() for _ in range(3)]
        ws.send_close(1000)
        assert ws.expect_close(TIMEOUT) == (1000, "")
    assert greeting == ["resource=/compat?room=7&x=y", "origin=http://good.example",
                        f"remote={local_host}:{local_port}"]


def test_pywebsocket3_style_handler_reports_last_opcode_and_sends_fragments(compat_server):
    with RawWebSocket.connect(compat_server.port, "/compat") as ws:
        for _ in range(3):
            ws.recv_message(TIMEOUT)
        ws.send_text("héllo")
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"text opcode=1 len=5")
        ws.send_frame(OP_BINARY, b"\x00" * 10)
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"binary opcode=2 len=10")
        ws.send_text("fragments")
        frames = [ws.recv_frame(TIMEOUT) for _ in range(3)]
        ws.send_close(1000, "done")
        assert ws.expect_close(TIMEOUT) == (1000, "done")
    assert frames == [(False, OP_TEXT, b"one,"), (False, OP_CONT, b"two,"), (True, OP_CONT, b"three")]


def test_pywebsocket3_style_handler_refusing_origin_gets_403(compat_server):
    request = wsraw.handshake_request("/compat", headers=[("Origin", "http://evil.example")])
    response, closed = wsraw.http_exchange(compat_server.port, request)
    assert response.status == 403
    assert "http://evil.example" in response.body.decode()
    assert closed


def test_message_sender_thread_ends_with_its_connection(compat_server):
    baseline = wait_for_value(compat_server.thread_count, IDLE_THREADS, 2.0)
    for _ in range(3):
        with RawWebSocket.connect(compat_server.port, "/compat") as ws:
            for _ in range(3):
                ws.recv_message(TIMEOUT)
            ws.send_close(1000)
            assert ws.expect_close(TIMEOUT) == (1000, "")
    assert wait_for_value(compat_server.thread_count, baseline, 3.0) == baseline


# --- shutdown -----------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_sends_1001_to_open_websocket_and_exits_0(make_server, signum):
    server = make_server("-d", EXAMPLE, "--shutdown-timeout", "2", "--close-timeout", "1")
    with RawWebSocket.connect(server.port) as ws:
        assert ws.echo("before shutdown") == "before shutdown"
        start = time.monotonic()
        server.send_signal(signum)
        code, reason = ws.expect_close(TIMEOUT, answer=True)
    assert code == 1001, (code, reason)
    assert server.wait(2 + 2) == 0
    assert time.monotonic() - start < 2 + 2


def test_sigterm_with_silent_websocket_client_exits_within_shutdown_timeout(make_server):
    server = make_server("-d", EXAMPLE, "--shutdown-timeout", "1", "--close-timeout", "5")
    with RawWebSocket.connect(server.port) as ws:
        assert ws.echo("x") == "x"
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)
        frame = ws.recv_frame(TIMEOUT)
        assert frame.opcode == wsraw.OP_CLOSE
        assert struct.unpack("!H", frame.payload[:2])[0] == 1001
        # We never answer the close: the server must still go within its bound.
        assert server.wait(1 + 2) == 0
        assert time.monotonic() - start < 1 + 2
        assert ws.is_closed_by_peer(TIMEOUT)


@pytest.mark.parametrize("bound", [0, 1, 2])
def test_shutdown_timeout_bounds_the_whole_shutdown_with_a_stuck_handler(make_server, tmp_path, bound):
    """--shutdown-timeout is a hard bound: stop accepting, 1001 to every WebSocket, wait,
    cut; the process exits 0 within the bound plus 0.5 s, whatever the handlers do."""
    write(tmp_path / "stuck_wsh.py", """
        import time

        def web_socket_do_extra_handshake(request):
            pass

        def web_socket_transfer_data(request):
            time.sleep(60)
    """)
    write(tmp_path / "echo_wsh.py", ECHO_HANDLER)
    server = make_server("-d", tmp_path, "--shutdown-timeout", str(bound))
    with contextlib.ExitStack() as stack:
        stack.enter_context(ws_connect(server.url("/stuck")))
        echoes = [stack.enter_context(ws_connect(server.url("/echo"))) for _ in range(3)]
        echoes[0].send("x")
        assert echoes[0].recv(timeout=TIMEOUT) == "x"
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(bound + 5) == 0
        elapsed = time.monotonic() - start
    assert elapsed < bound + 0.5, f"shutdown took {elapsed:.2f} s with --shutdown-timeout {bound}"


def test_sigterm_with_idle_keep_alive_http_connection_exits_promptly(make_server):
    server = make_server("-d", EXAMPLE, "--shutdown-timeout", "5")
    with wsraw.Conn.open(server.port) as conn:
        conn.send(b"GET /console.html HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.read_http_response().header("Connection") == "keep-alive"
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(5 + 2) == 0
        elapsed = time.monotonic() - start
        assert conn.is_closed_by_peer(TIMEOUT)
    assert elapsed < 2.0, f"idle keep-alive connection delayed shutdown by {elapsed:.2f} s"


def test_sigterm_with_half_sent_request_exits_promptly(make_server):
    server = make_server("-d", EXAMPLE, "--shutdown-timeout", "5", "--request-timeout", "30")
    with wsraw.Conn.open(server.port) as conn:
        conn.send(b"GET /console.html HTTP/1.1\r\nHo")
        time.sleep(0.1)
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(5 + 2) == 0
        assert time.monotonic() - start < 2.0


# --- resource hygiene -----------------------------------------------------------------------


def _one_cycle(port: int, i: int) -> None:
    kind = i % 5
    if kind == 0:  # clean WebSocket session
        with RawWebSocket.connect(port) as ws:
            assert ws.echo(f"cycle {i}") == f"cycle {i}"
            ws.send_close(1000)
            assert ws.expect_close(TIMEOUT) == (1000, "")
    elif kind == 1:  # static GET on a keep-alive connection, then the client hangs up
        with wsraw.Conn.open(port) as conn:
            conn.send(b"GET /console.html HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.read_http_response().status == 200
    elif kind == 2:  # protocol violation
        with RawWebSocket.connect(port) as ws:
            ws.send_frame(OP_TEXT, b"unmasked", mask=False)
            assert ws.expect_close(TIMEOUT)[0] == 1002
    elif kind == 3:  # handler aborts the handshake
        with wsraw.Conn.open(port) as conn:
            conn.send(wsraw.handshake_request("/abort"))
            assert conn.read_to_eof(TIMEOUT) == b""
    else:  # client vanishes without a close frame
        with RawWebSocket.connect(port) as ws:
            assert ws.echo("vanish") == "vanish"


def test_fifty_connection_cycles_leak_no_threads_or_file_descriptors(make_server):
    server = make_server("-d", EXAMPLE, "--close-timeout", "1")
    _one_cycle(server.port, 0)  # warm up lazily created resources
    time.sleep(0.2)
    threads = wait_for_value(server.thread_count, IDLE_THREADS, 2.0)
    fds = settled_value(server.fd_count)
    for i in range(50):
        _one_cycle(server.port, i)
    assert wait_for_value(server.thread_count, threads, 5.0) == threads
    assert wait_for_value(server.fd_count, fds, 5.0) == fds


def test_client_that_stops_reading_is_dropped_after_send_timeout_and_others_are_served(make_server):
    """A peer that never reads must not hold a handler thread forever (--send-timeout)."""
    server = make_server("-d", EXAMPLE, "--send-timeout", "1", "--close-timeout", "1")
    threads = wait_for_value(server.thread_count, IDLE_THREADS, 2.0)
    stalled = RawWebSocket.connect(server.port)
    stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = b"x" * 65536
    try:
        # Echoes pile up unread until the server's writes block, then time out.
        deadline = time.monotonic() + 20
        stalled.sock.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                stalled.send_frame(wsraw.OP_BINARY, payload)
            except (socket.timeout, OSError):
                break  # the server stopped reading too: its handler is stuck in a write
        assert echo_once(server.url("/echo"), "still serving") == "still serving"
        # The stuck handler gives up within the send timeout (plus scheduling slack).
        assert wait_for_value(server.thread_count, threads, 10.0) == threads
    finally:
        stalled.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_chromiums_launch_line_starts_the_server(make_server, tmp_path):
    """Chromium's web-test runner launches pywebsocket with exactly these options (a
    relative map file, found under the document root; every path a CGI path); only
    the port is a free one instead of 8880."""
    docs = tmp_path / "http" / "tests" / "websocket"
    write(docs / "echo-request-headers_wsh.py", """
        from mod_pywebsocket import msgutil

        def web_socket_do_extra_handshake(request):
            pass

        def web_socket_transfer_data(request):
            msgutil.send_message(request, "Host: %s" % request.headers_in["Host"])
    """)
    write(docs / "handler_map.txt", "# alias existing\n/ /echo-request-headers\n")
    write(docs / "page.html", "<p>static</p>\n")
    script = write(docs / "resources" / "hello.py", """
        #!/usr/bin/env python3
        print("Content-Type: text/plain")
        print()
        print("from a CGI program")
    """)
    script.chmod(0o755)
    log_file = tmp_path / "pywebsocket.ws.log"
    port = _free_port()
    server = make_server(
        "--server-host", "localhost", "--port", port, "--document-root", docs,
        "--scan-dir", docs, "--cgi-paths", "/", "--log-file", log_file,
        "--websock-handlers-map-file", "handler_map.txt", "--handler-encoding", "utf-8",
        cwd=tmp_path, defaults=False)
    assert server.port == port
    with ws_connect(f"ws://localhost:{port}/") as ws:  # the map's alias for /
        assert ws.recv(timeout=TIMEOUT) == f"Host: localhost:{port}"
    for path, body in (("/page.html", b"<p>static</p>\n"), ("/resources/hello.py", b"from a CGI program\n")):
        response, _ = wsraw.http_exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert (response.status, response.body) == (200, body)
    server.stop()
    assert log_file.exists()


# --- limits -------------------------------------------------------------------------------


def test_max_connections_answers_503_with_retry_after_beyond_the_limit(make_server):
    server = make_server("-d", EXAMPLE, "--max-connections", "2")
    with ws_connect(server.url("/echo")) as first, ws_connect(server.url("/echo")) as second:
        response, closed = wsraw.http_exchange(server.port, wsraw.handshake_request("/echo"))
        assert (response.status, response.header("Retry-After")) == (503, "1")
        assert "limit of 2 connections (--max-connections)" in response.body.decode()
        assert closed
        first.send("still served")
        assert first.recv(timeout=TIMEOUT) == "still served"
        second.send("both")
        assert second.recv(timeout=TIMEOUT) == "both"
    # Once they are gone, new connections are served again.
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            assert echo_once(server.url("/echo"), "again") == "again"
            break
        except Exception:  # noqa: BLE001 - the two may not have left yet
            time.sleep(0.05)
    else:
        raise AssertionError("not served again after the others left")


def test_max_frame_size_closes_1009_on_the_header_before_the_payload(make_server):
    server = make_server("-d", EXAMPLE, "--max-frame-size", "1000")
    with RawWebSocket.connect(server.port, "/echo") as ws:
        ws.send_frame(OP_TEXT, b"x" * 1000)
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"x" * 1000)
        # Only the header of a 1001-byte frame: the server must not wait for its payload.
        ws.send(wsraw.encode_frame(OP_BINARY, b"y" * 1001)[:8])
        code, reason = ws.expect_close(TIMEOUT, answer=True)
    assert code == 1009 and "frame of 1001 bytes exceeds the frame limit of 1000" in reason


def test_auto_fragment_size_sends_messages_in_frames_of_at_most_that_size(make_server):
    server = make_server("-d", EXAMPLE, "--auto-fragment-size", "100")
    with RawWebSocket.connect(server.port, "/echo") as ws:
        ws.send_frame(OP_TEXT, b"z" * 250)
        frames = [ws.recv_frame(TIMEOUT) for _ in range(3)]
        assert [(f.opcode, f.fin, len(f.payload)) for f in frames] == [
            (OP_TEXT, False, 100), (OP_CONT, False, 100), (OP_CONT, True, 50)]
        ws.send_frame(OP_BINARY, b"small")
        assert ws.recv_frame(TIMEOUT) == wsraw.Frame(True, OP_BINARY, b"small")
    with ws_connect(server.url("/echo"), compression="deflate") as client:  # fragments of compressed data
        text = "".join(chr(0x41 + i % 26) for i in range(5000))
        client.send(text)
        assert client.recv(timeout=TIMEOUT) == text
