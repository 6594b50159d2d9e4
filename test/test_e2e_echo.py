"""End to end: the example handlers, driven by two independent client libraries.

The server is a real `python -m mod_ws -d example` subprocess; clients are the
`websockets` sync client, `websocket-client` and (where the libraries hide what we
need to see) the raw-socket client in wsraw.py.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import websocket  # websocket-client
import wsraw
from conftest import EXAMPLE, ROOT, server_env
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidMessage
from websockets.sync.client import connect

TIMEOUT = 5.0


def ws_connect(url: str, **kwargs):
    """websockets sync client with bounded waits, no proxy, no keepalive pings."""
    options = {"open_timeout": TIMEOUT, "close_timeout": TIMEOUT, "ping_interval": None,
               "proxy": None, "max_size": None}
    options.update(kwargs)
    return connect(url, **options)


def wsc_connect(url: str, **kwargs) -> websocket.WebSocket:
    """websocket-client connection with a socket timeout."""
    return websocket.create_connection(url, timeout=TIMEOUT, **kwargs)


# --- websockets (sync client) -------------------------------------------------------


@pytest.mark.parametrize("text", ["hello", "Привет, мир — 🌍 ✓", ""], ids=["ascii", "unicode", "empty"])
def test_websockets_text_message_is_echoed_as_identical_text(server, text):
    with ws_connect(server.url("/echo")) as ws:
        ws.send(text)
        reply = ws.recv(timeout=TIMEOUT)
    assert isinstance(reply, str)
    assert reply == text


def test_websockets_binary_message_is_echoed_as_identical_binary(server):
    payload = bytes(range(256)) * 3
    with ws_connect(server.url("/echo")) as ws:
        ws.send(payload)
        reply = ws.recv(timeout=TIMEOUT)
    assert isinstance(reply, bytes)
    assert reply == payload


def test_websockets_one_mebibyte_binary_message_is_echoed_intact(server):
    payload = os.urandom(1 << 20)
    with ws_connect(server.url("/echo")) as ws:
        ws.send(payload)
        reply = ws.recv(timeout=15)
    assert reply == payload


def test_websockets_200_kb_text_message_is_echoed_intact(server):
    text = ("0123456789abcdef€" * 12000)[:200_000]
    with ws_connect(server.url("/echo")) as ws:
        ws.send(text)
        reply = ws.recv(timeout=15)
    assert reply == text


def test_websockets_hundred_messages_in_a_row_are_echoed_in_order(server):
    with ws_connect(server.url("/echo")) as ws:
        for i in range(100):
            ws.send(f"message {i}")
        replies = [ws.recv(timeout=TIMEOUT) for _ in range(100)]
    assert replies == [f"message {i}" for i in range(100)]


def test_websockets_fragmented_text_message_is_echoed_whole(server):
    with ws_connect(server.url("/echo")) as ws:
        ws.send(iter(["frag", "mented ", "messäge"]))
        reply = ws.recv(timeout=TIMEOUT)
    assert reply == "fragmented messäge"


def test_websockets_fragmented_binary_message_is_echoed_whole(server):
    with ws_connect(server.url("/echo")) as ws:
        ws.send(iter([b"\x00\x01", b"", b"\x02" * 70000]))
        reply = ws.recv(timeout=TIMEOUT)
    assert reply == b"\x00\x01" + b"\x02" * 70000


def test_websockets_echo_handler_selects_first_offered_subprotocol(server):
    with ws_connect(server.url("/echo"), subprotocols=["chat.v2", "chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v2"
        ws.send("with protocol")
        assert ws.recv(timeout=TIMEOUT) == "with protocol"


def test_websockets_no_subprotocol_when_none_offered(server):
    with ws_connect(server.url("/echo")) as ws:
        assert ws.subprotocol is None
        assert ws.response.headers.get("Sec-WebSocket-Protocol") is None


def test_deflate_offered_to_a_handler_that_declines_extensions_still_echoes(server):
    with ws_connect(server.url("/echo_noext"), compression="deflate") as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        ws.send("uncompressed")
        assert ws.recv(timeout=TIMEOUT) == "uncompressed"


def test_websockets_client_ping_is_answered_with_pong(server):
    with ws_connect(server.url("/echo")) as ws:
        pong = ws.ping(b"x")
        assert pong.wait(TIMEOUT), "no pong within 5 s"
        ws.send("after ping")
        assert ws.recv(timeout=TIMEOUT) == "after ping"


def test_websockets_client_close_code_and_reason_are_echoed_by_server(server):
    with ws_connect(server.url("/echo")) as ws:
        ws.close(4001, "done")
    assert ws.close_code == 4001
    assert ws.close_reason == "done"


def test_websockets_goodbye_makes_echo_server_close_with_1000(server):
    with ws_connect(server.url("/echo")) as ws:
        ws.send("Goodbye")
        assert ws.recv(timeout=TIMEOUT) == "Goodbye"
        with pytest.raises(ConnectionClosedOK) as info:
            ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1000


def test_websockets_close_handler_closes_with_requested_code_and_reason(server):
    with ws_connect(server.url("/close")) as ws:
        ws.send("plain text is echoed")
        assert ws.recv(timeout=TIMEOUT) == "plain text is echoed"
        ws.send("4002 bye")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4002, "bye")


def test_websockets_abort_handler_drops_connection_without_handshake_response(server):
    with pytest.raises(InvalidMessage) as info, ws_connect(server.url("/abort")):
        pass
    assert isinstance(info.value.__cause__, EOFError), repr(info.value.__cause__)


def test_raw_abort_handler_answers_nothing_and_closes_tcp(server):
    with wsraw.Conn.open(server.port) as conn:
        conn.send(wsraw.handshake_request("/abort", host=f"127.0.0.1:{server.port}"))
        assert conn.read_to_eof(TIMEOUT) == b""


def test_websockets_query_string_is_ignored_when_choosing_handler(server):
    with ws_connect(server.url("/echo?x=1&y=two")) as ws:
        ws.send("query")
        assert ws.recv(timeout=TIMEOUT) == "query"


def _echo_session(url: str, worker: int, count: int) -> list[str]:
    with ws_connect(url) as ws:
        sent = [f"worker {worker} message {i} " + "x" * (worker * 37 + i) for i in range(count)]
        replies = []
        for message in sent:
            ws.send(message)
            replies.append(ws.recv(timeout=10))
    assert replies == sent
    return replies


def test_twenty_concurrent_clients_each_get_their_own_twenty_echoes(server):
    url = server.url("/echo")
    with ThreadPoolExecutor(max_workers=20, thread_name_prefix="e2e-client") as pool:
        futures = [pool.submit(_echo_session, url, w, 20) for w in range(20)]
        results = [f.result(timeout=30) for f in futures]
    assert [len(r) for r in results] == [20] * 20
    # The server is still healthy afterwards.
    with ws_connect(url) as ws:
        ws.send("still here")
        assert ws.recv(timeout=TIMEOUT) == "still here"


# --- websocket-client ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["hello", "日本語テキスト 🎉", ""], ids=["ascii", "unicode", "empty"])
def test_websocket_client_text_message_is_echoed(server, text):
    ws = wsc_connect(server.url("/echo"))
    try:
        ws.send(text)
        opcode, data = ws.recv_data()
    finally:
        ws.close(timeout=TIMEOUT)
    assert opcode == websocket.ABNF.OPCODE_TEXT
    assert data.decode("utf-8") == text


def test_websocket_client_binary_message_is_echoed_as_binary(server):
    payload = os.urandom(5000)
    ws = wsc_connect(server.url("/echo"))
    try:
        ws.send_binary(payload)
        opcode, data = ws.recv_data()
    finally:
        ws.close(timeout=TIMEOUT)
    assert opcode == websocket.ABNF.OPCODE_BINARY
    assert data == payload


def test_websocket_client_one_mebibyte_binary_message_is_echoed_intact(server):
    payload = os.urandom(1 << 20)
    ws = websocket.create_connection(server.url("/echo"), timeout=15)
    try:
        ws.send_binary(payload)
        opcode, data = ws.recv_data()
    finally:
        ws.close(timeout=TIMEOUT)
    assert opcode == websocket.ABNF.OPCODE_BINARY
    assert data == payload


def test_websocket_client_200_kb_text_message_is_echoed_intact(server):
    text = "ß∂ƒ©" * 50_000
    ws = websocket.create_connection(server.url("/echo"), timeout=15)
    try:
        ws.send(text)
        reply = ws.recv()
    finally:
        ws.close(timeout=TIMEOUT)
    assert reply == text


def test_websocket_client_hundred_messages_are_echoed_in_order(server):
    ws = wsc_connect(server.url("/echo"))
    try:
        for i in range(100):
            ws.send(f"#{i}")
        replies = [ws.recv() for _ in range(100)]
    finally:
        ws.close(timeout=TIMEOUT)
    assert replies == [f"#{i}" for i in range(100)]


def test_websocket_client_fragmented_message_is_echoed_whole(server):
    ws = wsc_connect(server.url("/echo"))
    try:
        ws.send_frame(websocket.ABNF.create_frame("first-", websocket.ABNF.OPCODE_TEXT, fin=0))
        ws.send_frame(websocket.ABNF.create_frame("second-", websocket.ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(websocket.ABNF.create_frame("third", websocket.ABNF.OPCODE_CONT, fin=1))
        reply = ws.recv()
    finally:
        ws.close(timeout=TIMEOUT)
    assert reply == "first-second-third"


def test_websocket_client_subprotocol_first_offered_is_selected(server):
    ws = wsc_connect(server.url("/echo"), subprotocols=["alpha", "beta"])
    try:
        assert ws.getsubprotocol() == "alpha"
    finally:
        ws.close(timeout=TIMEOUT)


def test_websocket_client_no_subprotocol_when_none_offered(server):
    ws = wsc_connect(server.url("/echo"))
    try:
        assert ws.getsubprotocol() is None
        assert "sec-websocket-protocol" not in {k.lower() for k in ws.getheaders()}
    finally:
        ws.close(timeout=TIMEOUT)


def test_websocket_client_ping_gets_pong_with_same_payload(server):
    ws = wsc_connect(server.url("/echo"))
    try:
        ws.ping(b"ping-payload")
        opcode, frame = ws.recv_data_frame(control_frame=True)
    finally:
        ws.close(timeout=TIMEOUT)
    assert opcode == websocket.ABNF.OPCODE_PONG
    assert frame.data == b"ping-payload"


def test_websocket_client_close_frame_from_server_echoes_code_and_reason(server):
    ws = wsc_connect(server.url("/echo"))
    try:
        ws.send_close(status=4001, reason=b"done")
        frame = ws.recv_frame()  # the raw frame: no automatic reply, any library version
    finally:
        ws.shutdown()
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE, frame
    code = struct.unpack("!H", frame.data[:2])[0]
    assert (code, frame.data[2:]) == (4001, b"done")


def test_websocket_client_goodbye_makes_server_send_close_1000(server):
    ws = wsc_connect(server.url("/echo"))
    try:
        ws.send("Goodbye")
        assert ws.recv() == "Goodbye"
        opcode, frame = ws.recv_data_frame(control_frame=True)
    finally:
        ws.close(timeout=TIMEOUT)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", frame.data[:2])[0] == 1000


def test_websocket_client_close_handler_sends_requested_close(server):
    ws = wsc_connect(server.url("/close"))
    try:
        ws.send("4002 bye")
        opcode, frame = ws.recv_data_frame(control_frame=True)
    finally:
        ws.close(timeout=TIMEOUT)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", frame.data[:2])[0] == 4002
    assert frame.data[2:] == b"bye"


def test_websocket_client_abort_handler_handshake_fails(server):
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws = wsc_connect(server.url("/abort"))
        ws.close(timeout=TIMEOUT)


def test_websocket_client_query_string_dispatches_to_echo(server):
    ws = wsc_connect(server.url("/echo?x=1"))
    try:
        ws.send("q")
        assert ws.recv() == "q"
    finally:
        ws.close(timeout=TIMEOUT)


# --- the example client -------------------------------------------------------------


def test_example_echo_client_exits_zero_and_prints_each_echo(server):
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "echo_client.py"), "-s", "127.0.0.1", "-p", str(server.port),
         "-m", "a,b", "--timeout", "5"],
        cwd=str(ROOT), env=server_env(), capture_output=True, text=True, encoding="utf-8",
        timeout=30, stdin=subprocess.DEVNULL, check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == ["send: a", "recv: a", "send: b", "recv: b"], result.stdout
    assert any(line.startswith("close: code=1000") for line in lines[4:]), result.stdout
