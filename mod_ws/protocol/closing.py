"""The closing handshake (RFC 6455 sections 5.5.1, 7.1 and 7.4), as one state machine.

`CloseHandshake` holds the state of one connection's close as an explicit `CloseState`
and decides, for each step, what may be sent and what the other side's close means;
the session (mod_ws.server.session) only moves the bytes it asks for. The rules that go
with it live here too: the close payload codec, which codes may appear in a received
close, the reason limit (cut on a UTF-8 boundary) and echoing the peer's code.

pywebsocket3's `request.server_terminated` and `request.client_terminated` are views
on the state: `server_terminated` once the server sends no more frames (its close was
sent, or the connection failed), `client_terminated` once no more are read from the
client (its close arrived, or the connection failed).
"""

from __future__ import annotations

import enum
import struct
from typing import Any

from mod_ws.common import (
    STATUS_ABNORMAL_CLOSURE,
    STATUS_NO_STATUS_RECEIVED,
    STATUS_NORMAL_CLOSURE,
    STATUS_TLS_HANDSHAKE,
    STATUS_USER_PRIVATE_MAX,
    is_valid_close_code,
)
from mod_ws.exceptions import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
)
from mod_ws.protocol.frames import MAX_CONTROL_PAYLOAD

# A close reason must fit in a control frame beside its 2-byte code.
MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2

_PACK_CODE = struct.Struct("!H").pack
_UNPACK_CODE = struct.Struct("!H").unpack_from


class CloseState(enum.Enum):
    """Where one connection's closing handshake stands."""

    OPEN = "open"  # no close frame sent or received
    CLOSING_BY_US = "closing by us"  # our close sent; the peer's awaited
    CLOSING_BY_PEER = "closing by the peer"  # the peer's close received; ours not yet sent
    CLOSED = "closed"  # both close frames exchanged
    FAILED = "failed"  # failed (RFC 6455 section 7.1.7) or the transport was lost


# Module constants: the hot paths compare states by identity.
OPEN = CloseState.OPEN
CLOSING_BY_US = CloseState.CLOSING_BY_US
CLOSING_BY_PEER = CloseState.CLOSING_BY_PEER
CLOSED = CloseState.CLOSED
FAILED = CloseState.FAILED


def encode_close_payload(code: int | None, reason: str | bytes = "") -> bytes:
    """A Close frame body: nothing, or a 2-byte code and a UTF-8 reason.

    Any code 0..65535 is encoded (handlers may send odd codes on purpose); raises
    ValueError for a reason without a code or a body over 125 bytes.
    """
    if code is None:
        if reason:
            raise ValueError("a close reason needs a status code")
        return b""
    if not 0 <= code <= 0xFFFF:
        raise ValueError(f"close code {code} out of range")
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    body = _PACK_CODE(code) + reason
    if len(body) > MAX_CONTROL_PAYLOAD:
        raise ValueError("close code and reason exceed 125 bytes")
    return body


def decode_close_payload(payload: bytes) -> tuple[int, str]:
    """Validates a received Close body and returns (code, reason).

    An empty body means STATUS_NO_STATUS_RECEIVED (1005). A 1-byte body or a code that
    may not be sent raises InvalidFrameException (1002); so does a reason that is not
    UTF-8, since the Close frame itself is then malformed.
    """
    if not payload:
        return STATUS_NO_STATUS_RECEIVED, ""
    if len(payload) == 1:
        raise InvalidFrameException("close frame body of 1 byte")
    (code,) = _UNPACK_CODE(payload, 0)
    if not is_valid_close_code(code):
        raise InvalidFrameException(f"close code {code} may not be sent")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidFrameException(f"close reason is not valid UTF-8: {e}") from None
    return code, reason


def truncate_reason(reason: str) -> bytes:
    """Encodes a close reason, cut at a character boundary to fit the frame."""
    data = reason.encode("utf-8")
    if len(data) <= MAX_CLOSE_REASON:
        return data
    return data[:MAX_CLOSE_REASON].decode("utf-8", "ignore").encode("utf-8")


