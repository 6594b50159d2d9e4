"""Fuzzing of the pure protocol core with hypothesis: whatever bytes arrive, each parser
raises only the exceptions it documents, returns within a bound, and keeps within its
size limits.

Covered: the frame header parser (`parse_frame_header`, `read_frame`, and the C and
Python `take_whole_message` against each other), `MessageAssembler.next_event` over an
in-memory buffered source, the request-head parser (`parse_request_head`,
`check_head_start`), the Sec-WebSocket-Extensions parser (`common.parse_extensions`),
close payloads (`decode_close_payload`) and the inflater (`MessageInflater`). Inputs
are arbitrary bytes, and valid inputs mutated (bytes flipped, inserted, deleted, cut
short), so that most examples get past the first check. The round trips of valid input
live in the per-module tests (test_frames.py, test_messages.py, test_deflate.py, ...).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from unittest import mock

import pytest
import wsraw
from conftest import ROOT, server_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memory_transport import MemoryTransport

from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    ExtensionParsingException,
    format_extensions,
    is_token,
    is_valid_close_code,
    parse_extensions,
)
from mod_ws.exceptions import (
    ConnectionTerminatedException,
    HttpError,
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
)
from mod_ws.protocol import deflate, frames, messages
from mod_ws.protocol.closing import decode_close_payload
from mod_ws.protocol.deflate import DecompressionError, MessageDeflater, MessageInflater
from mod_ws.protocol.frames import parse_frame_header, read_frame
from mod_ws.protocol.messages import MessageAssembler
from mod_ws.server.http1.request_head import check_head_start, parse_request_head
from mod_ws.server.transport import ByteReader

# deadline=None: CI machines stall; each example instead asserts its own time bound.
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HEAVY = settings(FUZZ, max_examples=120)  # examples that inflate or parse whole streams
TIME_LIMIT = 1.0  # seconds for one example: a parser must never hang
KIB = 1024
MIB = 1024 * KIB


@contextmanager
def within_time_limit(what: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    assert elapsed < TIME_LIMIT, f"{what} took {elapsed:.2f} s"


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """`valid` with a few bytes replaced, inserted or deleted, or cut short."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "flip"]))
        if not data and kind != "insert":
            continue
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "replace":
            data[at] = draw(st.integers(0, 255))
        elif kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at:at + draw(st.integers(1, 8))]
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data)


# --- frame headers ----------------------------------------------------------------------


def expected_header_size(data: bytes, pos: int) -> int | None:
    """Bytes a header at data[pos] needs, from RFC 6455 section 5.2 (None: not known yet)."""
    if len(data) - pos < 2:
        return None
    length7 = data[pos + 1] & 0x7F
    return 2 + {126: 2, 127: 8}.get(length7, 0) + (4 if data[pos + 1] & 0x80 else 0)


@st.composite
def header_bytes(draw) -> bytes:
    """A header of any field values (every length encoding, any 64-bit length), maybe
    with some payload bytes after it."""
    first = draw(st.integers(0, 255))
    mask = 0x80 if draw(st.booleans()) else 0
    encoding = draw(st.sampled_from([7, 16, 64]))
    if encoding == 7:
        head = bytes((first, mask | draw(st.integers(0, 125))))
    elif encoding == 16:
        head = bytes((first, mask | 126)) + draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
    else:
        length = draw(st.integers(0, (1 << 64) - 1) | st.sampled_from([(1 << 63) - 1, 1 << 63]))
        head = bytes((first, mask | 127)) + length.to_bytes(8, "big")
    if mask:
        head += draw(st.binary(min_size=4, max_size=4))
    return head + draw(st.binary(max_size=16))


