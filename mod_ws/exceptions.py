"""Every failure mod_ws can report, each carrying the close code or HTTP status it maps to.

A failure is detected deep in the protocol core and answered far away in the shell (a
close frame, an HTTP status line); carrying the code on the exception means the shell
never guesses. The public modules re-export these names where pywebsocket3 handlers
expect them (`mod_ws.stream`, `mod_ws.handshake`, `mod_ws.dispatch`).
"""

from __future__ import annotations

from mod_ws.common import (
    HTTP_STATUS_BAD_REQUEST,
    HTTP_STATUS_NOT_FOUND,
    HTTP_STATUS_UPGRADE_REQUIRED,
    STATUS_INVALID_FRAME_PAYLOAD_DATA,
    STATUS_MESSAGE_TOO_BIG,
    STATUS_PROTOCOL_ERROR,
)


class WebSocketError(Exception):
    """Base of every WebSocket-level error raised by mod_ws."""


class ConnectionTerminatedException(WebSocketError):
    """The connection ended: the peer vanished, or it was failed by either side."""


class InvalidFrameException(ConnectionTerminatedException):
    """The peer broke a framing rule; the connection is failed with `close_code`."""

    close_code: int = STATUS_PROTOCOL_ERROR


class InvalidUTF8Exception(InvalidFrameException):
    """A text message or close reason was not valid UTF-8 (RFC 6455 section 8.1)."""

    close_code = STATUS_INVALID_FRAME_PAYLOAD_DATA


class MessageTooBigException(InvalidFrameException):
    """A received message exceeded the configured size limit."""

    close_code = STATUS_MESSAGE_TOO_BIG


class BadOperationException(WebSocketError):
    """The handler asked for something the connection state does not allow."""


class UnsupportedFrameException(WebSocketError):
    """Kept for handlers written for pywebsocket3; mod_ws fails such frames with 1002."""


class HandshakeException(WebSocketError):
    """The opening handshake is refused; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = HTTP_STATUS_BAD_REQUEST if status is None else status
        self.headers: list[tuple[str, str]] = []


class VersionException(HandshakeException):
    """The client asked for a WebSocket version this server does not speak."""

    def __init__(self, message: str, supported_versions: str = "13") -> None:
        super().__init__(message, HTTP_STATUS_UPGRADE_REQUIRED)
        self.supported_versions = supported_versions
        self.headers = [("Sec-WebSocket-Version", supported_versions)]


class AbortedByUserException(Exception):
    """Raised by a handler to drop the connection without any response."""


class HttpError(Exception):
    """A request the server answers with `status` (and `headers`) and then closes."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or []


class DispatchException(Exception):
    """No handler can serve a resource, or the handler set cannot be loaded."""

    def __init__(self, message: str, status: int = HTTP_STATUS_NOT_FOUND) -> None:
        super().__init__(message)
        self.status = status


__all__ = [
    "AbortedByUserException",
    "BadOperationException",
    "ConnectionTerminatedException",
    "DispatchException",
    "HandshakeException",
    "HttpError",
    "InvalidFrameException",
    "InvalidUTF8Exception",
    "MessageTooBigException",
    "UnsupportedFrameException",
    "VersionException",
    "WebSocketError",
]
