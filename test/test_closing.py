"""Unit tests of the close handshake (mod_ws.protocol.closing): the close payload
codec and code rules (RFC 6455 sections 5.5.1 and 7.4), and every transition of the
close state machine (sections 5.5.1 and 7.1)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_ws.common import is_valid_close_code
from mod_ws.exceptions import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
)
from mod_ws.protocol.closing import (
    CloseHandshake,
    CloseState,
    check_close_request,
    decode_close_payload,
    default_passive_closing_handshake,
    echo_peer_close,
    encode_close_payload,
    truncate_reason,
)

FAST = settings(max_examples=60, deadline=None)

# --- close payloads (RFC 6455 sections 5.5.1 and 7.4) -------------------------------

# Written from the RFC's prose, independently of mod_ws.common.
_DEFINED_SENDABLE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011}
_IANA_REGISTERED_LATER = {1012, 1013, 1014}  # service restart, try again later, bad gateway
_NEVER_ON_WIRE = {1004, 1005, 1006, 1015}


def rfc_says_code_may_be_received(code: int) -> bool:
    if code in _DEFINED_SENDABLE or code in _IANA_REGISTERED_LATER:
        return True
    if code in _NEVER_ON_WIRE or code < 1000 or 1016 <= code <= 2999:
        return False
    return 3000 <= code <= 4999


def test_independent_close_code_table_agrees_with_is_valid_close_code():
    for code in range(5001):
        assert is_valid_close_code(code) == rfc_says_code_may_be_received(code), code
    assert not is_valid_close_code(65535)


def test_decode_accepts_exactly_the_valid_close_codes():
    """RFC 6455 7.4: each code 0..5000 decodes iff it may appear in a Close frame."""
    accepted = set()
    for code in range(5001):
        body = struct.pack("!H", code) + b"r"
        try:
            result = decode_close_payload(body)
        except InvalidFrameException as e:
            assert e.close_code == 1002
            continue
        assert result == (code, "r")
        accepted.add(code)
    expected = {c for c in range(5001) if rfc_says_code_may_be_received(c)}
    assert accepted == expected
    assert accepted == {c for c in range(5001) if is_valid_close_code(c)}
    assert {1004, 1005, 1006, 1015, 999, 1016, 2999, 5000}.isdisjoint(accepted)
    assert {1000, 1003, 1007, 1014, 3000, 4999}.issubset(accepted)


def test_decode_of_empty_close_body_is_1005_without_reason():
    """RFC 6455 7.1.5: no status code in the Close frame means 1005."""
    assert decode_close_payload(b"") == (1005, "")


def test_decode_of_one_byte_close_body_is_a_protocol_error():
    """RFC 6455 5.5.1: a body, if present, starts with a 2-byte code."""
    with pytest.raises(InvalidFrameException) as info:
        decode_close_payload(b"\x03")
    assert info.value.close_code == 1002


@pytest.mark.parametrize(
    "reason", [b"\xff", b"\xc3", b"ok\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"],
    ids=["ff", "truncated", "surrogate", "above-10ffff", "overlong"],
)
def test_decode_of_close_reason_that_is_not_utf8_fails_with_1002(reason):
    """The Close frame itself is malformed, so it fails as a protocol error (1002)."""
    with pytest.raises(InvalidFrameException) as info:
        decode_close_payload(b"\x03\xe8" + reason)
    assert info.value.close_code == 1002
    assert not isinstance(info.value, InvalidUTF8Exception)


def test_decode_close_payload_returns_code_and_utf8_reason():
    reason = "au revoir, κόσμε"
    assert decode_close_payload(b"\x03\xe9" + reason.encode()) == (1001, reason)


@FAST
@given(
    code=st.sampled_from(sorted(_DEFINED_SENDABLE | _IANA_REGISTERED_LATER)) | st.integers(3000, 4999),
    reason=st.text(max_size=30),
)
def test_close_payload_encode_then_decode_round_trips(code, reason):
    body = encode_close_payload(code, reason)
    assert body[:2] == struct.pack("!H", code)
    assert decode_close_payload(body) == (code, reason)


def test_encode_close_payload_accepts_bytes_reason_and_none_code():
    assert encode_close_payload(1000, b"bye") == b"\x03\xe8bye"
    assert encode_close_payload(None) == b""
    assert encode_close_payload(None, "") == b""


def test_encode_close_payload_reason_limit_is_123_bytes():
    """RFC 6455 5.5: control payloads are at most 125 bytes, 2 of which are the code."""
    assert len(encode_close_payload(1000, "a" * 123)) == 125
    with pytest.raises(ValueError):
        encode_close_payload(1000, "a" * 124)
    with pytest.raises(ValueError):
        encode_close_payload(1000, "€" * 41 + "a")  # 124 bytes in UTF-8 from 42 characters


@pytest.mark.parametrize(
    "code, reason", [(None, "why"), (-1, ""), (65536, "")], ids=["reason-without-code", "negative", "too-big"]
)
def test_encode_close_payload_rejects_impossible_bodies(code, reason):
    with pytest.raises(ValueError):
        encode_close_payload(code, reason)


# --- close reasons and what a handler may ask for ---------------------------------------


def test_truncate_reason_keeps_short_reasons_and_cuts_long_ones_on_a_character_boundary():
    assert truncate_reason("bye") == b"bye"
    assert truncate_reason("a" * 123) == b"a" * 123
    assert truncate_reason("a" * 200) == b"a" * 123
    cut = truncate_reason("€" * 50)  # 3 bytes each: 41 whole characters fit in 123
    assert cut == ("€" * 41).encode() and len(cut) == 123
    cut = truncate_reason("a" + "€" * 50)  # 1 + 40 * 3 = 121; a 42nd character would not fit
    assert cut == ("a" + "€" * 40).encode()
    cut.decode("utf-8")


@pytest.mark.parametrize("code, reason, expected", [
    (1000, "done", (1000, "done")),
    (4001, "", (4001, "")),
    (1005, "", (None, "")),  # the peer sent no code: answer with an empty close
    (None, None, (None, "")),
])
def test_echo_peer_close_answers_with_the_peers_code_and_reason(code, reason, expected):
    """RFC 6455 5.5.1: the endpoint typically echoes the status code it received."""
    assert echo_peer_close(code, reason) == expected


def test_default_passive_closing_handshake_reads_the_request_fields():
    class Received:
        ws_close_code = 4002
        ws_close_reason = "x"
    assert default_passive_closing_handshake(Received()) == (4002, "x")


def test_check_close_request_returns_the_reason_as_text():
    assert check_close_request(1000, "bye") == "bye"
    assert check_close_request(1000, b"bye") == "bye"
    assert check_close_request(1000, b"\xff") == "\ufffd"
    assert check_close_request(None, "") == ""
    assert check_close_request(1000, "a" * 123) == "a" * 123


@pytest.mark.parametrize("code, reason, words", [
    (None, "why", "needs a status code"),
    (1000, 42, "must be str or bytes"),
    (1000, "a" * 124, "longer than 123 bytes"),
    (1000, "€" * 41 + "a", "longer than 123 bytes"),
])
def test_check_close_request_refuses_what_cannot_be_sent(code, reason, words):
    with pytest.raises(BadOperationException, match=words):
        check_close_request(code, reason)


# --- the state machine: every transition ------------------------------------------------


def states_seen(handshake: CloseHandshake) -> tuple:
    return handshake.state, handshake.server_terminated, handshake.client_terminated


def test_a_new_handshake_is_open_and_terminated_on_neither_side():
    handshake = CloseHandshake()
    assert states_seen(handshake) == (CloseState.OPEN, False, False)
    assert handshake.sent is None and handshake.received is None and handshake.failure is None
    handshake.check_may_send_data()
    handshake.check_may_receive()


def test_we_close_first_then_the_peer_answers():
    """RFC 6455 7.1.2 / 5.5.1: after sending our close we still read until the peer's."""
    handshake = CloseHandshake()
    assert handshake.start(1000, "bye") == b"\x03\xe8bye"
    assert states_seen(handshake) == (CloseState.CLOSING_BY_US, True, False)
    assert handshake.sent == (1000, "bye")
    handshake.check_may_receive()
    with pytest.raises(BadOperationException, match="closing handshake began"):
        handshake.check_may_send_data()
    assert handshake.start(1000, "again") is None  # one close frame only
    assert handshake.receive(1000, "ok") is False  # nothing to answer: it answers ours
    assert states_seen(handshake) == (CloseState.CLOSED, True, True)
    assert handshake.received == (1000, "ok")


