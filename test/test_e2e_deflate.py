"""End to end: permessage-deflate (RFC 7692) on the running server.

A real `python -m mod_ws` subprocess serves example/ (echo_wsh.py accepts compression,
echo_noext_wsh.py declines every extension) or a handler tree written to a temp dir.
Clients are the `websockets` sync client (an independent permessage-deflate
implementation) and hand-built frames over raw sockets (wsraw.py) compressed with
plain zlib here, so RSV bits, tails and window use can be checked byte for byte.
"""

from __future__ import annotations

import json
import random
import re
import time
import zlib
from pathlib import Path

import pytest
from conftest import EXAMPLE
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect
from wsraw import OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWebSocket

TIMEOUT = 5.0
TAIL = b"\x00\x00\xff\xff"
PD = "permessage-deflate"
OFFER = [("Sec-WebSocket-Extensions", PD)]
RSV1, RSV2 = 4, 2  # wsraw's 3-bit RSV value


def ws_connect(url: str, **kwargs):
    """websockets sync client with bounded waits, no proxy, no keepalive pings."""
    options = {"open_timeout": TIMEOUT, "close_timeout": TIMEOUT, "ping_interval": None,
               "proxy": None, "max_size": None}
    options.update(kwargs)
    return connect(url, **options)


def extensions_header(ws) -> str | None:
    return ws.response.headers.get("Sec-WebSocket-Extensions")


class Deflater:
    """Client-side compression with plain zlib (RFC 7692 section 7.2.1)."""

    def __init__(self, wbits: int = 15) -> None:
        self.compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -wbits)

    def message(self, data: bytes) -> bytes:
        out = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        return out[:-4]


class Inflater:
    """Client-side decompression of the server's messages (RFC 7692 section 7.2.2)."""

    def __init__(self) -> None:
        self.decompressor = zlib.decompressobj(-15)

    def message(self, data: bytes) -> bytes:
        return self.decompressor.decompress(data + TAIL)


def receive_compressed(ws: RawWebSocket) -> tuple[int, bytes]:
    """One reply: must be marked compressed (RSV1 on its first frame only); (opcode, payload)."""
    frames = ws.recv_rsv_message(TIMEOUT)
    assert frames[0].rsv == RSV1, f"reply not marked compressed: {frames[0]}"
    assert all(f.rsv == 0 for f in frames[1:]), "RSV1 on a continuation frame (RFC 7692 6.1)"
    return frames[0].opcode, b"".join(f.payload for f in frames)


def close_cleanly(ws: RawWebSocket) -> None:
    ws.send_close(1000)
    assert ws.expect_close(TIMEOUT) == (1000, "")


def vm_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.MULTILINE).group(1))


def json_text(min_size: int) -> str:
    """A deterministic JSON array of records, at least `min_size` characters long."""
    parts, size, i = [], 2, 0
    while size < min_size:
        record = json.dumps({"id": i, "user": f"user{i:06d}", "email": f"user{i:06d}@example.com",
                             "active": i % 3 == 0, "score": (i * 7919) % 1000,
                             "tags": ["alpha", "beta", "gamma"][: i % 3 + 1]})
        parts.append(record)
        size += len(record) + 2
        i += 1
    text = "[" + ", ".join(parts) + "]"
    return text


# --- websockets client against example/echo ----------------------------------------------


def test_websockets_default_compression_is_accepted_as_permessage_deflate(server):
    """RFC 7692 section 5: the server answers the client's offer with the extension."""
    with ws_connect(server.url("/echo"), compression="deflate") as ws:
        header = extensions_header(ws)
        assert header is not None and header.split(";")[0].strip() == PD, header
        ws.send("ping?")
        assert ws.recv(timeout=TIMEOUT) == "ping?"


@pytest.mark.parametrize("message", ["hello", "Привет, мир — 🌍 ✓" * 50, "", b"\x00\x01\xff" * 300,
                                     b""], ids=["ascii", "unicode", "empty-text", "binary", "empty-binary"])
def test_websockets_compressed_text_and_binary_messages_echo_exactly(server, message):
    """RFC 7692 section 7.2: compressed messages keep their type and content (text is
    validated as UTF-8 after inflating); an empty message is allowed (7.2.3.6)."""
    with ws_connect(server.url("/echo"), compression="deflate") as ws:
        for _ in range(2):  # the second goes through the window of the first
            ws.send(message)
            reply = ws.recv(timeout=TIMEOUT)
            assert type(reply) is type(message)
            assert reply == message


