"""WebSockets over HTTP/2 (RFC 8441) end to end: the real server with --tls --http2,
against a client built directly on the h2 library (test/h2_client.py; wsproto frames
the WebSocket), over loopback."""

from __future__ import annotations

import signal
import socket
import ssl
import textwrap
import time

import pytest

pytest.importorskip("h2")
pytest.importorskip("wsproto")

import hyperframe.frame  # noqa: E402  (comes with h2)
from conftest import ROOT, connect_wss, run_mod_ws, settled_value, wait_for_value  # noqa: E402
from h2_client import H2Client  # noqa: E402
from wsproto.events import BytesMessage, CloseConnection, TextMessage  # noqa: E402

CERT = ROOT / "cert"
EXAMPLE = ROOT / "example"
TLS_ARGS = ("--tls", "--private-key", CERT / "server-key.pem", "--certificate", CERT / "server.pem")
H2_ARGS = TLS_ARGS + ("--http2",)
ENABLE_CONNECT_PROTOCOL = 0x8

# Reads nothing until told to by a message on another stream: its stream's window fills.
STALL_HANDLER = """
import time
def web_socket_do_extra_handshake(request):
    pass
def web_socket_transfer_data(request):
    time.sleep(30)
"""
REFUSE_HANDLER = """
from mod_ws import handshake
def web_socket_do_extra_handshake(request):
    raise handshake.HandshakeException("refused by the handler", 403)
def web_socket_transfer_data(request):
    pass
"""
SLOW_HANDLER = """
import time
def web_socket_do_extra_handshake(request):
    time.sleep(5)
def web_socket_transfer_data(request):
    pass
"""
# Reports what the request object says, so HTTP/2's can be compared with HTTP/1.1's.
REQUEST_HANDLER = """
import json
def web_socket_do_extra_handshake(request):
    pass
def web_socket_transfer_data(request):
    request.ws_stream.send_message(json.dumps({
        "method": request.method, "protocol": request.protocol,
        "resource": request.ws_resource, "origin": request.ws_origin,
        "version": request.ws_version, "host": request.headers_in.get("Host"),
        "https": request.is_https(), "requested": request.ws_requested_protocols}))
    request.ws_stream.receive_message()
"""


def handler_root(root):
    for name in ("echo", "close", "subprotocol", "abort"):
        (root / f"{name}_wsh.py").write_text((EXAMPLE / f"{name}_wsh.py").read_text())
    (root / "stall_wsh.py").write_text(STALL_HANDLER)
    (root / "refuse_wsh.py").write_text(REFUSE_HANDLER)
    (root / "request_wsh.py").write_text(REQUEST_HANDLER)
    (root / "slow_wsh.py").write_text(SLOW_HANDLER)
    (root / "page.html").write_text("<!doctype html><p>over h2</p>\n")
    return root


@pytest.fixture(scope="module")
def h2_server(make_module_server, tmp_path_factory):
    return make_module_server("-d", handler_root(tmp_path_factory.mktemp("h2root")), *H2_ARGS,
                              "--log-level", "info")


@pytest.fixture
def own_server(make_server, tmp_path):
    """A server of the test's own, for counting its threads (a stalled handler of
    another test would sleep on in a shared one)."""
    return make_server("-d", handler_root(tmp_path), *H2_ARGS, "--log-level", "info")


def client(server, **kwargs) -> H2Client:
    return H2Client(server.port, **kwargs)


# An extended CONNECT to /echo without the Sec-WebSocket-* fields, which tests add.
CONNECT_ECHO = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                (":path", "/echo"), (":authority", "localhost")]


def answer_to(c: H2Client, fields: list[tuple[str, str]], end_stream: bool = False):
    """Sends `fields` as a new stream's header block; the stream once it has ended or
    was reset."""
    state = c.streams[c.request(fields, end_stream=end_stream)]
    c.wait(lambda: state.ended or state.reset is not None)
    return state


# The connection.

def test_alpn_chooses_h2_and_settings_enable_the_connect_protocol(h2_server):
    with client(h2_server) as c:
        assert c.negotiated == "h2"
        assert c.wait(lambda: ENABLE_CONNECT_PROTOCOL in c.remote_settings)
        assert c.remote_settings[ENABLE_CONNECT_PROTOCOL] == 1