@FUZZ
@given(data=st.binary(max_size=40) | header_bytes(), pos=st.integers(0, 48))
def test_parse_frame_header_returns_a_header_or_none_or_raises_only_invalid_frame(data, pos):
    """Any bytes: the header (its payload starting right after it), None while the header
    is incomplete, or InvalidFrameException for a 64-bit length with its top bit set."""
    needed = expected_header_size(data, pos)
    top_bit = (needed is not None and data[pos + 1] & 0x7F == 127 and len(data) - pos >= 10
               and data[pos + 2] & 0x80)
    try:
        result = parse_frame_header(data, pos)
    except InvalidFrameException as e:
        assert type(e) is InvalidFrameException and e.close_code == 1002
        assert top_bit
        return
    assert not top_bit
    if needed is None or len(data) - pos < needed:
        assert result is None
        return
    header, offset = result
    assert offset == pos + needed
    first = data[pos]
    assert (header.fin, header.rsv1, header.rsv2, header.rsv3, header.opcode) == (
        bool(first & 0x80), bool(first & 0x40), bool(first & 0x20), bool(first & 0x10), first & 0x0F)
    assert 0 <= header.payload_length < 1 << 63
    assert header.mask_key == (data[offset - 4:offset] if data[pos + 1] & 0x80 else None)


class _SourceSpent(Exception):
    """The scripted receive_bytes has fewer bytes than asked for (the caller's own EOF)."""


@FUZZ
@given(data=st.binary(max_size=64) | header_bytes(), unmask=st.booleans())
def test_read_frame_returns_one_frame_or_raises_invalid_frame_and_reads_no_more_than_it(data, unmask):
    """pywebsocket3's read_frame over a receive_bytes that returns exactly n bytes:
    InvalidFrameException (wrong mask bit, top bit of a 64-bit length) or the frame;
    the source's own EOF passes through; it never asks for more than the frame."""
    position = 0

    def receive_bytes(n: int) -> bytes:
        nonlocal position
        if len(data) - position < n:
            raise _SourceSpent  # before allocating: n may be 2**63 - 1
        position += n
        return data[position - n:position]

    with within_time_limit("read_frame"):
        try:
            opcode, payload, fin, rsv1, rsv2, rsv3 = read_frame(receive_bytes, unmask)
        except _SourceSpent:
            return
        except InvalidFrameException as e:
            assert type(e) is InvalidFrameException and e.close_code == 1002
            return
    header, start = parse_frame_header(data)
    assert (header.mask_key is not None) == unmask
    assert position == start + header.payload_length == start + len(payload)
    assert (opcode, fin, rsv1, rsv2, rsv3) == (
        header.opcode, header.fin, header.rsv1, header.rsv2, header.rsv3)
    expected = data[start:position]
    if header.mask_key is not None:
        expected = wsraw.mask_bytes(expected, header.mask_key)
    assert payload == expected


def small_client_frame(first: int, payload: bytes, key: bytes) -> bytes:
    length = len(payload)
    head = bytes((first, 0x80 | length)) if length < 126 else \
        bytes((first, 0x80 | 126)) + length.to_bytes(2, "big")
    return head + key + wsraw.mask_bytes(payload, key)


@st.composite
def whole_message_candidates(draw) -> bytes:
    """Mostly the frames the fast path takes (0x81/0x82, masked, 7/16-bit length), some
    valid UTF-8 and some not, mutated; or arbitrary bytes."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=64))
    first = draw(st.sampled_from([0x81, 0x82]))
    payload = draw(st.binary(max_size=300) | st.text(max_size=100).map(str.encode))
    frame = small_client_frame(first, payload, draw(st.binary(min_size=4, max_size=4)))
    return draw(mutated(frame))


@pytest.mark.skipif(frames.speedups is None, reason="the C speedups are not in use")
@FUZZ
@given(data=whole_message_candidates(), pos=st.integers(0, 8), max_size=st.integers(0, 400))
def test_c_and_python_take_whole_message_agree_on_any_bytes(data, pos, max_size):
    """The C fast path and its Python twin give the same answer for any input, and
    raise nothing but UnicodeDecodeError (invalid text)."""
    outcomes = []
    for take in (frames.speedups.take_whole_message, frames.take_whole_message_python):
        try:
            outcomes.append(("ok", take(data, pos, max_size)))
        except UnicodeDecodeError:
            outcomes.append(("invalid utf-8", None))
    assert outcomes[0] == outcomes[1]
    result = outcomes[0][1]
    if result is not None:
        opcode, value, end = result
        assert opcode in (OPCODE_TEXT, OPCODE_BINARY) and pos < end <= len(data)
        assert len(value.encode() if opcode == OPCODE_TEXT else value) <= max_size


# --- next_event over a buffered in-memory source ---------------------------------------

KNOWN = [OPCODE_CONTINUATION, OPCODE_TEXT, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG]


def encode_client_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0,
                        key: bytes | None = b"\x00\x00\x00\x00", length: int | None = None) -> bytes:
    """A frame of any field values (unlike mod_ws's encoder, which refuses impossible
    ones); `length` advertises a length other than the payload's."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if key is not None else 0
    if n < 126:
        head = bytes((first, mask_bit | n))
    elif n < 0x10000:
        head = bytes((first, mask_bit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, mask_bit | 127)) + n.to_bytes(8, "big")
    if key is None:
        return head + payload
    return head + key + wsraw.mask_bytes(payload, key)


