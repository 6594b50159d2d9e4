"""Unit tests of pywebsocket3's header-parsing helpers as mod_ws provides them
(mod_ws.http_header_util and mod_ws.handshake.base), which WPT's HTTP/2 and HTTP/3
handshakers and some handlers import."""

from __future__ import annotations

import pytest

from mod_ws import http_header_util as h
from mod_ws.exceptions import HandshakeException
from mod_ws.handshake import base


def test_the_cursor_consumes_only_what_matches():
    state = h.ParsingState("Upgrade,  \t websocket")
    assert h.peek(state) == "U" and h.peek(state, 100) is None
    assert h.consume_token(state) == "Upgrade"
    assert not h.consume_string(state, ";") and h.consume_string(state, ",")
    assert h.consume_lws(state) and not h.consume_lws(state)
    assert h.consume_token(state) == "websocket"
    assert h.consume_token(state) is None and h.consume(state) is None


def test_lws_may_start_with_crlf_but_crlf_alone_is_not_lws():
    state = h.ParsingState("\r\n x")
    assert h.consume_lws(state) and state.head == 3
    state = h.ParsingState("\r\nx")
    assert not h.consume_lws(state) and state.head == 0


@pytest.mark.parametrize("text, value, head", [
    ('"quoted \\" pair" tail', 'quoted " pair', 16),
    ("token;rest", "token", 5),
    ('"never closed', None, 0),
    ('"ctl \x01 inside"', None, 0),
    ("", None, 0),
])
def test_token_or_quoted_string(text, value, head):
    state = h.ParsingState(text)
    assert h.consume_token_or_quoted_string(state) == value
    assert state.head == head


@pytest.mark.parametrize("text, quoted", [("token", "token"), ("a b", '"a b"'), ("", '""'),
                                          ('say "hi"', '"say \\"hi\\""'), ("é", '"é"')])
def test_quote_if_necessary(text, quoted):
    assert h.quote_if_necessary(text) == quoted


@pytest.mark.parametrize("uri, parsed", [
    ("ws://example.com/chat?x=1#f", ("example.com", 80, "/chat?x=1#f")),
    ("wss://example.com:8443", ("example.com", 8443, "/")),
    ("/relative", (None, None, "/relative")),
    ("ws://example.com:port/", (None, None, None)),
])
def test_parse_uri(uri, parsed):
    assert h.parse_uri(uri) == parsed


def test_parse_token_list_and_its_refusals():
    assert base.parse_token_list("chat ,  superchat,x") == ["chat", "superchat", "x"]
    for bad in ("", " , ", "chat superchat", "a;b"):
        with pytest.raises(HandshakeException):
            base.parse_token_list(bad)


def test_validate_subprotocol():
    base.validate_subprotocol("chat.v2")
    for bad in ("", "two words", "semi;colon", "tab\there"):
        with pytest.raises(HandshakeException):
            base.validate_subprotocol(bad)


class _Request:
    def __init__(self, headers, https=False):
        self.headers_in = headers
        self._https = https

    def is_https(self):
        return self._https


def test_host_and_mandatory_header_helpers():
    assert base.parse_host_header(_Request({"Host": "example.com"})) == ("example.com", 80)
    assert base.parse_host_header(_Request({"Host": "example.com"}, https=True)) == ("example.com", 443)
    assert base.parse_host_header(_Request({"Host": "h:8080"})) == ("h", 8080)
    with pytest.raises(HandshakeException):
        base.parse_host_header(_Request({"Host": "h:eighty"}))
    request = _Request({"Upgrade": "WebSocket"})
    base.validate_mandatory_header(request, "Upgrade", "websocket")
    with pytest.raises(HandshakeException) as info:
        base.validate_mandatory_header(request, "Upgrade", "h2c", fail_status=426)
    assert info.value.status == 426
    with pytest.raises(HandshakeException, match="Connection is not defined"):
        base.get_mandatory_header(request, "Connection")
