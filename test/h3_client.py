"""A small HTTP/3 client for the end-to-end tests, on aioquic's client side.

aioquic's sans-I/O QuicConnection and H3Connection are driven here over a plain UDP
socket on the test's own thread, so every step is deterministic and every wait is
bounded by a deadline. The server's certificate is verified against cert/ca.pem for
the name "localhost". `H3WebSocket` speaks RFC 6455 frames over one extended CONNECT
stream (RFC 9220), masking what it sends (frames built by wsraw, which shares no code
with the server) and parsing what it receives here.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    ProtocolNegotiated,
    StopSendingReceived,
    StreamReset,
)
from wsraw import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, close_payload, encode_frame

CA = Path(__file__).resolve().parent.parent / "cert" / "ca.pem"
TIMEOUT = 10.0


@dataclass
class StreamState:
    """What the client has seen on one stream."""

    headers: list[tuple[bytes, bytes]] | None = None
    data: bytearray = field(default_factory=bytearray)
    ended: bool = False  # the server's FIN
    reset: int | None = None  # the server's RESET_STREAM error code
    stopped: int | None = None  # the server's STOP_SENDING error code

    @property
    def status(self) -> int | None:
        return None if self.headers is None else int(dict(self.headers)[b":status"])

    def header(self, name: str) -> str | None:
        for key, value in self.headers or []:
            if key == name.encode():
                return value.decode()
        return None


class _StingyQuicConnection(QuicConnection):
    """Grants request streams no credit beyond their initial window: a client that
    never reads (aioquic otherwise widens the window as data arrives)."""

    def _write_stream_limits(self, builder, space, stream) -> None:
        if stream.stream_id % 4 != 0:
            super()._write_stream_limits(builder, space, stream)


class H3Client:
    """One QUIC connection with HTTP/3 to a local server."""

    def __init__(self, port: int, host: str = "127.0.0.1", idle_timeout: float = 30.0,
                 server_name: str = "localhost", max_stream_data: int = 1 << 20,
                 reads: bool = True) -> None:
        configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN,
                                          server_name=server_name, idle_timeout=idle_timeout,
                                          max_stream_data=max_stream_data)
        configuration.load_verify_locations(cafile=str(CA))
        self.address = (host, port)
        self.quic = (QuicConnection if reads else _StingyQuicConnection)(configuration=configuration)
        self.h3 = H3Connection(self.quic)
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                  socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.streams: dict[int, StreamState] = {}
        self.terminated: ConnectionTerminated | None = None
        self.handshake_done = False
        self.alpn: str | None = None

    # Driving aioquic.

    def transmit(self) -> None:
        for data, addr in self.quic.datagrams_to_send(now=time.monotonic()):
            try:
                self.sock.sendto(data, addr)
            except OSError:
                pass

    def pump(self, timeout: float) -> None:
        """Waits up to `timeout` for datagrams or aioquic's timer, handles them, sends."""
        timer = self.quic.get_timer()
        wait = timeout if timer is None else max(0.0, min(timeout, timer - time.monotonic()))
        if self.sock.fileno() >= 0:
            readable, _, _ = select.select([self.sock], [], [], wait)
        else:
            readable = []
            time.sleep(wait)
        while readable:
            try:
                data, addr = self.sock.recvfrom(65536)
            except (BlockingIOError, OSError):
                break
            self.quic.receive_datagram(data, addr, now=time.monotonic())
        timer = self.quic.get_timer()
        if timer is not None and timer <= time.monotonic():
            self.quic.handle_timer(now=time.monotonic())
        self._process_events()
        self.transmit()

    def _process_events(self) -> None:
        while (event := self.quic.next_event()) is not None:
            if isinstance(event, ConnectionTerminated):
                self.terminated = event
            elif isinstance(event, StreamReset):
                self.stream(event.stream_id).reset = event.error_code
            elif isinstance(event, StopSendingReceived):
                self.stream(event.stream_id).stopped = event.error_code
            elif isinstance(event, ProtocolNegotiated):
                self.alpn = event.alpn_protocol
            elif isinstance(event, HandshakeCompleted):
                self.handshake_done = True
            for h3_event in self.h3.handle_event(event):
                state = self.stream(h3_event.stream_id) if hasattr(h3_event, "stream_id") else None
                if isinstance(h3_event, HeadersReceived):
                    if state.headers is None:
                        state.headers = h3_event.headers
                    state.ended |= h3_event.stream_ended
                elif isinstance(h3_event, DataReceived):
                    state.data += h3_event.data
                    state.ended |= h3_event.stream_ended

    def wait_for(self, predicate, timeout: float = TIMEOUT, what: str = "the condition") -> None:
        """Pumps until `predicate()` holds; TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out waiting for {what}")
            self.pump(min(left, 0.05))

    def stream(self, stream_id: int) -> StreamState:
        return self.streams.setdefault(stream_id, StreamState())

    # The connection.

    def connect(self, timeout: float = TIMEOUT) -> H3Client:
        """The QUIC handshake, then the server's SETTINGS."""
        self.quic.connect(self.address, now=time.monotonic())
        self.transmit()
        self.wait_for(lambda: self.terminated is not None
                      or (self.handshake_done and self.h3.received_settings is not None),
                      timeout, "the handshake and the server's SETTINGS")
        if self.terminated is not None:
            raise ConnectionError(f"connection refused: {self.terminated}")
        return self

    def close(self, error_code: int = 0x100, reason: str = "") -> None:
        """Closes the QUIC connection (H3_NO_ERROR by default) and the socket."""
        if self.terminated is None and self.sock.fileno() >= 0:
            self.quic.close(error_code=error_code, reason_phrase=reason)
            self.transmit()
        self.sock.close()

    def vanish(self) -> None:
        """Drops the socket without a word, as a client that lost the network."""
        self.sock.close()

    def __enter__(self) -> H3Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # Streams.

    def request(self, fields: list[tuple[str, str]], end_stream: bool = False) -> int:
        """Opens a stream with this header block; returns its ID."""
        stream_id = self.quic.get_next_available_stream_id()
        self.stream(stream_id)
        self.h3.send_headers(stream_id, [(n.encode(), v.encode()) for n, v in fields], end_stream)
        self.transmit()
        return stream_id

    def connect_request(self, path: str, protocol: str | None = "websocket",
                        extra: list[tuple[str, str]] = (), authority: str = "localhost") -> int:
        """An extended CONNECT (RFC 9220) for `path`."""
        fields = [(":method", "CONNECT")]
        if protocol is not None:
            fields.append((":protocol", protocol))
        fields += [(":scheme", "https"), (":path", path), (":authority", authority),
                   ("sec-websocket-version", "13")]
        return self.request(fields + list(extra))

    def response(self, stream_id: int, timeout: float = TIMEOUT) -> StreamState:
        state = self.stream(stream_id)
        self.wait_for(lambda: state.headers is not None or state.reset is not None
                      or self.terminated is not None, timeout, f"the response on stream {stream_id}")
        return state

    def send(self, stream_id: int, data: bytes, end_stream: bool = False) -> None:
        self.h3.send_data(stream_id, data, end_stream)
        self.transmit()

    def reset(self, stream_id: int, error_code: int = 0x10C, stop: bool = True) -> None:
        """RESET_STREAM, and STOP_SENDING unless `stop` is False (H3_REQUEST_CANCELLED
        by default)."""
        self.quic.reset_stream(stream_id, error_code)
        if stop:
            self.quic.stop_stream(stream_id, error_code)
        self.transmit()

    def websocket(self, path: str = "/echo", extra: list[tuple[str, str]] = (),
                  timeout: float = TIMEOUT) -> H3WebSocket:
        """A WebSocket opened on a new stream; asserts the 200."""
        stream_id = self.connect_request(path, extra=extra)
        state = self.response(stream_id, timeout)
        assert state.status == 200, (state.status, bytes(state.data))
        return H3WebSocket(self, stream_id)


