"""Unit tests of the opening-handshake rules every carrier shares (mod_ws.protocol.opening):
what an HTTP/1.1 Upgrade and an extended CONNECT (RFC 8441, RFC 9220) both check."""

from __future__ import annotations

import pytest

from mod_ws.common import ExtensionParameter
from mod_ws.exceptions import HandshakeException, VersionException
from mod_ws.protocol.headers import Headers
from mod_ws.protocol.opening import check_client_offer, response_fields


def test_an_offer_needs_no_http_1_1_fields():
    """An extended CONNECT has no Upgrade, Connection, Key or Host: the shared checks
    must not ask for them."""
    offer = check_client_offer(Headers([("Sec-WebSocket-Version", "13")]))
    assert (offer.version, offer.origin, offer.protocols, offer.extensions) == (13, None, None, None)


def test_an_offer_carries_origin_subprotocols_and_extensions_in_order():
    offer = check_client_offer(Headers([
        ("sec-websocket-version", "13"),
        ("Origin", "https://example.test"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
        ("Sec-WebSocket-Extensions", "x-other"),
    ]))
    assert offer.origin == "https://example.test"
    assert offer.protocols == ["chat", "superchat"]
    assert [e.name() for e in offer.extensions] == ["permessage-deflate", "x-other"]


@pytest.mark.parametrize("fields, status, words", [
    ([], 400, "missing Sec-WebSocket-Version"),
    ([("Sec-WebSocket-Version", "8")], 426, "unsupported"),
    ([("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Version", "13")], 400, "more than one"),
    ([("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Protocol", "a b")], 400, "bad Sec-WebSocket-Protocol"),
    ([("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Protocol", " , ")], 400, "no subprotocol"),
    ([("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Extensions", "a;;")], 400, "bad Sec-WebSocket-Extensions"),
    ([("Sec-WebSocket-Version", "13"), ("Origin", "a"), ("Origin", "b")], 400, "more than one Origin"),
])
def test_a_bad_offer_is_refused_with_a_status_that_names_the_field(fields, status, words):
    with pytest.raises(HandshakeException, match=words) as info:
        check_client_offer(Headers(fields))
    assert info.value.status == status


def test_an_unsupported_version_names_the_one_spoken():
    """RFC 6455 4.4: answer with the versions the server speaks."""
    with pytest.raises(VersionException) as info:
        check_client_offer(Headers([("Sec-WebSocket-Version", "7")]))
    assert ("Sec-WebSocket-Version", "13") in info.value.headers


def test_response_fields_follow_the_carriers_own_in_a_fixed_order():
    deflate = ExtensionParameter("permessage-deflate", [("server_no_context_takeover", None)])
    assert response_fields() == []
    assert response_fields("chat", [deflate], [("X-A", "1")]) == [
        ("Sec-WebSocket-Protocol", "chat"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover"),
        ("X-A", "1"),
    ]
    assert response_fields(None, [], None) == []
