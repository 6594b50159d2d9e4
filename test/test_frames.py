"""Unit tests of the RFC 6455 frame codec (mod_ws.protocol.frames).

The pywebsocket3-style frame helpers of mod_ws.stream (create_header, parse_frame, ...)
are thin wrappers over this codec and are checked at the end of this file.
"""

from __future__ import annotations

import io
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
)
from mod_ws.exceptions import InvalidFrameException
from mod_ws.protocol.closing import decode_close_payload
from mod_ws.protocol.frames import (
    FrameHeader,
    apply_mask,
    apply_mask_python,
    build_frame,
    build_unmasked_frame_python,
    encode_frame_header,
    parse_frame_header,
    take_whole_message_python,
)
from mod_ws.stream import (
    create_binary_frame,
    create_closing_handshake_body,
    create_header,
    create_length_header,
    create_text_frame,
    parse_frame,
)

# Large payloads are the point here: do not let hypothesis's size health checks veto them.
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow])

# Payload sizes either side of the three length encodings of RFC 6455 section 5.2.
BOUNDARY_SIZES = [0, 1, 124, 125, 126, 127, 65534, 65535, 65536, 65537, 70000]

payload_sizes = st.one_of(st.sampled_from(BOUNDARY_SIZES), st.integers(0, 70000))
mask_keys = st.one_of(st.none(), st.binary(min_size=4, max_size=4))


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Bytes of a boundary-ish size; content drawn small and stretched with a seeded PRNG."""
    size = draw(payload_sizes)
    if size <= 200:
        return draw(st.binary(min_size=size, max_size=size))
    rnd = draw(st.randoms(use_true_random=False))
    return rnd.randbytes(size)


def reference_mask(payload: bytes, key: bytes) -> bytes:
    """RFC 6455 section 5.3 literally: octet i XOR masking-key octet (i MOD 4)."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


# --- build_frame / parse_frame_header round trip ------------------------------------


@FAST
@given(
    opcode=st.integers(0, 15),
    fin=st.booleans(),
    rsv1=st.booleans(),
    rsv2=st.booleans(),
    rsv3=st.booleans(),
    payload=payloads(),
    mask_key=mask_keys,
)
def test_build_then_parse_round_trips_every_header_field_and_payload(
    opcode, fin, rsv1, rsv2, rsv3, payload, mask_key
):
    """RFC 6455 5.2: every field written by build_frame is read back unchanged."""
    frame = build_frame(opcode, payload, fin, rsv1, rsv2, rsv3, mask_key)
    parsed = parse_frame_header(frame)
    assert parsed is not None
    header, offset = parsed
    assert header == FrameHeader(fin, rsv1, rsv2, rsv3, opcode, len(payload), mask_key)
    assert len(frame) == offset + len(payload)
    body = frame[offset:]
    if mask_key is None:
        assert body == payload
    else:
        assert apply_mask(body, mask_key) == payload


@FAST
@given(payload=payloads(), mask_key=st.binary(min_size=4, max_size=4))
def test_masked_frame_body_is_payload_xor_repeated_key(payload, mask_key):
    """RFC 6455 5.3: the body on the wire is the payload XOR the key, octet by octet."""
    frame = build_frame(OPCODE_BINARY, payload, mask_key=mask_key)
    _header, offset = parse_frame_header(frame)
    assert frame[offset:] == reference_mask(payload, mask_key)


def test_rsv_bits_property_places_bits_as_in_the_first_header_byte():
    assert FrameHeader(True, True, False, False, 1, 0, None).rsv_bits == 0x40
    assert FrameHeader(True, False, True, False, 1, 0, None).rsv_bits == 0x20
    assert FrameHeader(True, False, False, True, 1, 0, None).rsv_bits == 0x10
    assert FrameHeader(True, True, True, True, 1, 0, None).rsv_bits == 0x70
    assert FrameHeader(True, False, False, False, 1, 0, None).rsv_bits == 0


# --- shortest length encoding --------------------------------------------------------