payload_bytes = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=60).map(str.encode),
    st.builds(lambda code, reason: code.to_bytes(2, "big") + reason.encode(),
              st.integers(0, 0xFFFF), st.text(max_size=20)),
    st.builds(lambda chunk, n: chunk * n, st.binary(min_size=1, max_size=4), st.integers(1, 3000)),
)


@st.composite
def wire_frame(draw) -> bytes:
    """One frame with every field drawn: mostly plausible (masked, known opcode, RSV
    clear, true length), sometimes not."""
    odd = draw(st.integers(0, 4)) == 0  # one field in five frames is drawn from all values
    opcode = draw(st.integers(0, 15) if odd else st.sampled_from(KNOWN[1:]))
    rsv = draw(st.integers(0, 7)) if odd else 0
    fin = draw(st.booleans()) if odd else True
    key = draw(st.binary(min_size=4, max_size=4) | st.none()) if odd \
        else draw(st.binary(min_size=4, max_size=4))
    payload = draw(payload_bytes)
    if opcode >= OPCODE_CLOSE and not odd:
        payload = payload[:125]
    length = None
    if odd and draw(st.booleans()):  # a length that is not the payload's
        length = draw(st.integers(0, 300) | st.integers(0, (1 << 64) - 1)
                      | st.sampled_from([(1 << 63) - 1, 1 << 63, (1 << 64) - 1]))
    return encode_client_frame(opcode, payload, fin, rsv, key, length)


@st.composite
def wire_message(draw, deflate_on: bool) -> bytes:
    """A data message, fragmented or not, compressed (RSV1) when `deflate_on` allows it."""
    opcode = draw(st.sampled_from([OPCODE_TEXT, OPCODE_BINARY]))
    body = draw(payload_bytes)
    compressed = deflate_on and draw(st.booleans())
    if compressed:
        body = MessageDeflater(no_context_takeover=True).compress(body)
        if draw(st.integers(0, 2)) == 0:
            body = draw(mutated(body))  # deflate data that may not inflate
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)])]
    key = draw(st.binary(min_size=4, max_size=4))
    out = []
    for i, piece in enumerate(pieces):
        out.append(encode_client_frame(opcode if i == 0 else OPCODE_CONTINUATION, piece,
                                       fin=i == len(pieces) - 1, rsv=4 if compressed and i == 0 else 0,
                                       key=key))
    return b"".join(out)


@st.composite
def wire_streams(draw) -> tuple[bytes, bool, int]:
    """(bytes a client sends, whether permessage-deflate is on, max message size)."""
    deflate_on = draw(st.booleans())
    units = draw(st.lists(wire_message(deflate_on) | wire_frame(), min_size=1, max_size=6))
    stream = b"".join(units)
    if draw(st.integers(0, 3)) == 0:
        stream = draw(mutated(stream))
    max_size = draw(st.sampled_from([0, 10, 125, 1000, 4096, 64 * KIB, 64 * KIB, 64 * KIB]))
    return stream, deflate_on, max_size