def test_without_http2_option_alpn_offers_only_http1(make_server):
    server = make_server("-d", EXAMPLE, *TLS_ARGS)
    context = ssl.create_default_context(cafile=str(CERT / "ca.pem"))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=5),
                             server_hostname="localhost") as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"


def test_http1_clients_still_served_on_the_same_port(h2_server):
    with connect_wss(f"wss://localhost:{h2_server.port}/echo",
                     ssl=ssl.create_default_context(cafile=str(CERT / "ca.pem"))) as ws:
        ws.send("over http/1.1")
        assert ws.recv(timeout=5) == "over http/1.1"


# Opening.

def test_extended_connect_is_answered_200_without_accept_upgrade_or_connection(h2_server):
    with client(h2_server) as c:
        ws = c.open_websocket("/echo")
        assert ws.status == 200
        names = {name for name, _ in ws.state.headers}
        assert not names & {"sec-websocket-accept", "upgrade", "connection"}
        ws.send_text("hello over h2")
        assert ws.receive() == "hello over h2"


def test_request_object_over_http2_matches_what_handlers_read(h2_server):
    import json

    with client(h2_server) as c:
        ws = c.open_websocket("/request?x=1", protocols=["a", "b"])
        assert ws.status == 200
        seen = json.loads(ws.receive())
    assert seen == {"method": "CONNECT", "protocol": "HTTP/2", "resource": "/request?x=1",
                    "origin": "https://localhost", "version": 13, "host": "localhost",
                    "https": True, "requested": ["a", "b"]}


def test_subprotocol_is_chosen_as_over_http1(h2_server):
    with client(h2_server) as c:
        ws = c.open_websocket("/subprotocol", protocols=["chat.v1", "chat.v2"])
        assert ws.status == 200
        assert ws.state.header("sec-websocket-protocol") == "chat.v2"
        ws.send_text("hi")
        assert ws.receive() == "[chat.v2] hi"
        refused = c.open_websocket("/subprotocol", protocols=["chat.v9"])
        assert refused.status == 400


def test_unknown_protocol_gets_501_and_a_tunnel_connect_gets_501(h2_server):
    # h2 releases before 4.4 refuse to send an ordinary CONNECT: this client does not check.
    with client(h2_server, validate=False) as c:
        ws = c.open_websocket("/echo", protocol="webtransport")
        assert ws.status == 501
        c.wait(lambda: ws.state.ended)
        assert b"'webtransport' is not supported" in ws.state.data
        # An ordinary CONNECT (RFC 9113 section 8.5): only :method and :authority.
        tunnel = answer_to(c, [(":method", "CONNECT"), (":authority", "localhost:443")])
        assert tunnel.status == 501
        assert b"tunnel" in tunnel.data
        # The connection serves on.
        echo = c.open_websocket("/echo")
        echo.send_text("still here")
        assert echo.receive() == "still here"


def test_missing_version_and_missing_handler_are_refused_on_their_stream(h2_server):
    with client(h2_server) as c:
        missing = c.open_websocket("/nothere")
        assert missing.status == 404
        c.wait(lambda: missing.state.ended)
        assert missing.state.data == b"404 Not Found: no WebSocket handler for /nothere\n"
        versionless = answer_to(c, CONNECT_ECHO)
        assert versionless.status == 400
        assert b"Sec-WebSocket-Version" in versionless.data
        assert c.open_websocket("/echo").status == 200


def test_unsupported_version_gets_426_naming_13(h2_server):
    with client(h2_server, validate=False) as c:
        state = answer_to(c, CONNECT_ECHO + [("sec-websocket-version", "8")])
        assert state.status == 426
        assert state.header("sec-websocket-version") == "13"


def test_handshake_timeout_answers_408_on_the_stream_and_the_connection_serves_on(make_server, tmp_path):
    server = make_server("-d", handler_root(tmp_path), *H2_ARGS, "--handshake-timeout", "1")
    with H2Client(server.port) as c:
        started = time.monotonic()
        slow = c.open_websocket("/slow")
        assert slow.status == 408
        assert time.monotonic() - started < 4
        c.wait(lambda: slow.state.ended or slow.state.reset is not None)
        assert b"opening handshake not completed within 1 s" in slow.state.data
        echo = c.open_websocket("/echo")
        echo.send_text("after the timeout")
        assert echo.receive() == "after the timeout"


