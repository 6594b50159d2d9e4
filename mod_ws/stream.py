"""The blocking message stream that handlers call: `request.ws_stream`.

`Stream` only moves bytes: it reads frames through the connection's buffered reader,
lets `MessageAssembler` (mod_ws.messages) apply the RFC 6455 rules, and writes frames
built by `mod_ws.frames` with one `sendall` each under the connection's write lock, so
a `MessageSender` thread may send while the handler thread receives.

The frame helpers below (`create_text_frame`, `parse_frame`, ...) keep the names and
signatures handlers written for pywebsocket3 use to craft raw frames.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    STATUS_NO_STATUS_RECEIVED,
    STATUS_NORMAL_CLOSURE,
)
from mod_ws.deflate import MessageDeflater, MessageInflater
from mod_ws.exceptions import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
    UnsupportedFrameException,
)
from mod_ws.frames import (
    MAX_CONTROL_PAYLOAD,
    FrameHeader,
    apply_mask,
    build_frame,
    build_unmasked_frame,
    encode_close_payload,
    encode_frame_header,
    encode_unmasked_header,
    parse_frame_header,
)
from mod_ws.messages import DEFAULT_MAX_MESSAGE_SIZE, Event, MessageAssembler, Utf8Validator
from mod_ws.transport import RECV_CHUNK

_logger = logging.getLogger(__name__)
_deflate_logger = logging.getLogger("mod_ws.deflate")

# Payloads from this size on are sent after their header rather than copied behind it.
_SEPARATE_HEADER_ABOVE = 65536
# A close reason must fit in a control frame beside its 2-byte code.
_MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2


@dataclass
class StreamOptions:
    """Limits and roles of one stream; the server fills them from its options."""

    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    close_timeout: float = 5.0
    mask_send: bool = False
    unmask_receive: bool = True


def _truncate_reason(reason: str) -> bytes:
    """Encodes a close reason, cut at a character boundary to fit the frame."""
    data = reason.encode("utf-8")
    if len(data) <= _MAX_CLOSE_REASON:
        return data
    return data[:_MAX_CLOSE_REASON].decode("utf-8", "ignore").encode("utf-8")


def default_passive_closing_handshake(request: Any) -> tuple[int | None, str]:
    """Echoes the client's close code and reason, as RFC 6455 section 5.5.1 suggests."""
    code = request.ws_close_code
    if code is None or code == STATUS_NO_STATUS_RECEIVED:
        return None, ""
    return code, request.ws_close_reason or ""


