"""Unit tests of the HTTP/1.1 opening handshake of RFC 6455 section 4.2
(mod_ws.server.http1.upgrade, with the shared checks of mod_ws.protocol.opening it runs)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from mod_ws.common import ExtensionParameter
from mod_ws.exceptions import HandshakeException, VersionException
from mod_ws.protocol.headers import Headers
from mod_ws.protocol.opening import check_selected_protocol
from mod_ws.server.http1.upgrade import build_response_headers, check_request, compute_accept

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 4.2.1 / 1.3
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

BASE = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", SAMPLE_KEY),
    ("Sec-WebSocket-Version", "13"),
]


def with_(*changes) -> Headers:
    """BASE with changes: ("-", name) drops every `name`; ("=", name, value) replaces it;
    ("+", name, value) appends another field."""
    items = list(BASE)
    for change in changes:
        op, name = change[0], change[1]
        if op in "-=":
            kept = [(n, v) for n, v in items if n.lower() != name.lower()]
            if op == "=":
                index = next(i for i, (n, _) in enumerate(items) if n.lower() == name.lower())
                kept.insert(index, (name, change[2]))
            items = kept
        else:
            items.append((name, change[2]))
    return Headers(items)


def b64(n: int) -> str:
    return base64.b64encode(bytes(range(n))).decode()


# --- refusals ------------------------------------------------------------------------

REFUSALS = [
    # id, method, version, headers, status, headers the response must carry, exception type
    ("method-POST", "POST", (1, 1), with_(), 405, [("Allow", "GET")], HandshakeException),
    ("method-lowercase-get", "get", (1, 1), with_(), 405, [("Allow", "GET")], HandshakeException),
    ("http-1.0", "GET", (1, 0), with_(), 400, [], HandshakeException),
    ("host-missing", "GET", (1, 1), with_(("-", "Host")), 400, [], HandshakeException),
    ("host-empty", "GET", (1, 1), with_(("=", "Host", "")), 400, [], HandshakeException),
    ("host-twice", "GET", (1, 1), with_(("+", "Host", "other.example")), 400, [], HandshakeException),
    ("upgrade-missing", "GET", (1, 1), with_(("-", "Upgrade")), 426,
     [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")], HandshakeException),
    ("upgrade-other", "GET", (1, 1), with_(("=", "Upgrade", "h2c")), 426,
     [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")], HandshakeException),
    ("upgrade-websocket-prefix", "GET", (1, 1), with_(("=", "Upgrade", "websockets")), 426,
     [("Upgrade", "websocket")], HandshakeException),
    ("connection-missing", "GET", (1, 1), with_(("-", "Connection")), 400, [], HandshakeException),
    ("connection-keep-alive-only", "GET", (1, 1), with_(("=", "Connection", "keep-alive")), 400, [],
     HandshakeException),
    ("connection-upgrade-as-substring", "GET", (1, 1), with_(("=", "Connection", "Upgrade-Insecure")), 400,
     [], HandshakeException),
    ("key-missing", "GET", (1, 1), with_(("-", "Sec-WebSocket-Key")), 400, [], HandshakeException),
    ("key-not-base64", "GET", (1, 1), with_(("=", "Sec-WebSocket-Key", "not base64 at all!!")), 400, [],
     HandshakeException),
    ("key-non-ascii", "GET", (1, 1), with_(("=", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==\u00e9")),
     400, [], HandshakeException),
    ("key-15-bytes", "GET", (1, 1), with_(("=", "Sec-WebSocket-Key", b64(15))), 400, [], HandshakeException),
    ("key-17-bytes", "GET", (1, 1), with_(("=", "Sec-WebSocket-Key", b64(17))), 400, [], HandshakeException),
    ("key-empty", "GET", (1, 1), with_(("=", "Sec-WebSocket-Key", "")), 400, [], HandshakeException),
    ("key-twice", "GET", (1, 1), with_(("+", "Sec-WebSocket-Key", b64(16))), 400, [], HandshakeException),
    ("version-missing", "GET", (1, 1), with_(("-", "Sec-WebSocket-Version")), 400,
     [("Sec-WebSocket-Version", "13")], HandshakeException),
    ("version-8", "GET", (1, 1), with_(("=", "Sec-WebSocket-Version", "8")), 426,
     [("Sec-WebSocket-Version", "13")], VersionException),
    ("version-13-comma-8", "GET", (1, 1), with_(("=", "Sec-WebSocket-Version", "13, 8")), 426,
     [("Sec-WebSocket-Version", "13")], VersionException),
    ("version-not-a-number", "GET", (1, 1), with_(("=", "Sec-WebSocket-Version", "thirteen")), 426,
     [("Sec-WebSocket-Version", "13")], VersionException),
    ("protocol-with-space-inside-token", "GET", (1, 1),
     with_(("+", "Sec-WebSocket-Protocol", "chat, super chat")),
     400, [], HandshakeException),
    ("protocol-with-slash", "GET", (1, 1), with_(("+", "Sec-WebSocket-Protocol", "chat/1")), 400, [],
     HandshakeException),
    ("protocol-empty", "GET", (1, 1), with_(("+", "Sec-WebSocket-Protocol", "")), 400, [],
     HandshakeException),
    ("extension-param-without-name", "GET", (1, 1), with_(("+", "Sec-WebSocket-Extensions", "foo; =1")), 400,
     [], HandshakeException),
    ("extension-quoted-non-token", "GET", (1, 1),
     with_(("+", "Sec-WebSocket-Extensions", 'foo; a="b c"')), 400, [], HandshakeException),
    ("extension-trailing-semicolon", "GET", (1, 1), with_(("+", "Sec-WebSocket-Extensions", "foo;")), 400, [],
     HandshakeException),
]


@pytest.mark.parametrize(
    "method, version, headers, status, response_headers, exception_type",
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_check_request_refuses_with_status_and_headers(
    method, version, headers, status, response_headers, exception_type
):
    """RFC 6455 4.2.1/4.2.2/4.4: an invalid opening handshake gets an HTTP error."""
    with pytest.raises(HandshakeException) as info:
        check_request(method, version, headers)
    assert type(info.value) is exception_type
    assert info.value.status == status
    for pair in response_headers:
        assert pair in info.value.headers
    if not response_headers:
        assert info.value.headers == []


def test_version_exception_names_supported_version():
    with pytest.raises(VersionException) as info:
        check_request("GET", (1, 1), with_(("=", "Sec-WebSocket-Version", "8")))
    assert info.value.supported_versions == "13"


# --- acceptances ---------------------------------------------------------------------

ACCEPTANCES = [
    # id, HTTP version, headers, expected attributes of the HandshakeRequest
    ("rfc-sample", (1, 1), with_(),
     {"key": SAMPLE_KEY, "version": 13, "host": "server.example.com", "origin": None, "protocols": None,
          "extensions": None}),
    ("upgrade-mixed-case", (1, 1), with_(("=", "Upgrade", "WebSocket")), {}),
    ("upgrade-in-list", (1, 1), with_(("=", "Upgrade", "foo, websocket")), {}),
    ("upgrade-repeated-fields", (1, 1), with_(("=", "Upgrade", "foo"), ("+", "Upgrade", "websocket")), {}),
    ("connection-keep-alive-upgrade", (1, 1), with_(("=", "Connection", "keep-alive, Upgrade")), {}),
    ("connection-uppercase", (1, 1), with_(("=", "Connection", "UPGRADE")), {}),
    ("connection-repeated-fields", (1, 1),
     with_(("=", "Connection", "keep-alive"), ("+", "Connection", "upgrade")), {}),
    ("lowercase-header-names", (1, 1), Headers([(n.lower(), v) for n, v in BASE]), {"key": SAMPLE_KEY}),
    ("key-and-version-padded", (1, 1),
     with_(("=", "Sec-WebSocket-Key", f" {SAMPLE_KEY}\t"), ("=", "Sec-WebSocket-Version", " 13 ")),
     {"key": SAMPLE_KEY, "version": 13}),
    ("http-1.2", (1, 2), with_(), {}),
    ("protocols-in-order", (1, 1), with_(("+", "Sec-WebSocket-Protocol", "chat, superchat")),
     {"protocols": ["chat", "superchat"]}),
    ("protocols-repeated-fields-joined", (1, 1),
     with_(("+", "Sec-WebSocket-Protocol", "b"), ("+", "Sec-WebSocket-Protocol", "a, c")),
     {"protocols": ["b", "a", "c"]}),
    ("protocols-empty-elements-skipped", (1, 1), with_(("+", "Sec-WebSocket-Protocol", " , chat,,")),
     {"protocols": ["chat"]}),
    ("origin-captured", (1, 1), with_(("+", "Origin", "http://example.com")),
     {"origin": "http://example.com"}),
]


@pytest.mark.parametrize(
    "version, headers, expected", [c[1:] for c in ACCEPTANCES], ids=[c[0] for c in ACCEPTANCES]
)
def test_check_request_accepts_valid_handshakes(version, headers, expected):
    """RFC 6455 4.2.1: header names and the Upgrade/Connection tokens are case-insensitive."""
    result = check_request("GET", version, headers)
    assert result.key.strip() == result.key
    for attribute, value in expected.items():
        assert getattr(result, attribute) == value, attribute


def test_extensions_are_parsed_in_order_with_quoted_values_unquoted():
    headers = with_(
        ("+", "Sec-WebSocket-Extensions", 'permessage-deflate; client_max_window_bits, x-foo; a="10"'),
        ("+", "Sec-WebSocket-Extensions", "x-bar"),
    )
    extensions = check_request("GET", (1, 1), headers).extensions
    assert [e.name() for e in extensions] == ["permessage-deflate", "x-foo", "x-bar"]
    assert extensions[0].get_parameters() == [("client_max_window_bits", None)]
    assert extensions[1].get_parameter_value("a") == "10"
    assert extensions[2].get_parameters() == []


# --- Sec-WebSocket-Accept and the 101 response ----------------------------------------


def test_compute_accept_of_rfc_sample_key():
    """RFC 6455 4.2.2 step 5.4 worked example."""
    assert compute_accept(SAMPLE_KEY) == SAMPLE_ACCEPT


@pytest.mark.parametrize(
    "raw", [bytes(16), bytes(range(16)), b"\xff" * 16], ids=["zeros", "counting", "ones"]
)
def test_compute_accept_is_base64_of_sha1_of_key_and_guid(raw):
    key = base64.b64encode(raw).decode()
    guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
    expected = base64.b64encode(hashlib.sha1((key + guid).encode()).digest()).decode()
    assert compute_accept(key) == expected
    assert len(base64.b64decode(compute_accept(key))) == 20


def test_build_response_headers_minimal_is_upgrade_connection_accept():
    assert build_response_headers(SAMPLE_KEY) == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", SAMPLE_ACCEPT),
    ]


def test_build_response_headers_with_protocol_extensions_and_extra_headers_in_order():
    extension = ExtensionParameter("permessage-deflate")
    extension.add_parameter("server_no_context_takeover", None)
    extension.add_parameter("server_max_window_bits", "10")
    headers = build_response_headers(
        SAMPLE_KEY, protocol="chat", extensions=[extension, ExtensionParameter("x-foo")],
        extra_headers=[("X-Extra", "1"), ("Set-Cookie", "a=b")],
    )
    assert headers[3:] == [
        ("Sec-WebSocket-Protocol", "chat"),
        ("Sec-WebSocket-Extensions",
         "permessage-deflate; server_no_context_takeover; server_max_window_bits=10, x-foo"),
        ("X-Extra", "1"),
        ("Set-Cookie", "a=b"),
    ]


def test_build_response_headers_omits_empty_extension_list():
    assert [n for n, _ in build_response_headers(SAMPLE_KEY, extensions=[])] == [
        "Upgrade", "Connection", "Sec-WebSocket-Accept",
    ]


# --- subprotocol selection ----------------------------------------------------------


@pytest.mark.parametrize(
    "selected, offered",
    [("chat", ["superchat"]), ("chat", None), ("chat", []), ("cha", ["chat"])],
    ids=["other-offered", "nothing-offered", "empty-offer", "prefix-of-offered"],
)
def test_selecting_a_protocol_the_client_did_not_offer_is_a_500(selected, offered):
    """RFC 6455 4.2.2: the server selects one of the client's values, or none."""
    with pytest.raises(HandshakeException) as info:
        check_selected_protocol(selected, offered)
    assert info.value.status == 500


@pytest.mark.parametrize(
    "selected, offered",
    [("chat", ["superchat", "chat"]), (None, ["chat"]), (None, None)],
    ids=["offered", "none-selected", "none-offered-none-selected"],
)
def test_selecting_an_offered_protocol_or_none_is_fine(selected, offered):
    assert check_selected_protocol(selected, offered) is None
