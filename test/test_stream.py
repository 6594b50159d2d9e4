"""`Stream` (mod_ws.server.session) over an in-memory transport: no socket, no server.

The client's bytes are scripted; what the stream writes is parsed back with the frame
codec. Every test runs twice: with whatever accelerators are in use, and with the
pure-Python codec paths put in their place (the C fast path for whole messages, the C
masking and frame building), so both paths keep the same behaviour.
"""

from __future__ import annotations

import zlib

import pytest
from memory_transport import MemoryTransport

from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
)
from mod_ws.exceptions import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
)
from mod_ws.protocol import frames, messages
from mod_ws.protocol.closing import CloseState, decode_close_payload
from mod_ws.protocol.deflate import MessageDeflater, MessageInflater
from mod_ws.protocol.frames import build_frame
from mod_ws.protocol.headers import Headers
from mod_ws.server import session
from mod_ws.server.request import Connection, WebSocketRequest
from mod_ws.server.session import Stream, StreamOptions

KEY = b"\x37\xfa\x21\x3d"


@pytest.fixture(params=["as installed", "pure Python"])
def codec(request, monkeypatch):
    """Runs a test with the accelerated codec paths in use, then with the pure ones."""
    if request.param == "pure Python":
        monkeypatch.setattr(messages, "take_whole_message", frames.take_whole_message_python)
        monkeypatch.setattr(messages, "apply_mask", frames.apply_mask_python)
        monkeypatch.setattr(session, "build_unmasked_frame", frames.build_unmasked_frame_python)
    return request.param


def client(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False,
           masked: bool = True) -> bytes:
    return build_frame(opcode, payload, fin, rsv1, mask_key=KEY if masked else None)


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return client(OPCODE_CLOSE, code.to_bytes(2, "big") + reason)


def open_stream(*chunks: bytes, then: str = "eof", passive=None, **options):
    transport = MemoryTransport(*chunks, then=then)
    connection = Connection(transport, ("127.0.0.1", 1), ("127.0.0.1", 2))
    request = WebSocketRequest("GET", "/echo", "HTTP/1.1", Headers(), connection)
    stream = Stream(request, StreamOptions(**options), passive_closing_handshake=passive)
    request.ws_stream = stream
    return stream, request, transport


