#!/usr/bin/env python3
"""Side-by-side benchmark of mod_ws against its peers, measured in one run.

    python bench/bench.py [--quick] [--servers mod_ws,pywebsocket3,websockets,raw,mod_ws-pure]
                          [--scenarios seq,pipe1,pipe16,big,deflate,handshake,idle,scale]
                          [--json out.json] [--time SECONDS] [--rounds N]
                          [--connections N] [--scale-connections N] [--logs DIR] [-v]

Starts every server as a subprocess on 127.0.0.1 (fresh processes for each scenario),
drives them with a hand-written client on raw sockets, each server's measured time cut
into slices interleaved with the other servers', and prints one table (rows are
figures, columns are servers) and a summary of mod_ws's ratios against the peers and
against its targets. Beside each wall-clock figure it prints the server's CPU time
(utime + stime of the whole process from /proc/PID/stat) and the client's own CPU time
(os.times) per unit of work. See bench/README.md for what every figure means.

Every reply is checked byte for byte against what was sent: a server that answers
wrongly gets an error cell, not a score. Every loop is bounded in count and in time,
every server is stopped by its PID, and the whole run has a wall-clock budget.
"""

from __future__ import annotations

import argparse
import base64
import errno
import gc
import hashlib
import json
import os
import platform
import random
import re
import resource
import selectors
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, replace

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
HOST = "127.0.0.1"

ALL_SERVERS = ("mod_ws", "pywebsocket3", "websockets", "raw", "mod_ws-pure")
# By default every server but mod_ws-pure: mod_ws without its optional accelerators
# (MOD_WS_NO_SPEEDUPS=1: pure-Python paths, stdlib zlib), for a column beside it.
DEFAULT_SERVERS = ALL_SERVERS[:4]
ALL_SCENARIOS = ("seq", "pipe1", "pipe16", "big", "deflate", "handshake", "idle", "scale")
# `scale` (10,000 connections held, up to ~3 minutes per server) runs only when asked for.
DEFAULT_SCENARIOS = ALL_SCENARIOS[:-1]
SCENARIO_TITLES = {
    "seq": "1. sequential 32 B echo (1 connection, 1 in flight)",
    "pipe1": "2a. pipelined 32 B echo, 64 in flight, 1 connection",
    "pipe16": "2b. pipelined 32 B echo, 64 in flight each, 16 connections",
    "big": "3. 1 MiB binary echo (1 connection, 1 in flight)",
    "deflate": "4. 64 KiB JSON-like text, permessage-deflate",
    "handshake": "5. handshakes (connect, upgrade, close handshake, TCP close)",
    "idle": "6. connections held open, then one 32 B echo on each",
    "scale": "7. 10,000 connections held; echo latency on one more, none held vs all held",
}

SMALL_SIZE = 32
BIG_SIZE = 1 << 20
DEFLATE_SIZE = 64 * 1024
PIPELINE_DEPTH = 64
PIPE16_CONNECTIONS = 16
SOCKET_TIMEOUT = 10.0  # no single blocking call waits longer than this
# --tls: every server serves over TLS with the test certificate in cert/, and the
# client verifies it against the test CA; only these scenarios run over TLS.
CERT_DIR = os.path.join(REPO_ROOT, "cert")
TLS_SCENARIOS = ("seq", "big", "handshake")
TLS_CLIENT: ssl.SSLContext | None = None
# --h2: mod_ws over TLS with --http2, each WebSocket an extended CONNECT (RFC 8441) on an
# HTTP/2 connection of its own (bench/h2_socket.py); only mod_ws speaks it.
H2_SCENARIOS = ("seq", "big")
H2_SERVERS = ("mod_ws", "mod_ws-pure")
H2_MODE = False
RECV_SIZE = 262144
CLOSE_WAIT = 3.0  # how long a client waits for the server's TCP close after the handshake

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLIENT_KEY = base64.b64encode(b"mod_ws bench 16B").decode("ascii")
EXPECTED_ACCEPT = base64.b64encode(
    hashlib.sha1(CLIENT_KEY.encode("ascii") + WS_GUID).digest()).decode("ascii")
MASK_KEY = b"\x5a\xc3\x1e\x97"
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
DEFLATE_TAIL = b"\x00\x00\xff\xff"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Limits:
    """Count and wall-clock caps of each scenario (time in seconds)."""

    seq_warmup: int
    seq_count: int
    seq_time: float
    pipe_count: int
    pipe_time: float
    big_count: int
    big_time: float
    deflate_count: int
    deflate_time: float
    handshake_count: int
    handshake_time: float
    idle_connections: int
    idle_time: float
    scale_connections: int
    scale_time: float  # cap on opening them all, per server
    rounds: int  # each server's measured time is split into this many interleaved slices
    budget: float  # the whole run


FULL = Limits(seq_warmup=300, seq_count=2_000_000, seq_time=5.0,
              pipe_count=5_000_000, pipe_time=5.0,
              big_count=50_000, big_time=5.0,
              deflate_count=20_000, deflate_time=5.0,
              handshake_count=30_000, handshake_time=5.0,
              idle_connections=1000, idle_time=60.0,
              scale_connections=10_000, scale_time=150.0, rounds=5, budget=570.0)
QUICK = Limits(seq_warmup=50, seq_count=500_000, seq_time=1.0,
               pipe_count=1_000_000, pipe_time=1.0,
               big_count=5_000, big_time=0.6,
               deflate_count=1_000, deflate_time=0.6,
               handshake_count=3_000, handshake_time=0.6,
               idle_connections=1000, idle_time=15.0,
               scale_connections=2000, scale_time=30.0, rounds=2, budget=57.0)


class BenchError(Exception):
    """A scenario could not be completed against one server; becomes an error cell."""


class Mismatch(BenchError):
    """A reply differed from what was sent."""


class Declined(Exception):
    """The server did not accept an extension the scenario needs."""


# ---------------------------------------------------------------------------------------
# Frames and payloads.


def mask_bytes(data: bytes, key: bytes) -> bytes:
    """XORs `data` with the repeated 4-byte `key`, as one big integer (C speed)."""
    if not data:
        return b""
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def frame_header(first: int, length: int, masked: bool) -> bytes:
    bit = 0x80 if masked else 0
    if length < 126:
        return bytes((first, bit | length))
    if length < 65536:
        return struct.pack("!BBH", first, bit | 126, length)
    return struct.pack("!BBQ", first, bit | 127, length)


def client_frame(opcode: int, payload: bytes, rsv1: bool = False) -> bytes:
    """A whole masked frame, built once and sent many times."""
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    return frame_header(first, len(payload), True) + MASK_KEY + mask_bytes(payload, MASK_KEY)


def server_frame(opcode: int, payload: bytes) -> bytes:
    """The unmasked single frame an echo server is expected to send back."""
    return frame_header(0x80 | opcode, len(payload), False) + payload


def length_prefixed(payload: bytes) -> bytes:
    return struct.pack("!I", len(payload)) + payload


def make_payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def make_small_text() -> bytes:
    text = "bench 32-byte echo, ok: 0123456."  # ASCII, exactly 32 bytes
    assert len(text) == SMALL_SIZE
    return text.encode("ascii")


_WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "socket",
    "frame", "handshake", "deflate", "window", "buffer", "thread", "latency", "stream",
    "close", "ping", "pong", "mask", "opcode", "payload", "header", "server", "client",
    "upgrade", "origin", "protocol", "extension", "message", "binary", "text", "utf8",
    "reason", "status", "timeout", "request", "response", "accept", "key",
]


def make_json_text(size: int = DEFLATE_SIZE, seed: int = 6455) -> bytes:
    """Deterministic JSON of exactly `size` bytes: records of mixed words and numbers."""
    rng = random.Random(seed)
    records: list[dict] = []
    text = "[]"
    while True:
        record = {
            "id": rng.randrange(10**9),
            "user": f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}{rng.randrange(1000)}",
            "email": f"{rng.choice(_WORDS)}.{rng.choice(_WORDS)}@example.org",
            "active": rng.random() < 0.5,
            "score": round(rng.random() * 1000, 3),
            "tags": rng.sample(_WORDS, rng.randint(1, 4)),
            "created": f"20{rng.randint(10, 25):02d}-{rng.randint(1, 12):02d}-"
                       f"{rng.randint(1, 28):02d}T{rng.randrange(24):02d}:"
                       f"{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
            "note": " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 14))),
        }
        candidate = json.dumps(records + [record], separators=(",", ":"))
        if len(candidate) > size - 64:
            break
        records.append(record)
        text = candidate
    pad = size - len(text) - len(',{"pad":""}')
    text = json.dumps(records + [{"pad": "." * pad}], separators=(",", ":"))
    assert len(text) == size, len(text)
    return text.encode("ascii")


# ---------------------------------------------------------------------------------------
# The client: buffered readers over raw sockets.


