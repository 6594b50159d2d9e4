"""End to end: the opening handshake, as raw HTTP over sockets.

Each refusal must carry the right status, the headers the RFC asks for, and a
one-line text/plain body `STATUS Phrase: reason` naming the problem, then the
server closes the connection.
"""

from __future__ import annotations

import time
from http import HTTPStatus

import pytest
import wsraw
from wsraw import RawWebSocket, handshake_request, http_exchange

TIMEOUT = 5.0


def assert_refusal(response: wsraw.HttpResponse, closed: bool, status: int, *words: str) -> None:
    assert response.status == status, (response.status, response.body)
    assert (response.header("Content-Type") or "").startswith("text/plain")
    assert response.header("Connection") == "close"
    body = response.body.decode("utf-8")
    assert body.endswith("\n") and body.count("\n") == 1, f"body is not one line: {body!r}"
    assert body.startswith(f"{status} {HTTPStatus(status).phrase}: "), body
    for word in words:
        assert word.lower() in body.lower(), f"{word!r} not named in {body!r}"
    assert closed, "server did not close the connection after refusing"


def refused(port: int, request: bytes) -> tuple[wsraw.HttpResponse, bool]:
    return http_exchange(port, request, timeout=TIMEOUT)


# --- header checks ----------------------------------------------------------------------


def test_get_without_upgrade_header_on_handler_path_gets_426_with_upgrade_websocket(server):
    response, closed = refused(server.port, handshake_request(omit=["Upgrade"]))
    assert_refusal(response, closed, 426, "Upgrade")
    assert response.header("Upgrade") == "websocket"


def test_upgrade_to_another_protocol_gets_426(server):
    response, closed = refused(server.port, handshake_request(headers=[("Upgrade", "h2c")]))
    assert_refusal(response, closed, 426, "Upgrade")
    assert response.header("Upgrade") == "websocket"


@pytest.mark.parametrize("connection", [None, "keep-alive", "Upgraded"], ids=["missing", "keep-alive", "near-miss"])
def test_connection_header_without_upgrade_token_gets_400(server, connection):
    if connection is None:
        request = handshake_request(omit=["Connection"])
    else:
        request = handshake_request(headers=[("Connection", connection)])
    response, closed = refused(server.port, request)
    assert_refusal(response, closed, 400, "Connection")


@pytest.mark.parametrize("key", ["not base64 at all!", "dGhlIHNhbXBsZQ==", "AAAAAAAAAAAAAAAAAAAAAAAA", None],
                         ids=["not-base64", "10-bytes", "18-bytes", "missing"])
def test_bad_sec_websocket_key_gets_400_naming_the_key(server, key):
    if key is None:
        request = handshake_request(omit=["Sec-WebSocket-Key"])
    else:
        request = handshake_request(headers=[("Sec-WebSocket-Key", key)])
    response, closed = refused(server.port, request)
    assert_refusal(response, closed, 400, "Sec-WebSocket-Key")


def test_duplicate_sec_websocket_key_gets_400(server):
    request = handshake_request(headers=[("Sec-WebSocket-Key", wsraw.make_key()),
                                         ("Sec-WebSocket-Key", wsraw.make_key())])
    response, closed = refused(server.port, request)
    assert_refusal(response, closed, 400, "Sec-WebSocket-Key")


def test_websocket_version_8_gets_426_advertising_version_13(server):
    response, closed = refused(server.port, handshake_request(headers=[("Sec-WebSocket-Version", "8")]))
    assert_refusal(response, closed, 426, "Sec-WebSocket-Version")
    assert response.header("Sec-WebSocket-Version") == "13"


def test_missing_websocket_version_gets_400_advertising_version_13(server):
    response, closed = refused(server.port, handshake_request(omit=["Sec-WebSocket-Version"]))
    assert_refusal(response, closed, 400, "Sec-WebSocket-Version")
    assert response.header("Sec-WebSocket-Version") == "13"


def test_missing_host_header_gets_400(server):
    response, closed = refused(server.port, handshake_request(omit=["Host"]))
    assert_refusal(response, closed, 400, "Host")


def test_post_with_upgrade_headers_gets_405_allowing_get(server):
    response, closed = refused(server.port, handshake_request(method="POST"))
    assert_refusal(response, closed, 405, "POST")
    assert response.header("Allow") == "GET"