def run_assembler(stream: bytes, chunks: list[int], deflate_on: bool, max_size: int,
                  pure: bool = False) -> tuple[list, str]:
    """Every event next_event returns for `stream` (delivered in pieces of the given
    sizes), and how reading ended: 'eof' or the close code of the violation."""
    pieces, start = [], 0
    for size in chunks:
        pieces.append(stream[start:start + size])
        start += size
    pieces.append(stream[start:])
    transport = MemoryTransport(*pieces)
    source = ByteReader(transport)
    assembler = MessageAssembler(max_message_size=max_size)
    if deflate_on:
        assembler.enable_inflate(MessageInflater(max_size))
    events = []
    with mock.patch.multiple(messages, take_whole_message=frames.take_whole_message_python,
                             apply_mask=frames.apply_mask_python) if pure else nullcontext():
        while True:
            try:
                event = assembler.next_event(source)
            except InvalidFrameException as e:
                assert e.close_code in (1002, 1007, 1009), repr(e)
                if isinstance(e, (InvalidUTF8Exception, DecompressionError)):
                    assert e.close_code == 1007
                if isinstance(e, MessageTooBigException):
                    assert e.close_code == 1009
                return events, str(e.close_code)
            except ConnectionTerminatedException as e:
                # The source's EOF is the only other way out, and only once it is spent.
                assert type(e) is ConnectionTerminatedException, repr(e)
                assert not transport.chunks
                return events, "eof"
            check_event(event, max_size)
            events.append(event)


def check_event(event, max_size: int) -> None:
    opcode, value = event
    if opcode == OPCODE_TEXT:
        assert isinstance(value, str) and len(value.encode()) <= max_size
    elif opcode == OPCODE_BINARY:
        assert isinstance(value, bytes) and len(value) <= max_size
    elif opcode in (OPCODE_PING, OPCODE_PONG):
        assert isinstance(value, bytes) and len(value) <= 125
    else:
        assert opcode == OPCODE_CLOSE
        code, reason = value
        assert code == 1005 and reason == "" or is_valid_close_code(code)
        assert len(reason.encode()) <= 123


@HEAVY
@given(spec=wire_streams(), chunks=st.lists(st.integers(1, 300), max_size=8))
def test_next_event_gives_valid_events_then_a_close_code_or_eof_however_the_bytes_arrive(spec, chunks):
    """Any client bytes, in any pieces: events that obey the limits, then either an
    InvalidFrameException whose close code is 1002, 1007 or 1009, or the source's EOF
    once every byte is read. The events do not depend on how the bytes were split, nor
    on whether the C or the pure-Python codec ran; the close code does not either,
    unless the bytes end mid-frame (a frame split across reads is judged piece by
    piece: invalid text fails before its end, where a whole-buffered one waits for it)."""
    stream, deflate_on, max_size = spec
    with within_time_limit("next_event over the stream"):
        whole = run_assembler(stream, [], deflate_on, max_size)
        pieces = run_assembler(stream, chunks, deflate_on, max_size)
        pure = run_assembler(stream, chunks, deflate_on, max_size, pure=True)
    assert whole[0] == pieces[0] == pure[0]
    assert pieces[1] == pure[1]
    if "eof" not in (whole[1], pieces[1]):
        assert whole[1] == pieces[1]


# --- request heads -----------------------------------------------------------------------

HTTP_STATUSES = {400, 431, 505}  # what parse_request_head answers with
tokens = st.text(alphabet="!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                 min_size=1, max_size=12)
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                               blacklist_characters="\x7f"), max_size=30)


@st.composite
def request_heads(draw) -> bytes:
    """A valid WebSocket opening handshake with extra header fields."""
    extra = draw(st.lists(st.tuples(tokens, header_values), max_size=5))
    head = wsraw.handshake_request(draw(st.sampled_from(["/echo", "/", "/a?b=c", "*"])),
                                   headers=[(n, v.strip(" \t")) for n, v in extra],
                                   method=draw(st.sampled_from(["GET", "GET", "HEAD"]) | tokens))
    return draw(st.sampled_from([b"", b"\r\n", b"\n\r\n"])) + head


head_inputs = st.binary(max_size=300) | request_heads().flatmap(mutated) | request_heads()


