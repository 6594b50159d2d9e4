"""Misbehaving on purpose: the fault-injection API on `request.ws_stream.faults`.

A test server is pointed at clients to see how they cope with a server that breaks the
rules. The safe API (`send_message`, `close_connection`) keeps validating; these calls
put exactly what they are told on the wire, each in one line:

- frames: `send_frame` (any opcode, FIN and RSV bits, masked or not, any payload, any
  declared length, also one that does not match the payload or is 2**63),
  `send_raw`, `send_text_bytes` (text that need not be UTF-8), `send_close` (any code
  and reason, of any length or encoding), `send_compressed` (an RSV1 frame whether
  or not permessage-deflate was negotiated, with any window size), `send_ping` and
  `send_pong` (any size, unsolicited), `ping_flood`;
- timing: `pause`, `trickle` and `trickle_frame` (a chunk at a time at a given rate),
  `delay_handshake_response` and `trickle_handshake_response` (from
  web_socket_do_extra_handshake), `stop_reading`, `ignore_pings`,
  `answer_pings_with`, `shape` (latency and bandwidth for this connection);
- endings: `drop` (TCP closed without a close frame), `half_close`, `reset` (an RST:
  SO_LINGER 0), `close_and_drop` (a close frame, then TCP closed at once),
  `never_answer_close`;
- observing the client: `receive_frame` (the next frame, unjudged) and `peer_closed`.

Writes share the stream's write lock and send path, so they never cut into another
frame, and --log-frames and shaping see them. A close frame sent here counts as the
server's close: the server sends none of its own afterwards.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any, Callable, NamedTuple

from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
)
from mod_ws.exceptions import ConnectionTerminatedException, InvalidFrameException
from mod_ws.protocol.deflate import MessageDeflater
from mod_ws.protocol.frames import apply_mask, encode_any_frame_header, read_frame_header


class ClientFrame(NamedTuple):
    """A frame as the client sent it (payload unmasked), with whether it was masked."""

    fin: int
    rsv1: int
    rsv2: int
    rsv3: int
    opcode: int
    payload: bytes
    masked: bool


class Faults:
    """Deliberately broken traffic on one WebSocket connection."""

    def __init__(self, stream: Any, request: Any) -> None:
        self._stream = stream
        self._request = request

    # Frames.

    def send_frame(self, opcode: int, payload: bytes | str = b"", *, fin: bool = True,
                   rsv1: bool = False, rsv2: bool = False, rsv3: bool = False,
                   mask_key: bytes | None = None, length: int | None = None) -> None:
        """One frame exactly as described: `opcode` 0-15 (reserved ones too), a payload
        masked with `mask_key` when given, and a header declaring `length` (default:
        the payload's; anything up to 2**64-1, so also a lie or 2**63)."""
        self.send_raw(build_any_frame(opcode, payload, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3,
                                      mask_key=mask_key, length=length))

    def send_raw(self, data: bytes | str) -> None:
        """Bytes on the wire as they are, between the stream's own frames."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        with self._stream._write_lock:
            self._send_locked(data)

    def send_text_bytes(self, payload: bytes, fin: bool = True) -> None:
        """A text frame whose payload is sent as given: invalid UTF-8 too."""
        self.send_frame(OPCODE_TEXT, payload, fin=fin)

    def send_close(self, code: int | None = None, reason: bytes | str = b"", *,
                   payload: bytes | None = None) -> None:
        """A close frame with any `code` (0-65535; None: no body) and any `reason`
        (over 123 bytes, or not UTF-8), or the whole body as `payload`. The server
        sends no close of its own after it."""
        if payload is None:
            if isinstance(reason, str):
                reason = reason.encode("utf-8")
            payload = b"" if code is None else struct.pack("!H", code) + reason
        self.send_frame(OPCODE_CLOSE, payload)
        self._request.close_handshake.sent_elsewhere()

    def send_compressed(self, message: bytes | str, *, binary: bool = False, fin: bool = True,
                        window_bits: int = 15) -> None:
        """A message deflated as permessage-deflate would (RFC 7692), RSV1 set, whether
        or not the extension was negotiated, with a window of 2**window_bits bytes (9-15)
        (larger than the client allowed, if that is the test)."""
        data = message.encode("utf-8") if isinstance(message, str) else message
        body = MessageDeflater(window_bits).compress(data)  # RFC 7692 section 7.2.1's steps
        self.send_frame(OPCODE_BINARY if binary else OPCODE_TEXT, body, fin=fin, rsv1=True)

    def send_ping(self, payload: bytes | str = b"") -> None:
        """A ping of any size (over 125 bytes breaks the rule); its pong is not awaited."""
        self.send_frame(OPCODE_PING, payload)

    def send_pong(self, payload: bytes | str = b"") -> None:
        """A pong, asked for or not."""
        self.send_frame(OPCODE_PONG, payload)

    def ping_flood(self, count: int, payload: bytes | str = b"", interval: float = 0.0) -> None:
        """`count` pings back to back (or `interval` seconds apart)."""
        for _ in range(count):
            self.send_ping(payload)
            if interval:
                time.sleep(interval)

    # Timing.

    def pause(self, seconds: float) -> None:
        """Waits between frames (the connection stays open and unread)."""
        time.sleep(seconds)

    stop_reading = pause  # the same: nothing reads while the handler waits

    def trickle(self, data: bytes | str, bytes_per_second: float, chunk: int = 1) -> None:
        """Raw bytes `chunk` at a time at `bytes_per_second`; no other frame cuts in."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        check_rate(bytes_per_second, chunk)
        with self._stream._write_lock:
            write_trickled(self._send_locked, data, bytes_per_second, chunk)

    def trickle_frame(self, opcode: int, payload: bytes | str = b"", bytes_per_second: float = 10.0,
                      chunk: int = 1, **frame: Any) -> None:
        """`send_frame`'s frame, trickled."""
        self.trickle(build_any_frame(opcode, payload, **frame), bytes_per_second, chunk)

    def delay_handshake_response(self, seconds: float) -> None:
        """From web_socket_do_extra_handshake: the 101 goes out `seconds` later (the
        --handshake-timeout bound still applies)."""
        self._request.handshake_response_delay = seconds

    def trickle_handshake_response(self, bytes_per_second: float, chunk: int = 1) -> None:
        """From web_socket_do_extra_handshake: the 101 goes out `chunk` bytes at a time."""
        check_rate(bytes_per_second, chunk)
        self._request.handshake_response_trickle = (bytes_per_second, chunk)

    def ignore_pings(self) -> None:
        """Pings from the client are read and never answered."""
        self._request.on_ping_handler = _ignore

    def answer_pings_with(self, payload: bytes | str) -> None:
        """Each ping from the client is answered with a pong carrying `payload`."""
        self._request.on_ping_handler = lambda request, _ping: self.send_pong(payload)

    def shape(self, latency: float = 0.0, jitter: float = 0.0, bandwidth: int | None = None) -> None:
        """Delays this connection's frames by `latency` seconds (± `jitter`) and paces
        them to `bandwidth` bytes/s, as --latency and --bandwidth do for all."""
        from mod_ws.server.shaping import shape_session

        shape_session(self._request, latency, jitter, bandwidth)

    # Observing the client.

    def receive_frame(self, timeout: float | None = None) -> ClientFrame | None:
        """The client's next frame, unmasked and unjudged (a close is not answered, a
        ping not ponged, an unmasked frame not refused); None once the client closed
        TCP. TimeoutError after `timeout` seconds; InvalidFrameException for a length
        with its top bit set or over --max-message-size (nothing is allocated for it)."""
        reader = self._stream._reader
        deadline = None if timeout is None else time.monotonic() + timeout
        def receive_bytes(length: int) -> bytes:
            return bytes(reader.read_exact(length, deadline))

        try:
            header = read_frame_header(receive_bytes)
            limit = self._stream._options.max_message_size
            if header.payload_length > limit:
                raise InvalidFrameException(f"frame declares {header.payload_length} bytes, "
                                            f"over --max-message-size {limit}")
            payload = receive_bytes(header.payload_length) if header.payload_length else b""
        except ConnectionTerminatedException:
            return None
        if header.mask_key is not None:
            payload = apply_mask(payload, header.mask_key)
        return ClientFrame(int(header.fin), int(header.rsv1), int(header.rsv2), int(header.rsv3),
                           header.opcode, bytes(payload), header.mask_key is not None)

    def peer_closed(self, timeout: float) -> bool:
        """Whether the client closes TCP within `timeout` seconds (input is discarded)."""
        reader = self._stream._reader
        deadline = time.monotonic() + timeout
        try:
            while True:
                reader.read_some(65536, deadline)
        except ConnectionTerminatedException:
            return True
        except (TimeoutError, OSError):
            return False

    # Endings.

    def drop(self) -> None:
        """Closes TCP at once, with no close frame (after what was already sent: on a
        shaped link the bytes in flight still arrive)."""
        self._end("the handler dropped the connection (faults.drop)")
        self._flush()
        self._request.connection.transport.abort()

    def half_close(self) -> None:
        """Sends FIN: nothing more goes out, the client's frames can still be read."""
        self._end("the handler half-closed the connection (faults.half_close)")
        self._request.connection.transport.half_close()

    def reset(self) -> None:
        """Ends the connection with an RST instead of a FIN (SO_LINGER 0)."""
        self._end("the handler reset the connection (faults.reset)")
        self._flush()
        transport = self._request.connection.transport
        sock = getattr(transport, "socket", None)
        if isinstance(sock, socket.socket):
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()  # with linger 0: the RST, now
            except OSError:
                pass
        transport.abort()

    def close_and_drop(self, code: int | None = 1000, reason: bytes | str = b"") -> None:
        """A close frame, then TCP closed at once without waiting for the answer."""
        self.send_close(code, reason)
        self.drop()

    def never_answer_close(self) -> None:
        """The client's close is read and never answered: receive_message returns None
        and the TCP connection stays open until the handler returns."""
        self._stream._withhold_close_reply = True

    def _send_locked(self, data: bytes) -> None:
        """Writes through the stream's send path; the caller holds the write lock."""
        stream = self._stream
        try:
            stream._sendall(data)
        except OSError as e:
            reason = f"connection lost while sending: {e}"
            stream._closing.lose(reason)
            raise ConnectionTerminatedException(reason) from None
        stream.sent_bytes += len(data)

    def _flush(self) -> None:
        """Lets frames still queued by shaping (mod_ws.server.shaping) go out first."""
        flush = getattr(self._request.connection.transport, "flush", None)
        if flush is not None:
            flush()

    def _end(self, reason: str) -> None:
        """The server sends nothing more: no close of its own after this."""
        self._request.close_handshake.lose(reason)


def _ignore(request: Any, payload: bytes) -> None:
    """An on_ping_handler that answers nothing."""


def check_rate(bytes_per_second: float, chunk: int) -> None:
    """A trickle's rate and chunk, or ValueError."""
    if bytes_per_second <= 0 or chunk < 1:
        raise ValueError("trickle needs bytes_per_second > 0 and chunk >= 1")


def write_trickled(write: Callable[[bytes], None], data: bytes, bytes_per_second: float,
                   chunk: int) -> None:
    """`data` through `write`, `chunk` bytes at a time at `bytes_per_second` (for
    faults.trickle and the trickled 101 alike)."""
    gap = chunk / bytes_per_second
    for start in range(0, len(data), chunk):
        if start:
            time.sleep(gap)
        write(data[start:start + chunk])


def build_any_frame(opcode: int, payload: bytes | str = b"", *, fin: bool = True, rsv1: bool = False,
                    rsv2: bool = False, rsv3: bool = False, mask_key: bytes | None = None,
                    length: int | None = None) -> bytes:
    """A frame exactly as described, valid or not (see Faults.send_frame)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    header = encode_any_frame_header(opcode, len(payload) if length is None else length,
                                     fin, rsv1, rsv2, rsv3, mask_key)
    return header + (apply_mask(payload, mask_key) if mask_key is not None else payload)


__all__ = ["ClientFrame", "Faults", "build_any_frame", "check_rate", "write_trickled"]
