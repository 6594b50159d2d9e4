"""End to end: what the log tells a tester about each connection.

At info, one line when a session ends: peer, resource, how it closed (who, code,
reason) or why it failed, duration, subprotocol, extensions, messages and bytes each
way. At debug, the handshake's header fields (credentials masked), the negotiation and
every close frame. At the default level (warning) a healthy session logs nothing.
"""

from __future__ import annotations

import re
import textwrap
import time

import pytest
import wsraw
from conftest import EXAMPLE
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from wsraw import OP_TEXT, RawWebSocket

TIMEOUT = 5.0

HANDLERS = {
    "chat_wsh.py": """
        def web_socket_do_extra_handshake(request):
            if request.ws_requested_protocols:
                request.ws_protocol = request.ws_requested_protocols[0]


        def web_socket_transfer_data(request):
            while True:
                message = request.ws_stream.receive_message()
                if message is None:
                    return
                request.ws_stream.send_message(message, binary=isinstance(message, bytes))
    """,
    "boom_wsh.py": """
        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            request.ws_stream.receive_message()
            raise ValueError("boom: " + "x" * 200)
    """,
    "flood_wsh.py": """
        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            chunk = b"z" * 65536
            while True:
                request.ws_stream.send_message(chunk, binary=True)
    """,
}


@pytest.fixture(scope="module")
def handler_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("logging")
    for name, text in HANDLERS.items():
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def session_line(server, resource: str) -> str:
    line = server.wait_for_stderr(lambda l: "mod_ws.server.session" in l and f" {resource}: " in l, TIMEOUT)
    assert line is not None, server.stderr_text()
    return line


def test_info_logs_one_line_per_session_with_close_counts_and_negotiation(make_server, handler_root):
    server = make_server("-d", handler_root, "--log-level", "info")
    with connect(server.url("/chat"), subprotocols=["chat.v1", "other"], compression="deflate",
                 open_timeout=TIMEOUT) as ws:
        ws.send("héllo")  # 6 bytes of UTF-8
        assert ws.recv(timeout=TIMEOUT) == "héllo"
        ws.send(b"\x00\x01\x02")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\x01\x02"
        ws.ping(b"p").wait(TIMEOUT)
        ws.close(4005, "dbg")
    line = session_line(server, "/chat")
    assert re.search(r"\b127\.0\.0\.1:\d+ /chat: closed by the client with 4005 'dbg', answered "
                     r"4005 'dbg'; \d+\.\d{3} s; subprotocol chat\.v1; extensions permessage-deflate; "
                     r"received 2 messages in \d+ bytes on the wire, sent 2 messages in \d+ bytes on the wire$",
                     line), line


def test_a_server_close_and_a_failure_say_so(make_server, handler_root):
    server = make_server("-d", EXAMPLE, "--log-level", "info", "--close-timeout", "1")
    with RawWebSocket.connect(server.port, "/close") as ws:
        ws.send_text("4001 bye")
        assert ws.expect_close(TIMEOUT, answer=True) == (4001, "bye")
    assert "/close: closed by the server with 4001 'bye', answered 4001;" in session_line(server, "/close")
    with RawWebSocket.connect(server.port, "/echo") as ws:
        ws.send_frame(OP_TEXT, b"unmasked", mask=False)
        assert ws.expect_close(TIMEOUT, answer=True)[0] == 1002
    line = session_line(server, "/echo")
    assert "/echo: failed: client frame is not masked (sent close 1002 'client frame is not masked')" in line, line
    time.sleep(0.2)
    assert sum("frame is not masked" in l for l in server.stderr_lines()) == 1, server.stderr_text()


def test_a_handler_exception_is_named_in_the_1011_reason_cut_to_fit(make_server, handler_root):
    server = make_server("-d", handler_root)
    with connect(server.url("/boom"), open_timeout=TIMEOUT) as ws:
        ws.send("go")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    code, reason = closed.value.rcvd.code, closed.value.rcvd.reason
    assert code == 1011 and reason.startswith("ValueError: boom: xxx")
    assert len(reason.encode()) == 123
    assert server.wait_for_stderr("ValueError: boom", TIMEOUT)  # the traceback, at error


def test_no_error_details_sends_a_bare_1011(make_server, handler_root):
    server = make_server("-d", handler_root, "--no-error-details")
    with connect(server.url("/boom"), open_timeout=TIMEOUT) as ws:
        ws.send("go")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, "")


def test_a_client_that_stops_reading_is_dropped_with_a_send_timeout_line(make_server, handler_root):
    server = make_server("-d", handler_root, "--log-level", "info", "--send-timeout", "1")
    with RawWebSocket.connect(server.port, "/flood") as ws:
        ws.sock.setsockopt(wsraw.socket.SOL_SOCKET, wsraw.socket.SO_RCVBUF, 4096)
        line = server.wait_for_stderr(lambda l: "/flood: failed: send timed out" in l, 10)
    assert line is not None, server.stderr_text()
    assert "send timed out (--send-timeout): the client stopped reading" in line


