"""End to end: handlers in the style of browser test suites written for pywebsocket3.

Such handlers import `util` and `handshake.hybi`, read missing request headers as
None, and often write their own opening handshake response (broken on purpose, to test
the client) before raising AbortedByUserException so the server adds nothing. Each
handler here runs with only its `from mod_pywebsocket ...` lines changed to mod_ws.
"""

from __future__ import annotations

import textwrap

import pytest
import websocket  # websocket-client, an independent client
import wsraw
from wsraw import OP_BINARY, OP_CLOSE, OP_TEXT, Conn, RawWebSocket, close_payload, encode_frame

TIMEOUT = 5.0

HANDLERS = {
    # Answers the handshake by itself, sends a close frame in the same write, reads the
    # client's close as raw bytes, and aborts so the server writes nothing more.
    "own_handshake_wsh.py": """
        from mod_ws import common, stream
        from mod_ws.handshake import AbortedByUserException, hybi


        def web_socket_do_extra_handshake(request):
            key = request.headers_in.get(common.SEC_WEBSOCKET_KEY_HEADER)
            response = (b"HTTP/1.1 101 Switching Protocols\\r\\n"
                        b"Upgrade: websocket\\r\\n"
                        b"Connection: Upgrade\\r\\n"
                        b"Sec-WebSocket-Accept: %s\\r\\n"
                        b"X-Written-By: handler\\r\\n\\r\\n") % hybi.compute_accept_from_unicode(key)
            close_frame = stream.create_close_frame(stream.create_closing_handshake_body(1001, "PASS"))
            request.connection.write(response + close_frame)
            # The client's close carries the same body, masked: 4 bytes longer.
            request.connection.read(len(close_frame) + 4)
            raise AbortedByUserException("the handler answered by itself")


        def web_socket_transfer_data(request):
            raise AssertionError("not reached after an aborted handshake")
    """,
    # A 101 whose Sec-WebSocket-Accept is for another key: a client must refuse it.
    "wrong_accept_wsh.py": """
        from mod_ws import handshake
        from mod_ws.handshake.hybi import compute_accept


        def web_socket_do_extra_handshake(request):
            wrong = compute_accept(b"AAAAAAAAAAAAAAAAAAAAAA==")
            request.connection.write(b"HTTP/1.1 101 Switching Protocols\\r\\n"
                                     b"Upgrade: websocket\\r\\n"
                                     b"Connection: Upgrade\\r\\n"
                                     b"Sec-WebSocket-Accept: " + wrong + b"\\r\\n\\r\\n")
            raise handshake.AbortedByUserException("wrong accept sent")


        def web_socket_transfer_data(request):
            pass
    """,
    # util's helpers, and a header the client did not send read with [].
    "util_wsh.py": """
        from mod_ws import common, msgutil, util


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            msgutil.send_message(request, b"".join(util.pack_byte(i) for i in range(256)), binary=True)
            msgutil.send_message(request, util.hexify(b"\\x00\\x7f\\xff"))
            msgutil.send_message(request, util.get_class_logger(request).name)
            msgutil.send_message(request, "cookie=%s" % request.headers_in["Cookie"])
            msgutil.send_message(request, "origin=%s" % request.headers_in["origin"])
            msgutil.receive_message(request)
    """,
}


@pytest.fixture(scope="module")
def compat_server(make_module_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("compat_handlers")
    for name, text in HANDLERS.items():
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return make_module_server("-d", root)


def test_handler_writing_its_own_handshake_and_close_is_the_only_writer(compat_server):
    with Conn.open(compat_server.port) as conn:
        key = wsraw.make_key()
        conn.send(wsraw.handshake_request("/own_handshake", host=f"127.0.0.1:{compat_server.port}",
                                          key=key))
        response = conn.read_http_response(head_only=True, timeout=TIMEOUT)
        assert response.status == 101
        assert response.header("X-Written-By") == "handler"
        assert response.header("Sec-WebSocket-Accept") == wsraw.expected_accept(key)
        assert conn.read_exact(8, TIMEOUT) == encode_frame(OP_CLOSE, close_payload(1001, "PASS"),
                                                           mask=False)
        conn.send(encode_frame(OP_CLOSE, close_payload(1001, "PASS")))
        # After the abort the server closes TCP and has written nothing of its own.
        assert conn.is_closed_by_peer(TIMEOUT)
    assert "Traceback" not in compat_server.stderr_text()


def test_handler_sending_a_wrong_accept_makes_an_independent_client_refuse(compat_server):
    with pytest.raises(websocket.WebSocketException, match="(?i)accept|header"):
        websocket.create_connection(compat_server.url("/wrong_accept"), timeout=TIMEOUT)


def test_util_helpers_and_missing_headers_read_as_none(compat_server):
    with RawWebSocket.connect(compat_server.port, "/util") as ws:
        messages = [ws.recv_message(TIMEOUT) for _ in range(5)]
        ws.send_close(1000)
        assert ws.expect_close(TIMEOUT) == (1000, "")
    assert messages == [
        (OP_BINARY, bytes(range(256))),
        (OP_TEXT, b"00 7f ff"),
        (OP_TEXT, b"mod_ws.server.request.WebSocketRequest"),
        (OP_TEXT, b"cookie=None"),
        (OP_TEXT, b"origin=None"),
    ]
