"""mod_ws.Server (mod_ws/embedded.py): the real server in this process, on a thread.

Clients are independent of mod_ws: the `websockets` library, `websocket-client`, and
the raw-socket client of wsraw.py. Every wait is bounded.
"""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import websocket
import wsraw
from conftest import connect_wss
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import mod_ws
from mod_ws.dispatch import DispatchException
from mod_ws.embedded import Server
from mod_ws.options import OptionError
from mod_ws.server.listener import ServerStartError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example"
CERT = ROOT / "cert"
TIMEOUT = 10.0


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def threads_besides(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2.0).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def started():
    """Starts Servers for one test and stops whichever the test did not."""
    servers: list[Server] = []

    def start(document_root=EXAMPLE, **options) -> Server:
        server = Server(document_root, **options)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def test_port_0_gives_a_free_port_on_loopback_and_the_urls(started):
    server = started()
    assert server.port > 0
    assert server.host == "127.0.0.1"
    assert server.url() == f"ws://127.0.0.1:{server.port}/echo"
    assert server.url("close") == f"ws://127.0.0.1:{server.port}/close"
    assert server.url("/a/b?x=1", secure=True) == f"wss://127.0.0.1:{server.port}/a/b?x=1"
    assert server.http_url("/console.html") == f"http://127.0.0.1:{server.port}/console.html"
    assert {"/abort", "/close", "/echo", "/echo_noext"} <= set(server.resources())
    assert server.source_warnings() == []
    assert repr(server) == f"<mod_ws.Server ws://127.0.0.1:{server.port}/ serving>"


def test_echoes_text_and_binary_to_websockets_and_websocket_client(started):
    server = started()
    with connect(server.url(), open_timeout=TIMEOUT) as ws:
        ws.send("Привет")
        assert ws.recv(timeout=TIMEOUT) == "Привет"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\xff"
        assert eventually(lambda: server.connection_count() == 1)
    ws = websocket.create_connection(server.url(), timeout=TIMEOUT)
    try:
        ws.send("from websocket-client")
        assert ws.recv() == "from websocket-client"
        ws.send_binary(b"\x01\x02")
        assert ws.recv() == b"\x01\x02"
    finally:
        ws.close()
    assert eventually(lambda: server.connection_count() == 0)


def test_serves_static_files_at_http_url(started, tmp_path):
    (tmp_path / "hello.txt").write_text("static\n")
    server = started(tmp_path)
    response, _ = wsraw.http_exchange(server.port, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
                                   b"Connection: close\r\n\r\n")
    assert response.status == 200 and response.body == b"static\n"
    assert server.http_url("hello.txt").endswith(f":{server.port}/hello.txt")


def test_two_servers_run_at_once_on_their_own_ports(started, tmp_path):
    (tmp_path / "hi_wsh.py").write_text(
        "def web_socket_do_extra_handshake(request):\n    pass\n\n"
        "def web_socket_transfer_data(request):\n    request.ws_stream.send_message('hi')\n")
    first, second = started(), started(tmp_path)
    assert first.port != second.port
    with connect(first.url("/echo"), open_timeout=TIMEOUT) as a, \
            connect(second.url("/hi"), open_timeout=TIMEOUT) as b:
        assert b.recv(timeout=TIMEOUT) == "hi"
        a.send("still first")
        assert a.recv(timeout=TIMEOUT) == "still first"
    second.stop()
    assert refuses_connections(second.port)
    with connect(first.url(), open_timeout=TIMEOUT) as a:  # the other one serves on
        a.send("after")
        assert a.recv(timeout=TIMEOUT) == "after"


def test_stop_closes_an_open_websocket_with_1001(started):
    server = started()
    with wsraw.RawWebSocket.connect(server.port, "/echo", timeout=TIMEOUT) as held:
        assert held.echo("before stop") == "before stop"
        stopper = threading.Thread(target=server.stop)
        began = time.monotonic()
        stopper.start()
        frame = held.recv_frame(timeout=TIMEOUT)
        assert frame.opcode == wsraw.OP_CLOSE, frame
        assert int.from_bytes(frame.payload[:2], "big") == 1001, frame
        held.send_close(1001)
        stopper.join(TIMEOUT)
        assert not stopper.is_alive()
        # The client answered the close: no shutdown_timeout (5 s) spent waiting.
        assert time.monotonic() - began < 3.0
        assert held.is_closed_by_peer(TIMEOUT)


