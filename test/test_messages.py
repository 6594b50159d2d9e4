"""Unit tests of the receive-side rules of RFC 6455 (mod_ws.protocol.messages)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
)
from mod_ws.exceptions import InvalidFrameException, InvalidUTF8Exception, MessageTooBigException
from mod_ws.protocol.frames import FrameHeader, build_frame
from mod_ws.protocol.messages import MessageAssembler, Utf8Validator

FAST = settings(max_examples=80, deadline=None)
KEY = b"\x01\x02\x03\x04"
MULTIBYTE = "κόσμε€😀"  # 2-, 3- and 4-byte sequences


def header(opcode, length=0, fin=True, rsv1=False, rsv2=False, rsv3=False, mask_key=KEY):
    return FrameHeader(fin, rsv1, rsv2, rsv3, opcode, length, mask_key)


def feed(assembler: MessageAssembler, opcode: int, payload: bytes, fin: bool = True, **kwargs):
    """What the stream does per frame: check the header, then hand over the payload."""
    h = header(opcode, len(payload), fin, **kwargs)
    assembler.check_header(h)
    return assembler.receive_frame(h, payload)


def feed_fragments(assembler: MessageAssembler, opcode: int, fragments: list[bytes]):
    """Feeds a message as fragments; returns the final event."""
    result = None
    for i, fragment in enumerate(fragments):
        last = i == len(fragments) - 1
        result = feed(assembler, opcode if i == 0 else OPCODE_CONTINUATION, fragment, fin=last)
        if not last:
            assert result is None
    return result


def split_at(data: bytes, points) -> list[bytes]:
    cuts = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:])]


def assert_protocol_error(call, *args, **kwargs):
    with pytest.raises(InvalidFrameException) as info:
        call(*args, **kwargs)
    assert info.value.close_code == 1002
    assert type(info.value) is InvalidFrameException


# --- a reference UTF-8 checker written from RFC 3629 section 4 ------------------------

_LEAD = {}
for _b in range(0xC2, 0xE0):
    _LEAD[_b] = (1, 0x80, 0xBF)
_LEAD[0xE0] = (2, 0xA0, 0xBF)
for _b in list(range(0xE1, 0xED)) + [0xEE, 0xEF]:
    _LEAD[_b] = (2, 0x80, 0xBF)
_LEAD[0xED] = (2, 0x80, 0x9F)
_LEAD[0xF0] = (3, 0x90, 0xBF)
for _b in range(0xF1, 0xF4):
    _LEAD[_b] = (3, 0x80, 0xBF)
_LEAD[0xF4] = (3, 0x80, 0x8F)


def utf8_state(data: bytes) -> str:
    """'complete', 'incomplete' (a valid prefix cut mid-character) or 'invalid'."""
    i = 0
    while i < len(data):
        if data[i] < 0x80:
            i += 1
            continue
        if data[i] not in _LEAD:
            return "invalid"
        need, lo, hi = _LEAD[data[i]]
        for k in range(1, need + 1):
            if i + k >= len(data):
                return "incomplete"
            low, high = (lo, hi) if k == 1 else (0x80, 0xBF)
            if not low <= data[i + k] <= high:
                return "invalid"
        i += need + 1
    return "complete"


def test_reference_checker_agrees_with_python_decoder_on_samples():
    for sample in [b"", b"abc", MULTIBYTE.encode(), b"\xed\x9f\xbf", b"\xf4\x8f\xbf\xbf"]:
        assert utf8_state(sample) == "complete"
        sample.decode("utf-8")
    for sample in [b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\x80", b"\xff"]:
        assert utf8_state(sample) == "invalid"
        with pytest.raises(UnicodeDecodeError):
            sample.decode("utf-8")
    assert utf8_state(b"a\xf0\x9f\x98") == "incomplete"


# --- header checks (RFC 6455 section 5) ----------------------------------------------


def test_unmasked_client_frame_is_a_protocol_error_when_mask_required():
    """RFC 6455 5.1: a server MUST close the connection on an unmasked client frame."""
    assert_protocol_error(MessageAssembler().check_header, header(OPCODE_TEXT, 1, mask_key=None))


def test_unmasked_frame_accepted_when_mask_not_required():
    assembler = MessageAssembler(require_mask=False)
    assert feed(assembler, OPCODE_TEXT, b"hi", mask_key=None) == (OPCODE_TEXT, "hi")
    assert feed(assembler, OPCODE_BINARY, b"\x00", mask_key=KEY) == (OPCODE_BINARY, b"\x00")


@pytest.mark.parametrize("bit", ["rsv1", "rsv2", "rsv3"])
def test_reserved_bit_without_extension_is_a_protocol_error(bit):
    """RFC 6455 5.2: RSV1-3 MUST be 0 unless an extension defines them."""
    assert_protocol_error(MessageAssembler().check_header, header(OPCODE_TEXT, 1, **{bit: True}))


def test_rsv1_allowed_when_extension_claims_it_but_rsv2_and_rsv3_still_fail():
    assembler = MessageAssembler(allowed_rsv_bits=0x40)
    assembler.check_header(header(OPCODE_TEXT, 1, rsv1=True))
    assert_protocol_error(assembler.check_header, header(OPCODE_TEXT, 1, rsv2=True))
    assert_protocol_error(assembler.check_header, header(OPCODE_TEXT, 1, rsv1=True, rsv3=True))


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF], ids=hex)
def test_reserved_opcode_is_a_protocol_error(opcode):
    """RFC 6455 5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved."""
    assert_protocol_error(MessageAssembler().check_header, header(opcode, 0))


@pytest.mark.parametrize("opcode", [OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG], ids=["close", "ping", "pong"])
def test_fragmented_control_frame_is_a_protocol_error(opcode):
    """RFC 6455 5.5: control frames MUST NOT be fragmented."""
    assert_protocol_error(MessageAssembler().check_header, header(opcode, 0, fin=False))


@pytest.mark.parametrize("opcode", [OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG], ids=["close", "ping", "pong"])
def test_control_payload_of_126_bytes_is_a_protocol_error_and_125_is_fine(opcode):
    """RFC 6455 5.5: control frames carry at most 125 bytes of payload."""
    assembler = MessageAssembler()
    assert_protocol_error(assembler.check_header, header(opcode, 126))
    assembler.check_header(header(opcode, 125))


def test_control_frames_do_not_count_against_message_size_limit():
    assembler = MessageAssembler(max_message_size=10)
    assembler.check_header(header(OPCODE_PING, 125))


def test_continuation_without_open_message_is_a_protocol_error():
    """RFC 6455 5.4: a continuation frame only continues a started message."""
    assembler = MessageAssembler()
    assert_protocol_error(assembler.check_header, header(OPCODE_CONTINUATION, 1))
    assert_protocol_error(assembler.check_header, header(OPCODE_CONTINUATION, 1, fin=False))


@pytest.mark.parametrize("first", [OPCODE_TEXT, OPCODE_BINARY], ids=["text-open", "binary-open"])
@pytest.mark.parametrize("second", [OPCODE_TEXT, OPCODE_BINARY], ids=["text-next", "binary-next"])
def test_new_data_frame_while_fragmented_message_open_is_a_protocol_error(first, second):
    """RFC 6455 5.4: fragments of one message may not be interleaved with another."""
    assembler = MessageAssembler()
    assert feed(assembler, first, b"ab", fin=False) is None
    assert assembler.in_message and assembler.message_opcode == first
    assert_protocol_error(assembler.check_header, header(second, 1))
    assert_protocol_error(assembler.check_header, header(second, 1, fin=False))


def test_control_frames_interleaved_in_fragmented_message_are_returned_and_message_completes():
    """RFC 6455 5.4: control frames MAY be injected in the middle of a fragmented message."""
    assembler = MessageAssembler()
    assert feed(assembler, OPCODE_TEXT, b"He", fin=False) is None
    assert feed(assembler, OPCODE_PING, b"ping?") == (OPCODE_PING, b"ping?")
    assert feed(assembler, OPCODE_CONTINUATION, b"l", fin=False) is None
    assert feed(assembler, OPCODE_PONG, b"") == (OPCODE_PONG, b"")
    assert feed(assembler, OPCODE_CLOSE, b"\x03\xe8bye") == (OPCODE_CLOSE, (1000, "bye"))
    assert assembler.in_message
    assert feed(assembler, OPCODE_CONTINUATION, b"lo") == (OPCODE_TEXT, "Hello")
    assert not assembler.in_message


def test_close_event_carries_decoded_body_and_bad_body_fails():
    assembler = MessageAssembler()
    assert feed(assembler, OPCODE_CLOSE, b"") == (OPCODE_CLOSE, (1005, ""))
    with pytest.raises(InvalidFrameException):
        feed(assembler, OPCODE_CLOSE, b"\x03\xed")  # 1005 may not be sent


# --- fragmentation -------------------------------------------------------------------


def test_fragmented_text_split_at_every_byte_position_reassembles():
    data = MULTIBYTE.encode("utf-8")
    for i in range(len(data) + 1):
        assembler = MessageAssembler()
        assert feed_fragments(assembler, OPCODE_TEXT, [data[:i], data[i:]]) == (OPCODE_TEXT, MULTIBYTE)
        assert not assembler.in_message


def test_fragmented_text_split_at_every_pair_of_positions_reassembles():
    data = MULTIBYTE.encode("utf-8")
    assembler = MessageAssembler()
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            fragments = [data[:i], data[i:j], data[j:]]
            assert feed_fragments(assembler, OPCODE_TEXT, fragments) == (OPCODE_TEXT, MULTIBYTE)


def test_text_sent_one_byte_per_frame_reassembles():
    data = MULTIBYTE.encode("utf-8")
    assert feed_fragments(MessageAssembler(), OPCODE_TEXT, [bytes([b]) for b in data]) == (
        OPCODE_TEXT, MULTIBYTE,
    )


def test_fragmented_binary_reassembles_including_empty_fragments():
    fragments = [b"\x00\xff", b"", b"\xed\xa0", b"\x80", b""]
    assert feed_fragments(MessageAssembler(), OPCODE_BINARY, fragments) == (
        OPCODE_BINARY, b"\x00\xff\xed\xa0\x80",
    )


def test_single_frame_text_and_binary_messages_are_returned_whole():
    assembler = MessageAssembler()
    assert feed(assembler, OPCODE_TEXT, MULTIBYTE.encode()) == (OPCODE_TEXT, MULTIBYTE)
    assert feed(assembler, OPCODE_TEXT, b"") == (OPCODE_TEXT, "")
    assert feed(assembler, OPCODE_BINARY, b"\xff\x00") == (OPCODE_BINARY, b"\xff\x00")
    assert not assembler.in_message


@pytest.mark.parametrize("opcode", [OPCODE_TEXT, OPCODE_BINARY], ids=["text", "binary"])
def test_assembler_is_idle_after_a_completed_message_and_takes_the_next(opcode):
    assembler = MessageAssembler()
    assert not assembler.in_message and assembler.message_opcode is None
    feed_fragments(assembler, opcode, [b"a", b"b", b"c"])
    assert not assembler.in_message and assembler.message_opcode is None
    assert_protocol_error(assembler.check_header, header(OPCODE_CONTINUATION, 1))
    assert feed_fragments(assembler, OPCODE_TEXT, [b"x", b"y"]) == (OPCODE_TEXT, "xy")
    assert feed_fragments(assembler, OPCODE_BINARY, [b"1", b"2"]) == (OPCODE_BINARY, b"12")


# --- UTF-8 validation (RFC 6455 section 8.1) ------------------------------------------


def fragment_index_that_raises(fragments: list[bytes]) -> int | None:
    assembler = MessageAssembler()
    for i, fragment in enumerate(fragments):
        last = i == len(fragments) - 1
        try:
            feed(assembler, OPCODE_TEXT if i == 0 else OPCODE_CONTINUATION, fragment, fin=last)
        except InvalidUTF8Exception as e:
            assert e.close_code == 1007
            return i
    return None


@pytest.mark.parametrize(
    "fragments, failing_index",
    [
        ([b"\xce\xba", b"\xf4\x90\x80\x80", b"ok"], 1),
        ([b"\xed\xa0", b"\x80"], 0),
        ([b"ok\xed", b"\xa0\x80", b"!"], 1),
        ([b"\xe0\x80", b"\xaf"], 0),
        ([b"\xf0", b"\x80\x80\x80"], 1),
        ([b"ab", b"c", b"\xff"], 2),
        ([b"abc", b"\xc3"], 1),
        ([b"\xf0\x9f", b"\x98"], 1),
        ([b"\xce"], 0),
        ([b"fine", b"", b"\x80"], 2),
    ],
    ids=[
        "above-10ffff-in-2nd", "surrogate-prefix-in-1st", "surrogate-split-after-lead",
        "overlong-prefix", "f0-then-bad-continuation", "ff-in-last", "truncated-at-end",
        "4-byte-truncated-at-end", "single-frame-truncated", "stray-continuation",
    ],
)
def test_invalid_utf8_fails_on_the_first_fragment_that_makes_it_invalid(fragments, failing_index):
    """RFC 6455 8.1: fail the connection as soon as the text is known not to be UTF-8."""
    assert fragment_index_that_raises(fragments) == failing_index


def test_invalid_utf8_exception_is_a_1007_invalid_frame_exception():
    assert InvalidUTF8Exception.close_code == 1007
    assert issubclass(InvalidUTF8Exception, InvalidFrameException)
    with pytest.raises(InvalidUTF8Exception) as info:
        feed(MessageAssembler(), OPCODE_TEXT, b"\xed\xa0\x80")
    assert info.value.close_code == 1007


@FAST
@given(text=st.text(max_size=40), data=st.data())
def test_valid_utf8_split_anywhere_never_raises(text, data):
    encoded = text.encode("utf-8")
    points = data.draw(st.lists(st.integers(0, len(encoded)), max_size=6))
    fragments = split_at(encoded, points)
    assert feed_fragments(MessageAssembler(), OPCODE_TEXT, fragments) == (OPCODE_TEXT, text)


TRICKY = [b"\xed", b"\xa0", b"\x9f", b"\xbf", b"\x80", b"\xc0", b"\xc2", b"\xe0", b"\xf0", b"\xf4",
          b"\x8f", b"\x90", b"\xf5", b"\xff", b"\xed\xa0\x80", b"\xf4\x90", b"\xed\xa0", b"\xed\xbf"]


@FAST
@given(
    pieces=st.lists(
        st.one_of(
            st.text(max_size=4).map(str.encode),
            st.sampled_from(TRICKY),
            st.sampled_from(TRICKY),
            st.binary(max_size=3),
        ),
        max_size=8,
    ),
    data=st.data(),
)
def test_utf8_failure_happens_exactly_at_first_fragment_that_cannot_be_a_valid_prefix(pieces, data):
    """Compares fail-fast behaviour against the RFC 3629 reference checker above."""
    encoded = b"".join(pieces)
    points = data.draw(st.lists(st.integers(0, len(encoded)), max_size=5))
    fragments = split_at(encoded, points)
    expected = None
    received = b""
    for i, fragment in enumerate(fragments):
        received += fragment
        state = utf8_state(received)
        if state == "invalid" or (state == "incomplete" and i == len(fragments) - 1):
            expected = i
            break
    assert fragment_index_that_raises(fragments) == expected


def test_utf8_validator_buffers_split_sequences_and_rejects_surrogate_prefixes():
    validator = Utf8Validator()
    assert validator.decode(b"\xe2\x82", False) == ""
    assert validator.decode(b"\xac!", False) == "€!"
    with pytest.raises(InvalidUTF8Exception):
        validator.decode(b"\xf0\x9f", True)
    with pytest.raises(InvalidUTF8Exception):
        Utf8Validator().decode(b"\xed\xbf", False)  # low surrogate prefix (DC00-DFFF range)
    assert Utf8Validator().decode(b"\xed\x9f", False) == ""  # U+D7xx is a fine prefix


# --- message size limit --------------------------------------------------------------


def test_single_frame_larger_than_limit_fails_in_check_header_with_1009():
    assembler = MessageAssembler(max_message_size=10)
    with pytest.raises(MessageTooBigException) as info:
        assembler.check_header(header(OPCODE_BINARY, 11))
    assert info.value.close_code == 1009
    with pytest.raises(MessageTooBigException):
        assembler.check_header(header(OPCODE_TEXT, 11, fin=False))


def test_message_of_exactly_the_limit_is_accepted_whole_and_fragmented():
    assembler = MessageAssembler(max_message_size=10)
    assert feed(assembler, OPCODE_BINARY, b"x" * 10) == (OPCODE_BINARY, b"x" * 10)
    assert feed_fragments(assembler, OPCODE_TEXT, [b"a" * 4, b"b" * 4, b"c" * 2]) == (
        OPCODE_TEXT, "aaaabbbbcc",
    )


def test_fragments_whose_running_total_exceeds_limit_fail_with_1009():
    assembler = MessageAssembler(max_message_size=10)
    feed(assembler, OPCODE_BINARY, b"a" * 4, fin=False)
    feed(assembler, OPCODE_CONTINUATION, b"b" * 4, fin=False)
    with pytest.raises(MessageTooBigException) as info:
        assembler.check_header(header(OPCODE_CONTINUATION, 3))
    assert info.value.close_code == 1009


def test_size_limit_counts_from_zero_again_for_the_next_message():
    assembler = MessageAssembler(max_message_size=10)
    feed_fragments(assembler, OPCODE_BINARY, [b"a" * 5, b"b" * 5])
    assert feed_fragments(assembler, OPCODE_BINARY, [b"c" * 5, b"d" * 5]) == (
        OPCODE_BINARY, b"c" * 5 + b"d" * 5,
    )


def test_interleaved_control_frame_does_not_add_to_message_size():
    assembler = MessageAssembler(max_message_size=10)
    feed(assembler, OPCODE_TEXT, b"a" * 5, fin=False)
    assert feed(assembler, OPCODE_PING, b"p" * 100) == (OPCODE_PING, b"p" * 100)
    assert feed(assembler, OPCODE_CONTINUATION, b"b" * 5) == (OPCODE_TEXT, "a" * 5 + "b" * 5)


# --- text payloads decoded piece by piece (text_validator) ---------------------------


def feed_in_pieces(assembler: MessageAssembler, opcode: int, pieces: list[bytes], fin: bool = True):
    """What the stream does for a text frame not yet buffered: validate each piece as it
    arrives through `text_validator`, then hand over the joined text."""
    h = header(opcode, sum(len(p) for p in pieces), fin)
    assembler.check_header(h)
    validator = assembler.text_validator(h)
    assert validator is not None
    text = "".join(validator.decode(piece, False) for piece in pieces)
    return assembler.receive_frame(h, b"", text, validator)


def test_text_validator_is_new_for_text_shared_for_its_continuations_and_none_otherwise():
    assembler = MessageAssembler()
    first = assembler.text_validator(header(OPCODE_TEXT, 3, fin=False))
    assert isinstance(first, Utf8Validator)
    assert assembler.text_validator(header(OPCODE_TEXT, 3, fin=False)) is not first
    assert assembler.text_validator(header(OPCODE_BINARY, 3)) is None
    assert assembler.text_validator(header(OPCODE_PING, 3)) is None
    assert assembler.text_validator(header(OPCODE_CONTINUATION, 3)) is None  # no message open
    assembler.receive_frame(header(OPCODE_TEXT, 0, fin=False), b"", "", first)
    assert assembler.text_validator(header(OPCODE_CONTINUATION, 3)) is first
    assert assembler.text_validator(header(OPCODE_CONTINUATION, 3)) is first


def test_text_validator_is_none_for_continuation_of_binary_message():
    assembler = MessageAssembler()
    feed(assembler, OPCODE_BINARY, b"\xce", fin=False)
    assert assembler.text_validator(header(OPCODE_CONTINUATION, 1)) is None


def test_single_text_frame_decoded_in_pieces_is_returned_whole():
    data = MULTIBYTE.encode()
    pieces = [data[:1], data[1:6], data[6:]]
    assembler = MessageAssembler()
    assert feed_in_pieces(assembler, OPCODE_TEXT, pieces) == (OPCODE_TEXT, MULTIBYTE)
    assert not assembler.in_message and assembler.message_opcode is None


def test_single_text_frame_in_pieces_truncated_at_its_end_fails_with_1007():
    """The pieces were checked with final=False; the final frame must still reject a cut sequence."""
    with pytest.raises(InvalidUTF8Exception) as info:
        feed_in_pieces(MessageAssembler(), OPCODE_TEXT, [b"ab", b"\xe2\x82"])
    assert info.value.close_code == 1007


def test_piece_that_makes_text_invalid_fails_before_the_frame_is_complete():
    assembler = MessageAssembler()
    h = header(OPCODE_TEXT, 6)
    assembler.check_header(h)
    validator = assembler.text_validator(h)
    assert validator.decode(b"ok\xed", False) == "ok"
    with pytest.raises(InvalidUTF8Exception):
        validator.decode(b"\xa0", False)  # the surrogate is known after this piece


def test_buffered_and_piecewise_fragments_of_one_message_share_validation_state():
    assembler = MessageAssembler()
    assert feed(assembler, OPCODE_TEXT, b"x\xe2", fin=False) is None
    assert feed_in_pieces(assembler, OPCODE_CONTINUATION, [b"\x82", b"\xac\xf0"], fin=False) is None
    assert feed(assembler, OPCODE_CONTINUATION, b"\x9f\x98\x80") == (OPCODE_TEXT, "x€😀")
    assert feed_in_pieces(assembler, OPCODE_TEXT, [b"\xce"], fin=False) is None
    with pytest.raises(InvalidUTF8Exception):
        feed_in_pieces(assembler, OPCODE_CONTINUATION, [b"\xba\xce"], fin=True)


def test_piecewise_fragments_count_against_message_size_limit():
    assembler = MessageAssembler(max_message_size=10)
    feed_in_pieces(assembler, OPCODE_TEXT, [b"abc", b"de"], fin=False)
    with pytest.raises(MessageTooBigException):
        assembler.check_header(header(OPCODE_CONTINUATION, 6))
    assert feed_in_pieces(assembler, OPCODE_CONTINUATION, [b"fghij"]) == (OPCODE_TEXT, "abcdefghij")


@FAST
@given(
    pieces=st.lists(
        st.one_of(st.text(max_size=4).map(str.encode), st.sampled_from(TRICKY), st.binary(max_size=3)),
        max_size=8,
    ),
    data=st.data(),
)
def test_piecewise_utf8_failure_happens_at_first_piece_that_cannot_be_a_valid_prefix(pieces, data):
    """RFC 6455 8.1 fail fast, through the piece-by-piece path: frames are split at random,
    each frame's payload into random pieces; compare with the RFC 3629 reference."""
    encoded = b"".join(pieces)
    frame_cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=3))
    frames = [
        split_at(frame, data.draw(st.lists(st.integers(0, len(frame)), max_size=3)))
        for frame in split_at(encoded, frame_cuts)
    ]
    # Steps: ("piece", cumulative bytes) for each piece, then ("end", frame index) per frame.
    expected_step = None
    step = 0
    received = b""
    for index, frame_pieces in enumerate(frames):
        for piece in frame_pieces:
            received += piece
            if expected_step is None and utf8_state(received) == "invalid":
                expected_step = step
            step += 1
        if expected_step is None and index == len(frames) - 1 and utf8_state(received) == "incomplete":
            expected_step = step
        step += 1

    assembler = MessageAssembler()
    step = 0
    failed_step = None
    result = None
    try:
        for index, frame_pieces in enumerate(frames):
            last = index == len(frames) - 1
            h = header(OPCODE_TEXT if index == 0 else OPCODE_CONTINUATION,
                       sum(len(p) for p in frame_pieces), last)
            assembler.check_header(h)
            validator = assembler.text_validator(h)
            texts = []
            for piece in frame_pieces:
                texts.append(validator.decode(piece, False))
                step += 1
            result = assembler.receive_frame(h, b"", "".join(texts), validator)
            step += 1
    except InvalidUTF8Exception:
        failed_step = step
    assert failed_step == expected_step
    if expected_step is None:
        assert result == (OPCODE_TEXT, encoded.decode("utf-8"))