@pytest.mark.parametrize(
    "length, unmasked_size, length_byte",
    [
        (0, 2, 0),
        (125, 2, 125),
        (126, 4, 126),
        (65535, 4, 126),
        (65536, 10, 127),
        (2**63 - 1, 10, 127),
    ],
    ids=["0", "125", "126", "65535", "65536", "2^63-1"],
)
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_encode_frame_header_uses_shortest_length_encoding(length, unmasked_size, length_byte, masked):
    """RFC 6455 5.2: 7-bit length up to 125, 16-bit up to 65535, else 64-bit."""
    key = b"\x01\x02\x03\x04" if masked else None
    header = encode_frame_header(OPCODE_BINARY, length, mask_key=key)
    assert len(header) == unmasked_size + (4 if masked else 0)
    assert header[1] & 0x7F == length_byte
    assert bool(header[1] & 0x80) == masked
    if masked:
        assert header[-4:] == key
    parsed = parse_frame_header(header)
    assert parsed == (FrameHeader(True, False, False, False, OPCODE_BINARY, length, key), len(header))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"opcode": 16, "payload_length": 0},
        {"opcode": -1, "payload_length": 0},
        {"opcode": 1, "payload_length": -1},
        {"opcode": 1, "payload_length": 2**63},
        {"opcode": 1, "payload_length": 0, "mask_key": b"abc"},
        {"opcode": 1, "payload_length": 0, "mask_key": b"abcde"},
    ],
    ids=["opcode-16", "opcode-negative", "length-negative", "length-2^63", "key-3-bytes", "key-5-bytes"],
)
def test_encode_frame_header_rejects_out_of_range_fields(kwargs):
    with pytest.raises(ValueError):
        encode_frame_header(**kwargs)


# --- incomplete data, offsets, bad lengths -------------------------------------------

SAMPLE_HEADERS = [
    encode_frame_header(OPCODE_TEXT, 5),
    encode_frame_header(OPCODE_TEXT, 5, mask_key=b"\x37\xfa\x21\x3d"),
    encode_frame_header(OPCODE_BINARY, 300),
    encode_frame_header(OPCODE_BINARY, 300, mask_key=b"abcd"),
    encode_frame_header(OPCODE_BINARY, 70000),
    encode_frame_header(OPCODE_BINARY, 70000, mask_key=b"abcd"),
]
SAMPLE_IDS = ["7bit", "7bit-masked", "16bit", "16bit-masked", "64bit", "64bit-masked"]


@pytest.mark.parametrize("header", SAMPLE_HEADERS, ids=SAMPLE_IDS)
def test_parse_returns_none_for_every_proper_prefix_of_a_header(header):
    for cut in range(len(header)):
        assert parse_frame_header(header[:cut]) is None, cut
        assert parse_frame_header(b"xyz" + header[:cut], pos=3) is None, cut
    assert parse_frame_header(header) is not None


@pytest.mark.parametrize("header", SAMPLE_HEADERS, ids=SAMPLE_IDS)
def test_parse_at_nonzero_pos_returns_absolute_payload_offset(header):
    expected_header, size = parse_frame_header(header)
    data = b"\x00\xff\x81\x05" + header + b"payload"
    assert parse_frame_header(data, pos=4) == (expected_header, 4 + size)


def test_parse_accepts_bytearray_and_memoryview():
    frame = build_frame(OPCODE_TEXT, b"Hello", mask_key=b"\x37\xfa\x21\x3d")
    expected = parse_frame_header(frame)
    assert parse_frame_header(bytearray(frame)) == expected
    assert parse_frame_header(memoryview(frame)) == expected
    assert isinstance(parse_frame_header(bytearray(frame))[0].mask_key, bytes)


def test_parse_only_reads_the_header_not_the_payload():
    """The payload need not have arrived: the header alone is enough to parse."""
    header = encode_frame_header(OPCODE_BINARY, 1000)
    assert parse_frame_header(header) == (
        FrameHeader(True, False, False, False, OPCODE_BINARY, 1000, None), 4
    )


