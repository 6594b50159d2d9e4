"""One case's connection: what it sends through the server's fault-injection API, what
the client sends back, and the timestamped wire log of both.

`CaseWire` wraps `request.ws_stream.faults` (mod_ws.server.faults). Every frame a case
sends goes out through it exactly as described, and every frame the client sends is
read raw with `faults.receive_frame`, so nothing of the server's own protocol handling
(answering pings and closes, inflating, refusing) comes between the case and the
client. What the client does is gathered into an Observation (mod_ws.client_suite.
verdicts): its data messages (reassembled, inflated when permessage-deflate was
agreed), pongs, its close frame, its TCP close, and what it did against the RFC.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

from mod_ws.client_suite.compression import InflateError, Inflater
from mod_ws.client_suite.verdicts import Observation, ReceivedMessage, preview
from mod_ws.common import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    STATUS_PROTOCOL_ERROR,
    is_valid_close_code,
)
from mod_ws.exceptions import ConnectionTerminatedException, InvalidFrameException

OPCODE_NAMES = {OPCODE_CONTINUATION: "continuation", OPCODE_TEXT: "text", OPCODE_BINARY: "binary",
                OPCODE_CLOSE: "close", OPCODE_PING: "ping", OPCODE_PONG: "pong"}
MAX_LOG_ENTRIES = 3000  # a case of 1000 fragments logs each; beyond this, a count
CLOSE_WAIT = 2.0  # seconds for the client to answer a close or close TCP after it


def opcode_name(opcode: int) -> str:
    return OPCODE_NAMES.get(opcode, f"reserved {opcode}")


def _payload_of_close(code: int | None, reason: bytes) -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


class CaseWire:
    """The connection as one case drives it; `obs` is what the client did."""

    def __init__(self, request: Any) -> None:
        self.faults = request.ws_stream.faults
        self.obs = Observation()
        self.log: list[dict[str, Any]] = []
        self.log_dropped = 0
        self.deflate = False  # permessage-deflate was agreed in the 101 (see agree)
        self.agreed: dict[str, str | None] = {}  # the parameters of the suite's response
        self._inflater: Inflater | None = None
        self._started = time.monotonic()
        self._message: tuple[int, list[bytes], bool] | None = None  # the client's, in progress
        self.ended = False  # the server closed TCP
        self.lost = False  # a send failed: the client is gone

    def agree(self, params: Sequence[tuple[str, str | None]]) -> None:
        """permessage-deflate was accepted with `params`: the client's messages are
        inflated as they must have been compressed, from an empty window each time
        under client_no_context_takeover and within client_max_window_bits, so a
        client that breaks either sends a message that does not inflate."""
        self.deflate = True
        self.agreed = dict(params)
        bits = self.agreed.get("client_max_window_bits")
        # zlib inflates raw streams in windows of 2**9 to 2**15 bytes; 8 becomes 9.
        window = min(max(int(bits), 9), 15) if bits and bits.isdigit() else 15
        self._inflater = Inflater(fresh_each="client_no_context_takeover" in self.agreed,
                                  window_bits=window)

    # Time and the log.

    def now(self) -> float:
        """Seconds since the case started."""
        return time.monotonic() - self._started

    def _record(self, entry: dict[str, Any]) -> None:
        if len(self.log) >= MAX_LOG_ENTRIES:
            self.log_dropped += 1
            return
        entry["t"] = round(self.now(), 6)
        self.log.append(entry)

    def event(self, text: str) -> None:
        """A line in the wire log that is not a frame (a pause, a TCP close...)."""
        self._record({"dir": "*", "event": text})

    def _frame_entry(self, direction: str, opcode: int, payload: bytes, *, fin: bool = True,
                     rsv: tuple[bool, bool, bool] = (False, False, False), length: int | None = None,
                     masked: bool = False, note: str = "") -> None:
        entry: dict[str, Any] = {
            "dir": direction, "opcode": opcode, "name": opcode_name(opcode), "fin": bool(fin),
            "rsv": "".join("1" if bit else "0" for bit in rsv), "length": len(payload),
            "payload": preview(payload, 32),
        }
        if masked:
            entry["masked"] = True
        if length is not None and length != len(payload):
            entry["declared"] = length
        if opcode == OPCODE_CLOSE and len(payload) >= 2:
            entry["code"] = struct.unpack("!H", payload[:2])[0]
        if note:
            entry["note"] = note
        self._record(entry)

    # Sending. A client that is gone makes sends fail: that is an observation too.

    def _send(self, action: Callable[[], None]) -> bool:
        if self.ended or self.lost:
            return False
        try:
            action()
            return True
        except (ConnectionTerminatedException, OSError) as e:
            self.lost = True
            self.event(f"send failed: {e}")
            if self.obs.tcp_closed_at is None:
                self.obs.tcp_closed_at = self.now()
            return False

    def trigger(self, label: str = "") -> None:
        """Marks now as the moment the frame the case is about goes out."""
        self.obs.trigger_at = self.now()
        self.event("trigger" + (f": {label}" if label else ""))

    def send_frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False,
                   rsv2: bool = False, rsv3: bool = False, mask_key: bytes | None = None,
                   length: int | None = None, note: str = "") -> bool:
        self._frame_entry(">", opcode, payload, fin=fin, rsv=(rsv1, rsv2, rsv3), length=length,
                          masked=mask_key is not None, note=note)
        return self._send(lambda: self.faults.send_frame(opcode, payload, fin=fin, rsv1=rsv1, rsv2=rsv2,
                                                         rsv3=rsv3, mask_key=mask_key, length=length))

    def send_text(self, payload: bytes | str, *, fin: bool = True, rsv1: bool = False, note: str = "") -> bool:
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        return self.send_frame(OPCODE_TEXT, data, fin=fin, rsv1=rsv1, note=note)

    def send_binary(self, payload: bytes, *, fin: bool = True, rsv1: bool = False, note: str = "") -> bool:
        return self.send_frame(OPCODE_BINARY, payload, fin=fin, rsv1=rsv1, note=note)

    def send_continuation(self, payload: bytes | str, *, fin: bool = True, rsv1: bool = False) -> bool:
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        return self.send_frame(OPCODE_CONTINUATION, data, fin=fin, rsv1=rsv1)

    def send_ping(self, payload: bytes = b"", note: str = "") -> bool:
        return self.send_frame(OPCODE_PING, payload, note=note)

    def send_pong(self, payload: bytes = b"", note: str = "") -> bool:
        return self.send_frame(OPCODE_PONG, payload, note=note)

    def send_close(self, code: int | None = None, reason: bytes = b"", *,
                   payload: bytes | None = None) -> bool:
        """The server's close frame, valid or not; the server sends no other."""
        body = _payload_of_close(code, reason) if payload is None else payload
        self._frame_entry(">", OPCODE_CLOSE, body)
        if self.obs.server_close_at is None:
            self.obs.server_close_at = self.now()
        return self._send(lambda: self.faults.send_close(payload=body))

    def send_raw(self, data: bytes, note: str) -> bool:
        self._record({"dir": ">", "raw": len(data), "payload": preview(data, 32), "note": note})
        return self._send(lambda: self.faults.send_raw(data))

    def trickle(self, data: bytes, bytes_per_second: float, chunk: int, note: str) -> bool:
        self._record({"dir": ">", "raw": len(data), "payload": preview(data, 32),
                      "note": f"{note}, trickled {chunk} B at a time at {bytes_per_second:g} B/s"})
        return self._send(lambda: self.faults.trickle(data, bytes_per_second, chunk))

    def pause(self, seconds: float) -> None:
        self.event(f"pause {seconds:g} s")
        self.faults.pause(seconds)

    # Receiving.

    def collect(self, timeout: float, until: Callable[[Observation], bool] | None = None) -> None:
        """Reads the client's frames until `until(obs)` holds, the client closes (its
        close frame or TCP), or `timeout` seconds pass (then `obs.timed_out`)."""
        obs = self.obs
        obs.timed_out = False
        obs.waited = timeout
        deadline = time.monotonic() + timeout
        while not (until is not None and until(obs)):
            if obs.close is not None or obs.tcp_closed_at is not None or self.ended:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                obs.timed_out = True
                return
            try:
                frame = self.faults.receive_frame(remaining)
            except TimeoutError:
                obs.timed_out = True
                return
            except InvalidFrameException as e:
                obs.violations.append(f"sent a frame that cannot be read: {e}")
                self.event(f"unreadable frame from the client: {e}")
                obs.tcp_closed_at = self.now()  # nothing more can be read
                return
            except (ConnectionTerminatedException, OSError) as e:
                frame = None
                self.event(f"read failed: {e}")
            if frame is None:
                obs.tcp_closed_at = self.now()
                self.event("the client closed TCP")
                return
            self._take(frame)

    def wait_messages(self, count: int, timeout: float) -> None:
        """Collects until the client has sent `count` data messages in all."""
        self.collect(timeout, lambda obs: len(obs.messages) >= count)

    def wait_pongs(self, count: int, timeout: float) -> None:
        self.collect(timeout, lambda obs: len(obs.pongs) >= count)

    def _take(self, frame: Any) -> None:
        """One frame from the client: logged, checked against the client's own duties,
        and added to the observation."""
        obs = self.obs
        opcode, payload = frame.opcode, frame.payload
        masked = getattr(frame, "masked", True)
        self._frame_entry("<", opcode, payload, fin=frame.fin, rsv=(frame.rsv1, frame.rsv2, frame.rsv3),
                          masked=masked)
        if not masked:
            obs.violations.append("sent an unmasked frame (RFC 6455 section 5.1: a client MUST mask)")
        if frame.rsv2 or frame.rsv3:
            obs.violations.append(f"sent a {opcode_name(opcode)} frame with RSV2/RSV3 set, no extension "
                                  "having been agreed for them")
        if obs.close is not None:
            obs.violations.append(f"sent a {opcode_name(opcode)} frame after its close frame")
            return
        if opcode & 0x8:
            self._take_control(frame)
        elif opcode in (OPCODE_TEXT, OPCODE_BINARY, OPCODE_CONTINUATION):
            self._take_data(frame)
        else:
            obs.violations.append(f"sent a frame with reserved opcode {opcode}")

    def _take_control(self, frame: Any) -> None:
        obs = self.obs
        opcode, payload = frame.opcode, frame.payload
        if not frame.fin:
            obs.violations.append(f"sent a fragmented {opcode_name(opcode)} frame")
        if frame.rsv1:
            obs.violations.append(f"set RSV1 on a {opcode_name(opcode)} frame")
        if len(payload) > 125:
            obs.violations.append(f"sent a {opcode_name(opcode)} frame of {len(payload)} bytes (over 125)")
        if opcode == OPCODE_PING:
            obs.pings.append(payload)
            if obs.server_close_at is None:
                self.send_pong(payload, note="answering the client's ping")
        elif opcode == OPCODE_PONG:
            obs.pongs.append((payload, self.now()))
        elif opcode == OPCODE_CLOSE:
            self._take_close(payload)
        else:
            obs.violations.append(f"sent a frame with reserved control opcode {opcode}")

    def _take_close(self, payload: bytes) -> None:
        obs = self.obs
        obs.close_at = self.now()
        if not payload:
            obs.close = (None, b"")
            return
        if len(payload) == 1:
            obs.close = (None, b"")
            obs.violations.append("sent a close frame with a 1-byte body")
            return
        code = struct.unpack("!H", payload[:2])[0]
        reason = payload[2:]
        obs.close = (code, reason)
        if not is_valid_close_code(code):
            obs.violations.append(f"sent close code {code}, which an endpoint may not send "
                                  "(RFC 6455 section 7.4)")
        try:
            reason.decode("utf-8")
        except UnicodeDecodeError:
            obs.violations.append("sent a close reason that is not UTF-8")

    def _take_data(self, frame: Any) -> None:
        obs = self.obs
        opcode = frame.opcode
        if opcode == OPCODE_CONTINUATION:
            if self._message is None:
                obs.violations.append("sent a continuation frame with no message begun")
                return
            if frame.rsv1:
                obs.violations.append("set RSV1 on a continuation frame")
            first_opcode, parts, compressed = self._message
            parts.append(frame.payload)
        else:
            if self._message is not None:
                obs.violations.append("began a new message before finishing the one it was sending")
            compressed = bool(frame.rsv1)
            if compressed and not self.deflate:
                obs.violations.append("set RSV1 without permessage-deflate agreed")
            first_opcode, parts = opcode, [frame.payload]
            self._message = (first_opcode, parts, compressed)
        if not frame.fin:
            return
        self._message = None
        payload = b"".join(parts)
        if compressed and self._inflater is not None:
            try:
                payload = self._inflater.inflate(payload)
            except InflateError as e:
                obs.violations.append(f"sent a compressed message that {e}")
                return
        if first_opcode == OPCODE_TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                obs.violations.append("sent a text message that is not valid UTF-8 "
                                      "(RFC 6455 section 5.6)")
        obs.messages.append(ReceivedMessage(first_opcode, payload, self.now(), compressed))

    # Endings.

    def close_normally(self, code: int = 1000, reason: bytes = b"", timeout: float = CLOSE_WAIT) -> None:
        """The server starts the closing handshake (unless the client already ended),
        waits for the client's close, then closes TCP."""
        obs = self.obs
        if obs.close is None and obs.tcp_closed_at is None:
            self.send_close(code, reason)
            self.collect(timeout)
        self.end()

    def end(self) -> None:
        """Finishes the case on the wire: answers a close the client started (echoing a
        valid code; 1002 for an invalid one), then closes TCP (the server closes first,
        RFC 6455 section 7.1.1)."""
        if self.ended:
            return
        obs = self.obs
        if obs.close is not None and obs.server_close_at is None and obs.tcp_closed_at is None:
            code, _ = obs.close
            if code is not None and not is_valid_close_code(code):
                code = STATUS_PROTOCOL_ERROR
            self.send_close(code)
        if not self.lost:
            try:
                self.faults.drop()
            except (ConnectionTerminatedException, OSError):
                pass
        self.event("the server closed TCP")
        self.ended = True


__all__ = ["CLOSE_WAIT", "CaseWire", "opcode_name"]
