"""Faults against the real server while a healthy client keeps echoing.

Attackers on 127.0.0.1, each bounded in count and time, run at once on threads: garbage
instead of a request, frames cut off mid-way and left silent, 2**63 - 1 and 2**63 byte
frames, decompression bombs over permessage-deflate, a client that never reads while
its handler sends, a thousand connections opened and dropped, a request head trickled
a byte at a time, and a flood of pings whose pongs are never read. Meanwhile the
healthy client's every echo must succeed within 100 ms, each attack must get the
answer RFC 6455 (or the server's limits) gives it, and afterwards the server's threads
and descriptors must return to their baseline.
"""

from __future__ import annotations

import functools
import random
import select
import socket
import statistics
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import wsraw
from conftest import EXAMPLE, IDLE_THREADS, settled_value, wait_for_value
from wsraw import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, RawWebSocket

MIB = 1024 * 1024
REQUEST_TIMEOUT = 2.0
SEND_TIMEOUT = 2.0
CLOSE_TIMEOUT = 1.0
MAX_MESSAGE_SIZE = MIB
SERVER_OPTIONS = ("--close-timeout", str(CLOSE_TIMEOUT), "--send-timeout", str(SEND_TIMEOUT),
                  "--request-timeout", str(REQUEST_TIMEOUT), "--max-message-size", str(MAX_MESSAGE_SIZE),
                  "--shutdown-timeout", "2")
SOCKET_TIMEOUT = 5.0  # every attacker socket
ATTACK_TIMEOUT = 25.0  # joining an attacker thread
WORST_ROUND_TRIP = 0.100  # seconds, for the healthy client's echo
ECHO_INTERVAL = 0.01
SETTLE_TIMEOUT = 10.0  # for threads and descriptors to return to their baseline

FLOOD_HANDLER = '''"""Sends 64 KiB binary messages until the connection is gone."""

from mod_ws import msgutil


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    chunk = b"f" * 65536
    while True:
        msgutil.send_message(request, chunk, binary=True)
'''


@pytest.fixture
def fault_server(make_server, tmp_path):
    """A server with the echo handler and one that floods, under tight limits."""
    (tmp_path / "echo_wsh.py").write_text((EXAMPLE / "echo_wsh.py").read_text())
    (tmp_path / "flood_wsh.py").write_text(FLOOD_HANDLER)
    return make_server("-d", tmp_path, *SERVER_OPTIONS)


@dataclass
class Tally:
    """What the attackers did and what went other than expected (shared by threads)."""

    connections: int = 0
    attacks: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how attacks ended, for the figures
    lock: threading.Lock = field(default_factory=threading.Lock)

    def connected(self, n: int = 1) -> None:
        with self.lock:
            self.connections += n

    def attack(self, n: int = 1) -> None:
        with self.lock:
            self.attacks += n

    def note(self, what: str) -> None:
        with self.lock:
            self.notes.append(what)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.fail(what)