def test_websockets_16_mib_compressible_text_echoes_exactly(server):
    """RFC 7692 section 7.2: a large message inflates and deflates intact (16 MiB of
    JSON-like records: ~1 MB on the wire each way)."""
    text = json_text(16 * 1024 * 1024)
    with ws_connect(server.url("/echo"), compression="deflate") as ws:
        ws.send(text)
        reply = ws.recv(timeout=20.0)
    assert len(reply) == len(text)
    assert reply == text


def test_websockets_1000_small_messages_with_context_takeover_echo_exactly(server):
    """RFC 7692 section 7.1.1: with context takeover each message may refer back to the
    earlier ones; 1,000 messages in a row stay in sync on both sides."""
    messages = [f'{{"seq": {i}, "event": "tick", "payload": "{"xy" * (i % 17)}"}}' for i in range(1000)]
    with ws_connect(server.url("/echo"), compression="deflate") as ws:
        for message in messages:
            ws.send(message)
        replies = [ws.recv(timeout=TIMEOUT) for _ in messages]
    assert replies == messages


def test_websockets_fragmented_compressed_message_echoes_exactly(server):
    """RFC 7692 section 6.1: a compressed message may be fragmented; RSV1 on the first
    frame, the compressed data split across the frames."""
    parts = [f"part {i} " * 200 for i in range(5)]
    with ws_connect(server.url("/echo"), compression="deflate") as ws:
        ws.send(iter(parts))
        assert ws.recv(timeout=TIMEOUT) == "".join(parts)


# 12 KiB of incompressible bytes (4 KiB repeated). Sent twice, the second copy refers
# ~12 KiB back into the previous message: a peer inflating with a window of 2**10 or
# 2**9 bytes fails ("invalid distance too far back") unless the sender kept to it.
_FAR_REPEAT = random.Random(1).randbytes(4096) * 3


@pytest.mark.parametrize("factory_options, must_contain", [
    ({"server_no_context_takeover": True}, ["server_no_context_takeover"]),
    ({"client_no_context_takeover": True}, []),
    ({"server_max_window_bits": 10}, ["server_max_window_bits=10"]),
    ({"client_max_window_bits": 9}, []),
    ({"server_max_window_bits": 9, "server_no_context_takeover": True, "client_no_context_takeover": True},
     ["server_max_window_bits=9", "server_no_context_takeover"]),
], ids=["server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits=10",
        "client_max_window_bits=9", "all-restrictions"])
def test_websockets_parameter_variants_negotiate_and_round_trip(server, factory_options, must_contain):
    """RFC 7692 sections 7.1.1 and 7.1.2: each parameter is accepted and honoured; with
    server_max_window_bits the client inflates with that small window, so a server using
    a larger one would fail the connection on the far repeat."""
    factory = ClientPerMessageDeflateFactory(**factory_options)
    with ws_connect(server.url("/echo"), compression=None, extensions=[factory]) as ws:
        header = extensions_header(ws)
        assert header is not None and header.startswith(PD), header
        for parameter in must_contain:
            assert parameter in header, header
        for message in (_FAR_REPEAT, _FAR_REPEAT, "text " * 500, _FAR_REPEAT[::-1]):
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message


def test_handler_declining_extensions_sends_no_extension_header_and_echoes(server):
    """RFC 7692 section 5 / RFC 6455 section 9.1: a declined offer means no
    Sec-WebSocket-Extensions header and uncompressed messages."""
    with ws_connect(server.url("/echo_noext"), compression="deflate") as ws:
        assert extensions_header(ws) is None
        ws.send("plain " * 100)
        assert ws.recv(timeout=TIMEOUT) == "plain " * 100
        ws.send(b"\x01\x02")
        assert ws.recv(timeout=TIMEOUT) == b"\x01\x02"


# --- raw frames ---------------------------------------------------------------------------