class Stream:
    """Messages in and out of one WebSocket connection (RFC 6455)."""

    def __init__(
        self,
        request: Any,
        options: StreamOptions | None = None,
        passive_closing_handshake: Callable[[Any], tuple[int | None, str]] | None = None,
    ) -> None:
        self._request = request
        self._options = options or StreamOptions()
        connection = request.connection
        self._reader = connection.reader
        self._write_lock = connection.write_lock
        self._transport = connection.transport
        self._sendall = connection.transport.sendall  # taken once: the hot send path
        self._passive_closing_handshake = (
            passive_closing_handshake or default_passive_closing_handshake
        )
        self._assembler = MessageAssembler(
            max_message_size=self._options.max_message_size,
            require_mask=self._options.unmask_receive,
        )
        self._receive_buffered_message = self._assembler.receive_buffered_message  # hot path
        self._last_received_opcode: int | None = None
        self._outgoing_opcode: int | None = None  # fragmented message being sent
        self._deflater: MessageDeflater | None = None  # set when permessage-deflate is on
        self._outgoing_compressed = False  # the message being sent is compressed
        self._ping_queue: list[bytes] = []  # payloads of pings not yet answered
        # Set once the connection is failed (RFC 6455 section 7.1.7): no more reads.
        self.failed = False
        # Set once the server has waited (bounded) for the client's close frame.
        self.close_awaited = False
        # One reader at a time: a MessageReceiver thread and a closing handler thread
        # may both want the next frame.
        self._read_lock = threading.Lock()

    @property
    def assembler(self) -> MessageAssembler:
        """The receive-side rules; extensions adjust them (allowed RSV bits)."""
        return self._assembler

    def enable_compression(self, deflater: MessageDeflater | None, inflater: MessageInflater) -> None:
        """Turns permessage-deflate on: inflate messages marked RSV1, deflate outgoing ones
        (unless `deflater` is None: then messages go out uncompressed)."""
        self._assembler.enable_inflate(inflater)
        self._deflater = deflater

    # Sending.

    def send_message(self, message: str | bytes, end: bool = True, binary: bool = False) -> None:
        """Sends a message, or one fragment of it when `end` is False."""
        if binary:
            if isinstance(message, str):
                raise BadOperationException("a binary message must be bytes, not str")
            payload = bytes(message)
            opcode = OPCODE_BINARY
        else:
            payload = message.encode() if isinstance(message, str) else bytes(message)
            opcode = OPCODE_TEXT
        self._write_lock.acquire()  # not `with`: half the cost, on every message
        try:
            # Checked under the lock: no data frame may follow our close frame.
            if self._request.server_terminated:
                raise BadOperationException(
                    "cannot send a message after the closing handshake began"
                )
            if self._outgoing_opcode is not None:
                if self._outgoing_opcode != opcode:
                    raise BadOperationException(
                        "cannot mix text and binary fragments in one message"
                    )
                frame_opcode = OPCODE_CONTINUATION
            else:
                frame_opcode = opcode
                self._outgoing_compressed = self._deflater is not None and self._deflater.enabled
            self._outgoing_opcode = None if end else opcode
            if self._outgoing_compressed:
                original_size = len(payload)
                payload = self._deflater.compress(payload, end)
                if _deflate_logger.isEnabledFor(logging.DEBUG):
                    _deflate_logger.debug("deflated %d bytes to %d", original_size, len(payload))
                # RFC 7692 section 6: RSV1 on the first frame of a compressed message only.
                self._send_frame(frame_opcode, payload, end, frame_opcode != OPCODE_CONTINUATION)
            else:
                self._send_frame(frame_opcode, payload, end)
        finally:
            self._write_lock.release()

    def send_ping(self, body: str | bytes = b"", binary: bool = False) -> None:
        """Sends a ping; the matching pong reaches `request.on_pong_handler` if set."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if len(body) > MAX_CONTROL_PAYLOAD:
            raise BadOperationException(f"ping payload of {len(body)} bytes exceeds 125")
        with self._write_lock:
            self._send_frame(OPCODE_PING, body)
        self._ping_queue.append(bytes(body))

    def _send_frame(self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> None:
        """Writes one frame; the caller holds the write lock."""
        try:
            if self._options.mask_send:
                self._sendall(build_frame(opcode, payload, fin, rsv1, mask_key=os.urandom(4)))
            elif len(payload) < _SEPARATE_HEADER_ABOVE:
                self._sendall(build_unmasked_frame(opcode, payload, fin, rsv1))
            else:  # a large payload goes out as it is, not copied behind its header
                self._sendall(encode_unmasked_header(opcode, len(payload), fin, rsv1))
                self._sendall(payload)
        except OSError as e:
            # A frame may be half written: the connection cannot carry another.
            self.failed = True
            raise ConnectionTerminatedException(f"connection lost while sending: {e}") from None

    def _send_close(self, code: int | None, reason: str | bytes) -> None:
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        body = encode_close_payload(code, _truncate_reason(reason) if code is not None else b"")
        with self._write_lock:
            # Checked and set under the lock: one close frame, and no data after it.
            if self._request.server_terminated:
                return
            self._request.server_terminated = True
            self._send_frame(OPCODE_CLOSE, body)

    # Receiving.

    def _receive_frame(self) -> Event | None:
        """Reads one frame and feeds it to the assembler; returns its event, if any."""
        reader = self._reader
        while True:
            parsed = parse_frame_header(reader.data, reader.pos)
            if parsed is not None:
                break
            reader.fill()
        header, offset = parsed
        assembler = self._assembler
        assembler.check_header(header)
        reader.pos = offset
        length = header.payload_length
        if length > reader.buffered():
            validator = assembler.text_validator(header)
            if validator is not None:
                return assembler.receive_frame(
                    header, b"", self._read_text_pieces(header, validator), validator
                )
        payload = reader.read_exact(length)
        if header.mask_key is not None:
            payload = apply_mask(payload, header.mask_key)
        return assembler.receive_frame(header, bytes(payload))

    def _read_text_pieces(self, header: FrameHeader, validator: Utf8Validator) -> str:
        """Reads a text payload as it arrives, validating each piece (fail fast, 1007)."""
        mask_key = header.mask_key
        remaining = header.payload_length
        offset = 0
        pieces = []
        while remaining:
            piece = self._reader.read_some(min(remaining, RECV_CHUNK))
            if mask_key is not None:
                shift = offset & 3
                piece = apply_mask(piece, mask_key[shift:] + mask_key[:shift])
            pieces.append(validator.decode(piece, False))
            offset += len(piece)
            remaining -= len(piece)
        return "".join(pieces)

    def receive_message(self) -> str | bytes | None:
        """Returns the next message: str for text, bytes for binary, None after a close.

        Pings are answered and pongs handed to `request.on_pong_handler` on the way.
        A protocol violation fails the connection with the matching close code and
        raises the exception that names it.
        """
        # acquire/release rather than `with`: half the cost, on every message.
        self._read_lock.acquire()
        try:
            if self._request.client_terminated:
                raise BadOperationException("the client has already closed the connection")
            reader = self._reader
            fast_path = self._receive_buffered_message
            while True:
                if len(reader.data) - reader.pos < 2:
                    reader.fill()  # not even a frame header yet: wait, then try the fast path
                    continue
                buffered = fast_path(reader.data, reader.pos)
                if buffered is not None:
                    opcode, value, reader.pos = buffered
                else:
                    event = self._receive_frame()
                    if event is None:
                        continue
                    opcode, value = event
                if opcode == OPCODE_TEXT or opcode == OPCODE_BINARY:
                    self._last_received_opcode = opcode
                    return value
                self._last_received_opcode = opcode
                if opcode == OPCODE_PING:
                    self._process_ping(value)
                elif opcode == OPCODE_PONG:
                    self._process_pong(value)
                else:
                    self._process_close(*value)
                    return None
        except InvalidFrameException as e:
            self._fail(e.close_code, str(e))
            raise
        finally:
            self._read_lock.release()

    def _fail(self, code: int, reason: str) -> None:
        """Fails the connection (RFC 6455 section 7.1.7): a close frame, then no more reads."""
        _logger.info("failing connection from %s with %d: %s",
                     self._request.connection.remote_addr, code, reason)
        self.failed = True
        self._request.client_terminated = True
        if not self._request.server_terminated:
            try:
                self._send_close(code, reason)
            except ConnectionTerminatedException:
                pass

    def _process_ping(self, payload: bytes) -> None:
        handler = getattr(self._request, "on_ping_handler", None)
        if handler:
            handler(self._request, payload)
            return
        if not self._request.server_terminated:
            with self._write_lock:
                self._send_frame(OPCODE_PONG, payload)

    def _process_pong(self, payload: bytes) -> None:
        # Pongs answer pings in order; unanswered earlier pings are forgotten.
        if payload in self._ping_queue:
            del self._ping_queue[: self._ping_queue.index(payload) + 1]
        handler = getattr(self._request, "on_pong_handler", None)
        if handler:
            handler(self._request, payload)

    def _process_close(self, code: int, reason: str) -> None:
        request = self._request
        request.ws_close_code = code
        request.ws_close_reason = reason
        request.client_terminated = True
        if request.server_terminated:
            return  # the answer to our own close
        reply_code, reply_reason = self._passive_closing_handshake(request)
        if reply_code is None:
            reply_reason = ""
        self._send_close(reply_code, reply_reason or "")

    # Closing.

    def close_connection(
        self, code: int | None = STATUS_NORMAL_CLOSURE, reason: str | bytes = "",
        wait_response: bool = True,
    ) -> None:
        """Starts the closing handshake and waits, bounded, for the client's close."""
        request = self._request
        if request.server_terminated:
            return
        if code is None and reason:
            raise BadOperationException("a close reason needs a status code")
        if not isinstance(reason, (str, bytes)):
            raise BadOperationException("a close reason must be str or bytes")
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        if len(reason.encode("utf-8")) > _MAX_CLOSE_REASON:
            raise BadOperationException("close reason longer than 123 bytes")
        self._send_close(code, reason)
        if wait_response and not request.client_terminated:
            self.wait_for_close(self._options.close_timeout)

    def wait_for_close(self, timeout: float) -> bool:
        """Discards data until the client's close frame arrives or `timeout` passes.

        Returns True when the client's close arrived. Used after the server has sent
        its own close: RFC 6455 section 7.1.1 lets the server then close the TCP
        connection first.
        """
        self.close_awaited = True
        deadline = time.monotonic() + timeout
        # Another thread may be reading (a MessageReceiver): it will see the close.
        if not self._read_lock.acquire(timeout=timeout):
            return self._request.client_terminated
        try:
            while not self._request.client_terminated and not self.failed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._transport.settimeout(remaining)
                event = self._receive_frame()
                if event is not None and event[0] == OPCODE_CLOSE:
                    self._process_close(*event[1])
        except (TimeoutError, ConnectionTerminatedException, OSError):
            return False
        finally:
            try:
                self._transport.settimeout(None)
            except OSError:
                pass
            self._read_lock.release()
        return self._request.client_terminated

    def get_last_received_opcode(self) -> int | None:
        """Opcode of the last message or control frame `receive_message` handled."""
        return self._last_received_opcode