def check_parsed_head(data: bytes) -> None:
    with within_time_limit("parse_request_head"):
        try:
            head = parse_request_head(data)
        except HttpError as e:
            assert e.status in HTTP_STATUSES, (e.status, str(e))
            return
    assert is_token(head.method) and head.version[0] == 1
    # What was parsed serialises to a head that parses the same.
    lines = [f"{head.method} {head.target} {head.version_string}"]
    lines += [f"{name}: {value}" for name, value in head.headers.items()]
    again = parse_request_head(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    assert (again.method, again.target, again.version) == (head.method, head.target, head.version)
    assert again.headers.items() == head.headers.items()


@FUZZ
@given(data=head_inputs)
def test_parse_request_head_parses_or_raises_http_error_400_431_or_505(data):
    check_parsed_head(data)


@FUZZ
@given(head=request_heads(), cut=st.integers(0, 2000), extra=st.binary(min_size=1, max_size=20))
def test_check_head_start_accepts_every_prefix_of_a_request_and_once_it_refuses_it_refuses_more(
        head, cut, extra):
    """Every prefix of a real request passes check_head_start; any bytes either pass or
    raise HttpError 400, and bytes that were refused stay refused however many follow
    (the server may answer garbage at once without misjudging a slow request)."""
    with within_time_limit("check_head_start"):
        check_head_start(head[:cut])
        garbage = head[:cut % (len(head) + 1)] + extra
        try:
            check_head_start(garbage)
        except HttpError as e:
            assert e.status == 400
            with pytest.raises(HttpError):
                check_head_start(garbage + extra)


@FUZZ
@given(data=st.binary(max_size=200), extra=st.binary(max_size=20))
def test_check_head_start_on_any_bytes_raises_only_400_and_stays_refused(data, extra):
    with within_time_limit("check_head_start"):
        try:
            check_head_start(data)
        except HttpError as e:
            assert e.status == 400
            with pytest.raises(HttpError):
                check_head_start(data + extra)


def test_parse_request_head_of_a_large_head_is_fast():
    """The size limit (--max-request-header-size, 16 KiB by default) times eight: lines
    that almost match, in every way the parser has a branch for."""
    for line in (b"a" * 128 * KIB, b"X-A: " + b"\t " * 64 * KIB, b"\r\n" * 64 * KIB,
                 b"GET " + b"/" * 128 * KIB + b" HTTP/1.1", b"GET / HTTP/1.1\r\n" + b"A:b\r\n" * 20 * KIB):
        check_parsed_head(line + b"\r\n\r\n")
        with within_time_limit("check_head_start"):
            try:
                check_head_start(line)
            except HttpError as e:
                assert e.status == 400


# --- Sec-WebSocket-Extensions -----------------------------------------------------------

extension_text = st.text(alphabet=st.sampled_from(list("abcxyz019-_ ,;=\"\\\t\r\n/é\x00")), max_size=60)


@st.composite
def extension_headers(draw) -> str:
    """A valid header value (tokens, quoted values, white space), then mutated."""
    offers = []
    for _ in range(draw(st.integers(1, 3))):
        parts = [draw(tokens)]
        for _ in range(draw(st.integers(0, 3))):
            name = draw(tokens)
            value = draw(st.none() | tokens)
            quoted = draw(st.booleans())
            parts.append(name if value is None else f'{name}="{value}"' if quoted else f"{name}={value}")
        offers.append(draw(st.sampled_from([";", " ; ", "\t;"])).join(parts))
    text = draw(st.sampled_from([",", ", ", " ,, "])).join(offers)
    return draw(mutated(text.encode("latin-1"))).decode("latin-1")


@FUZZ
@given(text=extension_text | extension_headers() | st.text(max_size=40))
def test_parse_extensions_parses_or_raises_extension_parsing_exception(text):
    """Any header value: offers whose formatted form parses back to the same offers, or
    ExtensionParsingException (a ValueError, as documented), never another error."""
    with within_time_limit("parse_extensions"):
        try:
            offers = parse_extensions(text)
        except ExtensionParsingException:
            return
    assert offers
    for offer in offers:
        assert is_token(offer.name())
        for name, value in offer.get_parameters():
            assert is_token(name) and (value is None or is_token(value))
    assert parse_extensions(format_extensions(offers)) == offers


def test_parse_extensions_of_a_long_header_is_fast():
    for text in ("a;" * 50_000 + "b", "a, " * 50_000, 'a; b="' + "\\x" * 50_000 + '"', " \t" * 50_000):
        with within_time_limit("parse_extensions"):
            try:
                parse_extensions(text)
            except ExtensionParsingException:
                pass


# --- close payloads --------------------------------------------------------------------


@FUZZ
@given(payload=st.binary(max_size=130)
       | st.builds(lambda code, reason: code.to_bytes(2, "big") + reason,
                   st.integers(0, 0xFFFF), st.binary(max_size=123) | st.text(max_size=40).map(str.encode)))
def test_decode_close_payload_returns_a_sendable_code_or_raises_1002(payload):
    try:
        code, reason = decode_close_payload(payload)
    except InvalidFrameException as e:
        assert type(e) is InvalidFrameException and e.close_code == 1002
        assert len(payload) == 1 or not is_valid_close_code(int.from_bytes(payload[:2], "big")) \
            or _not_utf8(payload[2:])
        return
    if not payload:
        assert (code, reason) == (1005, "")
    else:
        assert is_valid_close_code(code) and code == int.from_bytes(payload[:2], "big")
        assert reason.encode() == payload[2:]


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# --- the inflater ------------------------------------------------------------------------


def _raw_deflate(data: bytes, finish: bool = False) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_FINISH if finish else zlib.Z_SYNC_FLUSH)
    return out if finish else out[:-4]