class Conn:
    """A socket with a receive buffer; subclasses know how messages are framed."""

    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        self.sock = sock
        self.buf = bytearray(leftover)
        self.pos = 0
        self.wire_in = 0  # bytes of replies consumed (headers and payloads)

    def fill(self) -> None:
        """Receives at least one byte (or raises); on a non-blocking socket, what is there."""
        data = self.sock.recv(RECV_SIZE)
        if not data:
            raise BenchError("server closed the connection")
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data

    def parse_message(self):
        """(opcode, payload, compressed, wire_bytes) of the next whole message, or None."""
        raise NotImplementedError

    def take_expected(self, expected_wire: bytes, expected_payload: bytes,
                      expected_opcode: int | None, max_count: int,
                      expected_block: bytes | None = None) -> int:
        """Consumes replies already buffered, up to `max_count`; returns how many.

        The common case compares whole runs of the expected reply frame at once; any
        other framing (fragments, control frames) goes through the full parser and its
        payload is compared instead. Anything else raises Mismatch.
        """
        size = len(expected_wire)
        taken = 0
        while taken < max_count:
            buf, pos = self.buf, self.pos
            avail = len(buf) - pos
            k = min(avail // size, max_count - taken)
            if k:
                if expected_block is not None and k * size <= len(expected_block):
                    same = buf[pos:pos + k * size] == expected_block[:k * size]
                else:
                    same = buf[pos:pos + k * size] == expected_wire * k
                if same:
                    self.pos = pos + k * size
                    self.wire_in += k * size
                    taken += k
                    continue
                # Consume the leading exact matches, then parse the odd one out.
                while buf.startswith(expected_wire, pos):
                    pos += size
                    taken += 1
                    self.wire_in += size
                self.pos = pos
            elif avail < 2 or buf.startswith(expected_wire[:min(avail, size)], pos):
                return taken  # an incomplete copy of the expected reply: wait for more
            message = self.parse_message()
            if message is None:
                return taken
            opcode, payload, compressed, _ = message
            if compressed or opcode != expected_opcode or payload != expected_payload:
                raise Mismatch(describe_mismatch(opcode, payload, expected_opcode,
                                                 expected_payload, compressed))
            taken += 1
        return taken

    def read_message(self):
        """Blocks (socket timeout) until a whole message is buffered, and returns it."""
        while True:
            message = self.parse_message()
            if message is not None:
                return message
            self.fill()


def describe_mismatch(opcode, payload, expected_opcode, expected_payload, compressed=False):
    if opcode == OP_CLOSE:
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        return f"server sent close ({code}) instead of the echo"
    if compressed:
        return "reply compressed although no compression was negotiated"
    if opcode != expected_opcode:
        return f"reply opcode {opcode}, expected {expected_opcode}"
    if len(payload) != len(expected_payload):
        return f"reply of {len(payload)} bytes, expected {len(expected_payload)}"
    first = next(i for i, (a, b) in enumerate(zip(payload, expected_payload)) if a != b)
    return f"reply differs from the message at byte {first}"


class WsConn(Conn):
    """The client side of one WebSocket connection."""

    def __init__(self, sock: socket.socket, leftover: bytes, extensions: str | None) -> None:
        super().__init__(sock, leftover)
        self.extensions = extensions
        self.inflater = None
        self.pongs_sent = 0

    def parse_message(self):
        buf = self.buf
        end = len(buf)
        p = self.pos
        start = p
        opcode = None
        compressed = False
        parts = []
        late_controls = []
        while True:
            if end - p < 2:
                return None
            b0 = buf[p]
            b1 = buf[p + 1]
            if b1 & 0x80:
                raise BenchError("server sent a masked frame")
            length = b1 & 0x7F
            h = 2
            if length == 126:
                if end - p < 4:
                    return None
                length = int.from_bytes(buf[p + 2:p + 4], "big")
                h = 4
            elif length == 127:
                if end - p < 10:
                    return None
                length = int.from_bytes(buf[p + 2:p + 10], "big")
                h = 10
            if end - p < h + length:
                return None
            op = b0 & 0x0F
            payload = bytes(buf[p + h:p + h + length])
            p += h + length
            if op >= 8:
                if op == OP_CLOSE:
                    if opcode is not None:
                        raise BenchError("close frame inside a fragmented message")
                    self.pos = p
                    self.wire_in += p - start
                    return OP_CLOSE, payload, False, p - start
                if opcode is None:  # a control frame on its own: handle it now
                    self.pos = p
                    self.wire_in += p - start
                    start = p
                    self._control(op, payload)
                else:
                    late_controls.append((op, payload))
                continue
            if opcode is None:
                if op == OP_CONT:
                    raise BenchError("continuation frame without a message")
                opcode = op
                compressed = bool(b0 & 0x40)
            elif op != OP_CONT:
                raise BenchError("new data frame inside a fragmented message")
            parts.append(payload)
            if b0 & 0x80:
                break
        self.pos = p
        self.wire_in += p - start
        for op, payload in late_controls:
            self._control(op, payload)
        payload = parts[0] if len(parts) == 1 else b"".join(parts)
        if compressed:
            if self.inflater is None:
                raise BenchError("RSV1 set although permessage-deflate was not negotiated")
            payload = self.inflater.decompress(payload + DEFLATE_TAIL)
        return opcode, payload, False, p - start

    def _control(self, op: int, payload: bytes) -> None:
        if op == OP_PING:
            self.sock.sendall(client_frame(OP_PONG, payload))
            self.pongs_sent += 1
        elif op != OP_PONG:
            raise BenchError(f"unknown control opcode {op}")

    def close(self, wait: bool = False) -> None:
        """Sends a close frame; with `wait`, reads the server's close and its TCP close.

        With `wait`, a server that has not closed TCP within CLOSE_WAIT seconds after
        the closing handshake raises socket.timeout (the socket is closed all the same).
        """
        try:
            self.sock.sendall(CLOSE_FRAME)
            if wait:
                self.sock.settimeout(CLOSE_WAIT)
                while True:
                    opcode, _, _, _ = self.read_message()
                    if opcode == OP_CLOSE:
                        break
                while self.sock.recv(RECV_SIZE):
                    pass
        finally:
            self.sock.close()


class RawConn(Conn):
    """The client side of one length-prefixed TCP connection (the floor)."""

    def parse_message(self):
        buf, p = self.buf, self.pos
        if len(buf) - p < 4:
            return None
        length = int.from_bytes(buf[p:p + 4], "big")
        if len(buf) - p < 4 + length:
            return None
        payload = bytes(buf[p + 4:p + 4 + length])
        self.pos = p + 4 + length
        self.wire_in += 4 + length
        return None, payload, False, 4 + length

    def close(self, wait: bool = False) -> None:
        try:
            if wait:
                self.sock.shutdown(socket.SHUT_WR)
                self.sock.settimeout(CLOSE_WAIT)
                while self.sock.recv(RECV_SIZE):
                    pass
        finally:
            self.sock.close()


CLOSE_FRAME = client_frame(OP_CLOSE, struct.pack("!H", 1000))
_REQUESTS: dict[tuple[int, str | None], bytes] = {}


def upgrade_request(port: int, extensions: str | None) -> bytes:
    request = _REQUESTS.get((port, extensions))
    if request is None:
        lines = [
            "GET /echo HTTP/1.1",
            f"Host: {HOST}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {CLIENT_KEY}",
            "Sec-WebSocket-Version: 13",
        ]
        if extensions:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        _REQUESTS[(port, extensions)] = request
    return request


def tcp_connect(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if TLS_CLIENT is not None:  # the TLS handshake happens here, bounded by the timeout
        try:
            sock = TLS_CLIENT.wrap_socket(sock, server_hostname=HOST)
        except BaseException:
            sock.close()
            raise
    return sock


def tls_server_args(name: str) -> list[str]:
    """What each server is started with under --tls (nothing without it)."""
    if TLS_CLIENT is None:
        return []
    key = os.path.join(CERT_DIR, "server-key.pem")
    cert = os.path.join(CERT_DIR, "server.pem")
    if name in ("mod_ws", "mod_ws-pure", "pywebsocket3"):
        return ["--tls", "-k", key, "-c", cert] + (["--http2"] if H2_MODE else [])
    return ["--tls", cert, key]  # bench/websockets_server.py, bench/raw_echo_server.py


def ws_connect(port: int, offer: str | None = None) -> WsConn:
    """Opens a connection and completes the opening handshake, checking the accept key
    (under --h2, an extended CONNECT answered 200)."""
    sock = tcp_connect(port)
    if H2_MODE:
        from h2_socket import H2StreamSocket  # the h2 library: only under --h2

        try:
            stream = H2StreamSocket(sock, "/echo", f"{HOST}:{port}", offer)
        except BaseException:
            sock.close()
            raise
        return WsConn(stream, b"", stream.header("sec-websocket-extensions"))
    try:
        sock.sendall(upgrade_request(port, offer))
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                raise BenchError("connection closed during the opening handshake")
            data += chunk
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(data) > 65536:
                raise BenchError("no end to the 101 response headers")
        lines = data[:end].decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise BenchError(f"handshake refused: {lines[0]!r}")
        headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        accept = headers.get("sec-websocket-accept", [None])[0]
        if accept != EXPECTED_ACCEPT:
            raise BenchError(f"wrong Sec-WebSocket-Accept {accept!r}")
        extensions = ", ".join(headers.get("sec-websocket-extensions", [])) or None
        return WsConn(sock, data[end + 4:], extensions)
    except BaseException:
        sock.close()
        raise


def raw_connect(port: int) -> RawConn:
    return RawConn(tcp_connect(port))


class Protocol:
    """What one server speaks, with the pre-built messages and expected replies."""

    def __init__(self, websocket: bool) -> None:
        self.websocket = websocket
        small = make_small_text()
        big = make_payload(BIG_SIZE, 1)
        if websocket:
            self.small = (client_frame(OP_TEXT, small), server_frame(OP_TEXT, small), small, OP_TEXT)
            self.big = (client_frame(OP_BINARY, big), server_frame(OP_BINARY, big), big, OP_BINARY)
        else:
            self.small = (length_prefixed(small), length_prefixed(small), small, None)
            self.big = (length_prefixed(big), length_prefixed(big), big, None)
        self.small_block = self.small[1] * PIPELINE_DEPTH
        self.small_sends = [self.small[0] * k for k in range(PIPELINE_DEPTH + 1)]

    def connect(self, port: int) -> Conn:
        return ws_connect(port) if self.websocket else raw_connect(port)


# ---------------------------------------------------------------------------------------
# Servers.


def read_cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads, live and exited), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    # Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def read_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError("no VmRSS in /proc status")


def client_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


_BANNER = re.compile(r"listening on \[?[0-9a-fA-F.:]*?\]?:(\d+)")
_ORIGINAL_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)

# CPU pinning (set by main from --pin): the client process runs on CLIENT_CPUS and every
# server on SERVER_CPUS, so the scheduler cannot move them onto one core or spread a
# threaded server over both. Empty sets mean no pinning.
CLIENT_CPUS: set[int] = set()
SERVER_CPUS: set[int] = set()


