"""End to end: handler files with their pywebsocket3 imports unchanged.

Chromium's web tests import `mod_pywebsocket`, WPT's handlers `pywebsocket3`; both run
as they are (mod_ws.aliases), and what they call validates as pywebsocket3 does:
bad close codes and message types raise in the handler, a client-closed connection
makes routine exceptions log at debug, and a passive closing handshake that aborts
drops the connection unanswered.
"""

from __future__ import annotations

import importlib.util
import textwrap

import pytest
import websocket  # websocket-client, an independent client
import wsraw
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from wsraw import OP_TEXT, RawWebSocket

TIMEOUT = 5.0

HANDLERS = {
    # Chromium's style: the old package name, submodules imported several ways.
    "old_names_wsh.py": """
        import mod_pywebsocket.msgutil
        from mod_pywebsocket import common, msgutil, stream, util
        from mod_pywebsocket.handshake import hybi
        from mod_pywebsocket.stream import BadOperationException


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            assert mod_pywebsocket.msgutil is msgutil
            assert stream.BadOperationException is msgutil.BadOperationException
            assert BadOperationException is stream.BadOperationException
            accept = hybi.compute_accept_from_unicode("dGhlIHNhbXBsZSBub25jZQ==")
            msgutil.send_message(request, accept.decode())
            msgutil.send_message(request, "%d %d" % (common.STATUS_NORMAL, common.OPCODE_TEXT))
            msgutil.send_message(request, type(request).__module__)
            line = msgutil.receive_message(request)
            msgutil.send_message(request, line)
    """,
    # WPT's style: the new package name.
    "new_names_wsh.py": """
        from pywebsocket3 import common, msgutil
        from pywebsocket3.handshake import AbortedByUserException


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            # mod_ws's module even where the real pywebsocket3 is installed.
            msgutil.send_message(request, msgutil.__name__)
            while True:
                line = msgutil.receive_message(request)
                if line is None:
                    return
                msgutil.send_message(request, line)
    """,
    # close_connection and send_message validate what a handler asks for.
    "validate_wsh.py": """
        from pywebsocket3 import msgutil


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            while True:
                line = msgutil.receive_message(request)
                if line is None:
                    return
                try:
                    if line == "send-int":
                        request.ws_stream.send_message(12345)
                    elif line == "send-int-binary":
                        request.ws_stream.send_message(12345, binary=True)
                    elif line == "close-none":
                        request.ws_stream.close_connection(None, None)
                        return
                    else:
                        request.ws_stream.close_connection(int(line), "x")
                        return
                except Exception as e:
                    msgutil.send_message(request, "%s: %s" % (type(e).__name__, e))
    """,
    # pywebsocket3's example close_wsh.py loops on receive after its close_connection.
    "close_loop_wsh.py": """
        from pywebsocket3 import common


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            while True:
                line = request.ws_stream.receive_message()
                if line is None:
                    return
                code, reason = line.split(" ", 1)
                request.ws_stream.close_connection(int(code), reason)


        def web_socket_passive_closing_handshake(request):
            code, reason = request.ws_close_code, request.ws_close_reason
            if code == common.STATUS_NO_STATUS_RECEIVED:
                code, reason = None, ""
            return code, reason
    """,
    # pywebsocket3's example internal_error_wsh.py.
    "internal_error_wsh.py": """
        from pywebsocket3 import msgutil


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            raise msgutil.BadOperationException("Intentional")
    """,
    # WPT's passive-close-abort: the client's close is never answered.
    "passive_abort_wsh.py": """
        from mod_pywebsocket import msgutil
        from mod_pywebsocket.handshake import AbortedByUserException


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            while msgutil.receive_message(request) is not None:
                pass


        def web_socket_passive_closing_handshake(request):
            raise AbortedByUserException("abort at the passive close")
    """,
    # Hundreds of KB of Set-Cookie in the 101, as Chromium's cookie-flood does.
    "cookie_flood_wsh.py": """
        from mod_pywebsocket import msgutil


        def web_socket_do_extra_handshake(request):
            for i in range(2000):
                request.extra_headers.append(("Set-Cookie", "c%d=%s; Path=/" % (i, "v" * 100)))


        def web_socket_transfer_data(request):
            msgutil.send_message(request, "flooded")
    """,
    # Module-level state is shared by every connection (the file loads once).
    "counter_wsh.py": """
        import threading

        from pywebsocket3 import msgutil

        _lock = threading.Lock()
        _count = 0


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            global _count
            with _lock:
                _count += 1
                mine = _count
            msgutil.send_message(request, str(mine))
    """,
    # A module pywebsocket3 has but mod_ws does not answer for.
    "unknown_module_wsh.py": """
        from pywebsocket3 import memorizingfile


        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            pass
    """,
}