# Bombs built once: zeros that inflate 500 to 1000 times larger than they are.
BOMBS = [_raw_deflate(bytes(n)) for n in (64 * KIB, 2 * MIB, 16 * MIB)]
EMPTY_FINAL_BLOCK = b"\x03\x00"  # BFINAL=1, fixed Huffman, end of block at once


@st.composite
def deflate_streams(draw) -> bytes:
    """Deflate data a client might send: messages of the deflater (with and without a
    final block), bombs, stored and empty final blocks, raw bytes; then mutated."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["message", "final", "bomb", "stored", "empty final", "bytes"]))
        if kind == "message":
            parts.append(MessageDeflater().compress(draw(payload_bytes)))
        elif kind == "final":
            parts.append(_raw_deflate(draw(payload_bytes), finish=True))
        elif kind == "bomb":
            parts.append(draw(st.sampled_from(BOMBS)))
        elif kind == "stored":
            body = draw(st.binary(max_size=100))
            parts.append(b"\x00" + len(body).to_bytes(2, "little") + (len(body) ^ 0xFFFF).to_bytes(2, "little")
                         + body)
        elif kind == "empty final":
            parts.append(EMPTY_FINAL_BLOCK * draw(st.integers(1, 200)))
        else:
            parts.append(draw(st.binary(max_size=50)))
    data = b"".join(parts)
    return draw(mutated(data)) if draw(st.booleans()) else data


@HEAVY
@given(data=deflate_streams() | st.binary(max_size=300),
       max_size=st.sampled_from([0, 1, 100, 4096, 64 * KIB, MIB]),
       cuts=st.lists(st.integers(0, 20_000), max_size=3), no_context_takeover=st.booleans())
def test_inflater_returns_at_most_max_size_per_message_or_raises_1007_or_1009(
        data, max_size, cuts, no_context_takeover):
    """Any bytes, in any frames: at most `max_size` bytes per message, in bounded time
    and memory, or DecompressionError (1007) or MessageTooBigException (1009)."""
    points = sorted({min(c, len(data)) for c in cuts})
    frames_ = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    inflater = MessageInflater(max_size, no_context_takeover)
    produced = 0
    tracemalloc.start()
    started = time.perf_counter()
    try:
        for i, frame in enumerate(frames_):
            produced += len(inflater.decompress(frame, i == len(frames_) - 1))
            assert produced <= max_size
    except MessageTooBigException as e:
        assert type(e) is MessageTooBigException and e.close_code == 1009
    except DecompressionError as e:
        assert type(e) is DecompressionError and e.close_code == 1007
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < TIME_LIMIT
    # The input, the output so far and zlib's window; nowhere near what a bomb inflates to.
    bound = 3 * len(data) + 3 * max_size + 512 * KIB
    assert peak < bound, f"peak {peak} bytes for {len(data)} bytes in, limit {max_size}"


def inflate_outcome(data: bytes, max_size: int) -> tuple[str, bytes]:
    try:
        return "ok", MessageInflater(max_size).decompress(data, True)
    except MessageTooBigException:
        return "1009", b""
    except DecompressionError:
        return "1007", b""


@pytest.mark.skipif(deflate.zlib is zlib, reason="zlib-ng is not in use")
@HEAVY
@given(data=deflate_streams(), max_size=st.sampled_from([0, 100, 4096, 64 * KIB]))
def test_inflater_gives_the_same_result_over_zlib_ng_and_stdlib_zlib(data, max_size):
    """zlib-ng (mod_ws.accelerators) and the standard library's zlib agree on every
    input: the same bytes, or the same close code."""
    accelerated = inflate_outcome(data, max_size)
    with mock.patch.object(deflate, "zlib", zlib):
        plain = inflate_outcome(data, max_size)
    assert accelerated == plain


@FUZZ
@given(messages_=st.lists(payload_bytes, min_size=1, max_size=4), data=st.data())
def test_mutated_messages_of_a_context_takeover_stream_inflate_within_the_limit_or_fail(messages_, data):
    """Mutated messages of a context-takeover stream: each either inflates within the
    limit or raises 1007/1009; nothing else escapes, whatever the stream's state."""
    deflater = MessageDeflater()
    inflater = MessageInflater(8 * KIB)
    for message in messages_:
        wire = data.draw(mutated(deflater.compress(message)))
        with within_time_limit("inflating a message"):
            try:
                out = inflater.decompress(wire, True)
            except (DecompressionError, MessageTooBigException) as e:
                assert e.close_code in (1007, 1009)
                return  # the session fails the connection: the inflater is not used again
        assert len(out) <= 8 * KIB


