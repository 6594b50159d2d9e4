"""End to end: RFC 6455 framing rules, enforced by the running server.

Hand-built frames over raw sockets (wsraw.py). Each violation test asserts the exact
close code the server sends, that the server then closes the TCP connection, and that
a healthy connection opened *before* the violation still echoes afterwards.
"""

from __future__ import annotations

import struct
import time

import pytest
import wsraw
from conftest import EXAMPLE
from wsraw import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWebSocket

TIMEOUT = 5.0


@pytest.fixture
def bystander(server):
    """A healthy echo connection that is open before the test misbehaves."""
    ws = RawWebSocket.connect(server.port)
    try:
        assert ws.echo("before") == "before"
        yield ws
    finally:
        ws.close()


@pytest.fixture
def violate(server, bystander):
    """violate(raw_bytes, expected_code): send on a fresh connection, check the fallout."""

    def run(data: bytes, expected_code: int, port: int | None = None) -> str:
        with RawWebSocket.connect(port or server.port) as ws:
            ws.send(data)
            code, reason = ws.expect_close(TIMEOUT)
        assert code == expected_code, f"close {code} {reason!r}, expected {expected_code}"
        assert bystander.echo("after") == "after", "an unrelated connection was harmed"
        return reason

    return run


frame = wsraw.encode_frame


# --- framing violations: 1002 ---------------------------------------------------------


def test_unmasked_client_frame_fails_connection_with_1002(violate):
    violate(frame(OP_TEXT, b"not masked", mask=False), 1002)


@pytest.mark.parametrize("rsv", [4, 2, 1], ids=["RSV1", "RSV2", "RSV3"])
def test_reserved_bit_without_extension_fails_connection_with_1002(violate, rsv):
    violate(frame(OP_TEXT, b"rsv", rsv=rsv), 1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF], ids=hex)
def test_reserved_opcode_fails_connection_with_1002(violate, opcode):
    violate(frame(opcode, b"reserved"), 1002)


def test_ping_with_126_byte_payload_fails_connection_with_1002(violate):
    violate(frame(OP_PING, b"p" * 126), 1002)


def test_fragmented_ping_fails_connection_with_1002(violate):
    violate(frame(OP_PING, b"half", fin=False) + frame(OP_CONT, b"ping"), 1002)


def test_continuation_without_started_message_fails_connection_with_1002(violate):
    violate(frame(OP_CONT, b"orphan"), 1002)


def test_new_text_frame_inside_open_fragmented_message_fails_connection_with_1002(violate):
    violate(frame(OP_TEXT, b"first", fin=False) + frame(OP_TEXT, b"second"), 1002)


def test_new_binary_frame_inside_open_fragmented_message_fails_connection_with_1002(violate):
    violate(frame(OP_BINARY, b"\x01", fin=False) + frame(OP_BINARY, b"\x02", fin=False), 1002)


def test_64_bit_length_with_top_bit_set_fails_connection_with_1002_on_header_alone(violate):
    header = bytes((0x80 | OP_BINARY, 0x80 | 127)) + struct.pack("!Q", 1 << 63) + b"\x01\x02\x03\x04"
    violate(header, 1002)


# --- invalid UTF-8: 1007 --------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"\xff", b"abc\xc0\xaf", b"\xed\xa0\x80", b"ok\xe2\x82"],
                         ids=["ff", "overlong", "surrogate", "truncated"])
def test_invalid_utf8_text_message_fails_connection_with_1007(violate, payload):
    violate(frame(OP_TEXT, payload), 1007)


@pytest.mark.parametrize("bad_fragment", [b"\xff", b"x\xc0", b"\xed\xa0", b"\xf4\x90"],
                         ids=["ff", "c0", "surrogate-prefix", "above-10ffff"])
def test_invalid_utf8_in_second_fragment_fails_with_1007_before_third_fragment(
        server, bystander, bad_fragment):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, "valid start ", fin=False)
        ws.send_frame(OP_CONT, bad_fragment, fin=False)
        # No third fragment: the server must fail on what it already has.
        code, _ = ws.expect_close(TIMEOUT)
    assert code == 1007
    assert bystander.echo("after") == "after"


def test_invalid_utf8_early_in_partly_sent_text_frame_fails_with_1007_before_frame_ends(
        server, bystander):
    whole = wsraw.encode_frame(OP_TEXT, b"ok\xff" + b"a" * 997)  # header: 2 + 2 + 4 bytes
    with RawWebSocket.connect(server.port) as ws:
        ws.send(whole[: 8 + 100])  # 900 payload bytes are still owed
        code, _ = ws.expect_close(TIMEOUT)
    assert code == 1007
    assert bystander.echo("after") == "after"


