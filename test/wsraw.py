"""A tiny, independent RFC 6455 client over raw sockets, for end-to-end tests.

Deliberately shares no code with mod_ws: frames are built and parsed here by hand,
so a bug in the server's codec cannot hide behind the same bug in the client. Every
read is bounded by a socket timeout and an overall deadline.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEFAULT_TIMEOUT = 5.0

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def make_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def expected_accept(key: str) -> str:
    """Sec-WebSocket-Accept computed independently of the server (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def mask_bytes(payload: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte key repeated (one big-integer XOR: fast for 1 MiB)."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0,
                 mask: bool = True, length: int | None = None) -> bytes:
    """One frame; `rsv` is the 3-bit RSV1..RSV3 value (4 = RSV1, 2 = RSV2, 1 = RSV3).

    `length` overrides the advertised payload length (to promise more than is sent).
    """
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0xF)
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head = bytes((first, mask_bit | n))
    elif n < 0x10000:
        head = bytes((first, mask_bit | 126)) + struct.pack("!H", n)
    else:
        head = bytes((first, mask_bit | 127)) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code: int | None, reason: bytes | str = b"") -> bytes:
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


class Frame(NamedTuple):
    fin: bool
    opcode: int
    payload: bytes


class RsvFrame(NamedTuple):
    """A received frame with its RSV bits (3-bit value: 4 = RSV1, 2 = RSV2, 1 = RSV3)."""

    fin: bool
    opcode: int
    rsv: int
    payload: bytes

    @property
    def rsv1(self) -> bool:
        return bool(self.rsv & 4)


@dataclass
class HttpResponse:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [v for n, v in self.headers if n.lower() == lowered]