# Frame helpers for handlers that craft raw frames (pywebsocket3 names and signatures).


def create_length_header(length: int, mask: bool) -> bytes:
    """The length part of a header (with the mask bit, without a masking key)."""
    header = encode_frame_header(0, length)
    return bytes((header[1] | (0x80 if mask else 0),)) + header[2:]


def create_header(
    opcode: int, payload_length: int, fin: int, rsv1: int, rsv2: int, rsv3: int, mask: bool
) -> bytes:
    """A frame header with the mask bit set when `mask`, without the masking key."""
    for bit in (fin, rsv1, rsv2, rsv3):
        if bit not in (0, 1, False, True):
            raise ValueError("FIN and RSV bits must be 0 or 1")
    header = encode_frame_header(
        opcode, payload_length, bool(fin), bool(rsv1), bool(rsv2), bool(rsv3),
        mask_key=b"\0\0\0\0" if mask else None,
    )
    return header[:-4] if mask else header


def _create_frame(opcode: int, payload: bytes, fin: int, mask: bool) -> bytes:
    return build_frame(opcode, payload, bool(fin), mask_key=os.urandom(4) if mask else None)


def create_text_frame(
    message: str | bytes, opcode: int = OPCODE_TEXT, fin: int = 1, mask: bool = False,
    frame_filters: list | None = None,
) -> bytes:
    """A whole text (or, with `opcode`, any) frame; str is encoded as UTF-8."""
    payload = message.encode("utf-8") if isinstance(message, str) else message
    return _create_frame(opcode, payload, fin, mask)