@pytest.mark.parametrize("masked", [False, True])
def test_64bit_length_with_most_significant_bit_set_is_invalid(masked):
    """RFC 6455 5.2: the most significant bit of the 64-bit length MUST be 0."""
    second = 0xFF if masked else 0x7F
    data = bytes((0x82, second)) + struct.pack("!Q", 1 << 63) + (b"abcd" if masked else b"")
    with pytest.raises(InvalidFrameException) as info:
        parse_frame_header(data)
    assert info.value.close_code == 1002
    with pytest.raises(InvalidFrameException):
        parse_frame_header(bytes((0x82, 0x7F)) + b"\xff" * 8)


def test_largest_legal_64bit_length_parses():
    data = bytes((0x82, 0x7F)) + struct.pack("!Q", (1 << 63) - 1)
    header, offset = parse_frame_header(data)
    assert header.payload_length == (1 << 63) - 1 and offset == 10


# --- masking -------------------------------------------------------------------------


def _implementations(python_version, name):
    """The pure-Python function always, and its C accelerator where it was built."""
    found = [pytest.param(python_version, id="python")]
    try:
        from mod_ws import _speedups
    except ImportError:
        return found
    if hasattr(_speedups, name):  # absent only from a stale build, which is not used
        found.append(pytest.param(getattr(_speedups, name), id="c"))
    return found


MASKERS = pytest.mark.parametrize("masker", _implementations(apply_mask_python, "apply_mask"))
TAKERS = pytest.mark.parametrize(
    "take", _implementations(take_whole_message_python, "take_whole_message"))
BUILDERS = pytest.mark.parametrize(
    "build", _implementations(build_unmasked_frame_python, "build_unmasked_frame"))


@MASKERS
@FAST
@given(payload=st.binary(max_size=300), key=st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_per_byte_reference(masker, payload, key):
    """RFC 6455 5.3: transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4)."""
    assert masker(payload, key) == reference_mask(payload, key)


@MASKERS
@pytest.mark.parametrize("length", [16383, 16384, 16385, 16386, 16387, 3 * 16384 + 5, 1 << 20])
def test_apply_mask_of_large_payloads_matches_reference_across_method_edges(masker, length):
    """Large payloads are masked a key byte at a time (Python) or in words (C): every
    length modulo 4, on both sides of the switch from the small-payload method."""
    payload = random.Random(length).randbytes(length)
    key = b"\x9a\x01\xfe\x37"
    assert masker(payload, key) == reference_mask(payload, key)
    assert masker(bytearray(payload), key) == masker(memoryview(payload), key)


@MASKERS
@FAST
@given(payload=payloads(), key=st.binary(min_size=4, max_size=4))
def test_apply_mask_is_its_own_inverse(masker, payload, key):
    masked = masker(payload, key)
    assert len(masked) == len(payload)
    assert masker(masked, key) == payload


@MASKERS
@pytest.mark.parametrize(
    "payload", [b"", bytearray(), memoryview(b"")], ids=["bytes", "bytearray", "memoryview"]
)
def test_apply_mask_of_empty_payload_is_empty_bytes(masker, payload):
    assert masker(payload, b"\x01\x02\x03\x04") == b""


@MASKERS
def test_apply_mask_accepts_bytearray_and_memoryview(masker):
    key = b"\x37\xfa\x21\x3d"
    assert masker(bytearray(b"Hello"), key) == b"\x7f\x9f\x4d\x51\x58"
    assert masker(memoryview(b"xHello")[1:], key) == b"\x7f\x9f\x4d\x51\x58"


@MASKERS
def test_apply_mask_with_zero_key_is_identity_and_keeps_leading_and_trailing_zero_bytes(masker):
    """The big-integer XOR must not drop zero bytes at either end."""
    data = b"\x00\x00abc\x00\x00"
    assert masker(data, b"\0\0\0\0") == data
    assert masker(b"\x01\x02\x03\x04\x01", b"\x01\x02\x03\x04") == b"\0\0\0\0\0"


def test_apply_mask_uses_the_accelerator_when_built_and_returns_bytes():
    """mod_ws.protocol.frames.apply_mask is the C function when available; both return bytes."""
    assert isinstance(apply_mask(b"abcd", b"\x01\x02\x03\x04"), bytes)
    assert isinstance(apply_mask_python(b"a" * 40000, b"\x01\x02\x03\x04"), bytes)


# --- RFC 6455 section 5.7 examples --------------------------------------------------


def test_rfc_5_7_unmasked_hello_text_frame_has_exact_bytes():
    frame = build_frame(OPCODE_TEXT, b"Hello")
    assert frame == bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    assert parse_frame_header(frame) == (FrameHeader(True, False, False, False, 1, 5, None), 2)


def test_rfc_5_7_masked_hello_text_frame_has_exact_bytes_and_unmasks():
    key = bytes([0x37, 0xFA, 0x21, 0x3D])
    frame = build_frame(OPCODE_TEXT, b"Hello", mask_key=key)
    assert frame == bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    header, offset = parse_frame_header(frame)
    assert header.mask_key == key and offset == 6
    assert apply_mask(frame[offset:], header.mask_key) == b"Hello"


def test_rfc_5_7_fragmented_hello_frames_have_exact_bytes():
    assert build_frame(OPCODE_TEXT, b"Hel", fin=False) == bytes([0x01, 0x03, 0x48, 0x65, 0x6C])
    assert build_frame(0, b"lo") == bytes([0x80, 0x02, 0x6C, 0x6F])


def test_rfc_5_7_unmasked_ping_and_masked_pong_have_exact_bytes():
    assert build_frame(OPCODE_PING, b"Hello") == bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    key = bytes([0x37, 0xFA, 0x21, 0x3D])
    assert build_frame(OPCODE_PONG, b"Hello", mask_key=key) == bytes(
        [0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
    )


def test_rfc_5_7_256_byte_binary_frame_uses_16bit_length():
    payload = bytes(range(256))
    frame = build_frame(OPCODE_BINARY, payload)
    assert frame[:4] == bytes([0x82, 0x7E, 0x01, 0x00])
    assert frame[4:] == payload


def test_rfc_5_7_64kib_binary_frame_uses_64bit_length():
    frame = build_frame(OPCODE_BINARY, b"\xaa" * 65536)
    assert frame[:10] == bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00])
    assert len(frame) == 10 + 65536


