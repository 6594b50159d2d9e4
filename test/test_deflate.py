"""Unit tests of the permessage-deflate data transforms (mod_ws.protocol.deflate, RFC 7692 section 7.2).

Pure: bytes in, bytes out. Wherever possible the output is checked against plain zlib
raw inflate/deflate objects created here, so a mistake shared by MessageDeflater and
MessageInflater (e.g. both forgetting the tail) cannot make a round trip look right.
"""

from __future__ import annotations

import random
import time
import tracemalloc
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mod_ws.common import STATUS_INVALID_FRAME_PAYLOAD_DATA, STATUS_MESSAGE_TOO_BIG
from mod_ws.exceptions import MessageTooBigException
from mod_ws.protocol.deflate import DecompressionError, MessageDeflater, MessageInflater

TAIL = b"\x00\x00\xff\xff"
MIB = 1024 * 1024

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Payloads with both incompressible and highly repetitive stretches.
payloads = st.one_of(
    st.binary(max_size=4096),
    st.builds(lambda chunk, n: chunk * n, st.binary(min_size=1, max_size=64), st.integers(1, 200)),
)
window_bits = st.integers(9, 15)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` split at the given (sorted, deduplicated, clamped) offsets; always >= 1 part."""
    points = sorted({min(c, len(data)) for c in cuts})
    parts, start = [], 0
    for point in points:
        parts.append(data[start:point])
        start = point
    parts.append(data[start:])
    return parts


def raw_inflate(data: bytes, wbits: int = 15) -> bytes:
    """Independent inflate with plain zlib, putting the stripped tail back (RFC 7692 7.2.2)."""
    inflater = zlib.decompressobj(-wbits)
    return inflater.decompress(data + TAIL)


def incompressible(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


# --- round trips ------------------------------------------------------------------------


@FAST
@given(messages=st.lists(payloads, min_size=1, max_size=4), bits=window_bits,
       no_context_takeover=st.booleans())
def test_messages_round_trip_through_deflater_and_inflater_for_every_window_size(
        messages, bits, no_context_takeover):
    """RFC 7692 sections 7.2.1/7.2.2: compress, strip the tail, append it, inflate.

    Several messages on one deflater/inflater pair, with and without context takeover
    (section 7.1.1), for every window size zlib supports (9..15, section 7.1.2).
    """
    deflater = MessageDeflater(bits, no_context_takeover)
    inflater = MessageInflater(MIB, no_context_takeover)
    for message in messages:
        assert inflater.decompress(deflater.compress(message), True) == message


@FAST
@given(message=payloads, cuts=st.lists(st.integers(0, 4096), max_size=4), bits=window_bits,
       no_context_takeover=st.booleans())
def test_fragmented_deflate_and_fragmented_inflate_give_back_the_message(
        message, cuts, bits, no_context_takeover):
    """RFC 7692 section 7.2.1: a message may be compressed fragment by fragment (each
    flushed), and section 7.2.2: inflated frame by frame, the tail added after the last."""
    deflater = MessageDeflater(bits, no_context_takeover)
    inflater = MessageInflater(MIB, no_context_takeover)
    fragments = split_at(message, cuts)
    compressed = [deflater.compress(f, end=i == len(fragments) - 1) for i, f in enumerate(fragments)]
    out = b"".join(inflater.decompress(c, i == len(compressed) - 1) for i, c in enumerate(compressed))
    assert out == message
    # The same deflater/inflater pair keeps working for the next message.
    assert inflater.decompress(deflater.compress(b"next message"), True) == b"next message"


@FAST
@given(message=payloads, bits=window_bits)
def test_deflater_output_inflates_with_plain_zlib_limited_to_the_same_window(message, bits):
    """RFC 7692 sections 7.2.1 and 7.1.2.1: the output is raw DEFLATE minus the
    00 00 ff ff tail, and uses no more than 2**bits of window, so plain zlib restricted
    to that window (decompressobj(-bits)) inflates it once the tail is appended."""
    deflater = MessageDeflater(bits)
    first = deflater.compress(message)
    second = deflater.compress(message)  # context takeover: may refer back to `first`
    inflater = zlib.decompressobj(-bits)
    assert inflater.decompress(first + TAIL) == message
    assert inflater.decompress(second + TAIL) == message


@pytest.mark.parametrize("bits", range(9, 16))
def test_context_takeover_never_refers_further_back_than_the_window(bits):
    """RFC 7692 section 7.1.2.1: with server_max_window_bits the sender's LZ77 window
    is at most 2**bits bytes. A repeated 4 KiB message (which a 32 KiB window would
    encode as a far back-reference) must inflate across messages with a zlib inflater
    that keeps only 2**bits bytes of history."""
    message = incompressible(4096, seed=bits)
    deflater = MessageDeflater(bits)
    inflater = zlib.decompressobj(-bits)
    for _ in range(3):
        assert inflater.decompress(deflater.compress(message) + TAIL) == message


@FAST
@given(message=payloads, bits=window_bits, no_context_takeover=st.booleans())
def test_compressed_message_never_ends_with_the_empty_block_tail(message, bits, no_context_takeover):
    """RFC 7692 section 7.2.1: the sender removes 00 00 ff ff from the end of each message."""
    deflater = MessageDeflater(bits, no_context_takeover)
    for _ in range(2):
        output = deflater.compress(message)
        assert output, "a compressed message is never empty (section 7.2.3.6 sends 0x00)"
        assert not output.endswith(TAIL)


@FAST
@given(message=payloads, cuts=st.lists(st.integers(0, 4096), min_size=1, max_size=3))
def test_non_final_fragments_keep_their_sync_flush_tail(message, cuts):
    """RFC 7692 section 7.2.1: only the end of the message loses the tail; every earlier
    fragment is sync-flushed so its bytes can be inflated as soon as they arrive."""
    fragments = split_at(message, cuts)
    deflater = MessageDeflater()
    outputs = [deflater.compress(f, end=i == len(fragments) - 1) for i, f in enumerate(fragments)]
    inflater = zlib.decompressobj(-15)
    got = b""
    for fragment, output in zip(fragments[:-1], outputs[:-1]):
        got += inflater.decompress(output)
        assert got.endswith(fragment)  # everything so far is available without the next frame
    assert got + inflater.decompress(outputs[-1] + TAIL) == message


def test_empty_message_compresses_to_a_single_zero_byte():
    """RFC 7692 section 7.2.3.6: an empty message is sent as the single byte 0x00."""
    deflater = MessageDeflater()
    assert deflater.compress(b"") == b"\x00"
    assert raw_inflate(b"\x00") == b""


def test_inflater_accepts_a_zlib_compressed_message_with_the_tail_stripped():
    """RFC 7692 section 7.2.2: the receiver appends 00 00 ff ff itself; data made by a
    plain zlib compressobj(-15) + Z_SYNC_FLUSH (what other peers send) inflates."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    inflater = MessageInflater(MIB)
    for text in (b"Hello", b"Hello", b"", b"another message " * 10):
        data = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(TAIL)
        assert inflater.decompress(data[:-4], True) == text


# --- context takeover ---------------------------------------------------------------------


def test_context_takeover_makes_a_repeated_message_much_smaller():
    """RFC 7692 section 7.1.1: with context takeover the sliding window carries over, so
    the second copy of a message is a back-reference to the first."""
    message = incompressible(2000)
    deflater = MessageDeflater()
    first = deflater.compress(message)
    second = deflater.compress(message)
    assert len(first) > 1900
    assert len(second) < 50, (len(first), len(second))


def test_no_context_takeover_compresses_every_message_from_scratch():
    """RFC 7692 sections 7.1.1.1/7.2.1: with server_no_context_takeover each message
    starts with an empty window, so it does not shrink on repetition and inflates alone."""
    message = incompressible(2000)
    deflater = MessageDeflater(no_context_takeover=True)
    first = deflater.compress(message)
    second = deflater.compress(message)
    assert len(second) >= len(first) - 10
    assert second == first  # same input, same fresh state
    assert raw_inflate(second) == message  # decodable without the earlier message


def test_inflater_with_no_context_takeover_decodes_messages_each_from_a_fresh_stream():
    """RFC 7692 section 7.1.1.2: a client told client_no_context_takeover starts every
    message with a new window; the receiver must then not rely on the old one."""
    inflater = MessageInflater(MIB, no_context_takeover=True)
    for text in (b"alpha " * 20, b"alpha " * 20, b"beta"):
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        data = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert inflater.decompress(data[:-4], True) == text


# --- BFINAL -----------------------------------------------------------------------------


def test_bfinal_messages_inflate_alone_and_the_inflater_restarts_after_each():
    """RFC 7692 section 7.2.3.4: a message may end with a block that has BFINAL set; it
    is then a complete DEFLATE stream (no tail to strip) and the next message starts a
    new one, which the inflater must accept."""
    deflater = MessageDeflater()
    deflater.bfinal = True
    inflater = MessageInflater(MIB)
    for text in (b"first " * 30, b"first " * 30, b"second"):
        output = deflater.compress(text)
        fresh = zlib.decompressobj(-15)
        assert fresh.decompress(output) == text
        assert fresh.eof, "the message must end with a BFINAL block"
        assert fresh.unused_data == b"\x00", "the padding byte must follow the final block"
        assert inflater.decompress(output, True) == text


def test_bfinal_hello_is_rfc_7692s_example_byte_for_byte():
    """RFC 7692 section 7.2.3.4 shows "Hello" with BFINAL as f3 48 cd c9 c9 07 00 00: the
    final block, then the byte that begins an empty stored block."""
    deflater = MessageDeflater(level=6)
    deflater.bfinal = True
    assert deflater.compress(b"Hello") == bytes.fromhex("f348cdc9c9070000")


def test_a_receiver_keeping_one_stream_decodes_bfinal_messages_with_the_appended_tail():
    """A receiver that appends 00 00 ff ff to every message and restarts its inflater only
    where a stream ends (as browsers do) decodes message after message."""
    deflater = MessageDeflater()
    deflater.bfinal = True
    stream = zlib.decompressobj(-15)
    for text in (b"one " * 20, b"two " * 20, b"three"):
        data = deflater.compress(text) + TAIL
        output = stream.decompress(data)
        if stream.eof:
            rest, stream = stream.unused_data, zlib.decompressobj(-15)
            output += stream.decompress(rest)
        assert output == text
        assert not stream.eof and not stream.unconsumed_tail


def test_the_inflater_accepts_a_client_message_with_the_padding_byte_after_bfinal():
    inflater = MessageInflater(MIB)
    for text in (b"padded " * 10, b"padded " * 10):
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = compressor.compress(text) + compressor.flush(zlib.Z_FINISH) + b"\x00"
        assert inflater.decompress(data, True) == text
    assert inflater.decompress(MessageDeflater().compress(b"then plain"), True) == b"then plain"


def test_fragmented_bfinal_message_round_trips():
    """RFC 7692 sections 7.2.1 and 7.2.3.4: only the last fragment ends the stream."""
    deflater = MessageDeflater()
    deflater.bfinal = True
    inflater = MessageInflater(MIB)
    for _ in range(2):
        parts = [deflater.compress(b"abc" * 50, end=False), deflater.compress(b"xyz" * 50, end=True)]
        out = inflater.decompress(parts[0], False) + inflater.decompress(parts[1], True)
        assert out == b"abc" * 50 + b"xyz" * 50


# --- fragmented inflate -----------------------------------------------------------------


@FAST
@given(message=payloads, cuts=st.lists(st.integers(0, 4096), max_size=5))
def test_inflating_a_message_frame_by_frame_equals_inflating_it_whole(message, cuts):
    """RFC 7692 section 7.2.2: the compressed payload may be split across frames at any
    byte; the concatenated output is the same as for the whole payload."""
    data = MessageDeflater().compress(message)
    whole = MessageInflater(MIB).decompress(data, True)
    inflater = MessageInflater(MIB)
    parts = split_at(data, [c % (len(data) + 1) for c in cuts])
    pieces = [inflater.decompress(p, i == len(parts) - 1) for i, p in enumerate(parts)]
    assert b"".join(pieces) == whole == message


# --- limits and bad data ------------------------------------------------------------------


def _zeros_compressed(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(MIB)
    out = [compressor.compress(chunk) for _ in range(size // MIB)]
    out.append(compressor.compress(bytes(size % MIB)))
    out.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(out)[:-4]


def test_decompression_bomb_fails_with_1009_fast_and_without_inflating_it():
    """RFC 7692 section 8 / RFC 6455 section 7.4.1: a small compressed message that
    inflates past the limit (10 MB of zeros in ~10 KB) fails with 1009 (too big) after
    producing at most about the limit, not the whole 10 MB."""
    bomb = _zeros_compressed(10 * 1000 * 1000)
    assert len(bomb) < 20_000
    inflater = MessageInflater(MIB)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(MessageTooBigException) as info:
            inflater.decompress(bomb, True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 1.0
    assert info.value.close_code == STATUS_MESSAGE_TOO_BIG == 1009
    assert peak < 4 * MIB, f"inflating the bomb allocated {peak} bytes"


def test_decompression_bomb_split_across_frames_fails_with_1009():
    """RFC 7692 section 7.2.2: the size limit counts the output of all frames of a message."""
    bomb = _zeros_compressed(4 * MIB)
    inflater = MessageInflater(MIB)
    third = len(bomb) // 3
    with pytest.raises(MessageTooBigException):
        inflater.decompress(bomb[:third], False)
        inflater.decompress(bomb[third:2 * third], False)
        inflater.decompress(bomb[2 * third:], True)


def test_message_of_exactly_the_limit_inflates_and_one_byte_more_does_not():
    """The limit is inclusive: max_size bytes are accepted, max_size + 1 fail with 1009."""
    limit = 65536
    inflater = MessageInflater(limit)
    exact = incompressible(limit // 2) * 2
    assert inflater.decompress(MessageDeflater().compress(exact), True) == exact
    assert MessageInflater(limit).decompress(_zeros_compressed(limit), True) == bytes(limit)
    with pytest.raises(MessageTooBigException):
        MessageInflater(limit).decompress(_zeros_compressed(limit + 1), True)


def test_inflater_works_again_for_the_next_message_after_a_message_at_the_limit():
    """The per-message byte count restarts at each message (RFC 7692 section 7.2.2)."""
    limit = 10_000
    deflater, inflater = MessageDeflater(), MessageInflater(limit)
    for _ in range(3):
        assert inflater.decompress(deflater.compress(bytes(limit)), True) == bytes(limit)


@pytest.mark.parametrize("garbage", [b"\xff\xff\xff", b"\xff\xff\xff\xff", b"\x07\x00"],
                         ids=["ff-ff-ff", "ff-ff-ff-ff", "reserved-block-type"])
def test_data_that_does_not_inflate_raises_decompression_error_with_1007(garbage):
    """RFC 7692 section 8 (implementation notes) / RFC 6455 section 7.4.1: a message
    that is not valid DEFLATE data fails the connection with 1007."""
    with pytest.raises(DecompressionError) as info:
        MessageInflater(MIB).decompress(garbage, True)
    assert info.value.close_code == STATUS_INVALID_FRAME_PAYLOAD_DATA == 1007


def test_deflater_rejects_window_sizes_zlib_cannot_compress_with():
    """RFC 7692 section 7.1.2 allows 8..15, but zlib raw deflate needs 9..15: a deflater
    for 8 (or out of range) is refused instead of silently using a larger window."""
    for bits in (8, 16, 0):
        with pytest.raises(ValueError):
            MessageDeflater(bits)


def test_bytes_after_a_final_block_that_are_not_deflate_data_fail_with_1007():
    """RFC 7692 section 7.2.3.4: bytes after a BFINAL block begin a new deflate stream
    (its example pads with one byte); a block of the reserved type 11 is not deflate."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    finished = compressor.compress(b"hello") + compressor.flush(zlib.Z_FINISH)
    inflater = MessageInflater(max_size=1 << 20)
    with pytest.raises(DecompressionError) as info:
        inflater.decompress(finished + b"\x07junk", True)
    assert info.value.close_code == 1007


def test_a_second_stream_after_a_final_block_still_counts_toward_the_size_limit():
    def finished(data: bytes) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)

    inflater = MessageInflater(max_size=4096)
    with pytest.raises(MessageTooBigException):
        inflater.decompress(finished(b"a" * 100) + finished(b"\0" * 1_000_000), True)