def test_multibyte_character_split_across_fragments_is_valid_and_echoed(server):
    euro = "€".encode()
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, b"price: " + euro[:2], fin=False)
        ws.send_frame(OP_CONT, euro[2:] + b"5", fin=True)
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, "price: €5".encode())


def test_invalid_utf8_in_binary_message_is_not_checked_and_echoed(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_BINARY, b"\xff\xfe\xed\xa0\x80")
        assert ws.recv_message(TIMEOUT) == (OP_BINARY, b"\xff\xfe\xed\xa0\x80")


# --- close frames ---------------------------------------------------------------------


def test_close_with_one_byte_payload_fails_connection_with_1002(violate):
    violate(frame(OP_CLOSE, b"\x03"), 1002)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1016, 2999, 5000])
def test_close_with_invalid_code_is_answered_with_1002(violate, code):
    violate(frame(OP_CLOSE, struct.pack("!H", code)), 1002)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 3000, 4999])
def test_close_with_valid_code_is_echoed_with_code_and_reason(server, bystander, code):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close(code, "reason ✓")
        assert ws.expect_close(TIMEOUT) == (code, "reason ✓")
    assert bystander.echo("after") == "after"


def test_close_with_invalid_utf8_reason_fails_connection_with_1002(violate):
    violate(frame(OP_CLOSE, struct.pack("!H", 1000) + b"bad \xff reason"), 1002)


