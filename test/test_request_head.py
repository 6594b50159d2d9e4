"""Unit tests of HTTP/1.1 request-head parsing (mod_ws.server.http1.request_head)."""

from __future__ import annotations

import pytest

from mod_ws.defaults import MAX_HEADER_COUNT
from mod_ws.exceptions import HttpError
from mod_ws.server.http1.request_head import (
    check_head_start,
    parse_request_head,
)


def head(request_line: str, *header_lines: str) -> bytes:
    return ("\r\n".join([request_line, *header_lines]) + "\r\n\r\n").encode("latin-1")


def status_of(data: bytes) -> int:
    with pytest.raises(HttpError) as info:
        parse_request_head(data)
    return info.value.status


# --- well-formed requests ------------------------------------------------------------


def test_normal_websocket_get_is_parsed():
    parsed = parse_request_head(head(
        "GET /chat?room=1 HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ))
    assert parsed.method == "GET"
    assert parsed.target == "/chat?room=1"
    assert parsed.version == (1, 1)
    assert parsed.version_string == "HTTP/1.1"
    assert parsed.headers.items() == [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]


def test_request_without_headers_and_http_1_0():
    parsed = parse_request_head(b"GET / HTTP/1.0\r\n\r\n")
    assert (parsed.method, parsed.target, parsed.version) == ("GET", "/", (1, 0))
    assert len(parsed.headers) == 0


def test_head_without_final_empty_line_is_parsed_the_same():
    assert parse_request_head(b"GET / HTTP/1.1\r\nHost: a").headers.items() == [("Host", "a")]


@pytest.mark.parametrize("data", [b"GET /a HTTP/1.1\nHost: h\nX: 1\n\n",
                                  b"GET /a HTTP/1.1\r\nHost: h\nX: 1\r\n\n"])
def test_bare_lf_line_ends_are_accepted(data):
    parsed = parse_request_head(data)
    assert (parsed.method, parsed.target) == ("GET", "/a")
    assert parsed.headers.items() == [("Host", "h"), ("X", "1")]


def test_a_bare_cr_inside_a_line_is_still_refused():
    assert status_of(b"GET /a HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n") == 400


def test_header_values_are_trimmed_of_spaces_and_tabs_but_not_inside():
    """RFC 7230 3.2.4: OWS around the field value is not part of it."""
    parsed = parse_request_head(head("GET / HTTP/1.1", "A:   x  y \t", "B:\tz", "C:", "D: \t "))
    assert parsed.headers.items() == [("A", "x  y"), ("B", "z"), ("C", ""), ("D", "")]


def test_colon_in_value_and_latin1_bytes_are_kept():
    parsed = parse_request_head(head("GET / HTTP/1.1", "Host: example.com:8080", "X-Bytes: caf\xe9"))
    assert parsed.headers["host"] == "example.com:8080"
    assert parsed.headers["x-bytes"] == "caf\xe9"


def test_exactly_max_header_count_is_accepted():
    lines = [f"X-{i}: {i}" for i in range(MAX_HEADER_COUNT)]
    assert len(parse_request_head(head("GET / HTTP/1.1", *lines)).headers) == MAX_HEADER_COUNT


def test_any_token_method_is_accepted_by_the_parser():
    """Refusing non-GET is the handshake's business (405), not the parser's."""
    assert parse_request_head(head("M-SEARCH * HTTP/1.1")).method == "M-SEARCH"


# --- malformed requests --------------------------------------------------------------

MALFORMED = [
    ("empty", b"", 400),
    ("only-crlf", b"\r\n\r\n", 400),
    ("two-part-request-line", head("GET /"), 400),
    ("four-part-request-line", head("GET / HTTP/1.1 extra"), 400),
    ("double-space", head("GET  / HTTP/1.1"), 400),
    ("method-with-at", head("G@T / HTTP/1.1"), 400),
    ("method-with-slash", head("GET/ / HTTP/1.1"), 400),
    ("target-with-space", head("GET /a b HTTP/1.1"), 400),
    ("target-with-control", head("GET /a\x01b HTTP/1.1"), 400),
    ("target-with-del", head("GET /a\x7fb HTTP/1.1"), 400),
    ("target-with-tab", head("GET /a\tb HTTP/1.1"), 400),
    ("target-with-latin1", head("GET /caf\xe9 HTTP/1.1"), 400),
    ("http-2.0", head("GET / HTTP/2.0"), 505),
    ("http-0.9", head("GET / HTTP/0.9"), 505),
    ("http-1.x", head("GET / HTTP/1.x"), 400),
    ("http-lowercase", head("GET / http/1.1"), 400),
    ("http-two-digit-minor", head("GET / HTTP/1.10"), 400),
    ("http-missing-minor", head("GET / HTTP/1"), 400),
    ("http-trailing-garbage", head("GET / HTTP/1.1x"), 400),
    ("header-without-colon", head("GET / HTTP/1.1", "Host example.com"), 400),
    ("space-before-colon", head("GET / HTTP/1.1", "Host : example.com"), 400),
    ("tab-before-colon", head("GET / HTTP/1.1", "Host\t: example.com"), 400),
    ("empty-header-name", head("GET / HTTP/1.1", ": value"), 400),
    ("obs-fold-space", head("GET / HTTP/1.1", "X-A: one", " two"), 400),
    ("obs-fold-tab", head("GET / HTTP/1.1", "X-A: one", "\ttwo"), 400),
    ("empty-line-inside-head", head("GET / HTTP/1.1", "", "Host: a"), 400),
    ("bare-cr-in-value", head("GET / HTTP/1.1", "Host: a\rX-Evil: 1"), 400),
    ("nul-in-value", head("GET / HTTP/1.1", "Host: a\0b"), 400),
    ("too-many-headers", head("GET / HTTP/1.1", *[f"X-{i}: {i}" for i in range(MAX_HEADER_COUNT + 1)]), 431),
]


@pytest.mark.parametrize("data, status", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_request_heads_are_refused_with_status(data, status):
    """RFC 7230 3.1.1 (request line), 3.2 (header fields), 3.2.4 (no obs-fold, no space before colon)."""
    assert status_of(data) == status


def test_http_error_carries_status_message_and_headers():
    error = HttpError(405, "nope", [("Allow", "GET")])
    assert (error.status, str(error), error.headers) == (405, "nope", [("Allow", "GET")])
    assert HttpError(400, "bad").headers == []


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1f", "\x7f", "\r"])
def test_control_character_in_header_value_is_400(char):
    """RFC 7230 section 3.2: a field value holds visible characters, spaces and tabs only."""
    with pytest.raises(HttpError) as info:
        parse_request_head(f"GET / HTTP/1.1\r\nHost: a\r\nX-A: b{char}c\r\n\r\n".encode("latin-1"))
    assert info.value.status == 400


def test_tab_inside_header_value_is_kept():
    head = parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\tc\r\n\r\n")
    assert head.headers["X-A"] == "b\tc"


@pytest.mark.parametrize("data", [
    b"", b"G", b"GET", b"GET ", b"GET / HTTP/1.1\r\nHost", b"\r\n", b"\r\nPOS", b"M-SEARCH * HTTP/1.1",
], ids=repr)
def test_check_head_start_accepts_every_start_of_a_request(data):
    check_head_start(data)


@pytest.mark.parametrize("data, words", [
    (b"\x16\x03\x01\x00\xc4\x01", "TLS handshake"),
    (b"\x16\x03", "TLS handshake"),
    (b"\x00", "not an HTTP request: it starts with bytes 00"),
    (b" GET", "not an HTTP request"),
    (b"\r\n GET", "not an HTTP request"),
    (b"GET\t/", "not an HTTP request"),
    (b"G\xc3\xa9T /", "not an HTTP request"),
], ids=repr)
def test_check_head_start_refuses_bytes_no_request_can_start_with(data, words):
    with pytest.raises(HttpError) as info:
        check_head_start(data)
    assert info.value.status == 400
    assert words in str(info.value)
