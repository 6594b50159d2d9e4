"""pywebsocket3's frame-level Stream methods, which browser tests call directly.

Chromium's web tests reach past `receive_message` to see exactly what the client put
on the wire (`_receive_frame` and its tuple, `_receive_frame_as_frame_object`), to
reassemble and answer by hand (`_get_message_from_frame`, `_process_close_message`),
and to write what the stream would refuse to (`_write`, `_send_pong`,
`receive_bytes`). These keep pywebsocket3's names, arguments and results over
mod_ws's own parts: the connection's buffered reader, the frame codec, the close
handshake. They check no more than pywebsocket3 did: a test that reads frames itself
judges them itself.

`FrameLevelMethods` is a base of `mod_ws.server.session.Stream`; it uses the stream's
`_request`, `_reader`, `_options`, `_write_lock`, `_send_frame`, `_process_close` and
`_fail`.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator

from mod_ws.common import OPCODE_CONTINUATION, OPCODE_PONG, STATUS_NO_STATUS_RECEIVED, is_control_opcode
from mod_ws.exceptions import BadOperationException, InvalidFrameException
from mod_ws.protocol.frames import MAX_CONTROL_PAYLOAD, Frame, read_frame


class FrameLevelMethods:
    """Raw reads and writes on a stream, in pywebsocket3's terms."""

    # Fragments gathered by _get_message_from_frame, and their message's opcode.
    _raw_fragments: list[bytes] | None = None
    _original_opcode: int | None = None

    def receive_bytes(self, length: int) -> bytes:
        """Exactly `length` raw bytes; ConnectionTerminatedException if the client
        closes first."""
        return bytes(self._reader.read_exact(length))

    def _read(self, length: int) -> bytes:
        """Up to `length` raw bytes, at least one (waiting for it)."""
        return self._reader.read_some(length)

    def _write(self, data: bytes) -> None:
        """Writes raw bytes whole, between the stream's own frames."""
        self._request.connection.write(data)

    def _receive_frame(self) -> tuple[int, bytes, int, int, int, int]:
        """The next frame as (opcode, payload, fin, rsv1, rsv2, rsv3), unmasked and
        unjudged: a close is not answered, a ping not ponged, nothing inflated."""
        with self._failing_on_invalid_frames():
            return read_frame(self.receive_bytes, self._options.unmask_receive)

    @contextlib.contextmanager
    def _failing_on_invalid_frames(self) -> Iterator[None]:
        """As receive_message does: a frame that breaks the protocol fails the
        connection with its close code (1002), then the exception reaches the handler."""
        try:
            yield
        except InvalidFrameException as e:
            self._fail(e.close_code, str(e))
            raise

    def _receive_frame_as_frame_object(self) -> Frame:
        opcode, payload, fin, rsv1, rsv2, rsv3 = self._receive_frame()
        return Frame(fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, opcode=opcode, payload=payload)

    def _get_message_from_frame(self, frame: Frame) -> bytes | None:
        """Reassembly, one frame at a time: the whole message's payload once its last
        frame is given, None before. InvalidFrameException for a continuation with no
        message begun, a new message inside another, or a fragmented control frame."""
        with self._failing_on_invalid_frames():
            return self._reassemble(frame)

    def _reassemble(self, frame: Frame) -> bytes | None:
        fragments = self._raw_fragments
        if frame.opcode == OPCODE_CONTINUATION:
            if not fragments:
                raise InvalidFrameException("a continuation frame with no message begun")
            fragments.append(frame.payload)
            if not frame.fin:
                return None
            self._raw_fragments = None
            return b"".join(fragments)
        if fragments:
            raise InvalidFrameException("a new message began before the fragmented one ended")
        self._original_opcode = frame.opcode
        if frame.fin:
            return frame.payload
        if is_control_opcode(frame.opcode):
            raise InvalidFrameException("a fragmented control frame")
        self._raw_fragments = [frame.payload]
        return None

    def _process_close_message(self, message: bytes) -> None:
        """Takes a close frame's payload read by hand: records its code and reason and
        answers it (web_socket_passive_closing_handshake), unless the server's close
        was already sent. As in pywebsocket3, any code is taken and a reason that is
        not UTF-8 is decoded with replacement characters; a 1-byte body is invalid."""
        if len(message) == 1:
            with self._failing_on_invalid_frames():
                raise InvalidFrameException("close frame body of 1 byte")
        if message:
            (code,) = struct.unpack_from("!H", message)
            reason = message[2:].decode("utf-8", "replace")
        else:
            code, reason = STATUS_NO_STATUS_RECEIVED, ""
        self._process_close(code, reason)

    def _send_pong(self, body: bytes) -> None:
        """Sends a pong nobody asked for (clients must accept unsolicited pongs)."""
        if len(body) > MAX_CONTROL_PAYLOAD:
            raise BadOperationException(f"pong payload of {len(body)} bytes exceeds 125")
        with self._write_lock:
            self._send_frame(OPCODE_PONG, body)