def test_raw_compressed_text_is_echoed_compressed_with_rsv1(server):
    """RFC 7692 sections 6 and 7.2: a message with RSV1 is inflated (tail appended); the
    reply is compressed, marked with RSV1, its tail stripped, and inflates to the text."""
    text = "Hello, compressed world! " * 20
    deflater, inflater = Deflater(), Inflater()
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as ws:
        assert ws.response.header("Sec-WebSocket-Extensions") == PD
        for _ in range(3):  # both sides keep their windows across messages
            ws.send_frame(OP_TEXT, deflater.message(text.encode()), rsv=RSV1)
            opcode, payload = receive_compressed(ws)
            assert opcode == OP_TEXT
            assert not payload.endswith(TAIL)
            assert len(payload) < len(text)
            assert inflater.message(payload).decode("utf-8") == text
        close_cleanly(ws)


def test_raw_uncompressed_message_is_still_accepted_after_negotiation(server):
    """RFC 7692 section 6: RSV1 clear means the message is not compressed, which is
    allowed at any time, also between compressed ones."""
    deflater, inflater = Deflater(), Inflater()
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as ws:
        ws.send_frame(OP_TEXT, b"plain text")
        assert inflater.message(receive_compressed(ws)[1]) == b"plain text"
        ws.send_frame(OP_BINARY, deflater.message(b"compressed"), rsv=RSV1)
        assert receive_compressed(ws) == (OP_BINARY, _deflated_by_server(inflater, b"compressed"))
        ws.send_frame(OP_BINARY, b"plain again")
        opcode, payload = receive_compressed(ws)
        assert (opcode, inflater.message(payload)) == (OP_BINARY, b"plain again")
        close_cleanly(ws)


def _deflated_by_server(inflater: Inflater, expected: bytes):
    """Matches any payload that inflates (in this connection's window) to `expected`."""

    class _Inflates:
        def __eq__(self, payload) -> bool:
            return inflater.message(payload) == expected

        def __repr__(self) -> str:
            return f"<compressed {expected!r}>"

    return _Inflates()