def test_stop_gives_websockets_client_a_1001(started):
    server = started()
    with connect(server.url(), open_timeout=TIMEOUT) as ws:
        server.stop()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_a_client_that_ignores_the_1001_is_cut_after_shutdown_timeout(started):
    server = started(shutdown_timeout=0.5)
    with wsraw.RawWebSocket.connect(server.port, "/echo", timeout=TIMEOUT) as held:
        began = time.monotonic()
        server.stop()
        took = time.monotonic() - began
        assert 0.4 < took < 4.0, took
        frame = held.recv_frame(timeout=TIMEOUT)
        assert frame.opcode == wsraw.OP_CLOSE and frame.payload[:2] == (1001).to_bytes(2, "big")
        assert held.is_closed_by_peer(TIMEOUT)


def test_stop_leaves_no_thread_behind(tmp_path):
    before = set(threading.enumerate())
    server = Server(EXAMPLE).start()
    with connect(server.url(), open_timeout=TIMEOUT) as idle, \
            connect(server.url(), open_timeout=TIMEOUT) as busy:
        busy.send("x")
        assert busy.recv(timeout=TIMEOUT) == "x"
        assert threads_besides(before)  # the serving thread and the connection threads
        server.stop()
        # stop() has joined the serving thread; the connection pool's threads
        # (mod_ws.server.workers) have finished their connections and leave a moment later.
        assert not [name for name in threads_besides(before) if name.startswith("mod_ws serve ")]
        assert eventually(lambda: not [name for name in threads_besides(before)
                                       if name.startswith(("accept ", "conn "))], timeout=2.0)
        for ws in (idle, busy):
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=TIMEOUT)
    # The clients' threads (websockets' keepalive) end once their connections have.
    assert eventually(lambda: threads_besides(before) == []), threads_besides(before)
    assert refuses_connections(server.port)


def test_stop_is_idempotent_and_a_stopped_server_does_not_restart(started):
    server = started()
    server.stop()
    server.stop()
    server.stop(timeout=0.1)
    assert repr(server).endswith(" stopped>")
    assert server.url().endswith(f":{server.port}/echo")  # still known after the close
    with pytest.raises(RuntimeError, match="stopped"):
        server.start()


def test_start_is_idempotent_and_stop_before_start_closes_the_port():
    server = Server(EXAMPLE)
    assert repr(server).endswith(" listening>")
    assert server.start() is server.start()
    server.stop()
    never_started = Server(EXAMPLE)
    port = never_started.port
    never_started.stop()
    assert refuses_connections(port)


def test_context_manager_serves_inside_and_stops_on_leaving():
    before = set(threading.enumerate())
    with Server(EXAMPLE) as server, connect(server.url(), open_timeout=TIMEOUT) as ws:
        ws.send("inside")
        assert ws.recv(timeout=TIMEOUT) == "inside"
    assert refuses_connections(server.port)
    assert eventually(lambda: threads_besides(before) == []), threads_besides(before)


def test_the_context_manager_stops_when_the_block_raises():
    with pytest.raises(KeyError), Server(EXAMPLE) as server:
        raise KeyError("the test failed")
    assert refuses_connections(server.port)


def test_an_unknown_keyword_is_an_option_error_naming_it():
    with pytest.raises(OptionError, match="unknown option 'prot'") as raised:
        Server(EXAMPLE, prot=8880)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("keywords, message", [
    ({"port": "eighty"}, "--port: invalid int value: 'eighty'"),
    ({"max_message_size": 0}, "--max-message-size: 0 is out of range"),
    ({"use_tls": "yes"}, "--tls: expected True or False"),
    ({"tls": True}, "--tls needs --private-key"),
    ({"host": "::1", "server_host": "::1"}, "'host' and 'server_host' set the same option"),
    ({"log_level": "debug"}, "'log_level': logging belongs to the embedding program"),
    ({"log_file": "x.log"}, "'log_file': logging belongs to the embedding program"),
])
def test_a_bad_option_is_one_line_naming_it(keywords, message):
    with pytest.raises(OptionError) as raised:
        Server(EXAMPLE, **keywords)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_document_root_is_an_option_error(tmp_path):
    with pytest.raises(OptionError, match=r"--document-root '.*missing' is not a directory"):
        Server(tmp_path / "missing")


def test_a_missing_handler_root_is_a_dispatch_exception(tmp_path):
    with pytest.raises(DispatchException, match=r"handler root '.*nowhere' is not a directory") as raised:
        Server(tmp_path, handlers=tmp_path / "nowhere")
    assert "\n" not in str(raised.value)