def test_handler_refusing_in_extra_handshake_answers_on_its_stream_and_the_next_stream_works(h2_server):
    with client(h2_server) as c:
        refused = c.open_websocket("/refuse")
        assert refused.status == 403
        c.wait(lambda: refused.state.ended)
        assert b"refused by the handler" in refused.state.data
        aborted = c.open_websocket("/abort")
        assert aborted.status is None and aborted.state.reset is not None  # nothing answered
        echo = c.open_websocket("/echo")
        echo.send_text("next")
        assert echo.receive() == "next"
    line = h2_server.wait_for_stderr("'CONNECT /refuse (HTTP/2)': 403 refused by the handler")
    assert line is not None


@pytest.mark.parametrize("fields, reason", [
    ([("Sec-WebSocket-Version", "13")], "field name 'Sec-WebSocket-Version' is not lower case"),
    ([("connection", "upgrade")], "connection-specific field connection"),
    ([("sec-websocket-version", "13"), (":authority", "x")], ":authority repeated"),
    ([(":bogus", "1")], "unknown pseudo-header field :bogus"),
])
def test_malformed_header_block_is_refused_with_400_on_its_stream_only(h2_server, fields, reason):
    with client(h2_server, validate=False) as c:
        state = answer_to(c, CONNECT_ECHO + fields)
        assert state.status == 400
        assert reason in bytes(state.data).decode()
        echo = c.open_websocket("/echo")
        echo.send_text("the connection lives")
        assert echo.receive() == "the connection lives"
        assert c.terminated is None


def test_header_list_over_the_limit_is_431_on_its_stream(h2_server):
    with client(h2_server) as c:
        big = c.open_websocket("/echo", extra=[("x-big", "b" * 20000)])
        assert big.status == 431
        c.wait(lambda: big.state.ended)
        assert b"exceeds 16384" in big.state.data
        assert c.open_websocket("/echo").status == 200


def test_plain_get_of_a_websocket_resource_says_how_to_open_it(h2_server):
    with client(h2_server) as c:
        state = c.get("/echo")
    assert state.status == 405
    assert state.header("allow") == "CONNECT"
    assert b"extended CONNECT" in state.data


# Messages.

def test_binary_fragmented_and_large_messages_echo(h2_server):
    with client(h2_server) as c:
        ws = c.open_websocket("/echo")
        ws.send_bytes(bytes(range(256)))
        assert ws.receive() == bytes(range(256))
        ws.send(TextMessage(data="frag", message_finished=False))
        ws.send(TextMessage(data="ment", message_finished=False))
        ws.send(TextMessage(data="ed", message_finished=True))
        assert ws.receive() == "fragmented"
        big = bytes(range(251)) * 4200  # about 1 MiB: several windows' worth each way
        ws.send_bytes(big)
        assert ws.receive(timeout=20) == big


def test_permessage_deflate_over_http2(h2_server):
    with client(h2_server) as c:
        ws = c.open_websocket("/echo", deflate=True)
        assert ws.status == 200
        assert ws.state.header("sec-websocket-extensions").startswith("permessage-deflate")
        text = "compress me " * 5000
        ws.send_text(text)
        assert ws.receive() == text
    line = h2_server.wait_for_stderr(lambda l: "extensions permessage-deflate; received 1 message" in l)
    assert line is not None


# Closing.

def test_client_close_is_answered_and_the_stream_ends_both_ways(h2_server):
    with client(h2_server) as c:
        ws = c.open_websocket("/echo")
        ws.close(4001, "bye")
        event = ws.next_event()
        assert isinstance(event, CloseConnection) and event.code == 4001 and event.reason == "bye"
        # The server ends its side; ours follows, and the stream is closed, not reset.
        assert ws.wait_ended()
        ws.send_raw(b"", end_stream=True)
        assert ws.state.reset is None
        assert c.open_websocket("/echo").status == 200


