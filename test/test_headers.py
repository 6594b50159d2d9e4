"""Unit tests of the header table handlers read as `headers_in` (mod_ws.protocol.headers)."""

from __future__ import annotations

import pytest

from mod_ws.protocol.headers import Headers

# --- Headers -------------------------------------------------------------------------


@pytest.fixture(params=["as parsed", "packed"])
def headers(request) -> Headers:
    table = Headers([("Host", "a"), ("X-Multi", "1"), ("Accept", "*/*"), ("x-multi", "2"),
                     ("X-MULTI", "3")])
    if request.param == "packed":
        table.pack()
    return table


def test_headers_get_is_case_insensitive_and_returns_first(headers):
    assert headers.get("HOST") == "a"
    assert headers.get("x-Multi") == "1"
    assert headers.get("missing") is None
    assert headers.get("missing", "fallback") == "fallback"


def test_headers_getitem_is_case_insensitive_and_reads_a_missing_field_as_none(headers):
    """As pywebsocket3's headers_in (an email.message.Message): handlers test
    `if request.headers_in['Cookie']:` for a field the client may not send."""
    assert headers["host"] == "a"
    assert headers["X-MULTI"] == "1"
    assert headers["missing"] is None


def test_headers_contains_is_case_insensitive(headers):
    assert "host" in headers and "ACCEPT" in headers
    assert "missing" not in headers
    assert 42 not in headers


def test_headers_get_all_keeps_every_field_in_order(headers):
    assert headers.get_all("x-multi") == ["1", "2", "3"]
    assert headers.get_all("missing") == []


def test_headers_iteration_keys_items_and_len_keep_order_and_spelling(headers):
    assert list(headers) == ["Host", "X-Multi", "Accept", "x-multi", "X-MULTI"]
    assert headers.keys() == list(headers)
    assert headers.items()[3] == ("x-multi", "2")
    assert len(headers) == 5


def test_headers_add_appends_and_items_is_a_copy():
    headers = Headers()
    headers.add("A", "1")
    headers.add("a", "2")
    headers.items().append(("B", "3"))
    assert headers.items() == [("A", "1"), ("a", "2")]
    assert headers.get_all("A") == ["1", "2"]


@pytest.mark.parametrize("fields", [
    [],
    [("Host", "")],
    [("Origin", "http://a:8000"), ("X-Empty", ""), ("Cookie", "a=1; b=: x")],
    [("Sec-WebSocket-Protocol", "chat, superchat"), ("sec-websocket-protocol", "v2")],
])
def test_packed_headers_read_back_exactly_and_take_new_fields(fields):
    headers = Headers(fields)
    headers.pack()
    assert headers.items() == fields
    headers.pack()
    headers.add("X-Late", "1")
    assert headers.items() == [*fields, ("X-Late", "1")]
    assert headers.get("x-late") == "1"


def test_a_value_with_a_line_break_is_never_packed_into_a_wrong_table():
    headers = Headers([("A", "1\nB:2"), ("C", "3")])
    headers.pack()
    assert headers.items() == [("A", "1\nB:2"), ("C", "3")]
    assert "B" not in headers


def test_headers_copies_the_list_it_is_built_from():
    items = [("A", "1")]
    headers = Headers(items)
    items.append(("B", "2"))
    assert "B" not in headers