# --- receiving ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_text_and_binary_messages_of_every_length_encoding_arrive_whole(codec, size):
    text = ("κ" * size)[:size]
    data = bytes(range(256)) * (size // 256 + 1)
    stream, _, _ = open_stream(client(OPCODE_TEXT, text.encode()), client(OPCODE_BINARY, data[:size]))
    assert stream.receive_message() == text
    assert stream.get_last_received_opcode() == OPCODE_TEXT
    assert stream.receive_message() == data[:size]
    assert stream.get_last_received_opcode() == OPCODE_BINARY


def test_many_messages_in_one_read_and_one_message_across_many_reads(codec):
    burst = b"".join(client(OPCODE_TEXT, f"m{i}".encode()) for i in range(50))
    one = client(OPCODE_BINARY, b"x" * 1000)
    stream, _, _ = open_stream(burst, *(one[i:i + 7] for i in range(0, len(one), 7)))
    assert [stream.receive_message() for _ in range(50)] == [f"m{i}" for i in range(50)]
    assert stream.receive_message() == b"x" * 1000


def test_fragments_with_a_ping_between_them_reassemble_and_the_ping_is_answered(codec):
    stream, _, transport = open_stream(
        client(OPCODE_TEXT, "héllo ".encode()[:2], fin=False),
        client(OPCODE_PING, b"are you there"),
        client(OPCODE_CONTINUATION, "héllo ".encode()[2:], fin=False),
        client(OPCODE_CONTINUATION, b"world"),
    )
    assert stream.receive_message() == "héllo world"
    assert transport.frames() == [(OPCODE_PONG, True, False, b"are you there")]


def test_a_long_text_frame_is_validated_piece_by_piece_and_fails_on_the_bad_piece(codec):
    good = ("€" * 40_000).encode()
    payload = good + b"\xff" + b"a" * 200_000
    frame = client(OPCODE_TEXT, payload)
    stream, request, transport = open_stream(frame[:1000], frame[1000:])
    with pytest.raises(InvalidUTF8Exception):
        stream.receive_message()
    assert request.close_handshake.state is CloseState.FAILED
    ((opcode, _, _, body),) = transport.frames()
    assert opcode == OPCODE_CLOSE and decode_close_payload(body)[0] == 1007


def test_a_pong_reaches_the_pong_handler_and_a_ping_handler_replaces_the_answer(codec):
    stream, request, transport = open_stream(
        client(OPCODE_PONG, b"p1"), client(OPCODE_PING, b"q"), client(OPCODE_TEXT, b"after"))
    seen = []
    request.on_pong_handler = lambda req, payload: seen.append(("pong", payload))
    request.on_ping_handler = lambda req, payload: seen.append(("ping", payload))
    stream.send_ping(b"p1")
    assert stream.receive_message() == "after"
    assert seen == [("pong", b"p1"), ("ping", b"q")]
    assert transport.frames() == [(OPCODE_PING, True, False, b"p1")]  # no automatic pong


@pytest.mark.parametrize("frame, code", [
    (client(OPCODE_TEXT, b"hi", masked=False), 1002),
    (client(0x3, b""), 1002),
    (client(OPCODE_PING, b"x", fin=False), 1002),
    (client(OPCODE_CONTINUATION, b"x"), 1002),
    (client(OPCODE_TEXT, b"x", rsv1=True), 1002),
    (client(OPCODE_TEXT, b"\xce"), 1007),
    (client(OPCODE_BINARY, b"x" * 11), 1009),
    (client(OPCODE_CLOSE, b"\x03"), 1002),
], ids=["unmasked", "reserved-opcode", "fragmented-ping", "lone-continuation", "rsv1",
        "bad-utf8", "too-big", "one-byte-close"])
def test_a_violation_fails_the_connection_with_its_close_code_and_reads_stop(codec, frame, code):
    """RFC 6455 7.1.7: fail the connection: one close frame with the code, then nothing."""
    stream, request, transport = open_stream(frame, client(OPCODE_TEXT, b"never read"),
                                             max_message_size=10)
    with pytest.raises(InvalidFrameException) as info:
        stream.receive_message()
    assert info.value.close_code == code
    assert request.close_handshake.state is CloseState.FAILED
    assert stream.failed and request.server_terminated and request.client_terminated
    ((opcode, _, _, body),) = transport.frames()
    assert opcode == OPCODE_CLOSE and decode_close_payload(body)[0] == code
    with pytest.raises(ConnectionTerminatedException):
        stream.receive_message()
    with pytest.raises(ConnectionTerminatedException):
        stream.send_message("late")
    assert len(transport.frames()) == 1


def test_a_peer_that_vanishes_mid_frame_ends_the_read_with_connection_terminated(codec):
    frame = client(OPCODE_BINARY, b"z" * 100_000)
    stream, _, _ = open_stream(frame[:50_000])
    with pytest.raises(ConnectionTerminatedException):
        stream.receive_message()


# --- compression ----------------------------------------------------------------------


def test_compressed_messages_are_inflated_and_replies_deflated(codec):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    compressed = compressor.compress(b"hello " * 100) + compressor.flush(zlib.Z_SYNC_FLUSH)
    stream, _, transport = open_stream(client(OPCODE_TEXT, compressed[:-4], rsv1=True))
    stream.enable_compression(MessageDeflater(), MessageInflater(1 << 20))
    assert stream.receive_message() == "hello " * 100
    stream.send_message("bye " * 100)
    ((opcode, fin, rsv1, payload),) = transport.frames()
    assert (opcode, fin, rsv1) == (OPCODE_TEXT, True, True)
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == b"bye " * 100


def test_a_compressed_message_that_inflates_beyond_the_limit_fails_with_1009(codec):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(bytes(100_000)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    stream, _, transport = open_stream(client(OPCODE_BINARY, bomb[:-4], rsv1=True))
    stream.enable_compression(None, MessageInflater(1000))
    with pytest.raises(MessageTooBigException):
        stream.receive_message()
    assert decode_close_payload(transport.frames()[0][3])[0] == 1009


# --- sending --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_sent_messages_are_single_unmasked_frames(codec, size):
    stream, _, transport = open_stream()
    stream.send_message("t" * size)
    stream.send_message(b"\x00" * size, binary=True)
    assert transport.frames() == [(OPCODE_TEXT, True, False, b"t" * size),
                                  (OPCODE_BINARY, True, False, b"\x00" * size)]


def test_fragments_go_out_as_continuations_and_kinds_cannot_mix(codec):
    stream, _, transport = open_stream()
    stream.send_message("a", end=False)
    with pytest.raises(BadOperationException, match="mix text and binary"):
        stream.send_message(b"b", end=False, binary=True)
    stream.send_message("b")
    assert transport.frames() == [(OPCODE_TEXT, False, False, b"a"),
                                  (OPCODE_CONTINUATION, True, False, b"b")]


def test_a_binary_message_must_be_bytes_and_a_ping_at_most_125_bytes(codec):
    stream, _, transport = open_stream()
    with pytest.raises(BadOperationException):
        stream.send_message("text", binary=True)
    with pytest.raises(BadOperationException):
        stream.send_ping(b"p" * 126)
    assert transport.sent == b""


def test_a_broken_transport_fails_the_connection_and_nothing_more_is_written(codec):
    stream, request, transport = open_stream()
    transport.broken = True
    with pytest.raises(ConnectionTerminatedException, match="lost while sending"):
        stream.send_message("x")
    assert request.close_handshake.state is CloseState.FAILED
    transport.broken = False
    with pytest.raises(ConnectionTerminatedException):
        stream.send_message("y")
    stream.close_connection()  # nothing left to close
    assert transport.sent == b""


# --- closing --------------------------------------------------------------------------


def test_a_client_close_is_echoed_and_receive_returns_none(codec):
    stream, request, transport = open_stream(close_frame(4005, b"dbg"))
    assert stream.receive_message() is None
    assert (request.ws_close_code, request.ws_close_reason) == (4005, "dbg")
    assert request.close_handshake.state is CloseState.CLOSED
    assert request.server_terminated and request.client_terminated
    assert transport.frames() == [(OPCODE_CLOSE, True, False, b"\x0f\xa5dbg")]
    with pytest.raises(BadOperationException, match="already closed"):
        stream.receive_message()
    with pytest.raises(BadOperationException, match="closing handshake began"):
        stream.send_message("late")


def test_a_passive_closing_handshake_chooses_the_answer(codec):
    stream, request, transport = open_stream(
        client(OPCODE_CLOSE, b""), passive=lambda req: (1001, "my answer"))
    assert stream.receive_message() is None
    assert request.ws_close_code == 1005
    assert transport.frames() == [(OPCODE_CLOSE, True, False, b"\x03\xe9my answer")]


def test_an_empty_client_close_is_answered_with_an_empty_close(codec):
    stream, _, transport = open_stream(client(OPCODE_CLOSE, b""))
    assert stream.receive_message() is None
    assert transport.frames() == [(OPCODE_CLOSE, True, False, b"")]


def test_close_connection_sends_once_and_waits_for_the_answer_discarding_data(codec):
    stream, request, transport = open_stream(
        client(OPCODE_TEXT, b"in flight"), client(OPCODE_PING, b"p"), close_frame(1000))
    stream.close_connection(1000, "bye")
    assert request.close_handshake.state is CloseState.CLOSED
    assert request.ws_close_code == 1000 and stream.close_awaited
    stream.close_connection(1001)  # already closed: nothing more
    assert transport.frames() == [(OPCODE_CLOSE, True, False, b"\x03\xe8bye")]


def test_close_connection_stops_waiting_at_the_close_timeout(codec):
    stream, request, transport = open_stream(then="wait", close_timeout=0.01)
    stream.close_connection(1000)
    assert request.close_handshake.state is CloseState.CLOSING_BY_US
    assert request.server_terminated and not request.client_terminated
    assert stream.close_awaited


def test_close_connection_without_waiting_leaves_the_answer_to_a_later_read(codec):
    stream, request, _ = open_stream(close_frame(1000))
    stream.close_connection(1001, "going", wait_response=False)
    assert not stream.close_awaited
    assert stream.receive_message() is None
    assert request.close_handshake.state is CloseState.CLOSED


def test_close_connection_none_none_sends_an_empty_close(codec):
    stream, request, transport = open_stream(client(OPCODE_CLOSE, b""))
    stream.close_connection(None, None)
    assert transport.frames() == [(OPCODE_CLOSE, True, False, b"")]
    assert request.close_handshake.state is CloseState.CLOSED


@pytest.mark.parametrize("code, reason", [
    (None, "why"), (1000, "a" * 124), (1000, 7), (1000, None), (999, ""), (5000, ""),
    (1005, ""), (1006, ""), (1015, ""), ("1000", ""), (True, ""),
])
def test_close_connection_refuses_what_cannot_be_sent_and_sends_nothing(codec, code, reason):
    stream, request, transport = open_stream()
    with pytest.raises(BadOperationException):
        stream.close_connection(code, reason)
    assert request.close_handshake.state is CloseState.OPEN and transport.sent == b""


def test_run_session_waits_for_the_answer_to_the_close_the_handler_left_unanswered(codec):
    class Dispatcher:
        def transfer_data(self, request):
            request.ws_stream.close_connection(1000, wait_response=False)

    stream, request, _ = open_stream(client(OPCODE_TEXT, b"late"), close_frame(1000))
    session.run_session(request, Dispatcher(), close_timeout=1.0)
    assert stream.close_awaited and request.close_handshake.state is CloseState.CLOSED


def test_close_going_away_sends_1001_once_and_does_not_wait(codec):
    stream, request, transport = open_stream(then="wait")
    session.close_going_away(request)
    session.close_going_away(request)
    assert request.close_handshake.state is CloseState.CLOSING_BY_US and not stream.close_awaited
    assert transport.frames() == [(OPCODE_CLOSE, True, False, b"\x03\xe9server shutting down")]
