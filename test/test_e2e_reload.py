"""End to end: --reload picks up handler files changed, added and deleted on disk."""

from __future__ import annotations

import json
import os
import textwrap
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

TIMEOUT = 5.0


def handler(greeting: str) -> str:
    return textwrap.dedent(f"""
        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            request.ws_stream.send_message({greeting!r})
    """).lstrip()


def write(path, text: str) -> None:
    """Writes the file and moves its mtime on, so a rewrite within the same clock tick
    still reads as changed."""
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    if stat.st_mtime_ns <= old:
        os.utime(path, ns=(stat.st_atime_ns, old + 1_000_000))


def greeting(server, resource: str) -> str:
    with connect(server.url(resource), open_timeout=TIMEOUT) as ws:
        return ws.recv(timeout=TIMEOUT)


def refused(server, resource: str) -> tuple[int, bytes]:
    with pytest.raises(InvalidStatus) as info:
        connect(server.url(resource), open_timeout=TIMEOUT)
    return info.value.response.status_code, info.value.response.body


def test_a_changed_handler_file_runs_its_new_code_at_the_next_handshake(make_server, tmp_path):
    write(tmp_path / "hello_wsh.py", handler("v1"))
    server = make_server("-d", tmp_path, "--reload")
    assert greeting(server, "/hello") == "v1"
    write(tmp_path / "hello_wsh.py", handler("v2 is longer"))
    assert greeting(server, "/hello") == "v2 is longer"


def test_a_broken_rewrite_answers_500_with_the_reason_never_the_old_code(make_server, tmp_path):
    write(tmp_path / "hello_wsh.py", handler("v1"))
    server = make_server("-d", tmp_path, "--reload")
    assert greeting(server, "/hello") == "v1"
    write(tmp_path / "hello_wsh.py", "def web_socket_transfer_data(request:\n")
    status, body = refused(server, "/hello")
    assert status == 500 and b"SyntaxError" in body
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/_mod_ws/status.json",
                                timeout=TIMEOUT) as response:
        (entry,) = [h for h in json.load(response)["handlers"] if h["resource"] == "/hello"]
    assert entry["status"] == "failed" and "SyntaxError" in entry["error"]
    write(tmp_path / "hello_wsh.py", handler("fixed"))
    assert greeting(server, "/hello") == "fixed"


def test_new_handler_files_appear_and_deleted_ones_go_away(make_server, tmp_path):
    write(tmp_path / "hello_wsh.py", handler("v1"))
    (tmp_path / "sub").mkdir()
    server = make_server("-d", tmp_path, "--reload")
    assert refused(server, "/sub/new")[0] == 404
    write(tmp_path / "sub" / "new_wsh.py", handler("new"))
    assert greeting(server, "/sub/new") == "new"
    (tmp_path / "hello_wsh.py").unlink()
    assert refused(server, "/hello")[0] == 404


def test_an_alias_from_the_map_file_follows_its_reloaded_handler(make_server, tmp_path):
    write(tmp_path / "hello_wsh.py", handler("v1"))
    (tmp_path / "map.txt").write_text("/alias /hello\n", encoding="utf-8")
    server = make_server("-d", tmp_path, "-m", tmp_path / "map.txt", "--reload")
    assert greeting(server, "/alias") == "v1"
    write(tmp_path / "hello_wsh.py", handler("v2 via the alias"))
    assert greeting(server, "/alias") == "v2 via the alias"


def test_without_reload_a_changed_file_keeps_the_code_loaded_at_start_up(make_server, tmp_path):
    write(tmp_path / "hello_wsh.py", handler("v1"))
    server = make_server("-d", tmp_path)
    write(tmp_path / "hello_wsh.py", handler("v2 is longer"))
    assert greeting(server, "/hello") == "v1"


def test_reload_does_not_load_files_outside_the_scan_directory(make_server, tmp_path):
    (tmp_path / "scanned").mkdir()
    write(tmp_path / "scanned" / "in_wsh.py", handler("in"))
    server = make_server("-d", tmp_path, "-s", tmp_path / "scanned", "--reload")
    write(tmp_path / "out_wsh.py", handler("out"))
    assert greeting(server, "/scanned/in") == "in"
    assert refused(server, "/out")[0] == 404
    assert refused(server, "/scanned/../out")[0] == 404