# --- pywebsocket3-style helpers in mod_ws.stream -------------------------------------


def test_stream_create_header_has_mask_bit_but_no_key():
    assert create_header(OPCODE_TEXT, 5, 1, 0, 0, 0, False) == b"\x81\x05"
    assert create_header(OPCODE_TEXT, 5, 1, 0, 0, 0, True) == b"\x81\x85"
    assert create_header(OPCODE_BINARY, 300, 0, 1, 1, 1, True) == b"\x72\xfe\x01\x2c"
    with pytest.raises(ValueError):
        create_header(OPCODE_TEXT, 5, 2, 0, 0, 0, False)


@pytest.mark.parametrize(
    "length, mask, expected",
    [
        (5, False, b"\x05"),
        (125, True, b"\xfd"),
        (126, True, b"\xfe\x00\x7e"),
        (65536, False, b"\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_stream_create_length_header_is_shortest_encoding_with_mask_bit(length, mask, expected):
    assert create_length_header(length, mask) == expected


@pytest.mark.parametrize("mask", [False, True])
def test_stream_parse_frame_reads_what_create_text_frame_wrote(mask):
    frame = create_text_frame("κόσμε", fin=0, mask=mask)
    assert bool(frame[1] & 0x80) == mask
    reader = io.BytesIO(frame + b"rest")
    result = parse_frame(reader.read, unmask_receive=mask)
    assert result == (OPCODE_TEXT, "κόσμε".encode(), 0, 0, 0, 0)
    assert reader.read() == b"rest"


def test_stream_parse_frame_of_binary_frame_with_16bit_length():
    frame = create_binary_frame(b"\x00" * 300, mask=True)
    assert parse_frame(io.BytesIO(frame).read) == (OPCODE_BINARY, b"\x00" * 300, 1, 0, 0, 0)


def test_stream_parse_frame_refuses_unmasked_frame_when_unmasking():
    with pytest.raises(InvalidFrameException):
        parse_frame(io.BytesIO(create_text_frame("x")).read, unmask_receive=True)


def test_stream_create_closing_handshake_body():
    assert create_closing_handshake_body(1000, "bye") == b"\x03\xe8bye"
    assert create_closing_handshake_body(None, "") == b""
    opcode, body, *_ = parse_frame(
        io.BytesIO(build_frame(OPCODE_CLOSE, create_closing_handshake_body(4000, "x"))).read,
        unmask_receive=False,
    )
    assert opcode == OPCODE_CLOSE and decode_close_payload(body) == (4000, "x")


@BUILDERS
@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
@pytest.mark.parametrize("fin", [True, False])
@pytest.mark.parametrize("rsv1", [True, False])
def test_unmasked_frame_builder_matches_the_general_encoder(build, size, fin, rsv1):
    """The server's hot-path builder must give the same bytes as build_frame."""
    payload = b"z" * size
    expected = build_frame(OPCODE_BINARY, payload, fin, rsv1)
    assert build(OPCODE_BINARY, payload, fin, rsv1) == expected
    assert build(OPCODE_BINARY, bytearray(payload), fin, rsv1) == expected
    if fin and not rsv1:
        assert build(OPCODE_BINARY, payload) == expected


# --- the fast path for whole small messages ------------------------------------------

TAKE_KEY = b"\x37\xfa\x21\x3d"


@TAKERS
@pytest.mark.parametrize("size", [0, 1, 125, 126, 511, 512, 513, 65535])
@pytest.mark.parametrize("opcode", [OPCODE_TEXT, OPCODE_BINARY], ids=["text", "binary"])
def test_take_whole_message_reads_a_masked_frame_in_place(take, opcode, size):
    text = ("é" * size)[:size // 2] + "a" * (size - 2 * (size // 2))  # `size` bytes
    payload = text.encode("utf-8") if opcode == OPCODE_TEXT else random.Random(size).randbytes(size)
    frame = build_frame(opcode, payload, mask_key=TAKE_KEY)
    data = b"prefix" + frame + b"next"
    got = take(data, 6, 1 << 20)
    expected_value = text if opcode == OPCODE_TEXT else payload
    assert got == (opcode, expected_value, 6 + len(frame))
    assert type(got[1]) is type(expected_value)
    assert take(bytearray(data), 6, 1 << 20) == got


@TAKERS
@pytest.mark.parametrize("data", [
    pytest.param(build_frame(OPCODE_TEXT, b"hello", mask_key=TAKE_KEY)[:-1], id="incomplete"),
    pytest.param(build_frame(OPCODE_TEXT, b"a" * 300, mask_key=TAKE_KEY)[:3], id="short 16-bit"),
    pytest.param(build_frame(OPCODE_TEXT, b"a" * 70000, mask_key=TAKE_KEY), id="64-bit length"),
    pytest.param(build_frame(OPCODE_TEXT, b"hello"), id="unmasked"),
    pytest.param(build_frame(OPCODE_TEXT, b"hi", fin=False, mask_key=TAKE_KEY), id="not final"),
    pytest.param(build_frame(OPCODE_TEXT, b"hi", rsv1=True, mask_key=TAKE_KEY), id="rsv1"),
    pytest.param(build_frame(OPCODE_PING, b"hi", mask_key=TAKE_KEY), id="ping"),
    pytest.param(build_frame(0x3, b"hi", mask_key=TAKE_KEY), id="reserved opcode"),
    pytest.param(b"\x81", id="one byte"),
    pytest.param(b"", id="empty"),
])
def test_take_whole_message_leaves_everything_else_to_the_general_path(take, data):
    assert take(data, 0, 1 << 20) is None


@TAKERS
def test_take_whole_message_leaves_an_oversized_message_to_the_general_path(take):
    frame = build_frame(OPCODE_BINARY, b"a" * 11, mask_key=TAKE_KEY)
    assert take(frame, 0, 10) is None
    assert take(frame, 0, 11) is not None
    assert take(frame, 0, 1 << 80) is not None  # a limit beyond any index is no limit


@TAKERS
@pytest.mark.parametrize("payload", [b"\xff", b"\xce\xba\xff", b"\xed\xa0\x80", b"a\xc0\xaf"])
def test_take_whole_message_rejects_invalid_utf8(take, payload):
    with pytest.raises(UnicodeDecodeError):
        take(build_frame(OPCODE_TEXT, payload, mask_key=TAKE_KEY), 0, 1 << 20)