def open_socket(port: int, rcvbuf: int | None = None) -> socket.socket:
    """A loopback TCP connection; a small receive buffer is set before connecting, so the
    advertised window stays small."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(SOCKET_TIMEOUT)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


def open_websocket(port: int, tally: Tally, resource: str = "/echo", rcvbuf: int | None = None,
                   headers: tuple[tuple[str, str], ...] = ()) -> RawWebSocket:
    ws = RawWebSocket(open_socket(port, rcvbuf), SOCKET_TIMEOUT)
    tally.connected()
    try:
        key = wsraw.make_key()
        ws.send(wsraw.handshake_request(resource, host=f"127.0.0.1:{port}", key=key, headers=headers))
        ws.response = ws.read_http_response(head_only=True)
        assert ws.response.status == 101, ws.response
        assert ws.response.header("Sec-WebSocket-Accept") == wsraw.expected_accept(key)
    except BaseException:
        ws.close()
        raise
    return ws


def drain_to_eof(conn: wsraw.Conn, timeout: float, limit: int) -> tuple[bool, int]:
    """Reads and discards until the peer closes: (closed within `timeout`, bytes read).
    More than `limit` bytes means the peer is still sending: not closed."""
    deadline = time.monotonic() + timeout
    received = 0
    while received <= limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, received
        conn.sock.settimeout(min(remaining, SOCKET_TIMEOUT))
        try:
            data = conn.sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            return True, received
        except (socket.timeout, TimeoutError):
            return False, received
        if not data:
            return True, received
        received += len(data)
    return False, received


# --- the attacks ---------------------------------------------------------------------------


def garbage_instead_of_a_request(port: int, tally: Tally) -> None:
    """Binary bytes, a TLS ClientHello and a non-HTTP text line: 400 at once, then EOF."""
    rnd = random.Random(1)
    samples = [bytes((rnd.randrange(0x80, 0x100),)) + rnd.randbytes(rnd.randrange(1, 300)) for _ in range(16)]
    samples += [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rnd.randbytes(200),
                b"HELLO?\r\n\r\n", b"\x00" * 64, b"GET\t/ HTTP/1.1\r\n\r\n"]
    for data in samples:
        tally.attack()
        with wsraw.Conn(open_socket(port), SOCKET_TIMEOUT) as conn:
            tally.connected()
            conn.send(data)
            conn.sock.shutdown(socket.SHUT_WR)
            response = conn.read_http_response(timeout=REQUEST_TIMEOUT)
            tally.expect(response.status == 400, f"garbage {data[:8]!r}: {response.status}, not 400")
            tally.expect(conn.is_closed_by_peer(SOCKET_TIMEOUT), f"garbage {data[:8]!r}: not closed")


def silent_mid_frame(port: int, tally: Tally) -> None:
    """Frames cut off after 1, 2, 6 and 16 of their 1,006 bytes, then 3 s of silence;
    the server must keep each connection and resume it when the rest arrives. Two
    more vanish mid-frame without a word."""
    payload = bytes(range(256)) * 4
    frame = wsraw.encode_frame(OP_BINARY, payload[:1000])
    sockets = []
    try:
        for cut in (1, 2, 6, 16, 3, 500):
            tally.attack()
            ws = open_websocket(port, tally)
            sockets.append((cut, ws))
            ws.send(frame[:cut])
        time.sleep(3.0)
        for cut, ws in sockets:
            if cut in (3, 500):
                continue  # these simply vanish (closed below)
            ws.send(frame[cut:])
            opcode, echoed = ws.recv_message(SOCKET_TIMEOUT)
            tally.expect((opcode, echoed) == (OP_BINARY, payload[:1000]),
                         f"frame resumed after {cut} bytes: not echoed")
            ws.send_close(1000)
            tally.expect(ws.expect_close(SOCKET_TIMEOUT)[0] == 1000, f"frame resumed after {cut}: close")
    finally:
        for _, ws in sockets:
            ws.close()


def huge_frames(port: int, tally: Tally) -> None:
    """A frame claiming 2**63 - 1 bytes exceeds --max-message-size (1009); 2**63 and
    2**64 - 1 are not a valid length at all (RFC 6455 5.2: 1002)."""
    for length, code in ((2**63 - 1, 1009), (2**63, 1002), (2**64 - 1, 1002)):
        tally.attack()
        with open_websocket(port, tally) as ws:
            ws.send(wsraw.encode_frame(OP_BINARY, b"x" * 10, length=length))
            got = ws.expect_close(SOCKET_TIMEOUT)[0]
            tally.expect(got == code, f"frame of {length} bytes: close {got}, not {code}")


def deflated(data: bytes, repeat: int = 1) -> bytes:
    """`data` * `repeat` as one permessage-deflate message (sync flush, tail removed)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [compressor.compress(data) for _ in range(repeat)]
    out.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(out)[:-4]


@functools.cache
def bomb() -> bytes:
    """100 MiB of zeros, about 100 KB on the wire."""
    return deflated(bytes(MIB), 100)


