"""End to end: every fault-injection primitive (request.ws_stream.faults), seen on the
wire by a raw-socket client."""

from __future__ import annotations

import socket
import struct
import textwrap
import time
import zlib

import pytest
import wsraw
from wsraw import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, RawWebSocket

TIMEOUT = 5.0

# One handler: the client names a scenario in its first message; the handler runs it.
FAULTS_HANDLER = """
    import logging

    from mod_ws.common import OPCODE_CONTINUATION, OPCODE_PING, OPCODE_TEXT

    _log = logging.getLogger("fault-test")

    SCENARIOS = {
        "reserved": lambda f: f.send_frame(0x3, b"ab", fin=False, rsv2=True),
        "masked": lambda f: f.send_frame(OPCODE_TEXT, b"hi", mask_key=b"\\x01\\x02\\x03\\x04"),
        "lying_length": lambda f: f.send_frame(0x2, b"abc", length=10),
        "length_2_63": lambda f: f.send_frame(0x2, b"", length=2 ** 63),
        "raw": lambda f: f.send_raw(b"\\xde\\xad\\xbe\\xef"),
        "text_bytes": lambda f: f.send_text_bytes(b"\\xff\\xfe"),
        "odd_close": lambda f: f.send_close(999, b"\\xff" * 130),
        "close_payload": lambda f: f.send_close(payload=b"\\x03"),
        "compressed": lambda f: f.send_compressed("hello hello hello"),
        "compressed_w9": lambda f: f.send_compressed(b"abc" * 100, binary=True, window_bits=9),
        "big_ping": lambda f: f.send_ping(b"x" * 126),
        "fragmented_ping": lambda f: f.send_frame(OPCODE_PING, b"p", fin=False),
        "control_between_fragments": lambda f: (f.send_frame(OPCODE_TEXT, b"a", fin=False),
                                                f.send_ping(b"mid"),
                                                f.send_frame(OPCODE_CONTINUATION, b"b")),
        "pong": lambda f: f.send_pong(b"unasked"),
        "flood": lambda f: f.ping_flood(50, b"f"),
        "trickle": lambda f: f.trickle_frame(OPCODE_TEXT, b"slow", bytes_per_second=20),
        "pause": lambda f: (f.send_frame(OPCODE_TEXT, b"a"), f.pause(0.3), f.send_frame(OPCODE_TEXT, b"b")),
        "drop": lambda f: f.drop(),
        "reset": lambda f: f.reset(),
        "close_and_drop": lambda f: f.close_and_drop(4001, "bye"),
    }


    def web_socket_do_extra_handshake(request):
        faults = request.ws_stream.faults
        if "delay" in request.ws_resource:
            faults.delay_handshake_response(0.5)
        if "trickle" in request.ws_resource:
            faults.trickle_handshake_response(400, chunk=16)


    def web_socket_transfer_data(request):
        stream = request.ws_stream
        faults = stream.faults
        name = stream.receive_message()
        if name is None:
            return
        if name in SCENARIOS:
            SCENARIOS[name](faults)
            faults.pause(0.3)  # the client reads what was sent before the server closes
            return
        if name == "half_close":
            faults.half_close()
            frame = faults.receive_frame(timeout=5)
            _log.warning("after half close: %r", frame.payload)
        elif name == "ignore_pings":
            faults.ignore_pings()
            stream.send_message(stream.receive_message())
        elif name == "answer_pings_with":
            faults.answer_pings_with(b"wrong")
            stream.send_message(stream.receive_message())
        elif name == "never_answer_close":
            faults.never_answer_close()
            assert stream.receive_message() is None
            faults.pause(0.8)
        elif name == "receive_frame":
            frame = faults.receive_frame(timeout=5)
            stream.send_message(repr(tuple(frame)))
        elif name == "peer_closed":
            stream.send_message("closed" if faults.peer_closed(5) else "open")
        elif name == "bad_rate":
            faults.trickle(b"x", 0)  # ValueError: the handler's error, closed with 1011
        elif name == "then_safe_api":
            faults.send_frame(OPCODE_TEXT, b"raw")
            stream.send_message("safe")
"""


