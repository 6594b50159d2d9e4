"""End to end: handlers that read and write frames themselves, as Chromium's web tests do.

They call pywebsocket3's Stream internals (`_receive_frame` and its tuple,
`_receive_frame_as_frame_object`, `_get_message_from_frame`, `_process_close_message`,
`receive_bytes`, `_send_pong`, `_write`, `_options.incoming_frame_filters`), write
close frames with `request.connection.write` and then set `request.server_terminated`,
and inflate by hand with `util._Inflater`. The handlers here are written in that style
with unchanged `mod_pywebsocket` imports; a raw socket client sees every byte.
"""

from __future__ import annotations

import struct
import textwrap
import zlib

import pytest
import wsraw
from wsraw import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWebSocket, close_payload

TIMEOUT = 5.0
RSV1 = 0x4
DEFLATE_OFFER = [("Sec-WebSocket-Extensions", "permessage-deflate")]

HANDLERS = {
    # Reports each frame's tuple as text, as Chromium's expect-unfragmented does.
    "frame_tuple_wsh.py": """
        from mod_pywebsocket import msgutil


        def web_socket_do_extra_handshake(request):
            request.ws_extension_processors = []


        def web_socket_transfer_data(request):
            while True:
                opcode, payload, fin, rsv1, rsv2, rsv3 = request.ws_stream._receive_frame()
                msgutil.send_message(request, "%d %d %d%d%d %s" % (
                    opcode, fin, rsv1, rsv2, rsv3, payload.hex()))
                if opcode == 8:
                    request.connection.write(b"\\x88\\x00")
                    request.server_terminated = True
                    return
    """,
    # Frame objects through the (empty) incoming frame filters, as send-file-blob does.
    "frame_object_wsh.py": """
        from mod_pywebsocket import common, msgutil


        def web_socket_do_extra_handshake(request):
            request.ws_extension_processors = []


        def web_socket_transfer_data(request):
            stream = request.ws_stream
            frame = stream._receive_frame_as_frame_object()
            for frame_filter in stream._options.incoming_frame_filters:
                frame_filter.filter(frame)
            ok = frame.opcode == common.OPCODE_BINARY and frame.fin and frame.payload == b"blob"
            msgutil.send_message(request, "PASS" if ok else "FAIL %r" % (frame,))
    """,
    # Receives by hand, reassembling and answering the close itself, and inflating
    # compressed messages with util._Inflater, as permessage-deflate-manual does.
    "manual_wsh.py": """
        from mod_pywebsocket import common, util
        from mod_pywebsocket.extensions import PerMessageDeflateExtensionProcessor


        def _processor(request):
            for processor in request.ws_extension_processors:
                if isinstance(processor, PerMessageDeflateExtensionProcessor):
                    return processor
            return None


        def web_socket_do_extra_handshake(request):
            request.ws_extension_processors = [_processor(request)]


        def receive(request):
            stream = request.ws_stream
            body, compressed = b"", False
            while True:
                frame = stream._receive_frame_as_frame_object()
                if frame.opcode == common.OPCODE_CLOSE:
                    stream._process_close_message(stream._get_message_from_frame(frame))
                    return None, None
                message = stream._get_message_from_frame(frame)
                compressed = compressed or frame.rsv1
                if message is not None:
                    return compressed, message


        def web_socket_transfer_data(request):
            inflater = util._Inflater(15)
            while True:
                compressed, body = receive(request)
                if body is None:
                    return
                if compressed:
                    inflater.append(body + b"\\x00\\x00\\xff\\xff")
                    body = inflater.decompress(-1)
                request.ws_stream.send_message(body.decode("utf-8"))
    """,
    # Reads the client's whole close frame as raw bytes, then closes by hand and says
    # so, as client-close does.
    "raw_close_wsh.py": """
        import struct

        from mod_pywebsocket import msgutil, stream, util


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            close_frame = request.ws_stream.receive_bytes(6)
            msgutil.send_message(request, "the client should ignore this")
            text = "first two bytes: %s" % util.hexify(close_frame[:2])
            request.connection.write(stream.create_close_frame(struct.pack("!H", 1000) + text.encode()))
            request.server_terminated = True
    """,
    # A close frame written raw (even a broken one), then the client's close awaited
    # through receive_message, which must not answer it, as close-code-and-reason does.
    "handwritten_close_wsh.py": """
        import struct

        from mod_pywebsocket import stream


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            line = request.ws_stream.receive_message()
            data = b"X" if line == "one-byte" else struct.pack("!H", int(line)) + b"handwritten"
            request.connection.write(stream.create_close_frame(data))
            request.server_terminated = True
            request.ws_stream.receive_message()
    """,
    # An unsolicited pong with a payload, then raw frames split by hand.
    "raw_writes_wsh.py": """
        from mod_pywebsocket import common, msgutil, stream


        def web_socket_do_extra_handshake(request):
            request.ws_extension_processors = []


        def web_socket_transfer_data(request):
            request.ws_stream._send_pong(b"{payload: 'yes'}")
            header = stream.create_header(common.OPCODE_TEXT, 5, 1, 0, 0, 0, 0)
            request.ws_stream._write(header[:1])
            request.ws_stream._write(header[1:] + b"split")
            request.connection.write("str is written as UTF-8: \\u00e9")
            msgutil.receive_message(request)
    """,
    # A passive closing handshake answering with a code that may not be sent.
    "bad_reply_wsh.py": """
        from mod_pywebsocket import msgutil


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            while msgutil.receive_message(request) is not None:
                pass


        def web_socket_passive_closing_handshake(request):
            return 1005, None
    """,
    # connection.read returns short at the end of the stream instead of raising.
    "short_read_wsh.py": """
        from mod_pywebsocket.handshake import AbortedByUserException


        def web_socket_do_extra_handshake(request):
            request.connection.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
            got = request.connection.read(100)
            request.connection.write(b"got %d bytes: %s" % (len(got), got))
            raise AbortedByUserException("answered by the handler")


        def web_socket_transfer_data(request):
            pass
    """,
}


