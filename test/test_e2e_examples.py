"""The example handlers in example/ do what their docstrings say, end to end.

One real server (`python -m mod_ws -d example`, conftest's `server` fixture) serves
them all; independent clients talk to it: the websockets library, websocket-client,
and raw sockets (wsraw) where a status line or the absence of a close frame must be
seen.
"""

from __future__ import annotations

import time

import pytest
import websocket  # websocket-client
import wsraw
from conftest import EXAMPLE, connect_wss, settled_value, wait_for_value
from test_e2e_echo import TIMEOUT, ws_connect
from test_e2e_tls import TLS_ARGS, client_context
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK


def refused_status(server, resource: str, headers=()) -> wsraw.HttpResponse:
    """The server's answer to a handshake it must refuse (and then close)."""
    request = wsraw.handshake_request(resource, host=f"127.0.0.1:{server.port}", headers=headers)
    response, closed = wsraw.http_exchange(server.port, request, timeout=TIMEOUT)
    assert closed, "the server must close the connection after refusing"
    return response


# --- origin_check_wsh.py -------------------------------------------------------------


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8880", "http://localhost:1234", "https://localhost",
                                    "http://[::1]:8880", "HTTP://LOCALHOST:8880", None])
def test_origin_check_accepts_loopback_origins_and_no_origin_and_echoes(server, origin):
    with ws_connect(server.url("/origin_check"), origin=origin) as ws:
        ws.send("from a local page")
        assert ws.recv(timeout=TIMEOUT) == "from a local page"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\xff"


@pytest.mark.parametrize("origin", ["http://example.com", "null", "http://localhost.example.com",
                                    "http://127.0.0.1.example.com:8880", "file://", "ws://localhost:8880"])
def test_origin_check_refuses_other_origins_and_null_with_403(server, origin):
    response = refused_status(server, "/origin_check", [("Origin", origin)])
    assert response.status == 403, response
    assert response.header("Sec-WebSocket-Accept") is None
    assert f"origin {origin!r} is not allowed" in response.body.decode("utf-8")


# --- cookie_wsh.py -------------------------------------------------------------------


def test_cookie_handler_sends_the_cookie_it_saw_and_sets_the_next_count_on_the_101(server):
    cookie = "theme=dark; ws_visits=41"
    with wsraw.RawWebSocket.connect(server.port, "/cookie", headers=[("Cookie", cookie)]) as ws:
        set_cookie = ws.response.all("Set-Cookie")
        assert len(set_cookie) == 1
        assert set_cookie[0].startswith("ws_visits=42; ")
        assert "Path=/" in set_cookie[0]
        opcode, payload = ws.recv_message()
        assert (opcode, payload.decode("utf-8")) == (wsraw.OP_TEXT, f"cookie: {cookie}")
        assert ws.echo("then it echoes") == "then it echoes"
        ws.send_close(1000)
        assert ws.expect_close() == (1000, "")


def test_cookie_handler_without_a_cookie_says_none_and_starts_counting_at_1(server):
    ws = websocket.create_connection(server.url("/cookie"), timeout=TIMEOUT)
    try:
        assert ws.recv() == "cookie: (none)"
        assert ws.getheaders()["set-cookie"].startswith("ws_visits=1; ")
        ws.send_binary(b"\x01\x02")
        assert ws.recv() == b"\x01\x02"
    finally:
        ws.close()


# --- hsts_wsh.py ---------------------------------------------------------------------


def test_hsts_header_is_on_the_101_and_the_note_says_plain_ws_ignores_it(server):
    with wsraw.RawWebSocket.connect(server.port, "/hsts") as ws:
        assert ws.response.status == 101
        assert ws.response.header("Strict-Transport-Security") == "max-age=60"
        opcode, payload = ws.recv_message()
        assert opcode == wsraw.OP_TEXT
        note = payload.decode("utf-8")
        assert note.startswith("Strict-Transport-Security: max-age=60 sent on the 101")
        assert "ignore" in note and "wss://" in note
        assert ws.echo("after the note") == "after the note"


def test_hsts_header_is_on_the_101_over_wss_and_the_note_says_it_counts(make_server):
    tls_server = make_server("-d", EXAMPLE, *TLS_ARGS)
    with connect_wss(f"wss://localhost:{tls_server.port}/hsts", ssl=client_context(),
                     open_timeout=TIMEOUT) as ws:
        assert ws.response.status_code == 101
        assert ws.response.headers["Strict-Transport-Security"] == "max-age=60"
        note = ws.recv(timeout=TIMEOUT)
        assert "browsers now use only https:// and wss://" in note
        ws.send("secure echo")
        assert ws.recv(timeout=TIMEOUT) == "secure echo"