def test_server_close_then_end_stream_both_ways(h2_server):
    with client(h2_server) as c:
        ws = c.open_websocket("/close")
        ws.send_text("4002 done here")
        event = ws.next_event()
        assert isinstance(event, CloseConnection) and event.code == 4002
        ws.send(event.response())
        assert ws.wait_ended()
        ws.send_raw(b"", end_stream=True)
        assert c.wait(lambda: False, 0.3) is False and ws.state.reset is None
    assert h2_server.wait_for_stderr("/close: closed by the server with 4002") is not None


def test_client_ending_its_stream_without_a_close_ends_the_session(h2_server):
    with client(h2_server) as c:
        ws = c.open_websocket("/echo")
        ws.send_text("last words")
        assert ws.receive() == "last words"
        ws.send_raw(b"", end_stream=True)
        assert ws.wait_ended()
        assert ws.state.reset is None
    assert h2_server.wait_for_stderr("/echo: ended without a closing handshake") is not None


def test_client_reset_mid_message_ends_only_that_stream(h2_server):
    with client(h2_server) as c:
        other = c.open_websocket("/echo")
        victim = c.open_websocket("/echo")
        frame = victim.ws.send(BytesMessage(data=b"x" * 1000))
        victim.send_raw(frame[:500])
        c.h2.reset_stream(victim.stream_id, 8)  # CANCEL
        c.flush()
        other.send_text("unharmed")
        assert other.receive() == "unharmed"
    assert h2_server.wait_for_stderr("the client reset the stream (CANCEL)") is not None


# Several WebSockets on one connection, and flow control.

def test_stalled_handler_stalls_only_its_stream(h2_server):
    with client(h2_server) as c:
        stalled = c.open_websocket("/stall")
        echo = c.open_websocket("/echo")
        chunk = stalled.ws.send(BytesMessage(data=b"s" * 16000))
        sent = 0
        # Fill the stalled stream's window: the server returns no credit for it.
        while c.h2.local_flow_control_window(stalled.stream_id) >= len(chunk):
            stalled.send_raw(chunk)
            sent += len(chunk)
            c.pump(0.01)
        c.wait(lambda: False, 0.5)
        assert c.h2.local_flow_control_window(stalled.stream_id) < len(chunk)
        assert sent >= (1 << 20) - 16000  # the server's stream window is 1 MiB
        # The connection's window was returned as data arrived: the other stream flows.
        payload = b"e" * 300_000
        echo.send_bytes(payload)
        assert echo.receive(timeout=10) == payload
        for _ in range(20):
            echo.send_text("ping")
            assert echo.receive() == "ping"