def decompression_bombs(port: int, tally: Tally) -> None:
    """100 MiB of zeros deflated to ~100 KB, as one binary frame, as a fragmented text
    message and as a bomb after a good message: 1009 (too big), never 100 MiB inflated."""
    bomb_ = bomb()
    for shape in ("binary", "fragmented text", "after a good message"):
        tally.attack()
        with open_websocket(port, tally, headers=(("Sec-WebSocket-Extensions", "permessage-deflate"),)) as ws:
            extensions = ws.response.header("Sec-WebSocket-Extensions") or ""
            tally.expect(extensions.startswith("permessage-deflate"), f"deflate not negotiated: {extensions!r}")
            if shape == "binary":
                ws.send(wsraw.encode_frame(OP_BINARY, bomb_, rsv=4))
            elif shape == "fragmented text":
                third = len(bomb_) // 3
                ws.send(wsraw.encode_frame(OP_TEXT, bomb_[:third], fin=False, rsv=4))
                ws.send(wsraw.encode_frame(OP_CONT, bomb_[third:2 * third], fin=False))
                ws.send(wsraw.encode_frame(OP_CONT, bomb_[2 * third:]))
            else:
                ws.send(wsraw.encode_frame(OP_TEXT, deflated(b"a good message"), rsv=4))
                frame = ws.recv_rsv_frame(SOCKET_TIMEOUT)
                tally.expect(frame.opcode == OP_TEXT and frame.fin, f"good message not echoed: {frame}")
                ws.send(wsraw.encode_frame(OP_BINARY, bomb_, rsv=4))
            got = ws.expect_close(SOCKET_TIMEOUT)[0]
            tally.expect(got == 1009, f"bomb ({shape}): close {got}, not 1009")


# How long a client that never reads may take to be dropped here: --send-timeout bounds
# the whole write (test below), with a margin for a loaded machine.
NEVER_READ_DROP_BOUND = SEND_TIMEOUT + 1.0


def never_reads(port: int, tally: Tally) -> None:
    """Two clients of a handler that sends without end, with a 4 KiB receive window,
    that never read: the server's send times out (--send-timeout) and drops them."""
    clients = []
    try:
        for _ in range(2):
            tally.attack()
            clients.append(open_websocket(port, tally, "/flood", rcvbuf=4096))
        time.sleep(NEVER_READ_DROP_BOUND)  # the buffers fill in milliseconds
        for ws in clients:
            # Still sending after all this time means it was never dropped: more than the
            # socket buffers could have held.
            closed, received = drain_to_eof(ws, SOCKET_TIMEOUT, limit=64 * MIB)
            tally.note(f"never read: {'dropped' if closed else 'not dropped'}, {received} bytes left")
            tally.expect(closed, f"a client that never read was not dropped ({received} bytes read)")
    finally:
        for ws in clients:
            ws.close()


def many_connections(port: int, tally: Tally, total: int = 1000, batch: int = 50) -> None:
    """1,000 connections in batches of 50: some closed at once, some reset, some after
    half a request line."""
    for start in range(0, total, batch):
        sockets = []
        try:
            for i in range(start, start + batch):
                sock = open_socket(port)
                sockets.append(sock)
                if i % 4 == 0:
                    sock.sendall(b"GET /echo HT")
                elif i % 4 == 1:  # close with RST, not FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            tally.connected(len(sockets))
            tally.attack(len(sockets))
            for sock in sockets:
                sock.close()


def trickled_request_head(port: int, tally: Tally) -> None:
    """A valid handshake sent one byte per 0.2 s: 408 once --request-timeout passes."""
    tally.attack()
    request = wsraw.handshake_request("/echo", host=f"127.0.0.1:{port}")
    with wsraw.Conn(open_socket(port), SOCKET_TIMEOUT) as conn:
        tally.connected()
        started = time.monotonic()
        for byte in request:
            try:
                conn.send(bytes((byte,)))
            except OSError:
                break  # the server has closed: a reset on our write
            if select.select([conn.sock], [], [], 0.2)[0]:
                break
            if time.monotonic() - started > REQUEST_TIMEOUT + 3.0:
                break
        try:
            response = conn.read_http_response(timeout=SOCKET_TIMEOUT)
            status = response.status
        except (OSError, EOFError):
            status = None
        elapsed = time.monotonic() - started
        tally.expect(status == 408, f"trickled head: {status}, not 408")
        tally.expect(elapsed < REQUEST_TIMEOUT + 1.0, f"trickled head answered after {elapsed:.1f} s")


