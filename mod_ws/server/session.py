"""A WebSocket session after its opening handshake, whatever carried it there.

`Stream` (`request.ws_stream`) is the blocking message API handlers call. It only
moves bytes and holds the locks: frames are read through the connection's buffered
reader by the protocol core's `MessageAssembler.next_event` (every receive rule), the
close handshake is the request's `CloseHandshake` (mod_ws.protocol.closing), and
frames are built by mod_ws.protocol.frames and written with one `sendall` each under
the connection's write lock, so a `MessageSender` thread may send while the handler
thread receives. `run_session` runs the handler and ends the closing handshake; the
carrier then ends its byte stream.
"""

from __future__ import annotations

import logging
import os
import sys
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
    STATUS_GOING_AWAY,
    STATUS_NORMAL_CLOSURE,
)
from mod_ws.defaults import CLOSE_TIMEOUT, MAX_MESSAGE_SIZE
from mod_ws.exceptions import (
    AbortedByUserException,
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
)
from mod_ws.protocol.closing import (
    CLOSING_BY_US,
    FAILED,
    OPEN,
    check_close_request,
    default_passive_closing_handshake,
    describe_close,
)
from mod_ws.protocol.deflate import MessageDeflater, MessageInflater
from mod_ws.protocol.frames import (
    MAX_CONTROL_PAYLOAD,
    build_frame,
    build_unmasked_frame,
    encode_unmasked_header,
)
from mod_ws.protocol.messages import MessageAssembler
from mod_ws.server.faults import Faults
from mod_ws.server.frame_level import FrameLevelMethods
from mod_ws.server.frame_trace import trace_session
from mod_ws.server.keepalive import Keepalive
from mod_ws.server.reporting import describe_session, format_address, session_fields

_logger = logging.getLogger(__name__)
_deflate_logger = logging.getLogger("mod_ws.deflate")

# Payloads from this size on are sent after their header rather than copied behind it.
_SEPARATE_HEADER_ABOVE = 65536