def echo_peer_close(code: int | None, reason: str | None) -> tuple[int | None, str]:
    """The answer RFC 6455 section 5.5.1 suggests: the peer's own code and reason
    (an empty close frame when the peer sent none)."""
    if code is None or code == STATUS_NO_STATUS_RECEIVED:
        return None, ""
    return code, reason or ""


def default_passive_closing_handshake(request: Any) -> tuple[int | None, str]:
    """What answers a client's close when the handler defines no
    web_socket_passive_closing_handshake: `echo_peer_close` of the request's
    `ws_close_code` and `ws_close_reason`."""
    return echo_peer_close(request.ws_close_code, request.ws_close_reason)


# The codes close_connection sends, as pywebsocket3 allows them: 1000 to 4999 except
# the pseudo codes that stand for "no close frame" and never go on the wire.
_PSEUDO_CODES = frozenset({STATUS_NO_STATUS_RECEIVED, STATUS_ABNORMAL_CLOSURE, STATUS_TLS_HANDSHAKE})


def check_close_code(code: object) -> None:
    """Raises BadOperationException unless `code` is one a handler may send: 1000 to
    4999, but not the pseudo codes 1005, 1006 and 1015 (pywebsocket3's rule)."""
    if not isinstance(code, int) or isinstance(code, bool):
        raise BadOperationException(f"close status code must be an int, not {type(code).__name__}")
    if not STATUS_NORMAL_CLOSURE <= code <= STATUS_USER_PRIVATE_MAX:
        raise BadOperationException(f"close status code {code} is out of range (1000-4999)")
    if code in _PSEUDO_CODES:
        raise BadOperationException(f"close status code {code} is a reserved pseudo code "
                                    "that is never sent")


def check_close_request(code: int | None, reason: object) -> str:
    """Validates what a handler asks `close_connection` to send; returns the reason as str.

    The code is None (an empty close frame) or 1000 to 4999 but not 1005, 1006 or 1015;
    a reason needs a code, must be str or bytes (bytes are decoded, bad sequences
    replaced) and must fit the frame. BadOperationException names what is wrong, as
    pywebsocket3's does; a frame that breaks these rules on purpose is the fault
    API's to send.
    """
    if code is None:
        if reason:
            raise BadOperationException("a close reason needs a status code")
        return ""
    check_close_code(code)
    if not isinstance(reason, (str, bytes)):
        raise BadOperationException("a close reason must be str or bytes")
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    if len(reason.encode("utf-8")) > MAX_CLOSE_REASON:
        raise BadOperationException(f"close reason longer than {MAX_CLOSE_REASON} bytes")
    return reason


def describe_close(close: tuple[int | None, str] | None) -> str:
    """A close frame's (code, reason) for a log line: `4005 'dbg'`, `1000`, `no code`."""
    code, reason = close or (None, "")
    if code is None or code == STATUS_NO_STATUS_RECEIVED:
        return "no code"
    return f"{code} {reason!r}" if reason else str(code)