def test_client_ignoring_flow_control_gets_goaway_and_others_are_unharmed(h2_server):
    with client(h2_server) as bystander, client(h2_server) as c:
        keep = bystander.open_websocket("/echo")
        stalled = c.open_websocket("/stall")
        window = c.h2.local_flow_control_window(stalled.stream_id)
        # Raw DATA frames past the window the server granted (the h2 client would refuse).
        for _ in range(window // 16384 + 2):
            frame = hyperframe.frame.DataFrame(stalled.stream_id, data=b"z" * 16384)
            c.sock.sendall(frame.serialize())
        assert c.wait(lambda: c.terminated is not None or c.closed, 5)
        assert c.terminated is not None and c.terminated.error_code == 3  # FLOW_CONTROL_ERROR
        keep.send_text("fine")
        assert keep.receive() == "fine"


def test_two_websockets_on_one_connection_echo_independently(h2_server):
    with client(h2_server) as c:
        one, two = c.open_websocket("/echo"), c.open_websocket("/echo")
        for i in range(10):
            one.send_text(f"one {i}")
            two.send_text(f"two {i}")
        assert [one.receive() for _ in range(10)] == [f"one {i}" for i in range(10)]
        assert [two.receive() for _ in range(10)] == [f"two {i}" for i in range(10)]


def test_client_goaway_ends_its_handlers_and_threads_return(own_server):
    h2_server = own_server
    baseline = settled_value(h2_server.thread_count)
    with client(h2_server) as c:
        ws = c.open_websocket("/echo")
        ws.send_text("x")
        assert ws.receive() == "x"
        assert settled_value(h2_server.thread_count) >= baseline + 1
        c.h2.close_connection()
        c.flush()
        c.wait(lambda: c.closed, 5)
    assert h2_server.wait_for_stderr("the client sent GOAWAY (NO_ERROR)") is not None
    # Idle accepting threads leave after a second: the count comes back to the baseline.
    assert wait_for_value(h2_server.thread_count, baseline, 10) == baseline


def test_vanished_client_frees_its_streams(own_server):
    h2_server = own_server
    baseline = settled_value(h2_server.thread_count)
    c = client(h2_server)
    c.open_websocket("/echo")
    c.open_websocket("/stall")
    assert settled_value(h2_server.thread_count) >= baseline + 2
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    # The stalled handler sleeps on (30 s); its stream is gone, the echo handler and the
    # connection thread leave.
    assert wait_for_value(h2_server.thread_count, baseline + 1, 10) == baseline + 1
    assert h2_server.wait_for_stderr("HTTP/2 connection closed") is not None


# Pages on the same connection.

def test_static_file_and_status_page_over_http2(h2_server):
    import json

    with client(h2_server) as c:
        page = c.get("/page.html")
        assert page.status == 200 and page.data == b"<!doctype html><p>over h2</p>\n"
        assert page.header("content-type").startswith("text/html")
        head = c.get("/page.html", method="HEAD")
        assert head.status == 200 and head.data == b"" and head.header("content-length") == "30"
        ws = c.open_websocket("/echo")
        ws.send_text("listed")
        assert ws.receive() == "listed"
        status = c.get("/_mod_ws/status.json")
        assert status.status == 200
        sessions = json.loads(bytes(status.data))["open"]
        assert [s["carrier"] for s in sessions if s["resource"] == "/echo"] == ["HTTP/2"]
        state = answer_to(c, [(":method", "POST"), (":scheme", "https"),
                              (":authority", "localhost"), (":path", "/page.html")], end_stream=True)
        assert state.status == 405 and state.header("allow") == "GET, HEAD"


def test_basic_auth_over_http2(make_server):
    import base64

    server = make_server("-d", EXAMPLE, *H2_ARGS, "--basic-auth")
    with H2Client(server.port) as c:
        refused = c.open_websocket("/echo")
        assert refused.status == 401
        assert refused.state.header("www-authenticate").startswith("Basic")
        token = base64.b64encode(b"test:test").decode()
        ws = c.open_websocket("/echo", extra=[("authorization", f"Basic {token}")])
        assert ws.status == 200


# Shutdown and options.

def test_sigterm_sends_1001_on_http2_websockets_and_exits(make_server):
    server = make_server("-d", EXAMPLE, *H2_ARGS)
    with H2Client(server.port) as c:
        ws = c.open_websocket("/echo")
        ws.send_text("before")
        assert ws.receive() == "before"
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        event = ws.next_event(timeout=5)
        assert isinstance(event, CloseConnection) and event.code == 1001
        ws.send(event.response())
        ws.send_raw(b"", end_stream=True)
        assert c.wait(lambda: c.terminated is not None or c.closed, 5)
    assert server.wait(10) == 0
    assert time.monotonic() - started < 6


@pytest.mark.parametrize("args, message", [
    (("--http2",), "--http2 needs --tls"),
    (("--http3-port", "0"), "--http3-port needs --tls"),
])
def test_carrier_options_need_tls(args, message):
    result = run_mod_ws("-d", EXAMPLE, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("blocked, option, extra", [
    ("h2", ("--http2",), "--http2 needs the h2 library: pip install 'mod_ws[h2]'"),
    ("aioquic", ("--http3-port", "0"), "--http3-port needs the aioquic library: "
     "pip install 'mod_ws[h3]'"),
])
def test_a_carrier_without_its_extra_is_a_one_line_error(tmp_path, blocked, option, extra):
    # A Python where the library cannot be imported, as where the extra is not installed.
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import sys
        class _Blocked:
            def find_spec(self, name, path=None, target=None):
                if name == {blocked!r} or name.startswith({blocked + "."!r}):
                    raise ModuleNotFoundError("No module named {blocked!r}")
        sys.meta_path.insert(0, _Blocked())
    """))
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    result = subprocess.run([sys.executable, "-m", "mod_ws", "-d", str(EXAMPLE),
                             *map(str, TLS_ARGS), *option],
                            env=env, capture_output=True, text=True, timeout=20, cwd=str(ROOT))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"mod_ws: error: {extra}"
    assert "Traceback" not in result.stderr


def test_http2_from_a_config_file(make_server, tmp_path):
    config = tmp_path / "mod_ws.conf"
    config.write_text(f"tls = true\nprivate-key = {CERT / 'server-key.pem'}\n"
                      f"certificate = {CERT / 'server.pem'}\nhttp2 = true\n")
    server = make_server("-d", EXAMPLE, "--config", config)
    assert server.wait_for_stderr("HTTP/2 offered by ALPN (h2)") is not None
    with H2Client(server.port) as c:
        assert c.negotiated == "h2"
        ws = c.open_websocket("/echo")
        ws.send_text("configured")
        assert ws.receive() == "configured"


def test_http2_over_the_standard_library_tls_module(make_server):
    server = make_server("-d", EXAMPLE, *H2_ARGS, "--tls-module", "ssl")
    with H2Client(server.port) as c:
        assert c.negotiated == "h2"
        one, two = c.open_websocket("/echo"), c.open_websocket("/echo")
        payload = bytes(range(256)) * 2000
        one.send_bytes(payload)
        two.send_text("beside it")
        assert two.receive() == "beside it"
        assert one.receive(timeout=10) == payload


def test_garbage_instead_of_the_preface_gets_goaway_and_the_server_serves_on(h2_server):
    context = ssl.create_default_context(cafile=str(CERT / "ca.pem"))
    context.set_alpn_protocols(["h2"])
    with context.wrap_socket(socket.create_connection(("127.0.0.1", h2_server.port), timeout=5),
                             server_hostname="localhost") as sock:
        assert sock.selected_alpn_protocol() == "h2"
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    frames = []
    while len(received) >= 9:  # HTTP/2 frames: 3 bytes length, type, flags, stream
        length = int.from_bytes(received[:3], "big")
        frames.append(received[3])
        received = received[9 + length:]
    assert 0x7 in frames  # GOAWAY
    assert h2_server.wait_for_stderr("HTTP/2 protocol error from the client") is not None
    with client(h2_server) as c:
        assert c.open_websocket("/echo").status == 200
    assert "Traceback" not in h2_server.stderr_text()


def test_a_client_that_sends_no_preface_is_dropped_at_the_request_timeout(make_server):
    server = make_server("-d", EXAMPLE, *H2_ARGS, "--request-timeout", "1", "--log-level", "info")
    context = ssl.create_default_context(cafile=str(CERT / "ca.pem"))
    context.set_alpn_protocols(["h2"])
    started = time.monotonic()
    with context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=5),
                             server_hostname="localhost") as sock:
        while sock.recv(65536):  # the server's SETTINGS, then its GOAWAY and the end
            pass
    assert 0.9 < time.monotonic() - started < 4
    assert server.wait_for_stderr("HTTP/2 connection without a request for 1 s: GOAWAY") is not None


def test_a_cgi_program_is_not_served_as_a_file_over_http2(make_server, tmp_path):
    root = handler_root(tmp_path)
    (root / "cgi-bin").mkdir()
    script = root / "cgi-bin" / "hello.py"
    script.write_text("#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho secret source\n")
    script.chmod(0o755)
    server = make_server("-d", root, *H2_ARGS, "-x", "/cgi-bin")
    with H2Client(server.port) as c:
        state = c.get("/cgi-bin/hello.py")
        assert state.status == 501
        assert b"CGI runs over HTTP/1.1 only" in state.data and b"secret" not in state.data
        assert c.get("/page.html").status == 200


def test_receiver_and_sender_helper_threads_end_with_their_stream(make_server):
    server = make_server("-d", EXAMPLE, *H2_ARGS)
    baseline = settled_value(server.thread_count)
    with H2Client(server.port) as c:
        ws = c.open_websocket("/receiver_sender")
        ws.send_text("shout")
        replies = [ws.receive(timeout=5) for _ in range(2)]
        assert "SHOUT" in replies
        assert server.thread_count() >= baseline + 3  # the handler, its receiver, its sender
        c.h2.reset_stream(ws.stream_id, 8)  # CANCEL: no close handshake
        c.flush()
        other = c.open_websocket("/echo")
        other.send_text("the connection serves on")
        assert other.receive() == "the connection serves on"
    assert wait_for_value(server.thread_count, baseline, 10) == baseline