def write_handlers(root) -> None:
    for name, text in HANDLERS.items():
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


@pytest.fixture(scope="module")
def handler_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pywebsocket_imports")
    write_handlers(root)
    return root


@pytest.fixture(scope="module")
def compat_server(make_module_server, handler_root):
    return make_module_server("-d", handler_root, "--log-level", "debug", "--close-timeout", "2")


def test_old_package_name_imports_resolve_to_mod_ws(compat_server):
    with connect(compat_server.url("/old_names"), open_timeout=TIMEOUT) as ws:
        assert ws.recv(timeout=TIMEOUT) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert ws.recv(timeout=TIMEOUT) == "1000 1"
        assert ws.recv(timeout=TIMEOUT) == "mod_ws.server.request"
        ws.send("back")
        assert ws.recv(timeout=TIMEOUT) == "back"


def test_new_package_name_imports_resolve_to_mod_ws(compat_server):
    ws = websocket.create_connection(compat_server.url("/new_names"), timeout=TIMEOUT)
    try:
        assert ws.recv() == "mod_ws.msgutil"
        ws.send("hello")
        assert ws.recv() == "hello"
    finally:
        ws.close()


@pytest.mark.parametrize("code, words", [
    (999, "999 is out of range"),
    (5000, "5000 is out of range"),
    (1005, "1005 is a reserved pseudo code"),
    (1006, "1006 is a reserved pseudo code"),
    (1015, "1015 is a reserved pseudo code"),
])
def test_close_connection_with_a_code_that_cannot_be_sent_raises_in_the_handler(
        compat_server, code, words):
    with RawWebSocket.connect(compat_server.port, "/validate") as ws:
        ws.send_text(str(code))
        opcode, text = ws.recv_message(TIMEOUT)
        assert opcode == OP_TEXT and text.decode().startswith(
            f"BadOperationException: close status code {words}"), text
        ws.send_close(1000)
        assert ws.expect_close(TIMEOUT) == (1000, "")


def test_send_message_of_an_int_is_a_type_error_not_nul_bytes(compat_server):
    with RawWebSocket.connect(compat_server.port, "/validate") as ws:
        for line in ("send-int", "send-int-binary"):
            ws.send_text(line)
            assert ws.recv_message(TIMEOUT) == (
                OP_TEXT, b"TypeError: a message must be str or bytes, not int")
        ws.send_close(1000)
        assert ws.expect_close(TIMEOUT) == (1000, "")


def test_close_connection_none_none_sends_an_empty_close_so_the_client_sees_1005(compat_server):
    with connect(compat_server.url("/validate"), open_timeout=TIMEOUT) as ws:
        ws.send("close-none")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1005


def test_close_codes_pywebsocket3_allows_are_sent(compat_server):
    for code in (1000, 1004, 3000, 4999):
        with RawWebSocket.connect(compat_server.port, "/validate") as ws:
            ws.send_text(str(code))
            assert ws.expect_close(TIMEOUT, answer=True) == (code, "x")