class CloseHandshake:
    """The close state of one connection, and the transitions RFC 6455 allows.

    OPEN -> CLOSING_BY_US (we `start`) -> CLOSED (the peer's close is `received`);
    OPEN -> CLOSING_BY_PEER (`received`) -> CLOSED (we `start` our answer);
    any state -> FAILED (`fail` on a protocol violation, `lose` when the transport
    breaks). Methods that send return the close payload to write, or None when no
    close frame may be sent any more; the caller writes it under its write lock.
    """

    __slots__ = ("failure", "initiator", "received", "sent", "state")

    def __init__(self) -> None:
        self.state = OPEN
        self.sent: tuple[int | None, str] | None = None  # our close: (code, reason)
        self.received: tuple[int, str] | None = None  # the peer's close: (code, reason)
        self.failure: str | None = None  # why the connection failed
        self.initiator: str | None = None  # "server" or "client": who sent the first close

    def __repr__(self) -> str:
        return f"<CloseHandshake {self.state.value}>"

    # Views (pywebsocket3's names for them).

    @property
    def server_terminated(self) -> bool:
        """No more frames will be sent: our close is out, or the connection failed."""
        state = self.state
        return state is not OPEN and state is not CLOSING_BY_PEER

    @property
    def client_terminated(self) -> bool:
        """No more frames will be read: the peer's close arrived, or the connection failed."""
        state = self.state
        return state is not OPEN and state is not CLOSING_BY_US

    # Transitions.

    def start(self, code: int | None, reason: str = "") -> bytes | None:
        """Our close frame (first, or as the answer to the peer's): its payload, or
        None if ours was already sent or the connection is over. The reason is cut to
        fit on a UTF-8 boundary; a reason without a code is dropped."""
        if not self._advance_for_our_close():
            return None
        if code is None:
            reason = ""
        self.sent = (code, reason)
        return encode_close_payload(code, truncate_reason(reason) if code is not None else b"")

    def sent_elsewhere(self) -> None:
        """Our close frame went out without `start` (a handler wrote it raw): the
        state moves on as if `start` had sent it."""
        if self._advance_for_our_close():
            self.sent = (None, "")

    def _advance_for_our_close(self) -> bool:
        """Moves to the state after our close frame; False if one may not be sent."""
        state = self.state
        if state is OPEN:
            self.state = CLOSING_BY_US
            self.initiator = "server"
        elif state is CLOSING_BY_PEER:
            self.state = CLOSED
        else:
            return False
        return True

    def receive(self, code: int, reason: str) -> bool:
        """The peer's close frame arrived; returns whether we must now answer it."""
        self.received = (code, reason)
        state = self.state
        if state is OPEN:
            self.state = CLOSING_BY_PEER
            self.initiator = "client"
            return True
        if state is CLOSING_BY_US:
            self.state = CLOSED
        return False

    def fail(self, code: int, reason: str) -> bytes | None:
        """Fails the connection (RFC 6455 section 7.1.7): the close payload to send,
        or None if our close was already sent. No frame is read after this."""
        payload = self.start(code, reason)
        self.state = FAILED
        self.failure = reason
        return payload

    def lose(self, reason: str) -> None:
        """The transport broke (a frame may be half written): nothing more is sent or read."""
        if self.state is not FAILED:
            self.state = FAILED
            self.failure = reason

    def describe(self) -> str:
        """How the connection ended, in words for a log line."""
        if self.state is FAILED:
            sent = f" (sent close {describe_close(self.sent)})" if self.sent else ""
            return f"failed: {self.failure}{sent}"
        if self.initiator == "server":
            answer = (f", answered {describe_close(self.received)}" if self.received
                      else ", no close from the client")
            return f"closed by the server with {describe_close(self.sent)}{answer}"
        if self.initiator == "client":
            answer = (f", answered {describe_close(self.sent)}" if self.sent
                      else ", not answered")
            return f"closed by the client with {describe_close(self.received)}{answer}"
        return "ended without a closing handshake"

    # Checks for the session's data paths.

    def check_may_send_data(self) -> None:
        """Raises unless a data frame may still be sent (RFC 6455 section 5.5.1: none
        after our close)."""
        state = self.state
        if state is FAILED:
            raise ConnectionTerminatedException(f"the connection has failed: {self.failure}")
        if state is CLOSING_BY_US or state is CLOSED:
            raise BadOperationException("cannot send a message after the closing handshake began")

    def check_may_receive(self) -> None:
        """Raises unless frames may still be read from the peer."""
        state = self.state
        if state is FAILED:
            raise ConnectionTerminatedException(f"the connection has failed: {self.failure}")
        if state is CLOSING_BY_PEER or state is CLOSED:
            raise BadOperationException("the client has already closed the connection")


__all__ = [
    "MAX_CLOSE_REASON",
    "CloseHandshake",
    "CloseState",
    "check_close_code",
    "check_close_request",
    "describe_close",
    "decode_close_payload",
    "default_passive_closing_handshake",
    "echo_peer_close",
    "encode_close_payload",
    "truncate_reason",
]