def parse_pin(value: str) -> tuple[set[int], set[int]]:
    """'CLIENT:SERVER' CPU numbers (e.g. '0:1'), 'auto' (first and last CPU) or 'off'."""
    if value == "off":
        return set(), set()
    available = sorted(os.sched_getaffinity(0))
    if value == "auto":
        if len(available) < 2:
            return set(), set()
        return {available[0]}, {available[-1]}
    try:
        client, server = (int(part) for part in value.split(":"))
    except ValueError:
        raise SystemExit(f"bench: --pin {value!r}: expected CLIENT:SERVER CPU numbers, 'auto' or 'off'")
    if client not in available or server not in available:
        raise SystemExit(f"bench: --pin {value!r}: CPUs available are {available}")
    return {client}, {server}



class ServerProcess:
    """One server subprocess, started and stopped by its PID."""

    def __init__(self, name: str, log_dir: str, tag: str, deflate: bool = False) -> None:
        self.name = name
        self.websocket = name != "raw"
        self.log_path = os.path.join(log_dir, f"{tag}-{name}.log")
        py = sys.executable
        self.port = 0
        self.env = None
        if name in ("mod_ws", "mod_ws-pure"):
            self.argv = [py, "-m", "mod_ws", "-H", HOST, "-p", "0", "-d", "example"]
            if name == "mod_ws-pure":
                self.env = dict(os.environ, MOD_WS_NO_SPEEDUPS="1")
        elif name == "pywebsocket3":
            self.port = free_port()
            self.argv = [py, "-m", "pywebsocket3.standalone", "-H", HOST, "-p", str(self.port),
                         "-d", os.path.join("bench", "handlers")]
        elif name == "websockets":
            self.argv = [py, os.path.join(BENCH_DIR, "websockets_server.py"), "--port", "0"]
            if deflate:
                self.argv.append("--deflate")
        elif name == "raw":
            self.argv = [py, os.path.join(BENCH_DIR, "raw_echo_server.py"), "--port", "0"]
        else:
            raise ValueError(name)
        self.argv += tls_server_args(name)
        self.raised_nofile = tag == "scale"
        self.proc: subprocess.Popen | None = None
        self.stop_info: dict | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=self.env)
        # Servers run with the limits the bench was started with, not the client's
        # raised ones (set before the server has opened more than a few files), except
        # in the scale scenario, where they keep the raised limit they inherited.
        if not self.raised_nofile:
            try:
                resource.prlimit(self.proc.pid, resource.RLIMIT_NOFILE, _ORIGINAL_NOFILE)
            except OSError:
                pass
        if SERVER_CPUS:
            os.sched_setaffinity(self.proc.pid, SERVER_CPUS)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} at start-up: "
                                 f"{self.log_tail(3)}")
            if self.port == 0:
                with open(self.log_path, errors="replace") as f:
                    match = _BANNER.search(f.read())
                if match:
                    self.port = int(match.group(1))
            if self.port and self._accepts():
                return
            time.sleep(0.02)
        self.stop()
        raise BenchError(f"{self.name} did not start listening within {timeout:.0f} s")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu(self) -> float:
        if not self.alive():
            raise BenchError(f"{self.name} died (exit {self.proc.returncode}): {self.log_tail(3)}")
        return read_cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        return read_rss_kib(self.pid)

    def stop(self) -> None:
        """SIGTERM, a bounded wait, then SIGKILL, all by PID; notes how it went."""
        proc = self.proc
        if proc is None or proc.poll() is not None or self.stop_info is not None:
            return
        t0 = time.perf_counter()
        killed = False
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=8.0)
        except subprocess.TimeoutExpired:
            killed = True
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5.0)
        except ProcessLookupError:
            pass
        self.stop_info = {"seconds": round(time.perf_counter() - t0, 3),
                          "exit": proc.returncode, "killed": killed}

    def log_lines(self) -> list[str]:
        try:
            with open(self.log_path, errors="replace") as f:
                return [line.rstrip("\n") for line in f if line.strip()]
        except OSError:
            return []

    def log_tail(self, n: int) -> str:
        return " | ".join(self.log_lines()[-n:])

    def notable_log_lines(self) -> list[str]:
        """Everything the server logged except its start-up banner."""
        return [line for line in self.log_lines() if not _BANNER.search(line)]


# ---------------------------------------------------------------------------------------
# Scenarios. Each returns a dict of figures for one server.


class Meter:
    """Server and client CPU, and wall-clock time, around one measured slice."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def __enter__(self):
        self.server_cpu0 = self.server.cpu()
        self.client_cpu0 = client_cpu_seconds()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.elapsed = time.perf_counter() - self.t0
        self.client_cpu = client_cpu_seconds() - self.client_cpu0
        if exc[0] is None:
            self.server_cpu = self.server.cpu() - self.server_cpu0


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


class Scenario:
    """One throughput scenario against one server, measured in slices.

    `setup` connects and warms up (not measured); `run_slice` does up to `max_count`
    units of work for about `seconds` and returns how many it did; the driver meters
    each slice and adds the slices up, so the servers' slices can be interleaved.
    """

    name = ""

    def __init__(self, server: ServerProcess, proto: Protocol, limits: Limits) -> None:
        self.server = server
        self.proto = proto
        self.limits = limits
        self.count = 0
        self.elapsed = 0.0
        self.server_cpu = 0.0
        self.client_cpu = 0.0
        self.slices = 0

    @property
    def total_time(self) -> float:
        return getattr(self.limits, f"{self.name}_time")

    @property
    def max_count(self) -> int:
        return getattr(self.limits, f"{self.name}_count")

    def setup(self) -> None:
        pass

    def once(self) -> None:
        """One unit of work (an echo, a handshake) for scenarios timed one at a time."""
        raise NotImplementedError

    def run_slice(self, seconds: float, max_count: int) -> int:
        """Repeats `once` until the slice's time or count runs out; returns the count."""
        deadline = time.perf_counter() + seconds
        n = 0
        while n < max_count:
            self.once()
            n += 1
            if time.perf_counter() > deadline:
                break
        return n

    def close(self) -> None:
        pass

    def measure(self, seconds: float) -> None:
        left = self.max_count - self.count
        if left <= 0:
            return
        with Meter(self.server) as m:
            done = self.run_slice(seconds, left)
        self.count += done
        self.elapsed += m.elapsed
        self.server_cpu += m.server_cpu
        self.client_cpu += m.client_cpu
        self.slices += 1

    def figures(self) -> dict:
        raise NotImplementedError

    def _common(self, unit: str) -> dict:
        if not self.count:
            raise BenchError(f"no {unit} completed")
        return {unit: self.count, "seconds": self.elapsed, "slices": self.slices,
                "server_cpu_s": self.server_cpu, "client_cpu_s": self.client_cpu}


def echo_one(conn: Conn, send: bytes, wire: bytes, payload: bytes, opcode) -> None:
    conn.sock.sendall(send)
    while not conn.take_expected(wire, payload, opcode, 1):
        conn.fill()


class SeqScenario(Scenario):
    """1. One 32-byte text message at a time on one connection."""

    name = "seq"

    def setup(self) -> None:
        self.conn = self.proto.connect(self.server.port)
        for _ in range(self.limits.seq_warmup):
            echo_one(self.conn, *self.proto.small)
        self.latencies: list[int] = []

    def run_slice(self, seconds: float, max_count: int) -> int:
        send, wire, payload, opcode = self.proto.small
        conn = self.conn
        sendall = conn.sock.sendall
        take, fill = conn.take_expected, conn.fill
        clock = time.perf_counter_ns
        latencies = self.latencies
        deadline = clock() + int(seconds * 1e9)
        n = 0
        while n < max_count:
            t0 = clock()
            sendall(send)
            while not take(wire, payload, opcode, 1):
                fill()
            t1 = clock()
            latencies.append(t1 - t0)
            n += 1
            if t1 > deadline:
                break
        return n

    def close(self) -> None:
        self.conn.close()

    def figures(self) -> dict:
        result = self._common("messages")
        latencies = sorted(self.latencies)
        result.update({
            "p50_us": percentile(latencies, 0.50) / 1000,
            "p99_us": percentile(latencies, 0.99) / 1000,
            "msgs_per_s": self.count / self.elapsed,
            "server_cpu_us_per_msg": self.server_cpu / self.count * 1e6,
            "client_cpu_us_per_msg": self.client_cpu / self.count * 1e6,
        })
        return result


def run_pipelined(conns: list[Conn], proto: Protocol, total: int, seconds: float,
                  drain_seconds: float = 15.0) -> tuple[int, int, bool]:
    """Keeps exactly PIPELINE_DEPTH messages in flight on every connection.

    One thread and a selector: each reply that arrives lets one more message go out,
    until `total` messages were sent or `seconds` passed; then the replies still in
    flight are drained for at most `drain_seconds`. Returns (replies, sent, drained).
    """
    _, wire, payload, opcode = proto.small
    block = proto.small_block
    sends = proto.small_sends
    if len(conns) == 1:
        return _run_pipelined_one(conns[0], proto, total, seconds, drain_seconds)
    sel = selectors.DefaultSelector()
    outbox: dict[Conn, bytearray] = {}
    inflight: dict[Conn, int] = {}
    sent = replies = 0
    try:
        for conn in conns:
            conn.sock.setblocking(False)
            outbox[conn] = bytearray()
            inflight[conn] = 0
            sel.register(conn.sock, selectors.EVENT_READ, conn)

        def queue(conn: Conn, k: int) -> None:
            out = outbox[conn]
            if out:
                out += sends[k]
            else:
                try:
                    n = conn.sock.send(sends[k])
                except BlockingIOError:
                    n = 0
                if n < len(sends[k]):
                    out += sends[k][n:]
                    sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
            inflight[conn] += k

        for conn in conns:
            k = min(PIPELINE_DEPTH, total - sent)
            if k > 0:
                queue(conn, k)
                sent += k
        now = time.perf_counter()
        stop_sending_at = now + seconds
        give_up_at = stop_sending_at + drain_seconds
        sending = True
        select = sel.select
        while replies < sent:
            events = select(1.0)
            now = time.perf_counter()
            if sending and (now >= stop_sending_at or sent >= total):
                sending = False
            if now >= give_up_at:
                return replies, sent, False
            for key, mask in events:
                conn = key.data
                if mask & selectors.EVENT_WRITE:
                    out = outbox[conn]
                    try:
                        n = conn.sock.send(out)
                        del out[:n]
                    except BlockingIOError:
                        pass
                    if not out:
                        sel.modify(conn.sock, selectors.EVENT_READ, conn)
                if mask & selectors.EVENT_READ:
                    try:
                        conn.fill()
                    except BlockingIOError:
                        continue
                    k = conn.take_expected(wire, payload, opcode, inflight[conn], block)
                    if k:
                        inflight[conn] -= k
                        replies += k
                        if sending:
                            k = min(k, total - sent)
                            if k > 0:
                                queue(conn, k)
                                sent += k
        return replies, sent, True
    finally:
        sel.close()
        for conn in conns:
            try:
                conn.sock.setblocking(True)
                conn.sock.settimeout(SOCKET_TIMEOUT)
            except OSError:
                pass


