"""The extended CONNECT's request checks (mod_ws.server.extended_connect), shared by the
HTTP/2 and HTTP/3 carriers: pure functions over a header block."""

from __future__ import annotations

import pytest

from mod_ws.exceptions import HttpError
from mod_ws.server.extended_connect import (
    accepted_fields,
    check_extended_connect,
    parse_stream_request,
)

WEBSOCKET = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
             (":path", "/echo?x=1"), (":authority", "localhost:8443"),
             ("sec-websocket-version", "13")]


def test_a_websocket_request_is_split_and_gets_host_from_authority():
    request = parse_stream_request(WEBSOCKET)
    assert (request.method, request.protocol, request.scheme, request.path) == (
        "CONNECT", "websocket", "https", "/echo?x=1")
    assert request.line == "CONNECT /echo?x=1"
    assert request.headers["Host"] == "localhost:8443"
    assert request.headers.get_all("sec-websocket-version") == ["13"]
    assert check_extended_connect(request) == "/echo?x=1"


def test_a_host_field_the_client_sent_is_kept():
    request = parse_stream_request(WEBSOCKET + [("host", "other")])
    assert request.headers.get_all("host") == ["other"]


@pytest.mark.parametrize("fields, status, reason", [
    (WEBSOCKET + [(":path", "/again")], 400, ":path repeated"),
    (WEBSOCKET + [(":status", "200")], 400, "unknown pseudo-header field :status"),
    (WEBSOCKET[:5] + [("origin", "x"), (":protocol", "websocket")], 400, ":protocol repeated"),
    ([("origin", "x")] + WEBSOCKET, 400, "after a regular field"),
    (WEBSOCKET + [("Origin", "x")], 400, "not lower case"),
    (WEBSOCKET + [("upgrade", "websocket")], 400, "connection-specific field upgrade"),
    (WEBSOCKET + [("te", "gzip")], 400, "connection-specific field te"),
    (WEBSOCKET[1:], 400, "without :method"),
    ([(":method", "GET"), (":path", "/")], 400, "GET request without :scheme"),
    ([(":method", "GET"), (":scheme", "https"), (":path", "/"), (":protocol", "websocket")],
     400, ":protocol on a GET request"),
    ([(":method", "CONNECT"), (":authority", "a"), (":path", "/")], 400,
     "CONNECT without :protocol has :path"),
])
def test_malformed_header_blocks_are_400(fields, status, reason):
    with pytest.raises(HttpError) as raised:
        parse_stream_request(fields)
    assert raised.value.status == status
    assert reason in str(raised.value)


def test_te_trailers_is_allowed():
    assert parse_stream_request(WEBSOCKET + [("te", "trailers")]).headers["te"] == "trailers"


@pytest.mark.parametrize("fields, status, reason", [
    ([(":method", "CONNECT"), (":authority", "a:443")], 501, "tunnel"),
    ([(n, "webtransport" if n == ":protocol" else v) for n, v in WEBSOCKET], 501,
     "'webtransport' is not supported"),
    ([f for f in WEBSOCKET if f[0] != ":authority"], 400, "without :authority"),
    ([(n, "ftp" if n == ":scheme" else v) for n, v in WEBSOCKET], 400, ":scheme 'ftp'"),
    ([(n, "echo" if n == ":path" else v) for n, v in WEBSOCKET], 400, "does not start with /"),
])
def test_extended_connect_checks(fields, status, reason):
    with pytest.raises(HttpError) as raised:
        check_extended_connect(parse_stream_request(fields))
    assert raised.value.status == status
    assert reason in str(raised.value)


def test_the_answer_is_status_200_with_lower_case_shared_fields():
    class Accepted:
        ws_protocol = "chat"
        ws_extensions = None
        extra_headers = [("X-Test", "1")]

    assert accepted_fields(Accepted()) == [(":status", "200"), ("sec-websocket-protocol", "chat"),
                                           ("x-test", "1")]