@pytest.fixture(scope="module")
def server(make_module_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("frame_level")
    for name, text in HANDLERS.items():
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return make_module_server("-d", root, "--close-timeout", "1")


def test_receive_frame_returns_pywebsocket3s_tuple_unjudged(server):
    with RawWebSocket.connect(server.port, "/frame_tuple") as ws:
        ws.send_frame(OP_TEXT, b"ab", fin=False)
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"1 0 000 6162")
        ws.send_frame(OP_CONT, b"c", fin=True, rsv=0x2)  # RSV2 set: reported, not refused
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"0 1 010 63")
        ws.send_frame(OP_PING, b"p")  # not answered with a pong: just reported
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"9 1 000 70")
        ws.send_close(1000, "bye")
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"8 1 000 03e8627965")
        assert ws.expect_close(TIMEOUT) == (None, "")  # the handler's own, and only that


def test_an_unmasked_frame_read_by_receive_frame_still_fails_with_1002(server):
    with RawWebSocket.connect(server.port, "/frame_tuple") as ws:
        ws.send_frame(OP_TEXT, b"unmasked", mask=False)
        assert ws.expect_close(TIMEOUT, answer=True)[0] == 1002


def test_frame_objects_pass_through_the_empty_frame_filters(server):
    with RawWebSocket.connect(server.port, "/frame_object") as ws:
        ws.send_frame(OP_BINARY, b"blob")
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"PASS")
        assert ws.expect_close(TIMEOUT, answer=True) == (1000, "")


def test_manual_reassembly_and_close_processing(server):
    with RawWebSocket.connect(server.port, "/manual") as ws:
        ws.send_frame(OP_TEXT, b"frag", fin=False)
        ws.send_frame(OP_CONT, b"ments", fin=True)
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"fragments")
        ws.send_close(3001, "done by hand")
        assert ws.expect_close(TIMEOUT) == (3001, "done by hand")


def test_manual_inflate_with_util_inflater_across_messages(server):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    with RawWebSocket.connect(server.port, "/manual", headers=DEFLATE_OFFER) as ws:
        assert ws.response.header("Sec-WebSocket-Extensions") == "permessage-deflate"
        inflater = zlib.decompressobj(-15)
        for text in (b"compressed by the client " * 4, b"compressed by the client " * 4):
            data = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
            ws.send_frame(OP_TEXT, data[:-4], rsv=RSV1)
            frame = ws.recv_rsv_frame(TIMEOUT)
            assert frame.rsv == RSV1  # the reply goes out compressed by the processor
            assert inflater.decompress(frame.payload + b"\x00\x00\xff\xff") == text
        ws.send_close(1000)
        assert ws.expect_close(TIMEOUT) == (1000, "")


def test_receive_bytes_takes_the_raw_close_and_server_terminated_stops_a_second_close(server):
    with RawWebSocket.connect(server.port, "/raw_close") as ws:
        ws.send_close(None)  # a masked empty close: 6 bytes
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"the client should ignore this")
        frame = ws.recv_frame(TIMEOUT)
        assert frame.opcode == OP_CLOSE
        assert frame.payload == struct.pack("!H", 1000) + b"first two bytes: 88 80"
        # Nothing more: no second close from the server, then TCP ends.
        assert ws.is_closed_by_peer(TIMEOUT)


@pytest.mark.parametrize("line, payload", [("4000", close_payload(4000, "handwritten")),
                                           ("one-byte", b"X")])
def test_a_handwritten_close_and_server_terminated_leave_the_clients_close_unanswered(
        server, line, payload):
    with RawWebSocket.connect(server.port, "/handwritten_close") as ws:
        ws.send_text(line)
        frame = ws.recv_frame(TIMEOUT)
        assert (frame.opcode, frame.payload) == (OP_CLOSE, payload)
        ws.send_close(4000)
        assert ws.is_closed_by_peer(TIMEOUT)  # no answer to our close: it was theirs first


def test_send_pong_write_and_str_writes_go_out_as_given(server):
    with RawWebSocket.connect(server.port, "/raw_writes") as ws:
        frame = ws.recv_frame(TIMEOUT)
        assert (frame.opcode, frame.payload) == (OP_PONG, b"{payload: 'yes'}")
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"split")
        text = "str is written as UTF-8: \u00e9".encode()
        assert ws.read_exact(len(text), TIMEOUT) == text


def test_a_passive_reply_with_a_pseudo_code_is_answered_1011(server):
    with RawWebSocket.connect(server.port, "/bad_reply") as ws:
        ws.send_close(None)
        assert ws.expect_close(TIMEOUT)[0] == 1011
    assert server.wait_for_stderr("1005 is a reserved pseudo code", TIMEOUT), server.stderr_text()


def test_connection_read_returns_short_when_the_client_stops_sending(server):
    with wsraw.Conn.open(server.port) as conn:
        conn.send(wsraw.handshake_request("/short_read", host=f"127.0.0.1:{server.port}") + b"tail")
        conn.sock.shutdown(1)  # SHUT_WR: the server's read meets the end of the stream
        response = conn.read_http_response(head_only=True, timeout=TIMEOUT)
        assert response.status == 200
        assert conn.read_to_eof(TIMEOUT) == b"got 4 bytes: tail"