def test_http_1_0_upgrade_gets_400(server):
    response, closed = refused(server.port, handshake_request(version="HTTP/1.0"))
    assert_refusal(response, closed, 400, "HTTP/1.0")


def test_http_2_0_request_line_gets_505(server):
    response, closed = refused(server.port, handshake_request(version="HTTP/2.0"))
    assert_refusal(response, closed, 505, "HTTP/2.0")


def test_upgrade_for_unknown_resource_gets_404_naming_it(server):
    response, closed = refused(server.port, handshake_request("/no-such-handler"))
    assert_refusal(response, closed, 404, "/no-such-handler")


def test_empty_subprotocol_header_gets_400(server):
    response, closed = refused(server.port, handshake_request(headers=[("Sec-WebSocket-Protocol", "")]))
    assert_refusal(response, closed, 400, "Sec-WebSocket-Protocol")


# --- bytes that are not HTTP ------------------------------------------------------------

# The start of a TLS 1.2 ClientHello: a handshake record (22, version 3.1) with no CRLF.
TLS_CLIENT_HELLO_START = bytes.fromhex("16030100c4010000c00303") + bytes(32)


@pytest.mark.parametrize("data, words", [
    (TLS_CLIENT_HELLO_START, ["TLS", "ws://"]),
    (b"\x00\xffbinary garbage", ["not an HTTP request", "00 ff"]),
    (b" GET / HTTP/1.1", ["not an HTTP request", "20 47 45 54"]),
    (b"GE(T / HTTP/1.1", ["not an HTTP request"]),
], ids=["tls-client-hello", "binary", "leading-space", "bad-method-char"])
def test_bytes_that_cannot_begin_a_request_get_400_at_once_not_after_the_timeout(server, data, words):
    """The server's request timeout is 10 s; the answer must not wait for it."""
    start = time.monotonic()
    response, closed = refused(server.port, data)
    assert time.monotonic() - start < 3.0
    assert_refusal(response, closed, 400, *words)


def test_a_request_arriving_a_byte_at_a_time_is_not_refused_early(server):
    key = wsraw.make_key()
    request = handshake_request(key=key)
    with wsraw.Conn.open(server.port) as conn:
        for i in range(20):
            conn.send(request[i:i + 1])
            time.sleep(0.01)
        conn.send(request[20:])
        response = conn.read_http_response(head_only=True, timeout=TIMEOUT)
    assert response.status == 101
    assert response.header("Sec-WebSocket-Accept") == wsraw.expected_accept(key)


# --- limits -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_server(make_module_server):
    return make_module_server("-d", "example", "--max-request-header-size", "2048", "--request-timeout", "1",
                       "--close-timeout", "1")


def test_request_head_over_max_request_header_size_gets_431_and_close(strict_server):
    request = handshake_request(headers=[("X-Padding", "p" * 3000)])
    response, closed = refused(strict_server.port, request)
    assert_refusal(response, closed, 431, "2048")


def test_request_head_just_under_max_request_header_size_is_accepted(strict_server):
    base = handshake_request(headers=[("X-Padding", "")])
    padding = 2048 - len(base)
    request = handshake_request(headers=[("X-Padding", "p" * padding)])
    assert len(request) == 2048
    with wsraw.Conn.open(strict_server.port) as conn:
        conn.send(request)
        assert conn.read_http_response(head_only=True).status == 101