def test_empty_close_is_answered_with_empty_close(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close(None)
        assert ws.expect_close(TIMEOUT) == (None, "")


def test_server_closes_tcp_first_promptly_after_echoing_client_close(server):
    with RawWebSocket.connect(server.port) as ws:
        assert ws.echo("hi") == "hi"
        ws.send_close(1000, "bye")
        start = time.monotonic()
        # expect_close requires EOF (recv() == b'') while our side is still open.
        assert ws.expect_close(TIMEOUT, eof_timeout=1.0) == (1000, "bye")
        assert time.monotonic() - start < 1.0


def test_data_frames_after_client_close_are_not_echoed(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send(frame(OP_CLOSE, struct.pack("!H", 1000)) + frame(OP_TEXT, b"too late"))
        assert ws.expect_close(TIMEOUT) == (1000, "")


# --- control frames -------------------------------------------------------------------


def test_ping_between_fragments_gets_pong_and_message_still_completes(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, "Hel", fin=False)
        ws.send_frame(OP_PING, b"mid-message")
        ws.send_frame(OP_CONT, "lo, ", fin=False)
        ws.send_frame(OP_CONT, "world", fin=True)
        pong = ws.recv_frame(TIMEOUT)
        assert (pong.fin, pong.opcode, pong.payload) == (True, OP_PONG, b"mid-message")
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"Hello, world")


def test_ten_pings_get_ten_pongs_with_matching_payloads_in_order(server):
    payloads = [f"ping {i}".encode() * (i + 1) for i in range(10)]
    with RawWebSocket.connect(server.port) as ws:
        ws.send(b"".join(frame(OP_PING, p) for p in payloads))
        pongs = [ws.recv_frame(TIMEOUT) for _ in payloads]
    assert [(f.opcode, f.payload) for f in pongs] == [(OP_PONG, p) for p in payloads]


def test_ping_with_125_byte_payload_is_answered(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_PING, b"\x00" * 125)
        assert ws.recv_frame(TIMEOUT) == (True, OP_PONG, b"\x00" * 125)


def test_unsolicited_pong_is_ignored(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_PONG, b"nobody asked")
        assert ws.echo("still echoing") == "still echoing"


# --- size limit -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server(make_module_server):
    return make_module_server("-d", "example", "--max-message-size", "1024", "--close-timeout", "1")


def test_message_over_max_message_size_fails_connection_with_1009(small_server):
    with RawWebSocket.connect(small_server.port) as other:
        with RawWebSocket.connect(small_server.port) as ws:
            ws.send_frame(OP_BINARY, b"x" * 2000)
            code, _ = ws.expect_close(TIMEOUT)
        assert code == 1009
        assert other.echo("unharmed") == "unharmed"


def test_fragmented_message_growing_over_max_message_size_fails_with_1009(small_server):
    with RawWebSocket.connect(small_server.port) as ws:
        ws.send_frame(OP_TEXT, "a" * 600, fin=False)
        ws.send_frame(OP_CONT, "b" * 600, fin=False)
        code, _ = ws.expect_close(TIMEOUT)
    assert code == 1009


def test_message_exactly_at_max_message_size_is_echoed(small_server):
    with RawWebSocket.connect(small_server.port) as ws:
        ws.send_frame(OP_BINARY, b"y" * 1024)
        assert ws.recv_message(TIMEOUT) == (OP_BINARY, b"y" * 1024)


# --- server-initiated close -----------------------------------------------------------


def test_server_initiated_close_answered_by_client_ends_tcp_promptly(small_server):
    with RawWebSocket.connect(small_server.port) as ws:
        assert ws.echo("Goodbye") == "Goodbye"
        frame = ws.recv_frame(TIMEOUT)
        assert (frame.opcode, frame.payload) == (OP_CLOSE, struct.pack("!H", 1000))
        start = time.monotonic()
        ws.send_close(1000)
        assert ws.is_closed_by_peer(TIMEOUT)
        assert time.monotonic() - start < 0.5


def test_server_initiated_close_gives_up_on_silent_client_within_close_timeout(small_server):
    # small_server runs with --close-timeout 1.
    with RawWebSocket.connect(small_server.port) as ws:
        assert ws.echo("Goodbye") == "Goodbye"
        frame = ws.recv_frame(TIMEOUT)
        assert frame.opcode == OP_CLOSE
        start = time.monotonic()
        assert ws.is_closed_by_peer(TIMEOUT), "server never closed TCP"
        elapsed = time.monotonic() - start
    assert elapsed < 1.0 + 0.5, f"TCP closed {elapsed:.2f} s after the close frame; --close-timeout is 1"


# --- broken clients -------------------------------------------------------------------


def test_client_vanishing_mid_frame_leaves_server_serving_others(server, bystander):
    with RawWebSocket.connect(server.port) as ws:
        ws.send(wsraw.encode_frame(OP_BINARY, b"0123456789", length=1000)[:2 + 2 + 4 + 10])
    # The socket is now closed with the frame 990 bytes short.
    assert bystander.echo("after vanish") == "after vanish"
    with RawWebSocket.connect(server.port) as fresh:
        assert fresh.echo("fresh") == "fresh"


def test_garbage_instead_of_handshake_gets_400_and_close(server, bystander):
    response, closed = wsraw.http_exchange(server.port, b"\x00\xff" * 100 + b"\r\n\r\n")
    assert response.status == 400
    assert response.header("Connection") == "close"
    assert response.body.decode().startswith("400 Bad Request: ")
    assert closed
    assert bystander.echo("after garbage") == "after garbage"


# --- keepalive (--ping-interval, --ping-timeout) ------------------------------------------


def test_keepalive_pings_and_a_client_that_answers_stays_open(make_server):
    server = make_server("-d", EXAMPLE, "--ping-interval", "0.3", "--ping-timeout", "1")
    with RawWebSocket.connect(server.port) as ws:
        for _ in range(3):
            frame = ws.recv_frame(5.0)
            assert (frame.opcode, frame.payload) == (wsraw.OP_PING, b"mod_ws keepalive")
            ws.send_frame(wsraw.OP_PONG, frame.payload)
            assert ws.echo("still open") == "still open"


def test_keepalive_closes_1011_when_the_pong_does_not_come(make_server):
    server = make_server("-d", EXAMPLE, "--ping-interval", "0.2", "--ping-timeout", "0.5",
                         "--close-timeout", "1", "--log-level", "info")
    with RawWebSocket.connect(server.port) as ws:
        frame = ws.recv_frame(5.0)
        assert frame.opcode == wsraw.OP_PING  # never answered
        started = time.monotonic()
        assert ws.expect_close(5.0) == (1011, "keepalive ping timeout")
        assert time.monotonic() - started < 2.0
    line = server.wait_for_stderr(lambda l: "keepalive ping timeout" in l and "mod_ws.server.session" in l, 5.0)
    assert line is not None, server.stderr_text()


def test_without_ping_interval_the_server_never_pings(make_server):
    server = make_server("-d", EXAMPLE)
    with RawWebSocket.connect(server.port) as ws:
        with pytest.raises((TimeoutError, OSError)):
            ws.recv_frame(1.0)
        assert ws.echo("quiet") == "quiet"