def _run_pipelined_one(conn: Conn, proto: Protocol, total: int, seconds: float,
                       drain_seconds: float) -> tuple[int, int, bool]:
    """run_pipelined for one connection: a blocking loop, cheaper than a selector."""
    _, wire, payload, opcode = proto.small
    block = proto.small_block
    sends = proto.small_sends
    sock = conn.sock
    take = conn.take_expected
    fill = conn.fill
    clock = time.perf_counter
    sent = min(PIPELINE_DEPTH, total)
    sock.sendall(sends[sent])
    replies = 0
    stop_sending_at = clock() + seconds
    sending = True
    give_up_at = None
    try:
        while replies < sent:
            if give_up_at is not None:  # draining: every wait ends by give_up_at
                left = give_up_at - clock()
                if left <= 0:
                    return replies, sent, False
                sock.settimeout(left)
            fill()
            k = take(wire, payload, opcode, sent - replies, block)
            if k:
                replies += k
                if sending:
                    if clock() >= stop_sending_at or sent >= total:
                        sending = False
                        give_up_at = clock() + drain_seconds
                    else:
                        k = min(k, total - sent)
                        sock.sendall(sends[k])
                        sent += k
    except socket.timeout:
        return replies, sent, False
    finally:
        sock.settimeout(SOCKET_TIMEOUT)
    return replies, sent, True


class PipelinedScenario(Scenario):
    """2. 32-byte text messages, 64 in flight on each of `connections` connections."""

    name = "pipe"
    connections = 1

    def setup(self) -> None:
        self.conns: list[Conn] = []
        for _ in range(self.connections):
            self.conns.append(self.proto.connect(self.server.port))
        for conn in self.conns:  # warm up: every connection's handler is running
            for _ in range(10):
                echo_one(conn, *self.proto.small)

    def run_slice(self, seconds: float, max_count: int) -> int:
        replies, sent, drained = run_pipelined(self.conns, self.proto, max_count, seconds)
        if not drained:
            raise BenchError(f"only {replies} of {sent} pipelined replies came back within "
                             f"the drain time")
        return replies

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass

    def figures(self) -> dict:
        result = self._common("messages")
        result.update({
            "connections": self.connections,
            "msgs_per_s": self.count / self.elapsed,
            "server_cpu_us_per_msg": self.server_cpu / self.count * 1e6,
            "client_cpu_us_per_msg": self.client_cpu / self.count * 1e6,
        })
        return result


class Pipelined16Scenario(PipelinedScenario):
    connections = PIPE16_CONNECTIONS


class BigScenario(Scenario):
    """3. One 1 MiB binary message at a time on one connection."""

    name = "big"

    def setup(self) -> None:
        self.conn = self.proto.connect(self.server.port)
        for _ in range(3):
            echo_one(self.conn, *self.proto.big)

    def once(self) -> None:
        echo_one(self.conn, *self.proto.big)

    def close(self) -> None:
        self.conn.close()

    def figures(self) -> dict:
        result = self._common("messages")
        mb = self.count * BIG_SIZE / 1e6
        result.update({
            "mb_per_s": mb / self.elapsed,
            "server_cpu_ms_per_mb": self.server_cpu / mb * 1e3,
            "client_cpu_ms_per_mb": self.client_cpu / mb * 1e3,
        })
        return result


def parse_deflate_response(extensions: str | None) -> dict | None:
    """The parameters the server chose for permessage-deflate, or None if it declined."""
    if not extensions:
        return None
    for item in extensions.split(","):
        parts = [p.strip() for p in item.split(";")]
        if parts[0].lower() != "permessage-deflate":
            continue
        params = {}
        for part in parts[1:]:
            name, _, value = part.partition("=")
            params[name.strip().lower()] = value.strip().strip('"') or None
        return params
    return None


class DeflateScenario(Scenario):
    """4. A 64 KiB JSON text at a time, with permessage-deflate."""

    name = "deflate"

    def setup(self) -> None:
        self.text = make_json_text()
        self.conn = conn = ws_connect(self.server.port, DEFLATE_OFFER)
        params = parse_deflate_response(conn.extensions)
        if params is None:
            conn.close()
            raise Declined(conn.extensions or "no Sec-WebSocket-Extensions in the 101")
        window = int(params.get("client_max_window_bits") or 15)
        if not 8 <= window <= 15:
            raise BenchError(f"bad client_max_window_bits {window}")
        # zlib cannot make raw deflate streams with a 256-byte window; 9 is the floor.
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(window, 9))
        body = compressor.compress(self.text) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert body.endswith(DEFLATE_TAIL)
        # The client resets its compressor for every message (always allowed), so one
        # pre-built, pre-masked frame serves for all of them.
        self.send = client_frame(OP_TEXT, body[:-4], rsv1=True)
        conn.inflater = zlib.decompressobj(-15)
        self.wire = 0
        for _ in range(3):
            self.once()
        self.wire = 0

    def once(self) -> None:
        conn = self.conn
        conn.sock.sendall(self.send)
        before = conn.wire_in
        opcode, payload, _, _ = conn.read_message()
        if opcode != OP_TEXT or payload != self.text:
            raise Mismatch(describe_mismatch(opcode, payload, OP_TEXT, self.text))
        self.wire += conn.wire_in - before


    def close(self) -> None:
        self.conn.close()

    def figures(self) -> dict:
        result = self._common("messages")
        payload = self.count * len(self.text)
        mb = payload / 1e6
        result.update({
            "negotiated": self.conn.extensions,
            "mb_per_s": mb / self.elapsed,
            "ratio": self.wire / payload,
            "client_ratio": len(self.send) / len(self.text),
            "server_cpu_ms_per_mb": self.server_cpu / mb * 1e3,
            "client_cpu_ms_per_mb": self.client_cpu / mb * 1e3,
        })
        return result


class HandshakeScenario(Scenario):
    """5. Connect, upgrade, closing handshake, TCP close; one at a time."""

    name = "handshake"

    def setup(self) -> None:
        self.slow_closes = 0
        for _ in range(20):
            self.once()

    def once(self) -> None:
        conn = self.proto.connect(self.server.port)
        try:
            conn.close(wait=True)
        except socket.timeout:
            self.slow_closes += 1
            if self.slow_closes > 3:
                raise BenchError(f"server left TCP open more than {CLOSE_WAIT:.0f} s after "
                                 f"the closing handshake, {self.slow_closes} times") from None

    def figures(self) -> dict:
        result = self._common("handshakes")
        result.update({
            "slow_tcp_closes": self.slow_closes,
            "per_s": self.count / self.elapsed,
            "server_cpu_us_per_hs": self.server_cpu / self.count * 1e6,
            "client_cpu_us_per_hs": self.client_cpu / self.count * 1e6,
        })
        return result


SLICED = {
    "seq": SeqScenario,
    "pipe1": PipelinedScenario,
    "pipe16": Pipelined16Scenario,
    "big": BigScenario,
    "deflate": DeflateScenario,
    "handshake": HandshakeScenario,
}


def scenario_idle(server: ServerProcess, proto: Protocol, limits: Limits) -> dict:
    """6. N connections opened and held, then one echo on each; RSS growth."""
    send, wire, payload, opcode = proto.small
    target = limits.idle_connections
    deadline = time.perf_counter() + limits.idle_time
    conns: list[Conn] = []
    failures: dict[str, int] = {}

    def fail(reason: str) -> None:
        failures[reason] = failures.get(reason, 0) + 1

    time.sleep(0.2)
    rss0 = server.rss_kib()
    m = Meter(server)
    try:
        with m:
            for _ in range(target):
                if time.perf_counter() > deadline:
                    fail("time cap reached while connecting")
                    break
                try:
                    conns.append(proto.connect(server.port))
                except (OSError, BenchError) as e:
                    fail(f"connect: {e}")
            opened = len(conns)
            connect_seconds = time.perf_counter() - m.t0
            # One echo on each connection, all sent first, replies gathered by a selector.
            sel = selectors.DefaultSelector()
            waiting = set()
            for conn in conns:
                try:
                    conn.sock.sendall(send)
                    conn.sock.setblocking(False)
                    sel.register(conn.sock, selectors.EVENT_READ, conn)
                    waiting.add(conn)
                except OSError as e:
                    fail(f"send: {e}")
            served = 0
            echo_deadline = min(deadline, time.perf_counter() + 20.0) + 2.0
            while waiting and time.perf_counter() < echo_deadline:
                for key, _ in sel.select(0.5):
                    conn = key.data
                    try:
                        conn.fill()
                        got = conn.take_expected(wire, payload, opcode, 1)
                    except BlockingIOError:
                        continue
                    except (OSError, BenchError) as e:
                        fail(f"echo: {e}")
                        got = None
                    if got is None or got:
                        served += got or 0
                        sel.unregister(conn.sock)
                        waiting.discard(conn)
            if waiting:
                fail("no echo within the time cap")
            sel.close()
            time.sleep(0.2)  # let the server settle before reading its memory
            rss1 = server.rss_kib()
    finally:
        for conn in conns:
            try:
                conn.sock.setblocking(True)
                conn.close()
            except OSError:
                pass
    return {
        "target": target,
        "opened": opened,
        "served": served,
        "connect_seconds": connect_seconds,
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "rss_kib_per_conn": (rss1 - rss0) / max(opened, 1),
        "server_cpu_ms": m.server_cpu * 1e3,
        "client_cpu_ms": m.client_cpu * 1e3,
        "failures": failures,
    }