# --- internal_error_wsh.py -----------------------------------------------------------


def test_internal_error_closes_with_1011_and_the_exceptions_class_and_message_as_reason(server):
    with wsraw.RawWebSocket.connect(server.port, "/internal_error") as ws:
        assert ws.echo("still fine") == "still fine"
        ws.send_text("raise out of cheese")
        assert ws.expect_close(answer=True) == (1011, "RuntimeError: out of cheese")
    # The server logs the traceback of the handler's exception.
    assert server.wait_for_stderr("RuntimeError: out of cheese", TIMEOUT)


def test_internal_error_bare_raise_gives_the_default_message_as_reason(server):
    with pytest.raises(ConnectionClosedError) as closed, \
            ws_connect(server.url("/internal_error")) as ws:
        ws.send("raise")
        ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd.code == 1011
    assert closed.value.rcvd.reason == "RuntimeError: the client asked for an internal error"


# --- abort_after_handshake_wsh.py ----------------------------------------------------


def test_abort_after_handshake_drops_tcp_without_a_close_frame_after_the_first_message(server):
    with wsraw.RawWebSocket.connect(server.port, "/abort_after_handshake") as ws:
        assert ws.response.status == 101  # the handshake completed
        ws.send_text("anything")
        # EOF with no byte before it: no close frame, no data.
        assert ws.is_closed_by_peer(TIMEOUT)


def test_abort_after_handshake_is_seen_by_websockets_as_1006_with_no_close_received(server):
    with ws_connect(server.url("/abort_after_handshake")) as ws:
        ws.send("anything")
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is None  # no close frame came
        assert ws.close_code == 1006


def test_abort_after_handshake_closes_cleanly_when_the_client_closes_first(server):
    with wsraw.RawWebSocket.connect(server.port, "/abort_after_handshake") as ws:
        ws.send_close(4000, "first")
        assert ws.expect_close() == (4000, "first")


# --- subprotocol_wsh.py --------------------------------------------------------------


@pytest.mark.parametrize("offered, chosen", [
    (["chat.v1", "chat.v2"], "chat.v2"),
    (["chat.v2", "chat.v1"], "chat.v2"),
    (["other", "chat.v1"], "chat.v1"),
    (["chat.v2"], "chat.v2"),
])
def test_subprotocol_is_chosen_by_the_servers_preference_and_prefixes_the_echo(server, offered, chosen):
    with ws_connect(server.url("/subprotocol"), subprotocols=offered) as ws:
        assert ws.subprotocol == chosen
        ws.send("hello")
        assert ws.recv(timeout=TIMEOUT) == f"[{chosen}] hello"
        ws.send(b"\x00")
        assert ws.recv(timeout=TIMEOUT) == f"[{chosen}] ".encode("ascii") + b"\x00"


def test_subprotocol_refuses_with_400_when_no_offered_protocol_is_supported(server):
    response = refused_status(server, "/subprotocol", [("Sec-WebSocket-Protocol", "chat.v3, other")])
    assert response.status == 400, response
    assert response.header("Sec-WebSocket-Protocol") is None
    assert "supported: chat.v2, chat.v1" in response.body.decode("utf-8")


def test_subprotocol_accepts_without_a_protocol_when_none_is_offered(server):
    with wsraw.RawWebSocket.connect(server.port, "/subprotocol") as ws:
        assert ws.response.header("Sec-WebSocket-Protocol") is None
        assert ws.echo("hello") == "[none] hello"


# --- receiver_sender_wsh.py ----------------------------------------------------------


def test_receiver_sender_uppercases_each_message_and_ticks_every_second(server):
    with ws_connect(server.url("/receiver_sender")) as ws:
        started = time.monotonic()
        ws.send("hello")
        ws.send(b"\x00\x01\x02")
        ws.send("second")
        replies = [ws.recv(timeout=TIMEOUT) for _ in range(3)]
        ticks = []
        while len(ticks) < 2:
            ticks.append(ws.recv(timeout=TIMEOUT))
        elapsed = time.monotonic() - started
    # Replies come at once and in order; ticks may come between them only after 1 s.
    replies_and_ticks = replies + ticks
    assert [m for m in replies_and_ticks if not m.startswith("tick ")] == [
        "HELLO", "binary message of 3 bytes", "SECOND"]
    assert [m for m in replies_and_ticks if m.startswith("tick ")][:2] == ["tick 1", "tick 2"]
    assert 1.8 < elapsed < 4.0, elapsed