def test_debug_logs_headers_masked_the_negotiation_and_close_frames(make_server, handler_root):
    server = make_server("-d", handler_root, "--log-level", "debug")
    headers = [("Cookie", "session=secret"), ("Authorization", "Basic c2VjcmV0"),
               ("Sec-WebSocket-Protocol", "chat.v1")]
    with RawWebSocket.connect(server.port, "/chat", headers=headers) as ws:
        ws.send_close(4005, "dbg")
        ws.expect_close(TIMEOUT)
    assert session_line(server, "/chat")
    text = server.stderr_text()
    assert "secret" not in text and "c2VjcmV0" not in text
    assert "Cookie: (14 bytes, masked)" in text and "Authorization: (14 bytes, masked)" in text
    assert re.search(r"/chat: 101 with subprotocol chat\.v1, extensions none; response header "
                     r"fields: .*Sec-WebSocket-Protocol: chat\.v1", text), text
    assert "close frame received: 4005 'dbg'" in text and "close frame sent: 4005 'dbg'" in text


def test_the_default_level_keeps_a_healthy_session_quiet(make_server, handler_root):
    server = make_server("-d", handler_root)
    with connect(server.url("/chat"), open_timeout=TIMEOUT) as ws:
        ws.send("quiet")
        assert ws.recv(timeout=TIMEOUT) == "quiet"
    time.sleep(0.3)
    # Past the start-up banner (its first line, then lines indented by two spaces).
    assert [l for l in server.stderr_lines() if not l.startswith(("mod_ws: listening", "  "))] == []


def test_log_frames_logs_each_frame_in_and_out_even_at_the_default_level(make_server, handler_root):
    server = make_server("-d", handler_root, "--log-frames")
    with RawWebSocket.connect(server.port, "/chat") as ws:
        ws.send_frame(OP_TEXT, b"frag", fin=False)
        ws.send_frame(wsraw.OP_CONT, b"ment", fin=True)
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"fragment")
        ws.send_frame(wsraw.OP_PING, b"p")
        assert ws.recv_frame(TIMEOUT).opcode == wsraw.OP_PONG
        ws.send_close(4005, "dbg")
        ws.expect_close(TIMEOUT)
    prefix = r"mod_ws\.frames: 127\.0\.0\.1:\d+ /chat "
    expected = [
        prefix + r"< TEXT more rsv=000 4 bytes masked b'frag'",
        prefix + r"< CONT fin rsv=000 4 bytes masked b'ment'",
        prefix + r"> TEXT fin rsv=000 8 bytes b'fragment'",
        prefix + r"< PING fin rsv=000 1 bytes masked b'p'",
        prefix + r"> PONG fin rsv=000 1 bytes b'p'",
        prefix + r"< CLOSE fin rsv=000 5 bytes masked code 4005 b'\\x0f\\xa5dbg'",
        prefix + r"> CLOSE fin rsv=000 5 bytes code 4005 b'\\x0f\\xa5dbg'",
    ]
    assert server.wait_for_stderr(lambda l: "> CLOSE" in l, TIMEOUT), server.stderr_text()
    lines = [l for l in server.stderr_lines() if "mod_ws.frames" in l]
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected):
        assert re.search(pattern + "$", line), (line, pattern)


def test_without_log_frames_no_frame_is_logged_even_at_debug(make_server, handler_root):
    server = make_server("-d", handler_root, "--log-level", "debug")
    with connect(server.url("/chat"), open_timeout=TIMEOUT) as ws:
        ws.send("unseen")
        assert ws.recv(timeout=TIMEOUT) == "unseen"
    assert session_line(server, "/chat")
    assert not [l for l in server.stderr_lines() if "mod_ws.frames" in l]


def test_log_format_json_gives_one_object_per_line_with_the_sessions_fields(make_server, handler_root):
    import json

    server = make_server("-d", handler_root, "--log-level", "info", "--log-format", "json")
    with RawWebSocket.connect(server.port, "/chat") as ws:
        ws.send_text("json")  # 2 + 4 (mask) + 4 bytes
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"json")  # 2 + 4
        ws.send_close(4005, "dbg")  # 2 + 4 + 5
        assert ws.expect_close(TIMEOUT) == (4005, "dbg")  # 2 + 5
    assert session_line(server, "/chat")
    entries = [json.loads(l) for l in server.stderr_lines() if l.startswith("{")]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    session = next(e for e in entries if e.get("event") == "session")
    assert session["resource"] == "/chat" and session["closed_by"] == "client"
    assert session["close_received"] == {"code": 4005, "reason": "dbg"}
    assert session["close_sent"] == {"code": 4005, "reason": "dbg"}
    assert (session["received_messages"], session["received_wire_bytes"]) == (1, 21)
    assert (session["sent_messages"], session["sent_wire_bytes"]) == (1, 13)
    assert session["state"] == "closed" and session["failure"] is None
