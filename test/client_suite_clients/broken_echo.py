"""A deliberately broken echo client on a raw socket: the client suite must catch it.

    python broken_echo.py ws://127.0.0.1:PORT/cases/6.3.1?agent=broken

It speaks enough RFC 6455 to echo valid traffic (it masks its frames, reassembles
fragments, answers pings and closes), and it is careless in the ways clients are:

- it never checks UTF-8: invalid text is echoed as text;
- it ignores the RSV bits, and unmasks a masked server frame instead of failing;
- it skips frames with reserved opcodes silently instead of failing;
- a continuation with no message begun starts one, a data frame inside a fragmented
  message starts over;
- it answers every ping, even one over 125 bytes or fragmented;
- it echoes any close frame back as it came (any code, a 1-byte body, a bad reason);
- it accepts whatever the 101 says (an unoffered subprotocol or extension) and checks
  neither Sec-WebSocket-Accept nor the top bit of a 64-bit length.

It offers no extension, so the permessage-deflate cases are UNIMPLEMENTED for it.
Standard library only.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import sys
from urllib.parse import urlsplit

TIMEOUT = 30.0


def mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    key = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes((first, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((first, 0x80 | 126)) + struct.pack("!H", n)
    else:
        head = bytes((first, 0x80 | 127)) + struct.pack("!Q", n)
    return head + key + mask(payload, key)


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def read_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        end = self.buffer.index(b"\r\n\r\n") + 4
        head = bytes(self.buffer[:end])
        del self.buffer[:end]
        return head

    def send(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(frame(opcode, payload))


def handshake(url: str) -> Connection:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=TIMEOUT)
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {resource} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    conn = Connection(sock)
    head = conn.read_head()
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"broken_echo: refused: {head.splitlines()[0]!r}")
    return conn  # Sec-WebSocket-Accept, -Protocol and -Extensions go unchecked


def run(conn: Connection) -> None:
    message_opcode = None
    parts: list[bytes] = []
    while True:
        b0, b1 = conn.read(2)
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F  # the RSV bits are never looked at
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", conn.read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", conn.read(8))  # the top bit is not checked
        key = conn.read(4) if b1 & 0x80 else None  # a masked server frame is just unmasked
        payload = conn.read(length) if length else b""
        if key is not None:
            payload = mask(payload, key)
        if opcode == 0x8:
            conn.send(0x8, payload)  # any code, any body, echoed as it came
            return
        if opcode == 0x9:
            conn.send(0xA, payload)  # whatever its size or FIN
            continue
        if opcode == 0xA:
            continue
        if opcode in (0x1, 0x2):
            message_opcode, parts = opcode, [payload]  # starts over inside a message
        elif opcode == 0x0:
            if message_opcode is None:
                message_opcode = 0x1  # a stray continuation begins a text message
            parts.append(payload)
        else:
            continue  # reserved opcodes: skipped, the connection carries on
        if fin:
            conn.send(message_opcode, b"".join(parts))  # text is never checked for UTF-8
            message_opcode, parts = None, []


def main(url: str) -> int:
    conn = handshake(url)
    try:
        run(conn)
    except (EOFError, OSError):
        pass
    finally:
        conn.sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
