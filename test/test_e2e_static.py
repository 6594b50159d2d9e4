"""End to end: plain HTTP static files from the document root."""

from __future__ import annotations

import email.utils
import os

import pytest
import wsraw
from conftest import EXAMPLE

CONSOLE = EXAMPLE / "console.html"
TIMEOUT = 5.0


def get(path: str, method: str = "GET", extra: str = "", version: str = "HTTP/1.1") -> bytes:
    return f"{method} {path} {version}\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode("latin-1")


def exchange(port: int, request: bytes) -> tuple[wsraw.HttpResponse, bool | None]:
    """(response, closed): `closed` is checked only when the request asked for it."""
    if b"Connection: close" in request:
        return wsraw.http_exchange(port, request, timeout=TIMEOUT)
    with wsraw.Conn.open(port) as conn:
        conn.send(request)
        return conn.read_http_response(), None


def test_get_file_returns_200_html_with_exact_length_and_content(server):
    response, _ = exchange(server.port, get("/console.html"))
    data = CONSOLE.read_bytes()
    assert response.status == 200
    assert response.header("Content-Type").startswith("text/html")
    assert response.header("Content-Length") == str(len(data))
    assert response.body == data


def test_head_file_returns_headers_of_get_and_no_body(server):
    with wsraw.Conn.open(server.port) as conn:
        conn.send(get("/console.html", "HEAD"))
        response = conn.read_http_response(head_only=True)
        assert response.status == 200
        assert response.header("Content-Type").startswith("text/html")
        assert response.header("Content-Length") == str(CONSOLE.stat().st_size)
        # Nothing follows the head: the next bytes answer a second request.
        conn.send(get("/console.html", "HEAD", "Connection: close\r\n"))
        rest = conn.read_to_eof(TIMEOUT)
    assert rest.startswith(b"HTTP/1.1 200 "), rest[:100]
    assert rest.endswith(b"\r\n\r\n")


def test_query_string_is_ignored_for_static_files(server):
    response, _ = exchange(server.port, get("/console.html?v=2"))
    assert response.status == 200
    assert response.body == CONSOLE.read_bytes()


def test_missing_file_returns_404_with_one_line_body(server):
    response, closed = exchange(server.port, get("/no-such-file.txt", extra="Connection: close\r\n"))
    assert response.status == 404
    body = response.body.decode()
    assert body.startswith("404 Not Found: ") and body.count("\n") == 1
    assert "/no-such-file.txt" in body
    assert closed


def test_head_of_missing_file_returns_404_without_body(server):
    with wsraw.Conn.open(server.port) as conn:
        conn.send(get("/no-such-file.txt", "HEAD"))
        response = conn.read_http_response(head_only=True)
        rest = conn.read_to_eof(TIMEOUT)
    assert response.status == 404
    assert rest == b""


@pytest.mark.parametrize("path", [
    "/../setup.py",
    "/%2e%2e/setup.py",
    "/%2E%2E%2Fsetup.py",
    "/..%2fsetup.py",
    "/example/../../setup.py",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/..%5csetup.py",
])
def test_path_traversal_out_of_document_root_is_refused(server, path):
    response, _ = exchange(server.port, get(path, extra="Connection: close\r\n"))
    assert response.status in (403, 404), response.status
    assert b"find_packages" not in response.body
    assert b"root:" not in response.body


