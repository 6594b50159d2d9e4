"""SocketTransport and ByteReader over real socket pairs (no server needed)."""

import os
import socket
import threading
import time

import pytest

from mod_ws.exceptions import ConnectionTerminatedException
from mod_ws.server import transport
from mod_ws.server.http1.request_head import HEAD_END
from mod_ws.server.transport import ByteReader, SocketTransport

needs_speedups = pytest.mark.skipif(transport.send_nowait is None,
                                    reason="mod_ws._speedups is not in use (not built, or MOD_WS_NO_SPEEDUPS)")


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def _receive_all(sock, length, into):
    while len(into) < length:
        data = sock.recv(65536)
        if not data:
            return
        into += data


@pytest.mark.parametrize("size", [0, 1, 125, 16384, 16385, 300000])
def test_sendall_delivers_every_byte_in_order(pair, size):
    a, b = pair
    payloads = [os.urandom(size) for _ in range(20)]
    received = bytearray()
    reader = threading.Thread(target=_receive_all, args=(b, size * 20, received))
    reader.start()
    sender = SocketTransport(a)
    for payload in payloads:
        sender.sendall(payload)
    reader.join(10)
    assert bytes(received) == b"".join(payloads)


def test_sendall_finishes_a_send_the_full_socket_buffer_cut_short(pair):
    a, b = pair
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    chunk = os.urandom(10000)  # under the non-blocking limit, over the buffer
    received = bytearray()
    sender = SocketTransport(a)
    done = threading.Event()

    def send_many():
        for _ in range(50):
            sender.sendall(chunk)
        done.set()

    thread = threading.Thread(target=send_many)
    thread.start()
    assert not done.wait(0.3)  # blocked: nobody reads yet
    _receive_all(b, len(chunk) * 50, received)
    thread.join(10)
    assert done.is_set()
    assert bytes(received) == chunk * 50


def test_sendall_to_a_closed_peer_raises_oserror(pair):
    a, b = pair
    b.close()
    with pytest.raises(OSError):
        for _ in range(3):
            SocketTransport(a).sendall(b"x" * 100)


def test_sendall_on_a_closed_socket_raises_oserror(pair):
    a, _ = pair
    sender = SocketTransport(a)
    a.close()
    with pytest.raises(OSError):
        sender.sendall(b"x")


@needs_speedups
def test_send_nowait_reports_a_partial_send_instead_of_blocking(pair):
    a, b = pair
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    total = 0
    while True:
        sent = transport.send_nowait(a.fileno(), b"y" * 16384)
        assert 0 <= sent <= 16384
        total += sent
        if sent < 16384:
            break
    assert transport.send_nowait(a.fileno(), b"z" * 16384) == 0  # still full: 0, not a wait
    received = bytearray()
    _receive_all(b, total, received)
    assert bytes(received) == b"y" * total


@needs_speedups
def test_send_nowait_on_a_bad_descriptor_raises_oserror():
    with pytest.raises(OSError):
        transport.send_nowait(-1, b"x")


def test_byte_reader_reports_eof_as_connection_terminated(pair):
    a, b = pair
    a.sendall(b"abc")
    a.close()
    reader = ByteReader(SocketTransport(b))
    assert reader.read_exact(3) == b"abc"
    with pytest.raises(ConnectionTerminatedException):
        reader.read_exact(1)


class CountingTransport(SocketTransport):
    """A real socket transport that records the deadline of every timed wait."""

    def __init__(self, sock):
        super().__init__(sock)
        self.deadlines = []

    def recv_within(self, size, deadline):
        self.deadlines.append(deadline)
        return super().recv_within(size, deadline)


def test_read_until_takes_a_head_already_there_without_a_timed_wait(pair):
    a, b = pair
    a.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest")
    transport = CountingTransport(b)
    reader = ByteReader(transport)
    deadline = time.monotonic() + 5
    assert reader.read_until(HEAD_END, 1000, deadline) == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert transport.deadlines == []
    assert reader.read_exact(4) == b"rest"


def test_read_until_waits_with_the_deadline_for_a_late_head_and_leaves_the_socket_blocking(pair):
    a, b = pair
    a.sendall(b"GET / HTTP/1.1\r\n")
    threading.Timer(0.2, a.sendall, args=(b"Host: x\r\n\r\n",)).start()
    transport = CountingTransport(b)
    reader = ByteReader(transport)
    deadline = time.monotonic() + 5
    head = reader.read_until(HEAD_END, 1000, deadline)
    assert head == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert transport.deadlines and set(transport.deadlines) == {deadline}
    assert b.gettimeout() is None  # deadlines are arguments, never socket state


@pytest.mark.parametrize("head", [b"GET / HTTP/1.1\nHost: x\n\n", b"GET / HTTP/1.1\nHost: x\n\r\n",
                                  b"GET / HTTP/1.1\r\nHost: x\r\n\n"])
def test_read_until_finds_a_bare_lf_head_end_split_across_reads(pair, head):
    a, b = pair
    a.sendall(head[:-1])
    threading.Timer(0.1, a.sendall, args=(head[-1:] + b"rest",)).start()
    reader = ByteReader(SocketTransport(b))
    assert reader.read_until(HEAD_END, 1000, time.monotonic() + 5) == head
    assert reader.read_exact(4) == b"rest"


def test_read_until_raises_timeout_when_the_deadline_passes_and_restores_blocking(pair):
    a, b = pair
    a.sendall(b"GET / HTTP/1.1\r\n")
    reader = ByteReader(SocketTransport(b))
    started = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout)):
        reader.read_until(HEAD_END, 1000, started + 0.3)
    assert 0.25 < time.monotonic() - started < 3
    assert b.gettimeout() is None


def test_read_until_reports_a_peer_that_closes_before_the_delimiter(pair):
    a, b = pair
    a.sendall(b"GET / HTTP/1.1\r\n")
    a.close()
    reader = ByteReader(SocketTransport(b))
    with pytest.raises(ConnectionTerminatedException):
        reader.read_until(HEAD_END, 1000, time.monotonic() + 5)


def test_read_until_refuses_a_head_over_the_limit(pair):
    a, b = pair
    a.sendall(b"x" * 3000)
    reader = ByteReader(SocketTransport(b))
    with pytest.raises(ValueError):
        reader.read_until(HEAD_END, 1000, time.monotonic() + 5)


def test_a_timed_large_read_takes_exactly_its_length_and_keeps_what_follows(pair):
    a, b = pair
    payload = os.urandom(300_000)
    sender = threading.Thread(target=a.sendall, args=(payload + b"next",))
    sender.start()
    reader = ByteReader(SocketTransport(b))
    assert bytes(reader.read_exact(len(payload), time.monotonic() + 5)) == payload
    assert reader.read_exact(4, time.monotonic() + 5) == b"next"
    sender.join(5)


def test_a_timed_large_read_raises_timeout_when_the_rest_does_not_come(pair):
    a, b = pair
    a.sendall(os.urandom(100_000))
    reader = ByteReader(SocketTransport(b))
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        reader.read_exact(200_000, started + 0.3)
    assert 0.25 < time.monotonic() - started < 3