def test_raw_fragmented_compressed_message_with_rsv1_on_first_frame_is_echoed(server):
    """RFC 7692 section 6.1: RSV1 on the first frame marks the whole fragmented message
    compressed; the compressed bytes may be cut anywhere."""
    text = "fragmented and compressed " * 40
    data = Deflater().message(text.encode())
    cuts = [data[:5], data[5:len(data) // 2], data[len(data) // 2:]]
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as ws:
        ws.send_frame(OP_TEXT, cuts[0], fin=False, rsv=RSV1)
        ws.send_frame(OP_CONT, cuts[1], fin=False)
        ws.send_frame(OP_PING, b"in between")  # control frames may interleave
        ws.send_frame(OP_CONT, cuts[2], fin=True)
        pong = ws.recv_rsv_frame(TIMEOUT)
        assert (pong.opcode, pong.rsv, pong.payload) == (OP_PONG, 0, b"in between")
        opcode, payload = receive_compressed(ws)
        assert opcode == OP_TEXT
        assert Inflater().message(payload).decode() == text
        close_cleanly(ws)


def test_raw_ping_is_answered_with_an_uncompressed_pong(server):
    """RFC 7692 section 6.1: permessage-deflate applies to data messages only; control
    frames never have RSV1 set."""
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as ws:
        ws.send_frame(OP_PING, b"ping body " * 5)
        pong = ws.recv_rsv_frame(TIMEOUT)
        assert (pong.opcode, pong.rsv, pong.payload) == (OP_PONG, 0, b"ping body " * 5)
        close_cleanly(ws)


def test_raw_server_max_window_bits_8_is_accepted_and_replies_go_uncompressed(server):
    """RFC 7692 section 7.1.2.1 allows 8; zlib cannot deflate in 256 bytes, so the
    server accepts with 8 and sends uncompressed messages (allowed by section 6) while
    still inflating the client's compressed ones."""
    offer = [("Sec-WebSocket-Extensions", f"{PD}; server_max_window_bits=8")]
    with RawWebSocket.connect(server.port, "/echo", headers=offer) as ws:
        assert ws.response.header("Sec-WebSocket-Extensions") == f"{PD}; server_max_window_bits=8"
        ws.send_frame(OP_TEXT, Deflater().message(b"small window " * 30), rsv=RSV1)
        (frame,) = ws.recv_rsv_message(TIMEOUT)
        assert (frame.opcode, frame.rsv, frame.payload) == (OP_TEXT, 0, b"small window " * 30)
        close_cleanly(ws)


def test_raw_first_acceptable_of_several_offers_is_the_one_answered(server):
    """RFC 7692 section 5: offers are tried in order; unknown extensions and unacceptable
    offers are skipped, and only one permessage-deflate is accepted."""
    header = (f"x-unknown-ext, {PD}; server_max_window_bits=20, "
              f"{PD}; server_no_context_takeover; client_max_window_bits, {PD}")
    with RawWebSocket.connect(server.port, "/echo", headers=[("Sec-WebSocket-Extensions", header)]) as ws:
        assert ws.response.header("Sec-WebSocket-Extensions") == f"{PD}; server_no_context_takeover"
        for _ in range(2):  # no context takeover: each reply inflates on its own
            ws.send_frame(OP_TEXT, b"repeat me " * 20)
            assert Inflater().message(receive_compressed(ws)[1]) == b"repeat me " * 20
        close_cleanly(ws)


def test_raw_fragmented_compressed_text_with_invalid_utf8_in_last_fragment_fails_with_1007(server):
    """RFC 7692 section 8 / RFC 6455 section 8.1: text is validated after inflating,
    across the frames of a compressed message."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    first = compressor.compress(b"valid start ") + compressor.flush(zlib.Z_SYNC_FLUSH)
    last = (compressor.compress(b"caf\xc3(") + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as ws:
        ws.send_frame(OP_TEXT, first, fin=False, rsv=RSV1)
        ws.send_frame(OP_CONT, last, fin=True)
        assert ws.expect_close(TIMEOUT)[0] == 1007


def test_raw_empty_compressed_message_single_zero_byte_is_echoed(server):
    """RFC 7692 section 7.2.3.6: an empty message compressed is the single byte 0x00."""
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as ws:
        ws.send_frame(OP_TEXT, b"\x00", rsv=RSV1)
        opcode, payload = receive_compressed(ws)
        assert (opcode, Inflater().message(payload)) == (OP_TEXT, b"")
        close_cleanly(ws)


def test_raw_messages_ending_with_bfinal_blocks_are_inflated(server):
    """RFC 7692 section 7.2.3.4: a sender may end each message with a BFINAL block (a
    complete DEFLATE stream, nothing to strip); the server must inflate each and the
    following ordinary sync-flushed messages too."""
    inflater = Inflater()
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as ws:
        for text, padding in ((b"final block one " * 10, b""), (b"final block two " * 10, b""),
                              (b"padded as RFC 7692 shows " * 3, b"\x00")):
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
            ws.send_frame(OP_BINARY, compressor.compress(text) + compressor.flush(zlib.Z_FINISH) + padding,
                          rsv=RSV1)
            assert inflater.message(receive_compressed(ws)[1]) == text
        ws.send_frame(OP_BINARY, Deflater().message(b"then sync-flushed"), rsv=RSV1)
        assert inflater.message(receive_compressed(ws)[1]) == b"then sync-flushed"
        close_cleanly(ws)


@pytest.mark.parametrize("frames, expected_code", [
    ([(OP_TEXT, "first", False, RSV1), (OP_CONT, "second", True, RSV1)], 1002),
    ([(OP_PING, b"x", True, RSV1)], 1002),
    ([(OP_TEXT, "rsv2", True, RSV2)], 1002),
    ([(OP_TEXT, "rsv1+rsv2", True, RSV1 | RSV2)], 1002),
    ([(OP_TEXT, b"\xff\xff\xff\xff", True, RSV1)], 1007),
    ([(OP_TEXT, "bad-utf8", True, RSV1)], 1007),
], ids=["rsv1-on-continuation", "rsv1-on-ping", "rsv2", "rsv1-and-rsv2", "does-not-inflate",
        "inflates-to-invalid-utf8"])
def test_raw_deflate_violations_fail_the_connection_with_the_right_code(server, frames, expected_code):
    """RFC 7692 section 6.1: RSV1 only on a data message's first frame (else 1002);
    RFC 6455 5.2: other RSV bits are not negotiated (1002); RFC 7692 section 8: data that
    does not inflate, or text that is not UTF-8 once inflated, fails with 1007."""
    deflater = Deflater()
    payloads = {"first": deflater.message(b"first part"), "second": b"second part",
                "rsv2": b"rsv2", "rsv1+rsv2": Deflater().message(b"x"),
                "bad-utf8": Deflater().message(b"caf\xc3(")}
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as ws:
        for opcode, payload, fin, rsv in frames:
            ws.send_frame(opcode, payloads.get(payload, payload), fin=fin, rsv=rsv)
        code, _ = ws.expect_close(TIMEOUT)
    assert code == expected_code


def test_raw_rsv1_without_negotiation_fails_with_1002(server):
    """RFC 7692 section 6 / RFC 6455 section 5.2: RSV1 means nothing unless
    permessage-deflate was agreed; without the offer it is a protocol error."""
    with RawWebSocket.connect(server.port, "/echo") as ws:
        assert ws.response.header("Sec-WebSocket-Extensions") is None
        ws.send_frame(OP_TEXT, Deflater().message(b"sneaky"), rsv=RSV1)
        code, _ = ws.expect_close(TIMEOUT)
    assert code == 1002


def test_raw_rsv1_to_a_handler_that_declined_fails_with_1002(server):
    """RFC 7692 section 6: a declined offer leaves RSV1 unassigned."""
    with RawWebSocket.connect(server.port, "/echo_noext", headers=OFFER) as ws:
        assert ws.response.header("Sec-WebSocket-Extensions") is None
        ws.send_frame(OP_TEXT, Deflater().message(b"declined"), rsv=RSV1)
        code, _ = ws.expect_close(TIMEOUT)
    assert code == 1002


LIMIT = 1048576


@pytest.fixture(scope="module")
def limited_server(make_module_server):
    """example/ served with a 1 MiB message size limit."""
    return make_module_server("-d", EXAMPLE, "--max-message-size", str(LIMIT))


def _compressed_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(LIMIT)
    data = b"".join(compressor.compress(chunk) for _ in range(size // LIMIT))
    data += compressor.compress(bytes(size % LIMIT)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]


@pytest.mark.parametrize("size, expected", [(LIMIT, "echo"), (LIMIT + 1, 1009)],
                         ids=["exactly-the-limit", "one-byte-over"])
def test_message_size_limit_applies_to_the_inflated_size(limited_server, size, expected):
    """RFC 7692 section 8 / RFC 6455 section 7.4.1: the limit counts inflated bytes (the
    compressed payload is ~1 KB); exactly --max-message-size is echoed, one more is 1009."""
    with RawWebSocket.connect(limited_server.port, "/echo", headers=OFFER) as ws:
        ws.send_frame(OP_BINARY, _compressed_zeros(size), rsv=RSV1)
        if expected == "echo":
            opcode, payload = receive_compressed(ws)
            assert (opcode, Inflater().message(payload)) == (OP_BINARY, bytes(size))
            close_cleanly(ws)
        else:
            assert ws.expect_close(TIMEOUT)[0] == expected


def test_incompressible_message_of_exactly_the_limit_is_accepted_when_compressed(limited_server):
    """RFC 7692 section 6: whether a message is compressed must not change whether it
    is accepted; the limit is on the message (README: 'A message's inflated size is
    bounded by --max-message-size'). Random bytes grow slightly when deflated."""
    data = random.Random(3).randbytes(LIMIT)
    with ws_connect(limited_server.url("/echo"), compression=None) as ws:
        ws.send(data)
        assert ws.recv(timeout=TIMEOUT) == data  # uncompressed: accepted
    with ws_connect(limited_server.url("/echo"), compression="deflate") as ws:
        ws.send(data)
        assert ws.recv(timeout=TIMEOUT) == data


def test_decompression_bomb_fails_with_1009_quickly_and_keeps_server_memory_bounded(limited_server):
    """RFC 7692 section 8 / RFC 6455 section 10.4: ~100 KB of compressed zeros that would
    inflate to 100 MB fail with 1009 once the 1 MiB limit is passed; the server's RSS
    grows by far less than the inflated size, and it keeps serving."""
    server = limited_server
    bomb = _compressed_zeros(100 * LIMIT)
    assert 50_000 < len(bomb) < 200_000
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as warm:
        warm.send_frame(OP_TEXT, Deflater().message(b"warm up"), rsv=RSV1)
        receive_compressed(warm)
        close_cleanly(warm)
    rss_before = vm_rss_kib(server.pid)
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as ws:
        started = time.monotonic()
        ws.send_frame(OP_BINARY, bomb, rsv=RSV1)
        code, _ = ws.expect_close(TIMEOUT)
        elapsed = time.monotonic() - started
    rss_growth_mib = (vm_rss_kib(server.pid) - rss_before) / 1024
    assert code == 1009
    assert elapsed < 2.0, f"took {elapsed:.2f} s to fail the bomb"
    assert rss_growth_mib < 50, f"server RSS grew by {rss_growth_mib:.1f} MiB"
    with ws_connect(server.url("/echo"), compression="deflate") as ws:
        ws.send("still alive")
        assert ws.recv(timeout=TIMEOUT) == "still alive"


def test_compression_ratio_of_64_kib_json_reply(server, record_property):
    """RFC 7692 section 7.2.1: the server's reply to a 64 KiB JSON text, as sent on the
    wire (compressed payload length / original length), is well under 0.3."""
    text = json_text(64 * 1024)
    with ws_connect(server.url("/echo"), compression="deflate") as ws:
        ws.send(text)
        assert ws.recv(timeout=TIMEOUT) == text
    with RawWebSocket.connect(server.port, "/echo", headers=OFFER) as raw:
        raw.send_frame(OP_TEXT, text.encode("utf-8"))
        opcode, payload = receive_compressed(raw)
        assert opcode == OP_TEXT
        assert Inflater().message(payload).decode("utf-8") == text
        close_cleanly(raw)
    ratio = len(payload) / len(text.encode("utf-8"))
    record_property("compression_ratio", round(ratio, 4))
    record_property("compression_bytes", f"{len(payload)}/{len(text)}")
    print(f"\n64 KiB JSON reply: {len(text)} -> {len(payload)} bytes on the wire, ratio {ratio:.4f}")
    assert ratio < 0.3


# --- handlers steering the processors -------------------------------------------------------

_ECHO = '''
def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
'''


def _deflate_processor_hook(body: str) -> str:
    return f'''
def web_socket_do_extra_handshake(request):
    for processor in request.ws_extension_processors:
        if processor.name() == "deflate":  # the name pywebsocket3 handlers look for
            {body}
''' + _ECHO


HANDLERS = {
    "client_nct_wsh.py": _deflate_processor_hook("processor.set_client_no_context_takeover(True)"),
    "no_outgoing_wsh.py": _deflate_processor_hook("processor.disable_outgoing_compression()"),
    "bfinal_wsh.py": _deflate_processor_hook("processor.set_bfinal(True)"),
    "client_bits_wsh.py": _deflate_processor_hook("processor.set_client_max_window_bits(10)"),
    "decline_wsh.py": '''
def web_socket_do_extra_handshake(request):
    request.ws_extension_processors = []
''' + _ECHO,
    "info_wsh.py": '''
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    request.ws_stream.send_message(str(request.ws_deflate))
    request.ws_stream.send_message(str(request.ws_extensions))
    request.ws_stream.receive_message()
''',
    # pywebsocket3's own example/echo_wsh.py does this: keep only the deflate processor,
    # which is None when the client offered no permessage-deflate.
    "keep_deflate_only_wsh.py": '''
from mod_ws.extensions import PerMessageDeflateExtensionProcessor

def web_socket_do_extra_handshake(request):
    processor = None
    for candidate in request.ws_extension_processors:
        if isinstance(candidate, PerMessageDeflateExtensionProcessor):
            processor = candidate
    request.ws_extension_processors = [processor]
''' + _ECHO,
    "none_first_wsh.py": '''
def web_socket_do_extra_handshake(request):
    request.ws_extension_processors[0] = None
''' + _ECHO,
    # pywebsocket3's example/echo_wsh.py toggles compression from transfer_data.
    "toggle_wsh.py": '''
from mod_ws.extensions import PerMessageDeflateExtensionProcessor

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    processor = None
    for candidate in request.ws_extension_processors:
        if isinstance(candidate, PerMessageDeflateExtensionProcessor):
            processor = candidate
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        if message == "DisableCompression":
            processor.disable_outgoing_compression()
        elif message == "EnableCompression":
            processor.enable_outgoing_compression()
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
''',
    "fragments_wsh.py": '''
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        for i in range(3):
            request.ws_stream.send_message(message, end=i == 2)
''',
}


@pytest.fixture(scope="module")
def hook_server(make_module_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("deflate_hooks")
    for name, source in HANDLERS.items():
        (root / name).write_text(source, encoding="utf-8")
    return make_module_server("-d", str(root), "--close-timeout", "1")


def test_handler_set_client_no_context_takeover_is_in_the_response(hook_server):
    """RFC 7692 section 7.1.1.2: the server may add client_no_context_takeover; a client
    that then compresses every message from scratch is understood."""
    with ws_connect(hook_server.url("/client_nct"), compression="deflate") as ws:
        assert "client_no_context_takeover" in extensions_header(ws)
        for message in ("same text " * 30, "same text " * 30):
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message
    with RawWebSocket.connect(hook_server.port, "/client_nct", headers=OFFER) as ws:
        assert ws.response.header("Sec-WebSocket-Extensions") == f"{PD}; client_no_context_takeover"
        inflater = Inflater()
        for _ in range(2):
            ws.send_frame(OP_TEXT, Deflater().message(b"fresh window " * 10), rsv=RSV1)
            assert inflater.message(receive_compressed(ws)[1]) == b"fresh window " * 10
        close_cleanly(ws)


def test_handler_set_client_max_window_bits_is_in_the_response(hook_server):
    """RFC 7692 section 7.1.2.2: a server may limit the client's window when offered."""
    with ws_connect(hook_server.url("/client_bits"), compression="deflate") as ws:
        assert "client_max_window_bits=10" in extensions_header(ws)
        ws.send(_FAR_REPEAT)
        assert ws.recv(timeout=TIMEOUT) == _FAR_REPEAT


def test_handler_disable_outgoing_compression_sends_plain_but_inflates_received(hook_server):
    """RFC 7692 section 6: with the extension in use the server may still send
    uncompressed messages (RSV1 clear) while inflating the client's compressed ones."""
    deflater = Deflater()
    with RawWebSocket.connect(hook_server.port, "/no_outgoing", headers=OFFER) as ws:
        assert ws.response.header("Sec-WebSocket-Extensions") == PD
        for text in (b"compressed by the client " * 8, b"compressed by the client " * 8):
            ws.send_frame(OP_TEXT, deflater.message(text), rsv=RSV1)
            (frame,) = ws.recv_rsv_message(TIMEOUT)
            assert (frame.opcode, frame.rsv, frame.payload) == (OP_TEXT, 0, text)
        close_cleanly(ws)
    with ws_connect(hook_server.url("/no_outgoing"), compression="deflate") as ws:
        ws.send("via websockets")
        assert ws.recv(timeout=TIMEOUT) == "via websockets"


def test_handler_emptying_ws_extension_processors_declines(hook_server):
    """RFC 7692 section 5: removing the processors declines the offer: no header, and
    RSV1 is then a protocol error."""
    with ws_connect(hook_server.url("/decline"), compression="deflate") as ws:
        assert extensions_header(ws) is None
        ws.send("plain")
        assert ws.recv(timeout=TIMEOUT) == "plain"
    with RawWebSocket.connect(hook_server.port, "/decline", headers=OFFER) as ws:
        assert ws.response.header("Sec-WebSocket-Extensions") is None
        ws.send_frame(OP_TEXT, Deflater().message(b"x"), rsv=RSV1)
        assert ws.expect_close(TIMEOUT)[0] == 1002


@pytest.mark.parametrize("compression, deflate, extensions", [
    ("deflate", "True", PD), (None, "False", "None"),
], ids=["offered", "not-offered"])
def test_handler_sees_ws_deflate_and_ws_extensions(hook_server, compression, deflate, extensions):
    """pywebsocket3 compatibility: request.ws_deflate tells whether permessage-deflate
    (RFC 7692) was agreed and request.ws_extensions lists the accepted extensions."""
    with ws_connect(hook_server.url("/info"), compression=compression) as ws:
        assert ws.recv(timeout=TIMEOUT) == deflate
        assert extensions in ws.recv(timeout=TIMEOUT)


def test_handler_sending_fragments_marks_only_the_first_frame_compressed(hook_server):
    """RFC 7692 sections 6.1 and 7.2.1: a fragmented outgoing message has RSV1 on its
    first frame only, every fragment flushed, the tail stripped only at the end."""
    with RawWebSocket.connect(hook_server.port, "/fragments", headers=OFFER) as ws:
        ws.send_frame(OP_TEXT, b"abc" * 20)
        frames = ws.recv_rsv_message(TIMEOUT)
        assert [(f.opcode, f.rsv, f.fin) for f in frames] == [
            (OP_TEXT, RSV1, False), (OP_CONT, 0, False), (OP_CONT, 0, True)]
        inflater = zlib.decompressobj(-15)
        for frame in frames[:-1]:
            assert inflater.decompress(frame.payload) != b""  # flushed: inflates on arrival
        assert not frames[-1].payload.endswith(TAIL)
        close_cleanly(ws)
    with ws_connect(hook_server.url("/fragments"), compression="deflate") as ws:
        ws.send("xyz")
        assert ws.recv(timeout=TIMEOUT) == "xyz" * 3


def test_handler_set_bfinal_ends_each_reply_with_a_final_block(hook_server):
    """RFC 7692 section 7.2.3.4: with BFINAL each reply is a complete DEFLATE stream that
    a fresh raw inflater decodes to its end."""
    with RawWebSocket.connect(hook_server.port, "/bfinal", headers=OFFER) as ws:
        for text in (b"bfinal reply " * 10, b"bfinal reply " * 10):
            ws.send_frame(OP_BINARY, text)
            _, payload = receive_compressed(ws)
            fresh = zlib.decompressobj(-15)
            assert fresh.decompress(payload) == text
            assert fresh.eof
            assert fresh.unused_data == b"\x00"  # RFC 7692 section 7.2.3.4's padding
        close_cleanly(ws)


def test_handler_keeping_only_the_deflate_processor_accepts_it_when_offered(hook_server):
    """RFC 7692 section 5: a handler that filters ws_extension_processors down to the
    permessage-deflate processor (as pywebsocket3's example/echo_wsh.py does) still gets it."""
    with ws_connect(hook_server.url("/keep_deflate_only"), compression="deflate") as ws:
        assert extensions_header(ws).startswith(PD)
        ws.send("kept " * 50)
        assert ws.recv(timeout=TIMEOUT) == "kept " * 50


@pytest.mark.parametrize("resource, offer, expected_header", [
    ("/keep_deflate_only", None, None),
    ("/none_first", f"{PD}; server_no_context_takeover, {PD}", PD),
], ids=["list-is-[None]-without-offer", "first-of-two-replaced-by-None"])
def test_none_entry_in_ws_extension_processors_is_skipped(hook_server, resource, offer, expected_header):
    """pywebsocket3 compatibility: a handler may set entries of
    request.ws_extension_processors to None (pywebsocket3's echo example leaves [None]
    when the client offered no deflate); those are skipped, the rest negotiated as
    RFC 7692 section 5 says, and the handshake completes."""
    headers = [("Sec-WebSocket-Extensions", offer)] if offer else []
    with RawWebSocket.connect(hook_server.port, resource, headers=headers) as ws:
        assert ws.response.header("Sec-WebSocket-Extensions") == expected_header
        ws.send_frame(OP_TEXT, b"after None")
        frames = ws.recv_rsv_message(TIMEOUT)
        data = b"".join(f.payload for f in frames)
        if expected_header:
            data = Inflater().message(data)
        assert data == b"after None"
        close_cleanly(ws)


def test_handler_toggling_outgoing_compression_during_transfer_takes_effect(hook_server):
    """RFC 7692 section 6: the server may send any message uncompressed; pywebsocket3's
    processor lets a handler switch outgoing compression off and on mid-connection
    (its echo example does it on "DisableCompression"/"EnableCompression")."""
    with RawWebSocket.connect(hook_server.port, "/toggle", headers=OFFER) as ws:
        inflater = Inflater()
        ws.send_frame(OP_TEXT, b"compressed first")
        assert inflater.message(receive_compressed(ws)[1]) == b"compressed first"
        ws.send_frame(OP_TEXT, b"DisableCompression")
        (frame,) = ws.recv_rsv_message(TIMEOUT)  # switched off before the reply is sent
        assert (frame.rsv, frame.payload) == (0, b"DisableCompression"), frame
        ws.send_frame(OP_TEXT, b"now plain " * 10)
        (frame,) = ws.recv_rsv_message(TIMEOUT)
        assert (frame.rsv, frame.payload) == (0, b"now plain " * 10), frame
        ws.send_frame(OP_TEXT, b"EnableCompression")
        # Switched on before the reply: it is compressed, and shares the window.
        assert inflater.message(receive_compressed(ws)[1]) == b"EnableCompression"
        ws.send_frame(OP_TEXT, b"compressed again " * 10)
        assert inflater.message(receive_compressed(ws)[1]) == b"compressed again " * 10
        close_cleanly(ws)