def test_slow_request_head_gets_408_within_timeout_and_close(strict_server):
    request = handshake_request()
    with wsraw.Conn.open(strict_server.port) as conn:
        start = time.monotonic()
        conn.send(request[: len(request) // 2])
        response = conn.read_http_response(timeout=4.0)
        elapsed = time.monotonic() - start
        closed = conn.is_closed_by_peer(3.0)
    assert_refusal(response, closed, 408, "1 s")
    assert 0.8 <= elapsed <= 3.0, elapsed


def test_silent_connection_is_closed_after_timeout_without_response(strict_server):
    with wsraw.Conn.open(strict_server.port) as conn:
        start = time.monotonic()
        data = conn.read_to_eof(timeout=4.0)
        elapsed = time.monotonic() - start
    assert data == b""
    assert 0.8 <= elapsed <= 3.0, elapsed


# --- accepted handshakes ----------------------------------------------------------------


def _upgrade(port: int, request: bytes, key: str) -> tuple[wsraw.HttpResponse, RawWebSocket]:
    conn = RawWebSocket.open(port)
    conn.send(request)
    response = conn.read_http_response(head_only=True)
    assert response.status == 101, (response.status, conn.buf[:300])
    assert response.header("Sec-WebSocket-Accept") == wsraw.expected_accept(key)
    return response, conn


def test_lowercase_and_mixed_case_headers_are_accepted_with_correct_accept(server):
    key = wsraw.make_key()
    request = (f"GET /echo HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\nupgrade: WebSocket\r\n"
               f"connection: keep-alive, Upgrade\r\nsec-websocket-key: {key}\r\n"
               f"sec-websocket-version: 13\r\n\r\n").encode()
    response, conn = _upgrade(server.port, request, key)
    with conn:
        assert response.reason == "Switching Protocols"
        assert response.header("Upgrade").lower() == "websocket"
        assert "upgrade" in response.header("Connection").lower()
        assert response.header("Content-Length") in (None, "0")
        assert conn.echo("ok") == "ok"


@pytest.mark.parametrize("eol", ["\n", "mixed"])
def test_a_head_with_bare_lf_line_ends_is_upgraded_at_once(server, eol):
    """RFC 9112 section 2.2 lets a server accept bare LF; pywebsocket3 does."""
    key = wsraw.make_key()
    lines = ["GET /echo HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if eol == "mixed":
        text = "\r\n".join(lines[:3]) + "\n" + "\n".join(lines[3:]) + "\r\n\n"
    else:
        text = eol.join(lines) + eol + eol
    started = time.monotonic()
    response, conn = _upgrade(server.port, text.encode(), key)
    with conn:
        assert time.monotonic() - started < 2  # not after the 10 s request timeout
        assert conn.echo("lf") == "lf"


def test_rfc_sample_key_gets_rfc_sample_accept(server):
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    response, conn = _upgrade(server.port, handshake_request(key=key), key)
    conn.close()
    assert response.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_unknown_extension_offer_is_accepted_without_extensions_header(server):
    key = wsraw.make_key()
    request = handshake_request(key=key, headers=[("Sec-WebSocket-Extensions", "x-unknown-ext; a=1, x-other")])
    response, conn = _upgrade(server.port, request, key)
    conn.close()
    assert response.header("Sec-WebSocket-Extensions") is None


def test_absolute_uri_request_target_is_accepted(server):
    key = wsraw.make_key()
    request = handshake_request(f"ws://127.0.0.1:{server.port}/echo", key=key)
    _, ws = _upgrade(server.port, request, key)
    with ws:
        assert ws.echo("absolute") == "absolute"


@pytest.fixture(scope="module")
def validating_server(make_module_server):
    return make_module_server("-d", "example", "-V", "example.com", "-P", "9999")


def test_absolute_uri_naming_the_validation_host_and_port_is_accepted(validating_server):
    key = wsraw.make_key()
    _, conn = _upgrade(validating_server.port, handshake_request("ws://example.com:9999/echo", key=key), key)
    conn.close()


def test_absolute_uri_naming_another_host_gets_400_with_validation_host(validating_server):
    response, closed = refused(validating_server.port, handshake_request("ws://other.example:9999/echo"))
    assert_refusal(response, closed, 400, "other.example", "example.com")


def test_absolute_uri_naming_another_port_gets_400_with_validation_port(validating_server):
    response, closed = refused(validating_server.port, handshake_request("ws://example.com:8888/echo"))
    assert_refusal(response, closed, 400, "8888", "9999")


def test_origin_form_target_is_not_subject_to_host_validation(validating_server):
    key = wsraw.make_key()
    _, conn = _upgrade(validating_server.port, handshake_request("/echo", key=key), key)
    conn.close()


# --- handler hooks ----------------------------------------------------------------------

HANDLERS = {
    "raise_wsh.py": '''
def web_socket_do_extra_handshake(request):
    raise ValueError("refused by test handler")

def web_socket_transfer_data(request):
    pass
''',
    "teapot_wsh.py": '''
from mod_ws.handshake import HandshakeException

def web_socket_do_extra_handshake(request):
    raise HandshakeException("teapot", 418)

def web_socket_transfer_data(request):
    pass
''',
    "badproto_wsh.py": '''
def web_socket_do_extra_handshake(request):
    request.ws_protocol = "never-offered"

def web_socket_transfer_data(request):
    pass
''',
    "boom_wsh.py": '''
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    request.ws_stream.receive_message()
    raise RuntimeError("boom from test handler")
''',
    "quick_wsh.py": '''
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    return
''',
    "header_wsh.py": '''
def web_socket_do_extra_handshake(request):
    request.extra_headers.append(("X-Test", "1"))

def web_socket_transfer_data(request):
    while request.ws_stream.receive_message() is not None:
        pass
''',
}


@pytest.fixture(scope="module")
def hook_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("hooks")
    for name, source in HANDLERS.items():
        (root / name).write_text(source, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def hook_server(make_module_server, hook_root):
    return make_module_server("-d", str(hook_root), "--close-timeout", "1")


def test_do_extra_handshake_exception_gets_403(hook_server):
    response, closed = refused(hook_server.port, handshake_request("/raise"))
    assert_refusal(response, closed, 403, "refused by test handler")


def test_handshake_exception_with_status_418_gets_418(hook_server):
    response, closed = refused(hook_server.port, handshake_request("/teapot"))
    assert_refusal(response, closed, 418, "teapot")


@pytest.mark.parametrize("offer", [None, "chat"], ids=["none-offered", "other-offered"])
def test_handler_selecting_unoffered_subprotocol_gets_500(hook_server, offer):
    headers = [("Sec-WebSocket-Protocol", offer)] if offer else []
    response, closed = refused(hook_server.port, handshake_request("/badproto", headers=headers))
    assert_refusal(response, closed, 500, "never-offered")


def test_transfer_data_exception_closes_with_1011(hook_server):
    with RawWebSocket.connect(hook_server.port, "/boom") as ws:
        ws.send_text("trigger")
        code, _ = ws.expect_close(TIMEOUT, answer=True)
    assert code == 1011
    assert hook_server.wait_for_stderr("boom from test handler", TIMEOUT), hook_server.stderr_text()


def test_transfer_data_returning_closes_with_1000(hook_server):
    with RawWebSocket.connect(hook_server.port, "/quick") as ws:
        assert ws.expect_close(TIMEOUT, answer=True) == (1000, "")


def test_extra_headers_appended_in_do_extra_handshake_appear_in_101(hook_server):
    with RawWebSocket.connect(hook_server.port, "/header") as ws:
        assert ws.response.header("X-Test") == "1"
        ws.send_close(1000)
        assert ws.expect_close(TIMEOUT) == (1000, "")


# --- --handshake-timeout ------------------------------------------------------------------

SLEEPY_HANDLER = """
import time

def web_socket_do_extra_handshake(request):
    time.sleep(30)

def web_socket_transfer_data(request):
    pass
"""


@pytest.fixture(scope="module")
def slow_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("slow_handshake")
    (root / "sleepy_wsh.py").write_text(SLEEPY_HANDLER, encoding="utf-8")
    return root


def test_a_sleeping_extra_handshake_gets_408_at_the_handshake_timeout(make_server, slow_root):
    server = make_server("-d", slow_root, "--handshake-timeout", "1", "--shutdown-timeout", "0.5")
    started = time.monotonic()
    response, closed = refused(server.port, handshake_request("/sleepy"))
    elapsed = time.monotonic() - started
    assert_refusal(response, closed, 408, "--handshake-timeout", "1 s")
    assert 0.9 < elapsed < 2.0, elapsed


def test_a_head_trickled_a_byte_at_a_time_is_cut_at_the_handshake_timeout(make_server, slow_root):
    server = make_server("-d", slow_root, "--handshake-timeout", "1", "--request-timeout", "30",
                         "--shutdown-timeout", "0.5")
    request = handshake_request("/sleepy")
    with wsraw.Conn.open(server.port) as conn:
        started = time.monotonic()
        for byte in request[:40]:
            conn.send(bytes([byte]))
            time.sleep(0.05)
        response = conn.read_http_response(timeout=TIMEOUT)
        assert response.status == 408
        assert time.monotonic() - started < 3.0