def test_a_port_in_use_is_a_one_line_server_start_error():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    with taken, pytest.raises(ServerStartError, match="Address already in use") as raised:
        Server(EXAMPLE, port=taken.getsockname()[1])
    assert "\n" not in str(raised.value)


def test_a_bad_certificate_is_a_one_line_server_start_error(tmp_path):
    (tmp_path / "not-a-cert.pem").write_text("nothing here\n")
    with pytest.raises(ServerStartError) as raised:
        Server(EXAMPLE, tls=True, private_key=CERT / "server-key.pem",
               certificate=tmp_path / "not-a-cert.pem")
    assert "not-a-cert.pem" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_handlers_alias_names_the_handler_root_apart_from_the_document_root(started, tmp_path):
    server = started(tmp_path, handlers=EXAMPLE)
    assert "/echo" in server.resources()
    with connect(server.url(), open_timeout=TIMEOUT) as ws:
        ws.send("aliased")
        assert ws.recv(timeout=TIMEOUT) == "aliased"


def test_tls_serves_wss_to_a_client_trusting_the_test_ca(started):
    server = started(tls=True, certificate=CERT / "server.pem",
                     private_key=CERT / "server-key.pem")
    assert server.tls
    assert server.url() == f"wss://127.0.0.1:{server.port}/echo"
    assert server.http_url("/").startswith("https://")
    assert server.url(secure=False).startswith("ws://")
    context = ssl.create_default_context(cafile=str(CERT / "ca.pem"))
    with connect_wss(server.url(), ssl=context, open_timeout=TIMEOUT) as ws:
        ws.send("secure")
        assert ws.recv(timeout=TIMEOUT) == "secure"
        server.stop()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_tls_with_websocket_client(started):
    server = started(use_tls=True, certificate=CERT / "server.pem",
                     private_key=CERT / "server-key.pem", tls_module="ssl")
    ws = websocket.create_connection(server.url(), timeout=TIMEOUT,
                                     sslopt={"ca_certs": str(CERT / "ca.pem")})
    try:
        ws.send("over ssl")
        assert ws.recv() == "over ssl"
    finally:
        ws.close()


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_host_is_bracketed_in_urls(started):
    server = started(host="::1")
    assert server.url() == f"ws://[::1]:{server.port}/echo"
    with connect(server.url(), open_timeout=TIMEOUT) as ws:
        ws.send("v6")
        assert ws.recv(timeout=TIMEOUT) == "v6"


def test_every_interface_is_reached_through_loopback(started):
    server = started(host="")
    assert server.host == "127.0.0.1"
    with connect(server.url(), open_timeout=TIMEOUT) as ws:
        ws.send("any")
        assert ws.recv(timeout=TIMEOUT) == "any"


def test_source_warnings_name_a_handler_file_that_failed_to_load(started, tmp_path):
    (tmp_path / "broken_wsh.py").write_text("def web_socket_transfer_data(request):\n    pass\n")
    server = started(tmp_path)
    assert server.resources() == []
    [warning] = server.source_warnings()
    assert "broken_wsh.py failed to load" in warning
    assert "web_socket_do_extra_handshake is not defined" in warning


def test_the_root_logger_is_left_as_the_program_set_it(started):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    server = started()
    with connect(server.url(), open_timeout=TIMEOUT) as ws:
        ws.send("x")
        ws.recv(timeout=TIMEOUT)
    server.stop()
    assert root.handlers == handlers and root.level == level


def test_the_thread_monitor_option_runs_only_while_serving(started):
    server = started(thread_monitor_interval_in_sec=1)
    assert any(t.name == "ThreadMonitor" for t in threading.enumerate())
    server.stop()
    assert eventually(lambda: not any(t.name == "ThreadMonitor" for t in threading.enumerate()))


def test_mod_ws_server_is_the_embedded_server_imported_only_when_asked_for():
    assert mod_ws.Server is Server
    with pytest.raises(AttributeError, match="no attribute 'Client'"):
        mod_ws.Client  # noqa: B018
    # A fresh interpreter: handlers' imports must not load the server.
    probe = (
        "import sys\n"
        "import mod_ws\n"
        "from mod_ws import msgutil\n"
        "heavy = [m for m in ('mod_ws.embedded', 'mod_ws.standalone', 'mod_ws.server.listener')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "mod_ws.Server\n"
        "assert 'mod_ws.embedded' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