def test_receiver_sender_threads_all_end_when_the_client_closes(server):
    baseline = settled_value(server.thread_count)
    with ws_connect(server.url("/receiver_sender")) as ws:
        ws.send("up")
        assert ws.recv(timeout=TIMEOUT) == "UP"
        # The handler's two helpers (the connection's own thread replaced the one
        # that waited for it).
        assert server.thread_count() >= baseline + 2
        ws.close(1000, "done")
        with pytest.raises(ConnectionClosedOK):
            while True:  # a tick may still come before the close
                ws.recv(timeout=TIMEOUT)
        assert (ws.close_code, ws.close_reason) == (1000, "done")
    assert wait_for_value(server.thread_count, baseline, TIMEOUT) == baseline


# --- benchmark_wsh.py ----------------------------------------------------------------


def test_benchmark_send_command_sends_n_binary_messages_of_size_then_done(server):
    with ws_connect(server.url("/benchmark")) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None  # deflate declined
        ws.send("send 5 70000")
        messages = [ws.recv(timeout=TIMEOUT) for _ in range(5)]
        assert all(isinstance(m, bytes) and len(m) == 70000 for m in messages)
        assert messages[0][:3] == b"\x00\x01\x02"
        assert ws.recv(timeout=TIMEOUT) == "done"
        ws.send("send 0 10")
        assert ws.recv(timeout=TIMEOUT) == "done"


def test_benchmark_receive_command_answers_the_message_and_byte_count_after_the_last(server):
    with ws_connect(server.url("/benchmark")) as ws:
        ws.send("receive 4 1000")
        for _ in range(3):
            ws.send(b"x" * 1000)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)  # nothing until the fourth
        ws.send(b"x" * 1000)
        assert ws.recv(timeout=TIMEOUT) == "received 4 messages, 4000 bytes"
        # The connection takes the next command.
        ws.send("receive 1 5")
        ws.send("abcde")
        assert ws.recv(timeout=TIMEOUT) == "received 1 messages, 5 bytes"


@pytest.mark.parametrize("command", ["bogus", "send 1", "send x 10", "receive 1 99999999999", b"send 1 1"])
def test_benchmark_answers_a_bad_command_with_an_error_and_stays_open(server, command):
    with ws_connect(server.url("/benchmark")) as ws:
        ws.send(command)
        assert ws.recv(timeout=TIMEOUT).startswith("error: ")
        ws.send("send 1 3")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\x01\x02"
        assert ws.recv(timeout=TIMEOUT) == "done"


# --- misbehave_wsh.py and raw_handshake_wsh.py: the fault-injection API as examples ---


@pytest.mark.parametrize("word, code", [
    ("invalid-utf8", 1007), ("reserved-bits", 1002), ("opcode-3", 1002), ("big-ping", 1002),
    ("bad-close", 1002),
])
def test_misbehave_breaks_the_rule_named_and_an_independent_client_fails_with_its_code(server, word, code):
    with ws_connect(server.url("/misbehave")) as ws:
        ws.send("ordinary")
        assert ws.recv(timeout=TIMEOUT) == "ordinary"
        ws.send(word)
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=TIMEOUT)
    assert ws.protocol.close_sent.code == code  # the client failed the connection with it


def test_misbehave_drop_is_a_close_without_a_frame(server):
    with ws_connect(server.url("/misbehave")) as ws:
        ws.send("drop")
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=TIMEOUT)
    assert ws.protocol.close_rcvd is None


def test_raw_handshake_writes_a_101_that_a_client_must_refuse_and_a_good_one_on_request(server):
    from websockets.exceptions import InvalidHandshake

    with pytest.raises(InvalidHandshake):
        ws_connect(server.url("/raw_handshake"))
    with wsraw.Conn.open(server.port) as conn:
        key = wsraw.make_key()
        conn.send(wsraw.handshake_request("/raw_handshake?good", host=f"127.0.0.1:{server.port}", key=key))
        response = conn.read_http_response(head_only=True)
        assert response.status == 101
        assert response.header("Sec-WebSocket-Accept") == wsraw.expected_accept(key)
        assert response.header("Server") is None  # the handler's response, not the server's