_EMPTY_BLOCKS_SCRIPT = """
import sys, time
from mod_ws.protocol.deflate import DecompressionError, MessageInflater
data = b"\\x03\\x00" * int(sys.argv[1])
inflater = MessageInflater(1 << 20)
print("ready", flush=True)
started = time.perf_counter()
try:
    out = inflater.decompress(data, True)
    print("done", len(out), time.perf_counter() - started, flush=True)
except DecompressionError as e:
    print("refused", e.close_code, e, flush=True)
"""


def test_a_frame_of_many_empty_final_blocks_is_refused_at_once():
    """1,179,712 bytes (what check_header lets through for a 1 MiB limit) of b'\\x03\\x00',
    each a complete deflate stream that inflates to nothing: inflating them one by one
    would take quadratic time (zlib copies the rest of the input at each stream's end,
    about 11 s here), so a frame of more than MAX_STREAMS_PER_FRAME streams is refused
    (1007) as soon as the limit is passed. Run in a child process, stopped after the
    time limit."""
    blocks = (MIB + (MIB >> 3) + 64) // 2
    proc = subprocess.Popen([sys.executable, "-c", _EMPTY_BLOCKS_SCRIPT, str(blocks)], cwd=ROOT,
                            env=server_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        assert _read_line(proc, 20.0).startswith(b"ready")
        line = _read_line(proc, TIME_LIMIT)
        assert line.startswith(b"refused 1007 more than 8 deflate streams in one frame"), (
            f"not refused within {TIME_LIMIT} s: {line!r}")
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()


def _read_line(proc: subprocess.Popen, timeout: float) -> bytes:
    """One line of the child's output, or b'' once `timeout` passes."""
    deadline = time.monotonic() + timeout
    line = b""
    fd = proc.stdout.fileno()
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return b""
        byte = os.read(fd, 1)
        if not byte:
            return line
        line += byte
    return line