# 7. Scale: many connections held at once, opened by one selector loop.
SCALE_WINDOW = 64  # connections opening at once: below the servers' listen backlog (128)
SCALE_CONN_TIMEOUT = 10.0  # one connection's connect + upgrade + first echo
SCALE_PROBE_ECHOES = 1000  # sequential echoes timed on the probe connection, each time
SCALE_PROBE_WARMUP = 200
SCALE_SAMPLE = 200  # held connections echoed again at the end
SCALE_QUIET = 2.0  # seconds of server CPU measured with all held and none talking
SCALE_RELEASE_WAIT = 15.0  # for the server to drop the connections once closed
SCALE_FD_MARGIN = 128  # descriptors each process keeps for everything else
SCALE_GIVE_UP_AFTER = 200  # consecutive failed connections: stop opening more
# The descriptor limit the scale scenario runs with (set by main, for the bench process
# and inherited by the servers it starts).
SCALE_NOFILE: dict[str, int] = {}


def system_limits() -> dict:
    """What bounds threads and descriptors here, for the record."""
    def read(path):
        try:
            with open(path) as f:
                return f.read().split()[0]
        except (OSError, IndexError):
            return None

    nproc = resource.getrlimit(resource.RLIMIT_NPROC)
    stack = resource.getrlimit(resource.RLIMIT_STACK)
    unlimited = resource.RLIM_INFINITY
    return {
        "threads_max": read("/proc/sys/kernel/threads-max"),
        "pid_max": read("/proc/sys/kernel/pid_max"),
        "max_map_count": read("/proc/sys/vm/max_map_count"),
        "overcommit_memory": read("/proc/sys/vm/overcommit_memory"),
        "pids_cgroup_max": read("/sys/fs/cgroup/pids/pids.max") or read("/sys/fs/cgroup/pids.max"),
        "rlimit_nproc": [("unlimited" if v == unlimited else v) for v in nproc],
        "rlimit_nproc_applies": os.geteuid() != 0,
        "rlimit_stack_kib": [("unlimited" if v == unlimited else v // 1024) for v in stack],
        "rlimit_nofile_original": list(_ORIGINAL_NOFILE),
        "rlimit_nofile_used": [SCALE_NOFILE.get("soft"), SCALE_NOFILE.get("hard")],
        "nr_open": read("/proc/sys/fs/nr_open"),
        "ip_local_port_range": " ".join(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()),
    }


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (KiB), Threads and open descriptors of a process."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    try:
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return out


def probe_latencies(conn: Conn, proto: Protocol, count: int) -> list[int]:
    """`count` sequential 32-byte echoes on one connection; sorted round trips in ns."""
    send, wire, payload, opcode = proto.small
    sendall, take, fill = conn.sock.sendall, conn.take_expected, conn.fill
    clock = time.perf_counter_ns
    latencies = []
    # No collection of the client's own garbage (10,000 sockets and their objects) in
    # the middle of a round trip.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for _ in range(count):
            t0 = clock()
            sendall(send)
            while not take(wire, payload, opcode, 1):
                fill()
            latencies.append(clock() - t0)
    finally:
        if collecting:
            gc.enable()
    latencies.sort()
    return latencies


def _check_101(head: bytes) -> str | None:
    """Why the 101 response head (without its blank line) is wrong, or None."""
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        return f"handshake refused: {lines[0][:60]!r}"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-accept":
            return None if value.strip() == EXPECTED_ACCEPT else "wrong Sec-WebSocket-Accept"
    return "no Sec-WebSocket-Accept"


class _Opening:
    """One connection being opened by open_many: connect, upgrade, one echo."""

    __slots__ = ("sock", "state", "buf", "started")

    def __init__(self, sock: socket.socket, started: float) -> None:
        self.sock = sock
        self.state = 0  # 0 connecting, 1 upgrade sent, 2 echo sent
        self.buf = b""
        self.started = started


def open_many(port: int, proto: Protocol, target: int, seconds: float, alive) -> tuple:
    """Opens up to `target` connections, SCALE_WINDOW at a time, on non-blocking sockets
    and one selector: connect, send the upgrade request (raw bytes), check the 101 and
    its accept key, send one 32-byte echo and check the reply byte for byte. Returns
    (held sockets, failures by reason, seconds, why it stopped early or None)."""
    send, wire, _, _ = proto.small
    request = upgrade_request(port, None) if proto.websocket else None
    sel = selectors.DefaultSelector()
    held: list[socket.socket] = []
    opening: dict[int, _Opening] = {}
    failures: dict[str, int] = {}
    started = next_sweep = time.perf_counter()
    deadline = started + seconds
    begun = 0
    in_a_row = 0
    stopped = None

    def fail(o: _Opening, reason: str) -> None:
        nonlocal in_a_row
        failures[reason] = failures.get(reason, 0) + 1
        in_a_row += 1
        opening.pop(o.sock.fileno(), None)
        try:
            sel.unregister(o.sock)
        except (KeyError, ValueError):
            pass
        o.sock.close()

    def send_echo(o: _Opening) -> None:
        o.state = 2
        if o.sock.send(send) != len(send):  # 38 bytes into an empty buffer
            raise BenchError("short send")

    try:
        while begun < target or opening:
            now = time.perf_counter()
            if stopped is None:
                if now > deadline:
                    stopped = f"time cap ({seconds:.0f} s) reached while opening"
                elif in_a_row >= SCALE_GIVE_UP_AFTER:
                    stopped = f"{in_a_row} connections in a row failed"
                elif not alive():
                    stopped = "the server died"
            if stopped is not None:  # no new ones; those on their way may finish
                if not opening:
                    break
                if now > deadline + SCALE_CONN_TIMEOUT or not alive():
                    for o in list(opening.values()):
                        fail(o, "abandoned when opening stopped")
                    break
            while stopped is None and begun < target and len(opening) < SCALE_WINDOW:
                try:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                except OSError as e:  # out of descriptors on the client side
                    stopped = f"client socket(): {e}"
                    break
                begun += 1
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                o = _Opening(sock, now)
                err = sock.connect_ex((HOST, port))
                opening[sock.fileno()] = o
                if err not in (0, errno.EINPROGRESS):
                    fail(o, f"connect: {os.strerror(err)}")
                    continue
                sel.register(sock, selectors.EVENT_WRITE, o)
            for key, mask in sel.select(0.1):
                o = key.data
                if o.sock.fileno() < 0:  # failed earlier in this batch
                    continue
                try:
                    if o.state == 0:
                        err = o.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            fail(o, f"connect: {os.strerror(err)}")
                            continue
                        if request is None:
                            send_echo(o)
                        else:
                            o.state = 1
                            if o.sock.send(request) != len(request):
                                raise BenchError("short send of the upgrade request")
                        sel.modify(o.sock, selectors.EVENT_READ, o)
                        continue
                    data = o.sock.recv(4096)
                    if not data:
                        fail(o, "server closed the connection" +
                             (" during the upgrade" if o.state == 1 else " before the echo"))
                        continue
                    o.buf += data
                    if o.state == 1:
                        end = o.buf.find(b"\r\n\r\n")
                        if end < 0:
                            if len(o.buf) > 65536:
                                fail(o, "no end to the 101 response headers")
                            continue
                        why = _check_101(o.buf[:end])
                        if why:
                            fail(o, why)
                            continue
                        o.buf = o.buf[end + 4:]
                        send_echo(o)
                        if not o.buf:
                            continue
                    if not wire.startswith(o.buf[:len(wire)]) or len(o.buf) > len(wire):
                        fail(o, "echo reply differs from the message")
                    elif len(o.buf) == len(wire):
                        sel.unregister(o.sock)
                        del opening[o.sock.fileno()]
                        held.append(o.sock)
                        in_a_row = 0
                except BlockingIOError:
                    continue
                except (OSError, BenchError) as e:
                    fail(o, f"{type(e).__name__}: {e}")
            if now >= next_sweep:  # connections that made no progress in time
                next_sweep = now + 0.5
                for o in [o for o in opening.values() if now - o.started > SCALE_CONN_TIMEOUT]:
                    fail(o, ("no connect", "no 101", "no echo")[o.state] +
                         f" within {SCALE_CONN_TIMEOUT:.0f} s")
    except BaseException:
        for sock in held:
            sock.close()
        raise
    finally:
        for o in list(opening.values()):
            o.sock.close()
        sel.close()
    return held, failures, time.perf_counter() - started, stopped


def echo_sample(socks: list[socket.socket], proto: Protocol, seconds: float = 10.0) -> int:
    """One more echo on each of `socks` (non-blocking, one selector); how many answered."""
    send, wire, _, _ = proto.small
    sel = selectors.DefaultSelector()
    bufs: dict[socket.socket, bytes] = {}
    answered = 0
    try:
        for sock in socks:
            try:
                if sock.send(send) == len(send):
                    bufs[sock] = b""
                    sel.register(sock, selectors.EVENT_READ)
            except OSError:
                pass
        deadline = time.perf_counter() + seconds
        while bufs and time.perf_counter() < deadline:
            for key, _ in sel.select(0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                buf = bufs[sock] + data
                if data and len(buf) < len(wire) and wire.startswith(buf):
                    bufs[sock] = buf
                    continue
                answered += buf == wire
                sel.unregister(sock)
                del bufs[sock]
    finally:
        sel.close()
    return answered


def scenario_scale(server: ServerProcess, proto: Protocol, limits: Limits) -> dict:
    """7. The echo round trip on one connection with none held, then with N held (each
    opened with a handshake and one echo); RSS growth per connection held."""
    requested = limits.scale_connections
    soft = SCALE_NOFILE.get("soft") or resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    # Client and server are separate processes, each needing one descriptor per
    # connection plus a margin: the per-process limit bounds what can be held.
    target = max(1, min(requested, soft - SCALE_FD_MARGIN))
    capped = (f"RLIMIT_NOFILE {soft} allows {target} per process" if target < requested
              else None)
    result: dict = {"target": requested, "attempted": target, "capped": capped}
    time.sleep(0.2)
    probe = proto.connect(server.port)
    held: list[socket.socket] = []
    before: dict[str, int] = {}
    try:
        probe_latencies(probe, proto, SCALE_PROBE_WARMUP)
        time.sleep(1.0)  # past the start-up: a threaded server's spare threads settle
        idle = probe_latencies(probe, proto, SCALE_PROBE_ECHOES)
        time.sleep(0.2)
        before = proc_status(server.pid)
        cpu0, client0 = server.cpu(), client_cpu_seconds()
        held, failures, seconds, stopped = open_many(
            server.port, proto, target, limits.scale_time, server.alive)
        server_cpu, client_cpu = server.cpu() - cpu0, client_cpu_seconds() - client0
        time.sleep(0.5)  # let the server settle before reading its memory
        after = proc_status(server.pid)
        # What the server burns with every connection held and none of them talking.
        quiet0, t0 = server.cpu(), time.perf_counter()
        time.sleep(SCALE_QUIET)
        quiet_cpu = (server.cpu() - quiet0) / (time.perf_counter() - t0)
        busy = probe_latencies(probe, proto, SCALE_PROBE_ECHOES)
        step = max(1, len(held) // SCALE_SAMPLE)
        sample = held[::step][:SCALE_SAMPLE]
        sample_ok = echo_sample(sample, proto)
        final = proc_status(server.pid)
    finally:
        # A close frame on each (the raw floor: none), a moment for the server to read
        # them, then every socket closed.
        if proto.websocket and held:
            for sock in held:
                try:
                    sock.send(CLOSE_FRAME)
                except OSError:
                    pass
            time.sleep(min(3.0, 0.5 + len(held) / 5000))
        for sock in held:
            sock.close()
        try:
            probe.close()
        except OSError:
            pass
    # How long the server takes to let go of the connections (its descriptor count back
    # near where it started), bounded.
    t0 = time.perf_counter()
    release = None
    while server.alive() and time.perf_counter() - t0 < SCALE_RELEASE_WAIT:
        fds = proc_status(server.pid).get("fds")
        if fds is None or fds <= (before.get("fds") or 0) + 24:
            release = time.perf_counter() - t0
            break
        time.sleep(0.1)
    served = len(held)
    result.update({
        "served": served,
        "stopped": stopped,
        "failures": failures,
        "connect_seconds": seconds,
        "conns_per_s": served / seconds if seconds else None,
        "server_cpu_us_per_conn": server_cpu / max(served, 1) * 1e6,
        "client_cpu_us_per_conn": client_cpu / max(served, 1) * 1e6,
        "rss_before_kib": before["VmRSS"],
        "rss_after_kib": after["VmRSS"],
        "rss_kib_per_conn": (after["VmRSS"] - before["VmRSS"]) / max(served, 1),
        "threads_before": before["Threads"],
        "threads_held": after["Threads"],
        "fds_before": before.get("fds"),
        "fds_held": after.get("fds"),
        "rss_end_kib": final["VmRSS"],
        "server_cpu_pct_quiet": quiet_cpu * 100,
        "release_seconds": release,
        "p50_idle_us": percentile(idle, 0.50) / 1000,
        "p99_idle_us": percentile(idle, 0.99) / 1000,
        "p50_held_us": percentile(busy, 0.50) / 1000,
        "p99_held_us": percentile(busy, 0.99) / 1000,
        "probe_echoes": SCALE_PROBE_ECHOES,
        "sample": len(sample),
        "sample_answered": sample_ok,
    })
    result["p99_ratio"] = result["p99_held_us"] / result["p99_idle_us"]
    return result


# ---------------------------------------------------------------------------------------
# The run.

ROWS = [  # (scenario, figure, label, format)
    ("seq", "p50_us", "seq 32B   p50 latency (us)", "f1"),
    ("seq", "p99_us", "seq 32B   p99 latency (us)", "f1"),
    ("seq", "msgs_per_s", "seq 32B   msgs/s", "int"),
    ("seq", "server_cpu_us_per_msg", "seq 32B   server CPU us/msg", "f2"),
    ("seq", "client_cpu_us_per_msg", "seq 32B   client CPU us/msg", "f2"),
    ("pipe1", "msgs_per_s", "pipe x64 1 conn   msgs/s", "int"),
    ("pipe1", "server_cpu_us_per_msg", "pipe x64 1 conn   server CPU us/msg", "f2"),
    ("pipe1", "client_cpu_us_per_msg", "pipe x64 1 conn   client CPU us/msg", "f2"),
    ("pipe16", "msgs_per_s", "pipe x64 16 conns msgs/s", "int"),
    ("pipe16", "server_cpu_us_per_msg", "pipe x64 16 conns server CPU us/msg", "f2"),
    ("pipe16", "client_cpu_us_per_msg", "pipe x64 16 conns client CPU us/msg", "f2"),
    ("big", "mb_per_s", "1 MiB binary   MB/s", "f1"),
    ("big", "server_cpu_ms_per_mb", "1 MiB binary   server CPU ms/MB", "f3"),
    ("big", "client_cpu_ms_per_mb", "1 MiB binary   client CPU ms/MB", "f3"),
    ("deflate", "mb_per_s", "64K deflate   MB/s", "f1"),
    ("deflate", "ratio", "64K deflate   ratio wire/payload", "f3"),
    ("deflate", "server_cpu_ms_per_mb", "64K deflate   server CPU ms/MB", "f2"),
    ("deflate", "client_cpu_ms_per_mb", "64K deflate   client CPU ms/MB", "f2"),
    ("handshake", "per_s", "handshakes/s", "int"),
    ("handshake", "server_cpu_us_per_hs", "handshake server CPU us/hs", "int"),
    ("handshake", "client_cpu_us_per_hs", "handshake client CPU us/hs", "int"),
    ("idle", "served", "idle conns served (of N)", "served"),
    ("idle", "rss_kib_per_conn", "idle conns RSS KiB/conn", "f1"),
    ("idle", "connect_seconds", "idle conns time to open all (s)", "f2"),
    ("scale", "served", "scale: conns served (of N)", "served"),
    ("scale", "rss_kib_per_conn", "scale: RSS KiB/conn", "f1"),
    ("scale", "connect_seconds", "scale: time to open all (s)", "f1"),
    ("scale", "server_cpu_us_per_conn", "scale: server CPU us/conn opened", "int"),
    ("scale", "threads_held", "scale: server threads, all held", "int"),
    ("scale", "server_cpu_pct_quiet", "scale: server CPU % all held, quiet", "f1"),
    ("scale", "p50_idle_us", "scale: echo p50, none held (us)", "f1"),
    ("scale", "p99_idle_us", "scale: echo p99, none held (us)", "f1"),
    ("scale", "p50_held_us", "scale: echo p50, all held (us)", "f1"),
    ("scale", "p99_held_us", "scale: echo p99, all held (us)", "f1"),
    ("scale", "sample_answered", "scale: sample re-echoed at the end", "sample"),
]


def fmt(value, kind: str, result: dict) -> str:
    if value is None:
        return "-"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "served":
        return f"{value}/{result.get('target')}"
    if kind == "sample":
        return f"{value}/{result.get('sample')}"
    return f"{value:,.{kind[1]}f}"


def cell(results: dict, scenario: str, server: str, figure: str, kind: str) -> str:
    result = results.get(scenario, {}).get(server)
    if result is None:
        return ""
    if "error" in result:
        return "ERROR*"
    if "declined" in result:
        return "declined"
    if "n/a" in result:
        return "n/a"
    if "skipped" in result:
        return "skipped"
    return fmt(result.get(figure), kind, result)


def render_table(results: dict, servers: list[str], scenarios: list[str]) -> str:
    rows = [r for r in ROWS if r[0] in scenarios]
    label_width = max(len(r[2]) for r in rows)
    cells = [[cell(results, s, srv, f, k) for srv in servers] for s, f, _, k in rows]
    widths = [max(len(srv), *(len(c[i]) for c in cells)) for i, srv in enumerate(servers)]
    lines = ["  ".join([" " * label_width] + [srv.rjust(w) for srv, w in zip(servers, widths)])]
    lines.append("-" * len(lines[0]))
    previous = None
    for (scenario, _, label, _), row in zip(rows, cells):
        if previous is not None and scenario != previous:
            lines.append("")
        previous = scenario
        lines.append("  ".join([label.ljust(label_width)] +
                               [c.rjust(w) for c, w in zip(row, widths)]))
    return "\n".join(lines)


def figure(results: dict, scenario: str, server: str, name: str):
    result = results.get(scenario, {}).get(server)
    if not result or any(k in result for k in ("error", "declined", "n/a", "skipped")):
        return None
    return result.get(name)


def summarize(results: dict, servers: list[str], ours: str = "mod_ws") -> list[dict]:
    """`ours`'s ratios against the peers and mod_ws's targets, each met or not."""
    if ours not in servers:
        return []
    lines: list[dict] = []

    def get(scenario, name, server=ours):
        return figure(results, scenario, server, name)

    def ratios(scenario, name):
        mine = get(scenario, name)
        out = []
        for peer in ("raw", "websockets", "pywebsocket3"):
            theirs = get(scenario, name, peer)
            if peer in servers and mine is not None and theirs:
                out.append(f"/{peer} {mine / theirs:.2f}x")
        return " ".join(out) or "no peer figures"

    def target(scenario_list, text, ok, detail):
        if not all(s in results for s in scenario_list):
            return
        lines.append({"target": text, "met": ok, "detail": detail})

    if H2_MODE:
        return lines  # no peer speaks RFC 8441: the figures stand beside a --tls run's
    if TLS_CLIENT is not None:
        # Over TLS: the 1 MiB echo and the handshakes at least the websockets library's.
        for scenario, name, unit, text in (
                ("big", "mb_per_s", "MB/s", "1 MiB over wss: MB/s >= websockets"),
                ("handshake", "per_s", "/s", "TLS handshakes/s >= websockets")):
            mine, theirs = get(scenario, name), get(scenario, name, "websockets")
            target([scenario], text, mine is not None and theirs is not None and mine >= theirs,
                   f"{ours} {mine:,.1f} {unit}; " + ratios(scenario, name)
                   if mine is not None else f"no {ours} figure")
        return lines
    # 1. Sequential: server CPU per message within 1.1x of the raw floor.
    cpu = get("seq", "server_cpu_us_per_msg")
    floor = get("seq", "server_cpu_us_per_msg", "raw")
    target(["seq"], "seq 32B: server CPU/msg <= 1.1x raw floor",
           cpu is not None and floor is not None and cpu <= 1.1 * floor,
           f"{ours} {cpu:.2f} us/msg; " + ratios("seq", "server_cpu_us_per_msg")
           if cpu is not None else f"no {ours} figure")
    # 2. Pipelined: >= 100,000 msgs/s and <= 8 us server CPU per message, 1 and 16 conns.
    for scenario, label in (("pipe1", "1 conn"), ("pipe16", "16 conns")):
        rate = get(scenario, "msgs_per_s")
        cpu = get(scenario, "server_cpu_us_per_msg")
        target([scenario], f"pipelined {label}: >= 100,000 msgs/s",
               rate is not None and rate >= 100_000,
               f"{ours} {rate:,.0f} msgs/s; " + ratios(scenario, "msgs_per_s")
               if rate is not None else f"no {ours} figure")
        target([scenario], f"pipelined {label}: server CPU <= 8 us/msg",
               cpu is not None and cpu <= 8.0,
               f"{ours} {cpu:.2f} us/msg; " + ratios(scenario, "server_cpu_us_per_msg")
               if cpu is not None else f"no {ours} figure")
    # 3. 1 MiB: >= 0.8x raw floor throughput and <= 0.8 ms/MB server CPU.
    rate = get("big", "mb_per_s")
    floor = get("big", "mb_per_s", "raw")
    target(["big"], "1 MiB: throughput >= 0.8x raw floor",
           rate is not None and floor is not None and rate >= 0.8 * floor,
           f"{ours} {rate:.1f} MB/s; " + ratios("big", "mb_per_s")
           if rate is not None else f"no {ours} figure")
    cpu = get("big", "server_cpu_ms_per_mb")
    target(["big"], "1 MiB: server CPU <= 0.8 ms/MB",
           cpu is not None and cpu <= 0.8,
           f"{ours} {cpu:.3f} ms/MB; " + ratios("big", "server_cpu_ms_per_mb")
           if cpu is not None else f"no {ours} figure")
    # 4. Deflate: >= 1.5x websockets MB/s at an equal or better ratio.
    if "deflate" in results:
        deflate_result = results["deflate"].get(ours, {})
        rate, ratio = get("deflate", "mb_per_s"), get("deflate", "ratio")
        peer_rate = get("deflate", "mb_per_s", "websockets")
        peer_ratio = get("deflate", "ratio", "websockets")
        if "declined" in deflate_result:
            detail = f"{ours} declined permessage-deflate"
        elif rate is None:
            detail = f"no {ours} figure"
        else:
            detail = (f"{ours} {rate:.1f} MB/s at ratio {ratio:.3f}; " +
                      ratios("deflate", "mb_per_s") +
                      (f"; websockets ratio {peer_ratio:.3f}" if peer_ratio else "") +
                      "; server CPU " + ratios("deflate", "server_cpu_ms_per_mb"))
        target(["deflate"], "deflate: >= 1.5x websockets MB/s at equal or better ratio",
               rate is not None and peer_rate is not None and rate >= 1.5 * peer_rate
               and peer_ratio is not None and ratio <= peer_ratio, detail)
    # 5. Handshakes per second.
    rate = get("handshake", "per_s")
    target(["handshake"], "handshakes >= 2,500/s",
           rate is not None and rate >= 2500,
           f"{ours} {rate:,.0f}/s, {get('handshake', 'server_cpu_us_per_hs'):,.0f} us CPU/hs; "
           + ratios("handshake", "server_cpu_us_per_hs").replace("x", "x CPU")
           if rate is not None else f"no {ours} figure")
    # 6. Memory per idle connection with every connection served.
    served = get("idle", "served")
    per_conn = get("idle", "rss_kib_per_conn")
    wanted = (results.get("idle", {}).get(ours) or {}).get("target")
    target(["idle"], "idle: <= 20 KiB RSS/conn with all connections served",
           served is not None and served == wanted and per_conn <= 20,
           f"{ours} {served}/{wanted} served, {per_conn:.1f} KiB/conn; " +
           ratios("idle", "rss_kib_per_conn")
           if served is not None else f"no {ours} figure")
    # 7. Scale: every connection served, memory per connection, latency while held.
    served = get("scale", "served")
    wanted = (results.get("scale", {}).get(ours) or {}).get("target")
    target(["scale"], f"scale: all {wanted or 'N'} connections served",
           served is not None and served == wanted,
           f"{ours} {served}/{wanted} served in {get('scale', 'connect_seconds'):.1f} s; "
           "served: " + " ".join(f"{peer} {get('scale', 'served', peer)}"
                                 for peer in ("websockets", "pywebsocket3") if peer in servers)
           if served is not None else f"no {ours} figure")
    per_conn = get("scale", "rss_kib_per_conn")
    target(["scale"], "scale: <= 20 KiB RSS/conn",
           per_conn is not None and per_conn <= 20,
           f"{ours} {per_conn:.1f} KiB/conn; " + ratios("scale", "rss_kib_per_conn")
           if per_conn is not None else f"no {ours} figure")
    p99, p99_idle = get("scale", "p99_held_us"), get("scale", "p99_idle_us")
    target(["scale"], "scale: echo p99 with all held <= 2x with none held",
           p99 is not None and p99 <= 2 * p99_idle,
           f"{ours} {p99:.1f} us vs {p99_idle:.1f} us ({p99 / p99_idle:.2f}x) with "
           f"{served} held; " + " ".join(
               f"{peer} {get('scale', 'p99_ratio', peer):.2f}x" for peer in
               ("websockets", "pywebsocket3") if get("scale", "p99_ratio", peer))
           if p99 is not None else f"no {ours} figure")
    return lines


def _error(server: ServerProcess, e: BaseException) -> dict:
    result = {"error": f"{type(e).__name__}: {e}"}
    if server.proc is not None and not server.alive():
        result["error"] += f" (server exited {server.proc.returncode})"
    return result


_FAILURES = (BenchError, OSError, zlib.error)


def run_scenario(scenario: str, names: list[str], limits: Limits, log_dir: str,
                 verbose: bool, deadline: float) -> dict[str, dict]:
    """One scenario against every server; returns each server's figures (or why not).

    Throughput scenarios start every server first, then measure them in `limits.rounds`
    interleaved slices (the order rotating each round), so noise on the shared machine
    falls on all servers alike. The idle-connections scenario runs one server at a time.
    """
    results: dict[str, dict] = {}
    servers: dict[str, ServerProcess] = {}

    def start(name: str) -> ServerProcess:
        server = ServerProcess(name, log_dir, scenario, deflate=scenario == "deflate")
        servers[name] = server
        server.start()
        if verbose:
            print(f"  {scenario}: {name} pid {server.pid} port {server.port}",
                  file=sys.stderr, flush=True)
        return server

    try:
        if scenario in ("idle", "scale"):
            run_one = scenario_idle if scenario == "idle" else scenario_scale
            for name in names:
                if time.perf_counter() > deadline:
                    results[name] = {"skipped": "the run's time budget was spent"}
                    continue
                try:
                    server = start(name)
                    results[name] = run_one(server, PROTOCOLS[name != "raw"], limits)
                except _FAILURES as e:
                    results[name] = _error(servers[name], e)
                finally:
                    servers[name].stop()
        else:
            states: dict[str, Scenario] = {}
            for name in names:
                if scenario == "deflate" and name == "raw":
                    results[name] = {"n/a": "no permessage-deflate over raw TCP"}
                    continue
                try:
                    server = start(name)
                    state = SLICED[scenario](server, PROTOCOLS[name != "raw"], limits)
                    state.setup()
                    states[name] = state
                except Declined as e:
                    results[name] = {"declined": str(e)}
                except _FAILURES as e:
                    results[name] = _error(servers[name], e)
            rounds = limits.rounds
            out_of_time = False
            for r in range(rounds):
                active = [name for name in names if name in states and name not in results]
                if not active:
                    break
                shift = r % len(active)
                for name in active[shift:] + active[:shift]:
                    if time.perf_counter() > deadline:
                        out_of_time = True
                        break
                    state = states[name]
                    try:
                        state.measure(state.total_time / rounds)
                    except _FAILURES as e:
                        results[name] = _error(state.server, e)
                if out_of_time:
                    break
            for name, state in states.items():
                try:
                    state.close()
                except _FAILURES:
                    pass
                if name in results:
                    continue
                if not state.slices:
                    results[name] = {"skipped": "the run's time budget was spent"}
                    continue
                try:
                    results[name] = state.figures()
                except _FAILURES as e:
                    results[name] = _error(state.server, e)
                if out_of_time:
                    results[name]["partial"] = f"{state.slices} of {rounds} slices (time budget)"
    finally:
        for server in servers.values():
            server.stop()
    for name, server in servers.items():
        if name not in results:
            continue
        notable = server.notable_log_lines()
        if notable:
            results[name]["server_log"] = {"lines": len(notable), "first": notable[:5]}
        if server.stop_info is not None:
            results[name]["server_stop"] = server.stop_info
    return {name: results[name] for name in names if name in results}


PROTOCOLS: dict[bool, Protocol] = {}


def parse_list(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = []
    for item in value.split(","):
        item = item.strip()
        if item == "pipe" and "pipe1" in allowed:
            items += ["pipe1", "pipe16"]
        elif item in allowed:
            items.append(item)
        elif item:
            raise SystemExit(f"bench.py: unknown {what} {item!r} (choose from {', '.join(allowed)})")
    return [a for a in allowed if a in items]  # canonical order, no repeats


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark mod_ws against its peers.")
    parser.add_argument("--quick", action="store_true", help="small counts; under a minute")
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                        help="comma-separated, from: " + ", ".join(ALL_SERVERS))
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                        help="comma-separated, from: " + ", ".join(ALL_SCENARIOS) +
                        " ('pipe' means pipe1,pipe16; default: all but scale, which holds "
                        "10,000 connections and takes up to ~3 minutes per server, so runs "
                        "only when named)")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    parser.add_argument("--time", type=float, metavar="SECONDS",
                        help="wall-clock cap of each measured phase (overrides the mode)")
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="interleaved slices each server's measured time is split into "
                        "(default 5, or 2 with --quick)")
    parser.add_argument("--connections", type=int, metavar="N",
                        help="connections held open in the idle scenario (default 1000)")
    parser.add_argument("--scale-connections", type=int, metavar="N",
                        help="connections held open in the scale scenario (default 10000, "
                        "or 2000 with --quick); at most the descriptor limit allows")
    parser.add_argument("--logs", metavar="DIR", help="keep the servers' output in DIR")
    parser.add_argument("--pin", default="auto", metavar="CLIENT:SERVER",
                        help="CPUs for the client and for every server (default 'auto': the "
                        "first and the last CPU; 'off' leaves placement to the scheduler)")
    parser.add_argument("--tls", action="store_true",
                        help="every server over TLS (wss://; the raw floor over plain TLS) "
                        "with cert/'s test certificate; scenarios: " + ", ".join(TLS_SCENARIOS))
    parser.add_argument("--h2", action="store_true",
                        help="mod_ws over TLS with --http2, each WebSocket an extended CONNECT "
                        "on an HTTP/2 connection (needs the h2 library); scenarios: "
                        + ", ".join(H2_SCENARIOS))
    parser.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    client_cpus, server_cpus = parse_pin(args.pin)
    CLIENT_CPUS.update(client_cpus)
    SERVER_CPUS.update(server_cpus)
    if CLIENT_CPUS:
        os.sched_setaffinity(0, CLIENT_CPUS)
    servers = parse_list(args.servers, ALL_SERVERS, "server")
    scenarios = parse_list(args.scenarios, ALL_SCENARIOS, "scenario")
    if args.h2:
        global H2_MODE
        H2_MODE = args.tls = True
        if args.scenarios == parser.get_default("scenarios"):
            scenarios = list(H2_SCENARIOS)
        if args.servers == parser.get_default("servers"):
            servers = ["mod_ws"]
        wrong = [s for s in scenarios if s not in H2_SCENARIOS] + [s for s in servers if s not in H2_SERVERS]
        if wrong:
            raise SystemExit(f"bench.py: --h2 runs only {', '.join(H2_SCENARIOS)} against "
                             f"{', '.join(H2_SERVERS)} (not {', '.join(wrong)})")
    if args.tls:
        global TLS_CLIENT
        if args.scenarios == parser.get_default("scenarios") and not args.h2:
            scenarios = list(TLS_SCENARIOS)
        others = [s for s in scenarios if s not in TLS_SCENARIOS]
        if others:
            raise SystemExit(f"bench.py: --tls runs only {', '.join(TLS_SCENARIOS)} (not {', '.join(others)})")
        TLS_CLIENT = ssl.create_default_context(cafile=os.path.join(CERT_DIR, "ca.pem"))
        if args.h2:
            TLS_CLIENT.set_alpn_protocols(["h2"])
    limits = QUICK if args.quick else FULL
    if args.time is not None:
        t = max(0.1, min(args.time, 120.0))
        limits = replace(limits, seq_time=t, pipe_time=t, big_time=t, deflate_time=t,
                         handshake_time=t, budget=max(limits.budget, 30 * t * len(servers)))
    if args.rounds is not None:
        limits = replace(limits, rounds=max(1, min(args.rounds, 50)))
    if args.connections is not None:
        limits = replace(limits, idle_connections=max(1, min(args.connections, 10_000)))
    if args.scale_connections is not None:
        limits = replace(limits, scale_connections=max(1, min(args.scale_connections, 100_000)))
    raise_fd_limit(limits.idle_connections + 256)
    if "scale" in scenarios:
        # RLIMIT_NOFILE soft -> hard here; the servers started for scale inherit it.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            with open("/proc/sys/fs/nr_open") as f:
                soft = max(soft, int(f.read()))
        else:
            soft = hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        SCALE_NOFILE.update(soft=soft, hard=hard)
        # Each server's scale phase: opening (capped) plus probes, sample and stop.
        limits = replace(limits, budget=limits.budget +
                         len(servers) * (limits.scale_time + SCALE_CONN_TIMEOUT + 30))
    PROTOCOLS[True] = Protocol(True)
    PROTOCOLS[False] = Protocol(False)

    log_dir = args.logs or tempfile.mkdtemp(prefix="mod_ws-bench-")
    os.makedirs(log_dir, exist_ok=True)
    started = time.time()
    t_start = time.perf_counter()
    results: dict[str, dict[str, dict]] = {}
    mode = ("quick" if args.quick else "full") + (", HTTP/2" if args.h2 else ", TLS" if args.tls else "")
    pinning = (f"client on CPU {min(CLIENT_CPUS)}, servers on CPU {min(SERVER_CPUS)}"
               if CLIENT_CPUS else "unpinned")
    print(f"bench: {mode} run; servers {', '.join(servers)}; {pinning}; logs in {log_dir}",
          file=sys.stderr, flush=True)
    deadline = t_start + limits.budget
    for scenario in scenarios:
        t0 = time.perf_counter()
        results[scenario] = run_scenario(scenario, servers, limits, log_dir, args.verbose,
                                         deadline)
        took = time.perf_counter() - t0
        briefs = []
        for name, result in results[scenario].items():
            state = next((k for k in ("error", "declined", "n/a", "skipped") if k in result), "ok")
            briefs.append(f"{name} {state}")
        print(f"bench: {scenario:9s} {took:5.1f} s  {'; '.join(briefs)}", file=sys.stderr,
              flush=True)
    wall = time.perf_counter() - t_start

    out = []
    out.append(f"mod_ws bench ({mode}): {len(servers)} servers on {HOST}, "
               f"{os.cpu_count()} CPUs ({pinning}), Python {platform.python_version()}, "
               f"{time.strftime('%Y-%m-%d %H:%M:%S')}, took {wall:.1f} s")
    out.append("CPU = utime+stime from /proc (server: whole process, all threads; client: "
               "os.times) per unit of work")
    out.append("")
    out.append(render_table(results, servers, scenarios))
    notes = []
    for scenario in scenarios:
        for name in servers:
            result = results[scenario].get(name, {})
            if "error" in result:
                notes.append(f"* {scenario}/{name}: {result['error']}")
            if result.get("failures"):
                for reason, count in result["failures"].items():
                    notes.append(f"  {scenario}/{name}: {count} x {reason}")
            if "declined" in result:
                notes.append(f"  {scenario}/{name}: declined permessage-deflate "
                             f"(101 extensions: {result['declined']})")
            if scenario == "scale" and "served" in result:
                notes.append(f"  scale/{name}: {result['served']}/{result['target']} served"
                             f" in {result['connect_seconds']:.1f} s"
                             f" ({result['conns_per_s']:,.0f}/s); RSS {result['rss_before_kib']:,}"
                             f" -> {result['rss_after_kib']:,} KiB; threads"
                             f" {result['threads_before']} -> {result['threads_held']}; fds"
                             f" {result['fds_before']} -> {result['fds_held']}; released in " +
                             (f"{result['release_seconds']:.1f} s" if result.get("release_seconds")
                              is not None else f"> {SCALE_RELEASE_WAIT:.0f} s") +
                             (f"; {result['capped']}" if result.get("capped") else "") +
                             (f"; stopped: {result['stopped']}" if result.get("stopped") else ""))
            if scenario == "deflate" and result.get("negotiated"):
                notes.append(f"  {scenario}/{name}: negotiated {result['negotiated']}")
            stop = result.get("server_stop")
            if stop and (stop["killed"] or stop["seconds"] > 2.0):
                notes.append(f"  {scenario}/{name}: server took {stop['seconds']:.1f} s to stop on "
                             f"SIGTERM" + (" and was killed" if stop["killed"] else ""))
            if result.get("server_log"):
                log = result["server_log"]
                notes.append(f"  {scenario}/{name}: server logged {log['lines']} line(s), "
                             f"first: {log['first'][0][:160]}")
    if "scale" in scenarios:
        facts = system_limits()
        notes.append(f"  scale: RLIMIT_NOFILE {facts['rlimit_nofile_used'][0]}/"
                     f"{facts['rlimit_nofile_used'][1]} (soft/hard, per process: bench and "
                     f"servers; was {facts['rlimit_nofile_original'][0]}); threads-max "
                     f"{facts['threads_max']}, pid_max {facts['pid_max']}, RLIMIT_NPROC "
                     f"{facts['rlimit_nproc'][0]}"
                     f"{'' if facts['rlimit_nproc_applies'] else ' (not applied: root)'}, "
                     f"pids cgroup {facts['pids_cgroup_max']}, max_map_count "
                     f"{facts['max_map_count']}, RLIMIT_STACK {facts['rlimit_stack_kib'][0]} KiB"
                     f", overcommit_memory {facts['overcommit_memory']}")
    if notes:
        out.append("")
        out += notes
    summary = summarize(results, servers)
    summary_pure = summarize(results, servers, "mod_ws-pure")
    for name, lines in (("mod_ws", summary), ("mod_ws-pure", summary_pure)):
        if lines:
            out.append("")
            out.append(f"{name} against mod_ws's targets (ratios are {name} / peer):")
            for line in lines:
                mark = "met    " if line["met"] else "NOT met"
                out.append(f"  [{mark}] {line['target']}: {line['detail']}")
    print("\n".join(out), flush=True)

    if args.json:
        document = {
            "mode": mode,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "wall_seconds": wall,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "client_cpus": sorted(CLIENT_CPUS), "server_cpus": sorted(SERVER_CPUS),
                        "platform": platform.platform(), "clk_tck": CLK_TCK},
            "limits": asdict(limits),
            "system_limits": system_limits() if "scale" in scenarios else None,
            "servers": servers,
            "scenarios": scenarios,
            "results": results,
            "summary": summary,
            "summary_mod_ws_pure": summary_pure,
        }
        with open(args.json, "w") as f:
            json.dump(document, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
