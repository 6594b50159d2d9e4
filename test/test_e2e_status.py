"""End to end: the status page at /_mod_ws/status and /_mod_ws/status.json.

A browser's page cannot see why its handshake was refused (it gets an error and 1006);
the status page can tell it. These tests refuse, open and close real connections with
independent clients and read the page back over HTTP.
"""

from __future__ import annotations

import json
import shutil
import socket
import textwrap
import time
import urllib.error
import urllib.request

import pytest
from conftest import EXAMPLE
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from mod_ws.server.status import RECENT
from mod_ws.standalone import _is_loopback

TIMEOUT = 5.0

HANDLERS = {
    "abort_wsh.py": """
        from mod_ws.handshake import AbortedByUserException


        def web_socket_do_extra_handshake(request):
            raise AbortedByUserException("no")


        def web_socket_transfer_data(request):
            pass
    """,
    "broken_wsh.py": """
        raise RuntimeError("this handler cannot load")
    """,
}


@pytest.fixture(scope="module")
def handler_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("status")
    shutil.copy(EXAMPLE / "echo_wsh.py", root)  # echoes messages and the client's close
    for name, text in HANDLERS.items():
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def fetch(server, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=TIMEOUT) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def status(server) -> dict:
    code, kind, body = fetch(server, "/_mod_ws/status.json")
    assert code == 200 and kind == "application/json", (code, body)
    return json.loads(body)


def refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=TIMEOUT)
    return refused.value.response.status_code


def test_a_refused_handshake_is_listed_with_its_status_and_reason(make_server, handler_root):
    server = make_server("-d", handler_root)
    started = time.time()
    assert refused_status(server.url("/nothere?x=1")) == 404
    newest = status(server)["refusals"][0]
    assert newest["status"] == 404
    assert newest["reason"] == "no WebSocket handler for /nothere"
    assert newest["resource"] == "/nothere?x=1"
    assert newest["request"] == "GET /nothere?x=1"
    assert newest["peer"].startswith("127.0.0.1:")
    assert started - 1 <= newest["t"] <= time.time() + 1


def test_a_handler_that_failed_to_load_is_listed_and_its_500_reason_recorded(make_server, handler_root):
    server = make_server("-d", handler_root)
    handlers = {h["resource"]: h for h in status(server)["handlers"]}
    assert handlers["/echo"] == {"resource": "/echo", "file": "echo_wsh.py", "status": "loaded",
                                 "error": None}
    assert handlers["/broken"]["status"] == "failed"
    assert "RuntimeError: this handler cannot load" in handlers["/broken"]["error"]
    assert refused_status(server.url("/broken")) == 500
    assert "RuntimeError: this handler cannot load" in status(server)["refusals"][0]["reason"]


def test_an_aborted_handshake_is_listed_as_unanswered(make_server, handler_root):
    server = make_server("-d", handler_root)
    with pytest.raises(Exception):
        connect(server.url("/abort"), open_timeout=TIMEOUT)
    newest = status(server)["refusals"][0]
    assert newest["status"] is None
    assert newest["resource"] == "/abort"
    assert "AbortedByUserException" in newest["reason"]


def test_open_sessions_show_their_counts_and_a_close_shows_codes_and_who_closed(make_server, handler_root):
    server = make_server("-d", handler_root)
    with connect(server.url("/echo"), compression="deflate", open_timeout=TIMEOUT) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=TIMEOUT) == "héllo"
        (session,) = status(server)["open"]
        assert session["resource"] == "/echo"
        assert session["carrier"] == "HTTP/1.1"
        assert session["state"] == "open"
        assert session["extensions"] == ["permessage-deflate"]
        assert session["received_messages"] == 1 and session["sent_messages"] == 1
        ws.close(4001, "done here")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not status(server)["closes"]:
        time.sleep(0.05)
    page = status(server)
    assert page["open"] == []
    ended = page["closes"][0]
    assert ended["closed_by"] == "client" and ended["carrier"] == "HTTP/1.1"
    assert ended["close_received"] == {"code": 4001, "reason": "done here"}
    assert ended["close_sent"] == {"code": 4001, "reason": "done here"}
    assert page["server"]["sessions"] == 1


def test_the_html_page_refreshes_itself_and_escapes_what_clients_sent(make_server, handler_root):
    server = make_server("-d", handler_root)
    assert refused_status(server.url("/<b>x</b>")) == 404
    code, kind, body = fetch(server, "/_mod_ws/status")
    page = body.decode("utf-8")
    assert code == 200 and kind.startswith("text/html")
    assert 'http-equiv="refresh"' in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "broken_wsh.py" in page


def test_credentials_and_cookies_never_appear_on_the_page(make_server, handler_root):
    server = make_server("-d", handler_root, "--basic-auth", "--basic-auth-credential", "user:s3cret")
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /nothere HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dXNlcjp3cm9uZw==\r\n"
                     b"Cookie: session=topsecretcookie\r\nUpgrade: websocket\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 401")
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/_mod_ws/status.json",
                                     headers={"Authorization": "Basic dXNlcjpzM2NyZXQ="})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        text = response.read().decode("utf-8")
    assert json.loads(text)["refusals"][0]["status"] == 401
    for secret in ("dXNlcjp3cm9uZw", "topsecretcookie", "s3cret"):
        assert secret not in text


def test_the_record_is_bounded(make_server, handler_root):
    server = make_server("-d", handler_root)
    for _ in range(RECENT + 20):
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET /nothere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
            sock.recv(100)
    page = status(server)
    assert len(page["refusals"]) == RECENT
    assert page["server"]["refusals"] == RECENT + 20


def test_a_connection_over_max_connections_is_listed_as_a_503(make_server, handler_root):
    server = make_server("-d", handler_root, "--max-connections", "1")
    with connect(server.url("/echo"), open_timeout=TIMEOUT):
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            assert sock.recv(100).startswith(b"HTTP/1.1 503")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        code, _, body = fetch(server, "/_mod_ws/status.json")
        if code == 200:
            break
        time.sleep(0.05)  # the slot frees once the session's thread has finished
    assert json.loads(body)["refusals"][0]["status"] == 503


def test_no_status_page_turns_it_off(make_server, handler_root):
    server = make_server("-d", handler_root, "--no-status-page")
    assert fetch(server, "/_mod_ws/status.json")[0] == 404
    assert fetch(server, "/_mod_ws/status")[0] == 404


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.7", False), ("fe80::1%eth0", False),
])
def test_the_page_is_on_by_default_only_where_every_listener_is_loopback(host, loopback):
    assert _is_loopback(host) is loopback


def test_the_start_up_banner_names_the_urls_the_status_page_and_what_failed_to_load(make_server, handler_root):
    server = make_server("-d", handler_root)
    banner = server.wait_for_stderr("status page", TIMEOUT)
    assert banner is not None, server.stderr_text()
    text = server.stderr_text()
    host = f"127.0.0.1:{server.port}"
    assert f"  WebSocket ws://{host}/  HTTP http://{host}/" in text
    assert f"  status page http://{host}/_mod_ws/status (JSON: /_mod_ws/status.json)" in text
    assert "failed to load: RuntimeError: this handler cannot load" in text
    assert "console" not in text  # no console.html in this root
    # Logged to stderr, the banner is printed once, not logged a second time.
    assert text.count("listening on") == 1


def test_the_status_page_answers_other_methods_405_and_keeps_serving(make_server, handler_root):
    server = make_server("-d", handler_root)
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"POST /_mod_ws/status.json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        answer = sock.recv(1000)
    assert answer.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD" in answer
    assert status(server)["refusals"][0]["status"] == 405