@pytest.fixture(scope="module")
def outside_file(tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("top secret outside the root\n")
    return outside


@pytest.fixture(scope="module")
def doc_root(tmp_path_factory, outside_file):
    root = tmp_path_factory.mktemp("docroot")
    (root / "hello.txt").write_text("hello from the root\n")
    (root / "sub").mkdir()
    (root / "sub" / "a.txt").write_text("a")
    (root / "sub" / "nested").mkdir()
    (root / "sub" / "spaced name.txt").write_text("s")
    (root / "withindex").mkdir()
    (root / "withindex" / "index.html").write_text("<p>index page</p>")
    os.symlink(outside_file, root / "link-out.txt")
    os.symlink(root / "hello.txt", root / "link-in.txt")
    return root


@pytest.fixture(scope="module")
def tmp_server(make_module_server, doc_root):
    return make_module_server("-d", str(doc_root))


def test_symlink_leading_outside_document_root_is_403(tmp_server):
    response, _ = exchange(tmp_server.port, get("/link-out.txt", extra="Connection: close\r\n"))
    assert response.status == 403
    assert b"top secret" not in response.body


def test_symlink_inside_document_root_is_served(tmp_server):
    response, _ = exchange(tmp_server.port, get("/link-in.txt"))
    assert response.status == 200
    assert response.body == b"hello from the root\n"


def test_symlink_outside_is_served_with_allow_symlinks_outside_document_root(make_server, doc_root):
    server = make_server("-d", str(doc_root), "--allow-symlinks-outside-document-root")
    response, _ = exchange(server.port, get("/link-out.txt"))
    assert response.status == 200
    assert response.body == b"top secret outside the root\n"


def test_directory_without_trailing_slash_redirects_301_to_slash(tmp_server):
    response, _ = exchange(tmp_server.port, get("/sub"))
    assert response.status == 301
    assert response.header("Location") == "/sub/"


def test_directory_listing_names_every_entry(tmp_server):
    response, _ = exchange(tmp_server.port, get("/sub/"))
    assert response.status == 200
    assert response.header("Content-Type").startswith("text/html")
    body = response.body.decode()
    assert int(response.header("Content-Length")) == len(response.body)
    for name in ("a.txt", "nested/", "spaced name.txt"):
        assert name in body
    assert 'href="spaced%20name.txt"' in body


def test_directory_with_index_html_serves_the_index(tmp_server):
    response, _ = exchange(tmp_server.port, get("/withindex/"))
    assert response.status == 200
    assert response.body == b"<p>index page</p>"


def test_keep_alive_connection_answers_two_gets_in_turn(tmp_server):
    with wsraw.Conn.open(tmp_server.port) as conn:
        conn.send(get("/hello.txt"))
        first = conn.read_http_response()
        conn.send(get("/sub/a.txt"))
        second = conn.read_http_response()
    assert (first.status, first.body) == (200, b"hello from the root\n")
    assert (second.status, second.body) == (200, b"a")
    assert first.header("Connection") == "keep-alive"


def test_pipelined_gets_are_answered_in_order(tmp_server):
    with wsraw.Conn.open(tmp_server.port) as conn:
        conn.send(get("/sub/a.txt") + get("/hello.txt") + get("/sub/a.txt", extra="Connection: close\r\n"))
        bodies = [conn.read_http_response().body for _ in range(3)]
        assert conn.is_closed_by_peer(TIMEOUT)
    assert bodies == [b"a", b"hello from the root\n", b"a"]


def test_connection_close_request_gets_response_then_close(tmp_server):
    response, closed = exchange(tmp_server.port, get("/hello.txt", extra="Connection: close\r\n"))
    assert response.status == 200
    assert response.header("Connection") == "close"
    assert closed


def test_http_1_0_without_keep_alive_is_closed_after_response(tmp_server):
    with wsraw.Conn.open(tmp_server.port) as conn:
        conn.send(get("/hello.txt", version="HTTP/1.0"))
        response = conn.read_http_response()
        assert conn.is_closed_by_peer(TIMEOUT)
    assert response.status == 200
    assert response.body == b"hello from the root\n"


def test_put_gets_405_with_allow_header(tmp_server):
    request = get("/hello.txt", "PUT", "Content-Length: 0\r\n")
    response, closed = wsraw.http_exchange(tmp_server.port, request, timeout=TIMEOUT)
    assert response.status == 405
    assert response.header("Allow") == "GET, HEAD"
    assert response.body.decode().startswith("405 Method Not Allowed: ")
    assert closed


def test_unknown_method_gets_501(tmp_server):
    response, closed = wsraw.http_exchange(tmp_server.port, get("/hello.txt", "FOO"), timeout=TIMEOUT)
    assert response.status == 501
    assert response.body.decode().startswith("501 Not Implemented: ")
    assert "FOO" in response.body.decode()
    assert closed


def test_if_modified_since_a_later_or_equal_date_gets_304_without_a_body(server):
    """RFC 9110 section 13.1.3: the file has not changed since that date."""
    stamp = email.utils.formatdate(CONSOLE.stat().st_mtime, usegmt=True)
    later = email.utils.formatdate(CONSOLE.stat().st_mtime + 3600, usegmt=True)
    for since in (stamp, later):
        with wsraw.Conn.open(server.port) as conn:
            conn.send(get("/console.html", extra=f"If-Modified-Since: {since}\r\n"))
            response = conn.read_http_response(head_only=True)
            assert response.status == 304
            assert response.header("Last-Modified") == stamp
            assert response.header("Content-Length") is None
            # Nothing follows the head: the next bytes answer a second request.
            conn.send(get("/console.html", "HEAD", "Connection: close\r\n"))
            assert conn.read_to_eof(TIMEOUT).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("since", ["Thu, 01 Jan 1970 00:00:00 GMT", "not a date", ""])
def test_if_modified_since_an_earlier_or_bad_date_gets_the_file(server, since):
    response, _ = exchange(server.port, get("/console.html", extra=f"If-Modified-Since: {since}\r\n"))
    assert response.status == 200 and response.body == CONSOLE.read_bytes()
