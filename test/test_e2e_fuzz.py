"""Garbage against the real server: seeded random handshakes and frames, bounded in count
and time. The server must answer or close each connection, never log a traceback, keep
serving a healthy client, and return to its baseline of threads and descriptors."""

from __future__ import annotations

import random
import socket
import struct
import time

import wsraw
from conftest import EXAMPLE, IDLE_THREADS, settled_value, wait_for_value
from websockets.sync.client import connect
from wsraw import RawWebSocket

CONNECTIONS = 120
PER_CONNECTION_TIMEOUT = 3.0


def _random_frame(rnd: random.Random) -> bytes:
    """A frame header with random bits and a random (small or absurd) length, masked or not,
    followed by a few random payload bytes."""
    first = rnd.getrandbits(8)
    masked = rnd.random() < 0.8
    kind = rnd.random()
    if kind < 0.6:
        length_bytes = bytes(((0x80 if masked else 0) | rnd.randrange(126),))
    elif kind < 0.8:
        length_bytes = bytes(((0x80 if masked else 0) | 126,)) + struct.pack("!H", rnd.getrandbits(16))
    else:
        length_bytes = bytes(((0x80 if masked else 0) | 127,)) + struct.pack("!Q", rnd.getrandbits(64))
    key = rnd.randbytes(4) if masked else b""
    return bytes((first,)) + length_bytes + key + rnd.randbytes(rnd.randrange(64))


def _garbage_head(rnd: random.Random) -> bytes:
    choice = rnd.random()
    if choice < 0.3:
        return rnd.randbytes(rnd.randrange(1, 400)) + b"\r\n\r\n"
    request = wsraw.handshake_request("/echo")
    if choice < 0.6:  # flip random bytes of a valid handshake
        data = bytearray(request)
        for _ in range(rnd.randrange(1, 6)):
            data[rnd.randrange(len(data))] = rnd.getrandbits(8)
        return bytes(data)
    return request[: rnd.randrange(len(request))]  # cut short, then the client leaves


def _one_connection(port: int, rnd: random.Random) -> None:
    try:
        if rnd.random() < 0.5:
            with wsraw.Conn.open(port, timeout=PER_CONNECTION_TIMEOUT) as conn:
                conn.send(_garbage_head(rnd))
                conn.sock.shutdown(socket.SHUT_WR)
                conn.read_to_eof(PER_CONNECTION_TIMEOUT)
        else:
            with RawWebSocket.connect(port, timeout=PER_CONNECTION_TIMEOUT) as ws:
                for _ in range(rnd.randrange(1, 5)):
                    ws.send(_random_frame(rnd))
                ws.sock.shutdown(socket.SHUT_WR)
                ws.read_to_eof(PER_CONNECTION_TIMEOUT)
    except (OSError, TimeoutError, AssertionError, ValueError):
        pass  # the server may close, reset or refuse: only its own health is judged


def test_random_handshakes_and_frames_leave_the_server_healthy(make_server):
    server = make_server("-d", EXAMPLE, "--request-timeout", "2", "--close-timeout", "1")
    threads = wait_for_value(server.thread_count, IDLE_THREADS, 2.0)
    fds = settled_value(server.fd_count)
    rnd = random.Random(6455)
    deadline = time.monotonic() + 60
    for _ in range(CONNECTIONS):
        if time.monotonic() > deadline:
            break
        _one_connection(server.port, rnd)
    with connect(server.url("/echo"), open_timeout=5, close_timeout=5) as ws:
        ws.send("still healthy")
        assert ws.recv(timeout=5) == "still healthy"
    assert wait_for_value(server.thread_count, threads, 10.0) == threads
    assert wait_for_value(server.fd_count, fds, 10.0) == fds
    log = server.stderr_text()
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