def create_binary_frame(
    message: bytes, opcode: int = OPCODE_BINARY, fin: int = 1, mask: bool = False,
    frame_filters: list | None = None,
) -> bytes:
    """A whole binary (or, with `opcode`, any) frame."""
    return _create_frame(opcode, message, fin, mask)


def create_ping_frame(body: bytes, mask: bool = False, frame_filters: list | None = None) -> bytes:
    return _create_frame(OPCODE_PING, body, 1, mask)


def create_pong_frame(body: bytes, mask: bool = False, frame_filters: list | None = None) -> bytes:
    return _create_frame(OPCODE_PONG, body, 1, mask)


def create_close_frame(body: bytes, mask: bool = False, frame_filters: list | None = None) -> bytes:
    return _create_frame(OPCODE_CLOSE, body, 1, mask)


def create_closing_handshake_body(code: int | None, reason: str | bytes) -> bytes:
    """A Close frame body for `code` and `reason` (empty when code is None)."""
    return encode_close_payload(code, reason)


def parse_frame(
    receive_bytes: Callable[[int], bytes], logger: logging.Logger | None = None,
    ws_version: int = 13, unmask_receive: bool = True,
) -> tuple[int, bytes, int, int, int, int]:
    """Reads one frame through `receive_bytes(n)`.

    Returns (opcode, payload, fin, rsv1, rsv2, rsv3); raises InvalidFrameException for
    an unmasked frame when `unmask_receive` is set.
    """
    data = receive_bytes(2)
    extra = {126: 2, 127: 8}.get(data[1] & 0x7F, 0) + (4 if data[1] & 0x80 else 0)
    if extra:
        data += receive_bytes(extra)
    parsed = parse_frame_header(data)
    assert parsed is not None
    header, _ = parsed
    if unmask_receive and header.mask_key is None:
        raise InvalidFrameException("frame is not masked")
    payload = receive_bytes(header.payload_length) if header.payload_length else b""
    if header.mask_key is not None:
        payload = apply_mask(payload, header.mask_key)
    return (header.opcode, payload, int(header.fin), int(header.rsv1), int(header.rsv2),
            int(header.rsv3))


__all__ = [
    "BadOperationException",
    "ConnectionTerminatedException",
    "InvalidFrameException",
    "InvalidUTF8Exception",
    "MessageTooBigException",
    "Stream",
    "StreamOptions",
    "UnsupportedFrameException",
    "create_binary_frame",
    "create_close_frame",
    "create_closing_handshake_body",
    "create_header",
    "create_length_header",
    "create_ping_frame",
    "create_pong_frame",
    "create_text_frame",
    "parse_frame",
]