def ping_flood(port: int, tally: Tally, pings: int = 80_000) -> None:
    """80,000 pings of 125 bytes (10 MB) whose pongs are never read, with a 4 KiB window:
    the server answers each one until its send times out, then drops the client; if
    the buffers held every pong, they must all be there."""
    tally.attack()
    ping = wsraw.encode_frame(OP_PING, b"p" * 125)
    with open_websocket(port, tally, rcvbuf=4096) as ws:
        flood = ping * pings
        ws.sock.settimeout(SEND_TIMEOUT + 1.0)
        try:
            ws.sock.sendall(flood)
        except (socket.timeout, TimeoutError, OSError):
            pass  # the server stopped reading: its pongs are stuck
        time.sleep(NEVER_READ_DROP_BOUND)
        closed, received = drain_to_eof(ws, SOCKET_TIMEOUT, limit=len(flood))
        answered = received // (2 + 125)
        tally.note(f"ping flood: {answered} of {pings} pongs, then "
                   f"{'dropped' if closed else 'still open'}")
        tally.expect(closed or answered == pings,
                     f"ping flood: neither dropped nor answered ({answered} pongs)")


ATTACKS: list[Callable[[int, Tally], None]] = [
    garbage_instead_of_a_request, silent_mid_frame, huge_frames, decompression_bombs, never_reads,
    many_connections, trickled_request_head, ping_flood,
]


def run_attacker(attack: Callable[[int, Tally], None], port: int, tally: Tally) -> None:
    try:
        attack(port, tally)
    except Exception as e:  # noqa: BLE001 - an attack that did not get its answer, reported
        tally.fail(f"{attack.__name__}: {type(e).__name__}: {e}")


def test_healthy_client_keeps_echoing_fast_while_attackers_fault_and_nothing_leaks(fault_server):
    server = fault_server
    port = server.port
    bomb()  # built before the clock starts
    threads = wait_for_value(server.thread_count, IDLE_THREADS, 2.0)
    fds = settled_value(server.fd_count)
    tally = Tally()
    round_trips: list[float] = []
    echo_failures: list[str] = []
    attackers = [threading.Thread(target=run_attacker, args=(attack, port, tally), name=attack.__name__,
                                  daemon=True) for attack in ATTACKS]
    with RawWebSocket.connect(port, timeout=SOCKET_TIMEOUT) as healthy:
        healthy.echo("warm up")
        started = time.monotonic()
        for attacker in attackers:
            attacker.start()
        i = 0
        while any(a.is_alive() for a in attackers) and time.monotonic() - started < ATTACK_TIMEOUT:
            text = f"healthy {i}"
            before = time.perf_counter()
            try:
                echoed = healthy.echo(text, timeout=SOCKET_TIMEOUT)
            except Exception as e:  # noqa: BLE001 - any failed echo is recorded and asserted
                echo_failures.append(f"echo {i}: {type(e).__name__}: {e}")
                break
            round_trips.append(time.perf_counter() - before)
            if echoed != text:
                echo_failures.append(f"echo {i}: {echoed!r}")
            i += 1
            time.sleep(ECHO_INTERVAL)
        attack_time = time.monotonic() - started
        for attacker in attackers:
            attacker.join(max(0.1, started + ATTACK_TIMEOUT - time.monotonic()))
        stuck = [a.name for a in attackers if a.is_alive()]
        healthy.send_close(1000)
        healthy.expect_close(SOCKET_TIMEOUT)
    threads_after = wait_for_value(server.thread_count, threads, SETTLE_TIMEOUT)
    fds_after = wait_for_value(server.fd_count, fds, SETTLE_TIMEOUT)
    worst = max(round_trips, default=float("inf"))
    median = statistics.median(round_trips) if round_trips else float("inf")
    print(f"\nattacks tried: {tally.attacks}, connections made: {tally.connections}, "
          f"attack failures: {len(tally.failures)}, attack time: {attack_time:.1f} s\n"
          f"healthy echoes: {len(round_trips)}, failures: {len(echo_failures)}, "
          f"worst round trip: {worst * 1000:.1f} ms, median: {median * 1000:.2f} ms\n"
          f"threads: {threads} before, {threads_after} after; "
          f"descriptors: {fds} before, {fds_after} after\n" + "\n".join(tally.notes))
    assert not stuck, f"attackers still running: {stuck}"
    assert not echo_failures, echo_failures
    assert round_trips and worst < WORST_ROUND_TRIP, f"worst round trip {worst * 1000:.1f} ms"
    assert not tally.failures, tally.failures
    assert tally.connections >= 1000
    assert threads_after == threads
    assert fds_after == fds
    assert "Traceback" not in server.stderr_text(), server.stderr_text()