# --- the fast path for whole small messages ------------------------------------------


def client_frame(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> bytes:
    """A masked client frame, built with the codec's general encoder."""
    return build_frame(opcode, payload, fin, rsv1, mask_key=KEY)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 1000, 65535])
@pytest.mark.parametrize("opcode", [OPCODE_TEXT, OPCODE_BINARY], ids=["text", "binary"])
def test_fast_path_takes_a_whole_buffered_message_and_says_where_it_ends(opcode, size):
    payload = b"a" * size
    data = b"xx" + client_frame(opcode, payload) + b"next"
    got_opcode, value, end = MessageAssembler().receive_buffered_message(data, 2)
    assert (got_opcode, value) == (opcode, payload.decode() if opcode == OPCODE_TEXT else payload)
    assert data[end:] == b"next"


@pytest.mark.parametrize("data", [
    pytest.param(client_frame(OPCODE_TEXT, b"hello")[:-1], id="incomplete payload"),
    pytest.param(client_frame(OPCODE_TEXT, b"a" * 300)[:3], id="incomplete 16-bit length"),
    pytest.param(client_frame(OPCODE_BINARY, b"a" * 70000), id="64-bit length"),
    pytest.param(client_frame(OPCODE_TEXT, b"part", fin=False), id="fragment"),
    pytest.param(client_frame(OPCODE_CONTINUATION, b"part"), id="continuation"),
    pytest.param(client_frame(OPCODE_PING, b"p"), id="ping"),
    pytest.param(client_frame(OPCODE_CLOSE, b"\x03\xe8"), id="close"),
    pytest.param(client_frame(OPCODE_TEXT, b"c", rsv1=True), id="RSV1"),
    pytest.param(build_frame(OPCODE_TEXT, b"unmasked"), id="unmasked"),
    pytest.param(client_frame(3, b"x"), id="reserved opcode"),
])
def test_fast_path_leaves_every_other_frame_to_the_general_rules(data):
    """Anything but a whole, final, masked, plain data frame goes through check_header."""
    assert MessageAssembler().receive_buffered_message(data, 0) is None


def test_fast_path_leaves_an_oversized_message_to_the_general_rules():
    assembler = MessageAssembler(max_message_size=10)
    assert assembler.receive_buffered_message(client_frame(OPCODE_BINARY, b"a" * 11), 0) is None
    assert assembler.receive_buffered_message(client_frame(OPCODE_BINARY, b"a" * 10), 0) is not None


def test_fast_path_defers_to_the_open_fragmented_message():
    """RFC 6455 5.4: a new data frame inside a fragmented message is an error the general
    path must see."""
    assembler = MessageAssembler()
    feed(assembler, OPCODE_TEXT, b"first", fin=False)
    assert assembler.receive_buffered_message(client_frame(OPCODE_TEXT, b"x"), 0) is None


def test_fast_path_rejects_invalid_utf8_with_1007():
    with pytest.raises(InvalidUTF8Exception) as info:
        MessageAssembler().receive_buffered_message(client_frame(OPCODE_TEXT, b"\xce\xba\xff"), 0)
    assert info.value.close_code == 1007