def _as_bytes(message: object) -> bytes:
    """A message payload given as bytes-like; anything else is the handler's TypeError
    (bytes(12345) would be 12,345 NUL bytes)."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message)
    raise TypeError(f"a message must be str or bytes, not {type(message).__name__}")


@dataclass
class StreamOptions:
    """Limits and roles of one stream; the server fills them from its options."""

    max_message_size: int = MAX_MESSAGE_SIZE
    # --max-frame-size: the largest received data frame (None: the message limit).
    max_frame_size: int | None = None
    # --auto-fragment-size: outgoing messages go out in frames of at most this many
    # payload bytes (None: one frame per send_message call).
    auto_fragment_size: int | None = None
    close_timeout: float = CLOSE_TIMEOUT
    mask_send: bool = False
    unmask_receive: bool = True
    # pywebsocket3's filter lists, which handlers reading frames themselves run over
    # each frame. mod_ws applies extensions in the session, not as filters: always
    # empty (tuples, since one options object is shared by every stream of a server).
    incoming_frame_filters: tuple = ()
    outgoing_frame_filters: tuple = ()
    incoming_message_filters: tuple = ()
    outgoing_message_filters: tuple = ()
    encode_text_message_to_utf8: bool = True
    # --log-frames: one log line per frame in and out (mod_ws.server.frame_trace).
    log_frames: bool = False
    # --ping-interval / --ping-timeout: (watchdog, interval, timeout), or None for off.
    keepalive: tuple[Any, float, float] | None = None
    # --latency, --latency-jitter, --bandwidth: (seconds, seconds, bytes/s or None).
    shaping: tuple[float, float, int | None] | None = None


class Stream(FrameLevelMethods):
    """Messages in and out of one WebSocket connection (RFC 6455); the frame-level
    methods browser tests call come from FrameLevelMethods."""

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
        self._sendall = connection.transport.sendall  # taken once: the hot send path
        self._closing = request.close_handshake
        self._passive_closing_handshake = (
            passive_closing_handshake or default_passive_closing_handshake
        )
        self._assembler = MessageAssembler(
            max_message_size=self._options.max_message_size,
            max_frame_size=self._options.max_frame_size,
            require_mask=self._options.unmask_receive,
        )
        self._next_event = self._assembler.next_event  # hot path
        if self._options.auto_fragment_size:
            self._fragment_over = self._options.auto_fragment_size
        self._last_received_opcode: int | None = None
        self._outgoing_opcode: int | None = None  # fragmented message being sent
        self._deflater: MessageDeflater | None = None  # set when permessage-deflate is on
        self._outgoing_compressed = False  # the message being sent is compressed
        self._ping_queue: list[bytes] = []  # payloads of pings not yet answered
        # Set once the server has waited (bounded) for the client's close frame.
        self.close_awaited = False
        # Data messages each way and the bytes on the wire (frames of every kind), for
        # the line logged when the session ends; received bytes are the reader's count
        # since the handshake (counted per read, not per message: the hot path).
        self.received_messages = 0
        self.sent_messages = 0
        self.sent_bytes = 0
        self._received_before = self._reader.consumed()
        # One reader at a time: a MessageReceiver thread and a closing handler thread
        # may both want the next frame.
        self._read_lock = threading.Lock()

    @property
    def received_bytes(self) -> int:
        """Bytes read off the wire in this session (frames of every kind)."""
        return self._reader.consumed() - self._received_before

    @property
    def traces_frames(self) -> bool:
        return self._options.log_frames

    @property
    def keepalive(self) -> tuple[Any, float, float] | None:
        return self._options.keepalive

    @property
    def shaping(self) -> tuple[float, float, int | None] | None:
        return self._options.shaping

    # Made on first use: a connection that never misbehaves holds no Faults object.
    _faults: Faults | None = None
    # faults.never_answer_close(): the client's close is read and left unanswered.
    _withhold_close_reply = False

    @property
    def faults(self) -> Faults:
        """The fault-injection API: deliberately broken traffic (mod_ws.server.faults)."""
        if self._faults is None:
            self._faults = Faults(self, self._request)
        return self._faults

    def replace_sendall(self, sendall: Callable[[bytes], None]) -> None:
        """Sends through `sendall` from now on (a traced transport's, for --log-frames)."""
        self._sendall = sendall

    @property
    def failed(self) -> bool:
        """Has the connection failed (a protocol violation, or the transport broke)?"""
        return self._closing.state is FAILED

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
            payload = message if type(message) is bytes else _as_bytes(message)
            opcode = OPCODE_BINARY
        else:
            payload = message.encode() if isinstance(message, str) else _as_bytes(message)
            opcode = OPCODE_TEXT
        self._write_lock.acquire()  # not `with`: half the cost, on every message
        try:
            # Checked under the lock: no data frame may follow our close frame.
            if self._closing.state is not OPEN:
                self._closing.check_may_send_data()
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
            if end:
                self.sent_messages += 1
            if self._outgoing_compressed:
                original_size = len(payload)
                payload = self._deflater.compress(payload, end)
                if _deflate_logger.isEnabledFor(logging.DEBUG):
                    _deflate_logger.debug("deflated %d bytes to %d", original_size, len(payload))
                # RFC 7692 section 6: RSV1 on the first frame of a compressed message only.
                rsv1 = frame_opcode != OPCODE_CONTINUATION
            else:
                rsv1 = False
            if len(payload) > self._fragment_over:
                self._send_fragments(frame_opcode, payload, end, rsv1)
            else:
                self._send_frame(frame_opcode, payload, end, rsv1)
        finally:
            self._write_lock.release()

    # --auto-fragment-size: set on streams that split; the class default splits nothing.
    _fragment_over = sys.maxsize

    def _send_fragments(self, opcode: int, payload: bytes, end: bool, rsv1: bool) -> None:
        """Sends `payload` in frames of at most --auto-fragment-size bytes: the first
        with `opcode` (and RSV1 if compressed), the rest as continuations; the caller
        holds the write lock."""
        size = self._fragment_over
        view = memoryview(payload)
        for start in range(0, len(payload), size):
            last = start + size >= len(payload)
            self._send_frame(opcode, bytes(view[start:start + size]), end and last, rsv1)
            opcode, rsv1 = OPCODE_CONTINUATION, False

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
                frame = build_frame(opcode, payload, fin, rsv1, mask_key=os.urandom(4))
            elif len(payload) < _SEPARATE_HEADER_ABOVE:
                frame = build_unmasked_frame(opcode, payload, fin, rsv1)
            else:  # a large payload goes out as it is, not copied behind its header
                header = encode_unmasked_header(opcode, len(payload), fin, rsv1)
                self.sent_bytes += len(header) + len(payload)
                self._sendall(header)
                self._sendall(payload)
                return
            self.sent_bytes += len(frame)
            self._sendall(frame)
        except OSError as e:
            # A frame may be half written: the connection cannot carry another.
            if isinstance(e, (BlockingIOError, TimeoutError)):  # SO_SNDTIMEO expired
                reason = "send timed out (--send-timeout): the client stopped reading"
            else:
                reason = f"connection lost while sending: {e}"
            self._closing.lose(reason)
            raise ConnectionTerminatedException(reason) from None

    def _send_close(self, code: int | None, reason: str | bytes) -> None:
        """Sends our close frame (first, or as the answer), unless one was sent."""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        with self._write_lock:
            # Under the lock: one close frame, and no data after it.
            payload = self._closing.start(code, reason)
            if payload is not None:
                self._send_frame(OPCODE_CLOSE, payload)
        if payload is not None and _logger.isEnabledFor(logging.DEBUG):
            _logger.debug("%s: close frame sent: %s", format_address(self._request.connection.remote_addr),
                          describe_close((code, reason)))

    # Receiving.

    def receive_message(self) -> str | bytes | None:
        """Returns the next message: str for text, bytes for binary, None after a close.

        Pings are answered and pongs handed to `request.on_pong_handler` on the way.
        A protocol violation fails the connection with the matching close code and
        raises the exception that names it.
        """
        # acquire/release rather than `with`: half the cost, on every message.
        self._read_lock.acquire()
        try:
            state = self._closing.state
            if state is not OPEN and state is not CLOSING_BY_US:
                self._closing.check_may_receive()
            next_event = self._next_event
            reader = self._reader
            while True:
                if len(reader.data) - reader.pos < 2:
                    # Wait here, not inside next_event: a held connection then waits
                    # one frame less deep, and each frame on an idle thread's stack is
                    # memory it holds (bench/, idle scenario: 0.4 KiB per connection).
                    reader.fill()
                    continue
                opcode, value = next_event(reader)
                if opcode == OPCODE_TEXT or opcode == OPCODE_BINARY:
                    self._last_received_opcode = opcode
                    self.received_messages += 1
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
        # At debug: the session's end line (info) gives the failure and its close code.
        _logger.debug("%s %s: failing the connection with %d: %s",
                      format_address(self._request.connection.remote_addr),
                      self._request.ws_resource, code, reason)
        with self._write_lock:
            payload = self._closing.fail(code, reason)
            if payload is not None:
                try:
                    self._send_frame(OPCODE_CLOSE, payload)
                except ConnectionTerminatedException:
                    pass

    def _process_ping(self, payload: bytes) -> None:
        handler = getattr(self._request, "on_ping_handler", None)
        if handler:
            handler(self._request, payload)
            return
        with self._write_lock:
            if not self._closing.server_terminated:
                self._send_frame(OPCODE_PONG, payload)

    # Pongs read so far (--ping-interval watches it); a class default until the first.
    pongs_received = 0

    def send_keepalive_ping(self) -> bool:
        """Sends a keepalive ping unless another write holds the connection (then
        returns False: the caller tries later, and never waits here)."""
        if not self._write_lock.acquire(blocking=False):
            return False
        try:
            if self._closing.state is not OPEN:
                return False
            self._send_frame(OPCODE_PING, b"mod_ws keepalive")
            return True
        except ConnectionTerminatedException:
            return False
        finally:
            self._write_lock.release()

    def _process_pong(self, payload: bytes) -> None:
        self.pongs_received += 1
        # Pongs answer pings in order; unanswered earlier pings are forgotten.
        if payload in self._ping_queue:
            del self._ping_queue[: self._ping_queue.index(payload) + 1]
        handler = getattr(self._request, "on_pong_handler", None)
        if handler:
            handler(self._request, payload)

    def _process_close(self, code: int, reason: str) -> None:
        if _logger.isEnabledFor(logging.DEBUG):
            _logger.debug("%s: close frame received: %s", format_address(self._request.connection.remote_addr),
                          describe_close((code, reason)))
        if not self._closing.receive(code, reason):
            return  # the answer to our own close
        if self._withhold_close_reply:
            self._closing.lose("the client's close was left unanswered (faults.never_answer_close)")
            return
        try:
            reply_code, reply_reason = self._passive_closing_handshake(self._request)
        except AbortedByUserException:
            # The handler drops the connection instead of answering: an unclean close.
            self._closing.lose("web_socket_passive_closing_handshake aborted the connection")
            raise
        self._send_close(reply_code, (reply_reason or "") if reply_code is not None else "")

    # Closing.

    def close_connection(
        self, code: int | None = STATUS_NORMAL_CLOSURE, reason: str | bytes = "",
        wait_response: bool = True,
    ) -> None:
        """Starts the closing handshake and waits, bounded, for the client's close."""
        if self._closing.server_terminated:
            return
        self._send_close(code, check_close_request(code, reason))
        if wait_response and self._closing.state is CLOSING_BY_US:
            self.wait_for_close(self._options.close_timeout)

    def wait_for_close(self, timeout: float) -> bool:
        """Discards data until the client's close frame arrives or `timeout` passes.

        Returns True when the client's close arrived. Used after the server has sent
        its own close: RFC 6455 section 7.1.1 lets the server then close the TCP
        connection first.
        """
        self.close_awaited = True
        deadline = time.monotonic() + timeout
        closing_state = self._closing
        # Another thread may be reading (a MessageReceiver): it will see the close.
        if not self._read_lock.acquire(timeout=timeout):
            return closing_state.client_terminated
        try:
            while closing_state.state is CLOSING_BY_US:
                opcode, value = self._next_event(self._reader, deadline)
                if opcode == OPCODE_CLOSE:
                    self._process_close(*value)
        except (TimeoutError, ConnectionTerminatedException, OSError) as e:
            _logger.debug("%s: no close frame from the client: %s",
                          self._request.connection.remote_addr, e)
            return False
        finally:
            self._read_lock.release()
        return closing_state.client_terminated

    def get_last_received_opcode(self) -> int | None:
        """Opcode of the last message or control frame `receive_message` handled."""
        return self._last_received_opcode


def run_session(request: Any, dispatcher: Any, close_timeout: float) -> None:
    """Runs the handler's web_socket_transfer_data, then ends the closing handshake:
    a close the server sent and no one has waited for yet is awaited, for at most
    `close_timeout` (RFC 6455 section 7.1.1). The carrier then ends its byte stream
    (lingering first when the connection failed: `request.close_handshake.state`
    is FAILED)."""
    stream = request.ws_stream
    if stream.traces_frames:
        trace_session(request)
    if stream.shaping is not None:
        from mod_ws.server.shaping import shape_session  # only when shaping is asked for

        shape_session(request, *stream.shaping)
    keepalive = stream.keepalive
    if keepalive is not None:
        watchdog, interval, timeout = keepalive
        Keepalive(request, watchdog, interval, timeout, close_timeout).start()
    dispatcher.transfer_data(request)
    if request.close_handshake.state is CLOSING_BY_US and not stream.close_awaited:
        stream.wait_for_close(close_timeout)
    if _logger.isEnabledFor(logging.INFO):
        _logger.info("%s", describe_session(request), extra={"fields": session_fields(request)})


def close_going_away(request: Any) -> None:
    """Tells the client the server is going away (1001), without waiting for its answer;
    safe from another thread (the shutdown one)."""
    if request.server_terminated:
        return
    try:
        request.ws_stream.close_connection(STATUS_GOING_AWAY, "server shutting down",
                                           wait_response=False)
    except (ConnectionTerminatedException, OSError):
        pass


__all__ = [
    "Stream",
    "StreamOptions",
    "close_going_away",
    "run_session",
]