def test_the_peer_closes_first_then_we_answer():
    handshake = CloseHandshake()
    assert handshake.receive(4005, "dbg") is True  # we must answer
    assert states_seen(handshake) == (CloseState.CLOSING_BY_PEER, False, True)
    handshake.check_may_send_data()  # data may still go out before our answer
    with pytest.raises(BadOperationException, match="already closed"):
        handshake.check_may_receive()
    assert handshake.start(4005, "dbg") == b"\x0f\xa5dbg"
    assert states_seen(handshake) == (CloseState.CLOSED, True, True)
    assert handshake.start(1000) is None
    with pytest.raises(BadOperationException):
        handshake.check_may_send_data()
    with pytest.raises(BadOperationException):
        handshake.check_may_receive()


def test_an_answer_without_a_code_is_an_empty_close_and_drops_the_reason():
    handshake = CloseHandshake()
    handshake.receive(1005, "")
    assert handshake.start(None, "ignored") == b""
    assert handshake.sent == (None, "")


def test_our_close_reason_is_cut_to_fit_on_a_character_boundary():
    handshake = CloseHandshake()
    payload = handshake.start(1001, "€" * 60)
    assert len(payload) == 125 and payload[2:].decode("utf-8") == "€" * 41


@pytest.mark.parametrize("before", ["open", "closing by the peer"])
def test_failing_sends_a_close_with_the_code_and_then_nothing_is_read_or_sent(before):
    """RFC 6455 7.1.7: fail the connection: send a close (if not yet sent), read no more."""
    handshake = CloseHandshake()
    if before == "closing by the peer":
        handshake.receive(1000, "")
    assert handshake.fail(1002, "reserved opcode 0x3") == b"\x03\xeareserved opcode 0x3"
    assert states_seen(handshake) == (CloseState.FAILED, True, True)
    assert handshake.failure == "reserved opcode 0x3"
    with pytest.raises(ConnectionTerminatedException, match="reserved opcode"):
        handshake.check_may_send_data()
    with pytest.raises(ConnectionTerminatedException, match="reserved opcode"):
        handshake.check_may_receive()
    assert handshake.start(1000) is None


def test_failing_after_our_close_sends_no_second_close():
    handshake = CloseHandshake()
    handshake.start(1000)
    assert handshake.fail(1007, "bad text") is None
    assert handshake.state is CloseState.FAILED and handshake.sent == (1000, "")


@pytest.mark.parametrize("before", ["open", "closing by us", "closing by the peer", "closed"])
def test_a_lost_transport_fails_the_connection_from_any_state(before):
    handshake = CloseHandshake()
    if before == "closing by us":
        handshake.start(1000)
    elif before == "closing by the peer":
        handshake.receive(1000, "")
    elif before == "closed":
        handshake.start(1000)
        handshake.receive(1000, "")
    handshake.lose("connection lost while sending: broken pipe")
    assert states_seen(handshake) == (CloseState.FAILED, True, True)
    assert handshake.start(1001, "going away") is None
    with pytest.raises(ConnectionTerminatedException, match="broken pipe"):
        handshake.check_may_send_data()


def test_losing_a_failed_connection_keeps_the_first_reason():
    handshake = CloseHandshake()
    handshake.fail(1002, "first")
    handshake.lose("second")
    assert handshake.failure == "first"


def test_repr_names_the_state():
    assert repr(CloseHandshake()) == "<CloseHandshake open>"