# --- faults found by this file, each fixed since ---------------------------------------------


def test_a_client_that_never_reads_is_dropped_once_the_send_timeout_passes(make_server, tmp_path):
    """--send-timeout: 'seconds a write may stay blocked by a peer that stopped reading
    before the connection is dropped'. The handler sends 64 KiB messages without end;
    the client completes the handshake and never reads again."""
    (tmp_path / "flood_wsh.py").write_text(FLOOD_HANDLER)
    server = make_server("-d", tmp_path, *SERVER_OPTIONS, "--log-level", "info")
    with open_websocket(server.port, Tally(), "/flood", rcvbuf=4096):
        started = time.monotonic()
        # The session's end line (info) names the failure.
        line = server.wait_for_stderr("send timed out", SEND_TIMEOUT + 1.0)
        elapsed = time.monotonic() - started
    assert line is not None, f"still not dropped after {elapsed:.1f} s (--send-timeout {SEND_TIMEOUT:g})"


EMPTY_FINAL_BLOCKS_ATTACKERS = 4


def test_frames_of_empty_final_deflate_blocks_are_refused_at_once_without_slowing_others(
        make_server):
    """RFC 7692 7.2.3.4 lets data after a final block start a new stream; a frame of
    1.18 MB (what --max-message-size 1 MiB lets through compressed) made of nothing but
    empty final blocks would take seconds to inflate one stream at a time, so it is
    refused with 1007 as soon as it holds more streams than a sender makes."""
    server = make_server("-d", EXAMPLE, *SERVER_OPTIONS)
    port = server.port
    payload = b"\x03\x00" * ((MAX_MESSAGE_SIZE + (MAX_MESSAGE_SIZE >> 3) + 64) // 2)
    answers: list[float | str] = []
    lock = threading.Lock()

    def attack() -> None:
        try:
            with open_websocket(port, Tally(), headers=(("Sec-WebSocket-Extensions", "permessage-deflate"),)) as ws:
                ws.send(wsraw.encode_frame(OP_BINARY, payload, rsv=4))
                sent = time.monotonic()
                ws.sock.settimeout(2.0)
                frame = ws.recv_rsv_frame(2.0)
                refused = frame.opcode == OP_CLOSE and frame.payload[:2] == (1007).to_bytes(2, "big")
                outcome: float | str = time.monotonic() - sent if refused else repr(frame)
        except Exception as e:  # noqa: BLE001 - whatever went wrong is the outcome asserted
            outcome = f"{type(e).__name__}: {e}"
        with lock:
            answers.append(outcome)

    attackers = [threading.Thread(target=attack, daemon=True) for _ in range(EMPTY_FINAL_BLOCKS_ATTACKERS)]
    round_trips = []
    with RawWebSocket.connect(port, timeout=SOCKET_TIMEOUT) as healthy:
        healthy.echo("warm up")
        for attacker in attackers:
            attacker.start()
        started = time.monotonic()
        while time.monotonic() - started < 3.0:
            before = time.perf_counter()
            healthy.echo("healthy", timeout=SOCKET_TIMEOUT)
            round_trips.append(time.perf_counter() - before)
            time.sleep(ECHO_INTERVAL)
        for attacker in attackers:
            attacker.join(5.0)
    print(f"\nempty final blocks: answers {answers}; healthy worst round trip "
          f"{max(round_trips) * 1000:.1f} ms, median {statistics.median(round_trips) * 1000:.2f} ms")
    assert all(isinstance(a, float) and a < 1.0 for a in answers) and len(answers) == len(attackers), answers
    assert max(round_trips) < WORST_ROUND_TRIP