def test_receiving_after_the_close_is_logged_at_debug_not_as_an_error(compat_server):
    with RawWebSocket.connect(compat_server.port, "/close_loop") as ws:
        ws.send_text("4001 done")
        assert ws.expect_close(TIMEOUT, answer=True) == (4001, "done")
    line = compat_server.wait_for_stderr("the client has already closed", TIMEOUT)
    assert line is not None and "DEBUG" in line, compat_server.stderr_text()
    assert "Traceback" not in compat_server.stderr_text()


def test_bad_operation_raised_by_a_handler_closes_with_1011_logged_at_debug(compat_server):
    with RawWebSocket.connect(compat_server.port, "/internal_error") as ws:
        assert ws.expect_close(TIMEOUT, answer=True)[0] == 1011
    line = compat_server.wait_for_stderr("Intentional", TIMEOUT)
    assert line is not None and "DEBUG" in line, compat_server.stderr_text()


def test_passive_closing_handshake_that_aborts_drops_the_connection_unanswered(compat_server):
    with RawWebSocket.connect(compat_server.port, "/passive_abort") as ws:
        ws.send_text("one")
        ws.send_close(1000, "bye")
        # No close frame comes back: the server just ends TCP.
        assert ws.is_closed_by_peer(TIMEOUT)


def test_passive_abort_seen_by_an_independent_client_is_an_unclean_1006(compat_server):
    with connect(compat_server.url("/passive_abort"), open_timeout=TIMEOUT,
                 close_timeout=TIMEOUT) as ws:
        ws.send("one")
        ws.close(1000)
    assert ws.close_code == 1006


def test_a_module_mod_ws_does_not_answer_for_fails_the_file_with_500_naming_it(compat_server):
    response, _ = wsraw.http_exchange(compat_server.port, wsraw.handshake_request("/unknown_module"))
    assert response.status == 500
    body = response.body.decode()
    assert "unknown_module_wsh.py failed to load" in body and "memorizingfile" in body, body


@pytest.mark.skipif(importlib.util.find_spec("mod_pywebsocket") is not None,
                    reason="a package named mod_pywebsocket is installed here")
def test_without_aliases_the_unchanged_imports_fail_with_500_naming_the_missing_module(
        make_server, handler_root):
    server = make_server("-d", handler_root, "--no-pywebsocket-imports")
    assert server.wait_for_stderr("old_names_wsh.py failed to load: ModuleNotFoundError", TIMEOUT)
    response, _ = wsraw.http_exchange(server.port, wsraw.handshake_request("/old_names"))
    assert response.status == 500
    assert "ModuleNotFoundError: No module named 'mod_pywebsocket'" in response.body.decode()


@pytest.mark.skipif(importlib.util.find_spec("pywebsocket3") is None,
                    reason="the real pywebsocket3 is not installed here")
def test_without_aliases_an_installed_pywebsocket3_is_what_handlers_import(make_server, handler_root):
    server = make_server("-d", handler_root, "--no-pywebsocket-imports")
    ws = websocket.create_connection(server.url("/new_names"), timeout=TIMEOUT)
    try:
        assert ws.recv() == "pywebsocket3.msgutil"
        ws.send("still served by mod_ws's stream")
        assert ws.recv() == "still served by mod_ws's stream"
    finally:
        ws.close()


def test_hundreds_of_kilobytes_of_extra_headers_go_out_in_the_101(compat_server):
    with RawWebSocket.connect(compat_server.port, "/cookie_flood") as ws:
        cookies = [value for name, value in ws.response.headers if name.lower() == "set-cookie"]
        assert len(cookies) == 2000 and sum(map(len, cookies)) > 200_000
        assert cookies[1999] == "c1999=" + "v" * 100 + "; Path=/"
        assert ws.recv_message(TIMEOUT) == (OP_TEXT, b"flooded")


def test_module_level_state_is_shared_by_every_connection(compat_server):
    seen = []
    for _ in range(3):
        with RawWebSocket.connect(compat_server.port, "/counter") as ws:
            seen.append(int(ws.recv_message(TIMEOUT)[1]))
    assert seen == [seen[0], seen[0] + 1, seen[0] + 2]