@pytest.fixture(scope="module")
def server(make_module_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    (root / "faults_wsh.py").write_text(textwrap.dedent(FAULTS_HANDLER).lstrip(), encoding="utf-8")
    for name in ("delay", "trickle"):
        (root / f"{name}_wsh.py").write_text(textwrap.dedent(FAULTS_HANDLER).lstrip(), encoding="utf-8")
    return make_module_server("-d", root)


def run(server, scenario: str) -> RawWebSocket:
    ws = RawWebSocket.connect(server.port, "/faults")
    ws.send_text(scenario)
    return ws


@pytest.mark.parametrize("scenario, wire", [
    ("reserved", b"\x23\x02ab"),  # FIN clear, RSV2 set, opcode 3
    ("masked", b"\x81\x82\x01\x02\x03\x04" + bytes([ord("h") ^ 1, ord("i") ^ 2])),
    ("lying_length", b"\x82\x0aabc"),
    ("length_2_63", b"\x82\x7f" + struct.pack("!Q", 2 ** 63)),
    ("raw", b"\xde\xad\xbe\xef"),
    ("text_bytes", b"\x81\x02\xff\xfe"),
    ("odd_close", b"\x88\x7e\x00\x84" + struct.pack("!H", 999) + b"\xff" * 130),
    ("close_payload", b"\x88\x01\x03"),
    ("big_ping", b"\x89\x7e\x00\x7e" + b"x" * 126),
    ("fragmented_ping", b"\x09\x01p"),
    ("control_between_fragments", b"\x01\x01a\x89\x03mid\x80\x01b"),
    ("pong", b"\x8a\x07unasked"),
])
def test_a_frame_primitive_puts_exactly_its_bytes_on_the_wire(server, scenario, wire):
    with run(server, scenario) as ws:
        assert ws.read_exact(len(wire), TIMEOUT) == wire


def test_send_compressed_sets_rsv1_on_a_raw_deflate_body_negotiated_or_not(server):
    with run(server, "compressed") as ws:
        first, length = ws.read_exact(2, TIMEOUT)
        assert first == 0xC1 and length < 17  # FIN, RSV1, text; smaller than the text
        body = ws.read_exact(length, TIMEOUT)
        assert zlib.decompressobj(-15).decompress(body + b"\x00\x00\xff\xff") == b"hello hello hello"
    with run(server, "compressed_w9") as ws:
        frame = ws.recv_rsv_frame(TIMEOUT)
        assert frame.opcode == OP_BINARY and frame.rsv1
        assert zlib.decompressobj(-9).decompress(frame.payload + b"\x00\x00\xff\xff") == b"abc" * 100


def test_ping_flood_sends_that_many_pings(server):
    with run(server, "flood") as ws:
        frames = [ws.recv_frame(TIMEOUT) for _ in range(50)]
    assert {(f.opcode, f.payload) for f in frames} == {(OP_PING, b"f")}


def test_trickle_frame_sends_a_byte_at_a_time_at_the_rate(server):
    with run(server, "trickle") as ws:
        start = time.monotonic()
        arrivals = []
        for _ in range(6):  # 2 header bytes and "slow", one byte per 50 ms
            ws.read_exact(1, TIMEOUT)
            arrivals.append(time.monotonic() - start)
    assert arrivals[-1] - arrivals[0] >= 0.2
    assert ws.buf == b""


def test_pause_waits_between_frames(server):
    with run(server, "pause") as ws:
        assert ws.recv_frame(TIMEOUT).payload == b"a"
        start = time.monotonic()
        assert ws.recv_frame(TIMEOUT).payload == b"b"
        assert time.monotonic() - start >= 0.25


def test_drop_closes_tcp_with_no_close_frame(server):
    with run(server, "drop") as ws:
        assert ws.read_to_eof(TIMEOUT) == b""


def test_reset_ends_the_connection_with_an_rst(server):
    with run(server, "reset") as ws:
        with pytest.raises(ConnectionResetError):
            ws.sock.settimeout(TIMEOUT)
            while ws.sock.recv(100):
                pass


def test_close_and_drop_sends_the_close_then_fin_without_waiting(server):
    with run(server, "close_and_drop") as ws:
        start = time.monotonic()
        frame = ws.recv_frame(TIMEOUT)
        assert (frame.opcode, frame.payload) == (OP_CLOSE, struct.pack("!H", 4001) + b"bye")
        assert ws.read_to_eof(TIMEOUT) == b""
        assert time.monotonic() - start < 0.5 + 0.3  # the handler's last pause, no close wait


def test_half_close_sends_fin_and_still_reads_the_client(server):
    with run(server, "half_close") as ws:
        assert ws.read_to_eof(TIMEOUT) == b""
        ws.send_frame(OP_TEXT, b"late words")
    assert server.wait_for_stderr("after half close: b'late words'", TIMEOUT), server.stderr_text()


def test_ignore_pings_leaves_a_ping_unanswered(server):
    with run(server, "ignore_pings") as ws:
        ws.send_frame(OP_PING, b"anyone?")
        ws.send_text("after")
        frame = ws.recv_frame(TIMEOUT)
        assert (frame.opcode, frame.payload) == (OP_TEXT, b"after")


def test_answer_pings_with_pongs_the_wrong_payload(server):
    with run(server, "answer_pings_with") as ws:
        ws.send_frame(OP_PING, b"right")
        frame = ws.recv_frame(TIMEOUT)
        assert (frame.opcode, frame.payload) == (OP_PONG, b"wrong")
        ws.send_text("x")
        assert ws.recv_frame(TIMEOUT).payload == b"x"


def test_never_answer_close_reads_the_close_and_answers_nothing(server):
    with run(server, "never_answer_close") as ws:
        ws.send_close(1000, "please")
        start = time.monotonic()
        assert ws.read_to_eof(TIMEOUT) == b""  # no close frame, only the TCP close
        assert time.monotonic() - start >= 0.6  # after the handler's pause


def test_receive_frame_hands_over_what_the_client_sent_unjudged(server):
    with run(server, "receive_frame") as ws:
        ws.send(wsraw.encode_frame(0xB, b"odd", fin=False, rsv=1, mask=False))  # RSV3, unmasked
        frame = ws.recv_frame(TIMEOUT)
        assert frame.payload == repr((0, 0, 0, 1, 0xB, b"odd", False)).encode()


def test_peer_closed_sees_the_client_close_tcp(server):
    ws = run(server, "peer_closed")
    ws.sock.shutdown(socket.SHUT_WR)
    assert ws.recv_frame(TIMEOUT).payload == b"closed"
    ws.close()


def test_the_safe_api_still_works_after_raw_frames(server):
    with run(server, "then_safe_api") as ws:
        assert ws.recv_frame(TIMEOUT).payload == b"raw"
        assert ws.recv_frame(TIMEOUT).payload == b"safe"


def test_delay_handshake_response_holds_the_101(server):
    start = time.monotonic()
    with RawWebSocket.connect(server.port, "/delay"):
        assert time.monotonic() - start >= 0.45


def test_trickle_handshake_response_sends_the_101_in_pieces(server):
    with wsraw.Conn.open(server.port) as conn:
        key = wsraw.make_key()
        conn.send(wsraw.handshake_request("/trickle", host=f"127.0.0.1:{server.port}", key=key))
        start = time.monotonic()
        pieces = []
        while b"\r\n\r\n" not in b"".join(pieces):
            pieces.append(conn.sock.recv(4096))
        assert time.monotonic() - start >= 0.2 and len(pieces) > 3
        assert b"".join(pieces).startswith(b"HTTP/1.1 101 ")


def test_a_bad_trickle_rate_is_a_one_line_1011_for_that_connection_only(server):
    with run(server, "bad_rate") as ws:
        frame = ws.recv_frame(TIMEOUT)
        assert frame.opcode == OP_CLOSE
        assert frame.payload == struct.pack("!H", 1011) + \
            b"ValueError: trickle needs bytes_per_second > 0 and chunk >= 1"
    with run(server, "then_safe_api") as ws:  # the server goes on serving
        assert ws.recv_frame(TIMEOUT).payload == b"raw"