class Conn:
    """A TCP connection with a receive buffer and deadline-bounded reads."""

    def __init__(self, sock: socket.socket, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        sock.settimeout(timeout)

    @classmethod
    def open(cls, port: int, host: str = "127.0.0.1", timeout: float = DEFAULT_TIMEOUT) -> Conn:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed while reading")
        self.sock.settimeout(min(remaining, self.timeout))
        data = self.sock.recv(65536)
        self.buf += data
        return data

    def read_exact(self, n: int, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise EOFError(f"connection closed after {len(self.buf)} of {n} bytes")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_until(self, delimiter: bytes, timeout: float | None = None, limit: int = 1 << 20) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while delimiter not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("delimiter not found within limit")
            if not self._fill(deadline):
                raise EOFError(f"connection closed before {delimiter!r}; got {self.buf[:200]!r}")
        index = self.buf.index(delimiter) + len(delimiter)
        data, self.buf = self.buf[:index], self.buf[index:]
        return data

    def read_to_eof(self, timeout: float | None = None, limit: int = 1 << 22) -> bytes:
        """Everything until the peer closes; raises TimeoutError if it never does."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                data = self._fill(deadline)
            except ConnectionResetError:
                data = b""
            if not data:
                break
            if len(self.buf) > limit:
                raise ValueError("peer sent more than the limit without closing")
        data, self.buf = self.buf, b""
        return data

    def is_closed_by_peer(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """True once the peer has closed (EOF or reset) within `timeout`, with no data left."""
        try:
            rest = self.read_to_eof(timeout)
        except (TimeoutError, socket.timeout):
            return False
        assert rest == b"", f"unexpected bytes before EOF: {rest[:200]!r}"
        return True

    # HTTP

    def read_http_response(self, head_only: bool = False, timeout: float | None = None) -> HttpResponse:
        raw = self.read_until(b"\r\n\r\n", timeout)
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status_text, _, reason = rest.partition(" ")
        response = HttpResponse(int(status_text), reason, version)
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            response.headers.append((name.strip(), value.strip()))
        length = response.header("Content-Length")
        if not head_only and length is not None and response.status not in (101, 204, 304):
            response.body = self.read_exact(int(length), timeout)
        return response


def http_exchange(port: int, request: bytes, timeout: float = DEFAULT_TIMEOUT,
                  head_only: bool = False) -> tuple[HttpResponse, bool]:
    """Sends raw request bytes; returns the response and whether the server then closed."""
    with Conn.open(port, timeout=timeout) as conn:
        conn.send(request)
        response = conn.read_http_response(head_only=head_only)
        closed = conn.is_closed_by_peer(timeout)
        return response, closed


def handshake_request(resource: str = "/echo", host: str = "127.0.0.1", key: str | None = None,
                      headers: Iterable[tuple[str, str]] = (), method: str = "GET",
                      version: str = "HTTP/1.1", omit: Iterable[str] = ()) -> bytes:
    """A request head: a valid opening handshake unless `omit`/`headers` spoil it.

    Headers named in `omit` are left out; `headers` are appended (after the defaults).
    """
    key = key or make_key()
    skipped = {name.lower() for name in omit}
    base = [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    override = {name.lower() for name, _ in headers}
    lines = [f"{method} {resource} {version}"]
    lines += [f"{n}: {v}" for n, v in base if n.lower() not in skipped and n.lower() not in override]
    lines += [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class RawWebSocket(Conn):
    """A connection that has completed the opening handshake."""

    response: HttpResponse

    @classmethod
    def connect(cls, port: int, resource: str = "/echo",
                headers: Iterable[tuple[str, str]] = (),
                timeout: float = DEFAULT_TIMEOUT) -> RawWebSocket:
        ws = cls.open(port, timeout=timeout)
        try:
            key = make_key()
            ws.send(handshake_request(resource, host=f"127.0.0.1:{port}", key=key, headers=headers))
            response = ws.read_http_response(head_only=True)
            assert response.status == 101, (response.status, response.reason, ws.buf[:300])
            assert response.header("Sec-WebSocket-Accept") == expected_accept(key)
            ws.response = response
        except BaseException:
            ws.close()
            raise
        return ws

    def send_frame(self, opcode: int, payload: bytes | str = b"", fin: bool = True, rsv: int = 0,
                   mask: bool = True) -> None:
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        self.send(encode_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask))

    def send_text(self, text: str) -> None:
        self.send_frame(OP_TEXT, text.encode("utf-8"))

    def send_close(self, code: int | None = 1000, reason: bytes | str = b"") -> None:
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    def recv_frame(self, timeout: float | None = None) -> Frame:
        deadline = timeout or self.timeout
        b0, b1 = self.read_exact(2, deadline)
        assert not b1 & 0x80, "server frames must not be masked"
        assert not b0 & 0x70, f"server set RSV bits: {b0:#x}"
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.read_exact(2, deadline))
        elif n == 127:
            (n,) = struct.unpack("!Q", self.read_exact(8, deadline))
        payload = self.read_exact(n, deadline + n / 1e6) if n else b""
        return Frame(bool(b0 & 0x80), b0 & 0x0F, payload)

    def recv_rsv_frame(self, timeout: float | None = None) -> RsvFrame:
        """Like recv_frame, but RSV bits are allowed and returned (for extensions)."""
        deadline = timeout or self.timeout
        b0, b1 = self.read_exact(2, deadline)
        assert not b1 & 0x80, "server frames must not be masked"
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.read_exact(2, deadline))
        elif n == 127:
            (n,) = struct.unpack("!Q", self.read_exact(8, deadline))
        payload = self.read_exact(n, deadline + n / 1e6) if n else b""
        return RsvFrame(bool(b0 & 0x80), b0 & 0x0F, (b0 >> 4) & 0x7, payload)

    def recv_rsv_message(self, timeout: float | None = None) -> list[RsvFrame]:
        """The frames of one whole data message, RSV bits kept; fails on control frames."""
        frames: list[RsvFrame] = []
        while True:
            frame = self.recv_rsv_frame(timeout)
            assert frame.opcode not in (OP_CLOSE, OP_PING, OP_PONG), frame
            if frames:
                assert frame.opcode == OP_CONT, frame
            else:
                assert frame.opcode in (OP_TEXT, OP_BINARY), frame
            frames.append(frame)
            if frame.fin:
                return frames

    def recv_message(self, timeout: float | None = None) -> tuple[int, bytes]:
        """A whole data message (reassembled); fails on any control frame on the way."""
        opcode, parts = None, []
        while True:
            frame = self.recv_frame(timeout)
            assert frame.opcode not in (OP_CLOSE, OP_PING, OP_PONG), frame
            if opcode is None:
                assert frame.opcode in (OP_TEXT, OP_BINARY), frame
                opcode = frame.opcode
            else:
                assert frame.opcode == OP_CONT, frame
            parts.append(frame.payload)
            if frame.fin:
                return opcode, b"".join(parts)

    def echo(self, text: str, timeout: float | None = None) -> str:
        self.send_text(text)
        opcode, payload = self.recv_message(timeout)
        assert opcode == OP_TEXT
        return payload.decode("utf-8")

    def expect_close(self, timeout: float | None = None, eof_timeout: float = DEFAULT_TIMEOUT,
                     answer: bool = False) -> tuple[int | None, str]:
        """The next frame must be a close; then the server must close TCP within a bound.

        With `answer`, a close frame echoing the code is sent back first (as a client
        must when the server started the closing handshake). Returns (code, reason);
        code is None for an empty close frame.
        """
        frame = self.recv_frame(timeout)
        assert frame.opcode == OP_CLOSE, f"expected a close frame, got {frame}"
        assert frame.fin
        payload = frame.payload
        assert len(payload) != 1, "server sent a 1-byte close payload"
        if payload:
            code = struct.unpack("!H", payload[:2])[0]
            reason = payload[2:].decode("utf-8")
        else:
            code, reason = None, ""
        if answer:
            self.send_close(code)
        assert self.is_closed_by_peer(eof_timeout), "server did not close TCP after its close frame"
        return code, reason