class Frame(tuple):
    """(fin, opcode, rsv, payload) of a frame the server sent."""

    fin = property(lambda self: self[0])
    opcode = property(lambda self: self[1])
    rsv = property(lambda self: self[2])
    payload = property(lambda self: self[3])


class H3WebSocket:
    """RFC 6455 frames over one stream of an H3Client."""

    def __init__(self, client: H3Client, stream_id: int) -> None:
        self.client = client
        self.stream_id = stream_id
        self.state = client.stream(stream_id)
        self._pos = 0  # frames parsed up to here in state.data

    def send_frame(self, opcode: int, payload: bytes | str = b"", fin: bool = True, rsv: int = 0,
                   end_stream: bool = False) -> None:
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        self.client.send(self.stream_id, encode_frame(opcode, payload, fin=fin, rsv=rsv), end_stream)

    def send_text(self, text: str) -> None:
        self.send_frame(OP_TEXT, text)

    def send_binary(self, data: bytes) -> None:
        self.send_frame(OP_BINARY, data)

    def send_close(self, code: int | None = 1000, reason: str = "", end_stream: bool = False) -> None:
        self.send_frame(OP_CLOSE, close_payload(code, reason), end_stream=end_stream)

    def _parse(self) -> Frame | None:
        data, pos = self.state.data, self._pos
        if len(data) - pos < 2:
            return None
        b0, b1 = data[pos], data[pos + 1]
        assert not b1 & 0x80, "server frames must not be masked"
        n, at = b1 & 0x7F, pos + 2
        if n == 126:
            if len(data) - at < 2:
                return None
            (n,) = struct.unpack_from("!H", data, at)
            at += 2
        elif n == 127:
            if len(data) - at < 8:
                return None
            (n,) = struct.unpack_from("!Q", data, at)
            at += 8
        if len(data) - at < n:
            return None
        self._pos = at + n
        return Frame((bool(b0 & 0x80), b0 & 0x0F, (b0 >> 4) & 0x7, bytes(data[at:at + n])))

    def recv_frame(self, timeout: float = TIMEOUT) -> Frame:
        frame = None

        def ready() -> bool:
            nonlocal frame
            frame = self._parse()
            return frame is not None or self.state.ended or self.state.reset is not None

        self.client.wait_for(ready, timeout, f"a frame on stream {self.stream_id}")
        if frame is None:
            raise EOFError(f"stream {self.stream_id} ended (reset {self.state.reset}) "
                           f"with {len(self.state.data) - self._pos} bytes unparsed")
        return frame

    def recv_message(self, timeout: float = TIMEOUT) -> tuple[int, bytes, list[Frame]]:
        """(opcode, payload, frames) of the next data message; pings are answered."""
        opcode, frames = None, []
        while True:
            frame = self.recv_frame(timeout)
            if frame.opcode == OP_PING:
                self.send_frame(OP_PONG, frame.payload)
                continue
            assert frame.opcode not in (OP_CLOSE, OP_PONG), frame
            if opcode is None:
                assert frame.opcode in (OP_TEXT, OP_BINARY), frame
                opcode = frame.opcode
            else:
                assert frame.opcode == OP_CONT, frame
            frames.append(frame)
            if frame.fin:
                return opcode, b"".join(f.payload for f in frames), frames

    def echo(self, text: str, timeout: float = TIMEOUT) -> str:
        self.send_text(text)
        opcode, payload, _ = self.recv_message(timeout)
        assert opcode == OP_TEXT
        return payload.decode("utf-8")

    def expect_close(self, timeout: float = TIMEOUT) -> tuple[int | None, str]:
        """The next frame must be a close: (code, reason)."""
        frame = self.recv_frame(timeout)
        assert frame.opcode == OP_CLOSE, f"expected a close frame, got {frame}"
        if not frame.payload:
            return None, ""
        return struct.unpack("!H", frame.payload[:2])[0], frame.payload[2:].decode("utf-8")

    def wait_ended(self, timeout: float = TIMEOUT) -> None:
        """Waits for the server's FIN (or its reset) on the stream."""
        self.client.wait_for(lambda: self.state.ended or self.state.reset is not None, timeout,
                             f"the end of stream {self.stream_id}")


__all__ = [
    "CA",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Frame",
    "H3Client",
    "H3WebSocket",
    "StreamState",
]
