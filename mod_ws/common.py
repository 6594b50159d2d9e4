"""Protocol constants and the Sec-WebSocket-Extensions header grammar.

Names match pywebsocket3's `common` module so handlers can keep using them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# RFC 6455 section 1.3: appended to Sec-WebSocket-Key before hashing.
WEBSOCKET_ACCEPT_UUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
VERSION_HYBI_LATEST = 13
VERSION_HYBI13 = 13
SUPPORTED_VERSION = 13

DEFAULT_WEB_SOCKET_PORT = 80
DEFAULT_WEB_SOCKET_SECURE_PORT = 443

# Opcodes (RFC 6455 section 5.2).
OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA

# Close status codes (RFC 6455 section 7.4.1).
STATUS_NORMAL_CLOSURE = 1000
STATUS_GOING_AWAY = 1001
STATUS_PROTOCOL_ERROR = 1002
STATUS_UNSUPPORTED_DATA = 1003
STATUS_NO_STATUS_RECEIVED = 1005  # never on the wire
STATUS_ABNORMAL_CLOSURE = 1006  # never on the wire
STATUS_INVALID_FRAME_PAYLOAD_DATA = 1007
STATUS_POLICY_VIOLATION = 1008
STATUS_MESSAGE_TOO_BIG = 1009
STATUS_MANDATORY_EXTENSION = 1010
STATUS_INTERNAL_ENDPOINT_ERROR = 1011
STATUS_SERVICE_RESTART = 1012
STATUS_TRY_AGAIN_LATER = 1013
STATUS_BAD_GATEWAY = 1014
STATUS_TLS_HANDSHAKE = 1015  # never on the wire
STATUS_USER_REGISTERED_BASE = 3000
STATUS_USER_REGISTERED_MAX = 3999
STATUS_USER_PRIVATE_BASE = 4000
STATUS_USER_PRIVATE_MAX = 4999

# pywebsocket3's older spellings of some of them, still used by handlers.
STATUS_NORMAL = STATUS_NORMAL_CLOSURE
STATUS_UNSUPPORTED = STATUS_UNSUPPORTED_DATA
STATUS_CODE_NOT_AVAILABLE = STATUS_NO_STATUS_RECEIVED
STATUS_ABNORMAL_CLOSE = STATUS_ABNORMAL_CLOSURE
STATUS_INVALID_FRAME_PAYLOAD = STATUS_INVALID_FRAME_PAYLOAD_DATA
STATUS_MANDATORY_EXT = STATUS_MANDATORY_EXTENSION

# The log level below DEBUG that pywebsocket3 logs frame details at (--log-level fine).
LOGLEVEL_FINE = 9

WEB_SOCKET_SCHEME = "ws"
WEB_SOCKET_SECURE_SCHEME = "wss"

# Handshake header names.
UPGRADE_HEADER = "Upgrade"
CONNECTION_HEADER = "Connection"
HOST_HEADER = "Host"
ORIGIN_HEADER = "Origin"
SEC_WEBSOCKET_KEY_HEADER = "Sec-WebSocket-Key"
SEC_WEBSOCKET_ACCEPT_HEADER = "Sec-WebSocket-Accept"
SEC_WEBSOCKET_VERSION_HEADER = "Sec-WebSocket-Version"
SEC_WEBSOCKET_PROTOCOL_HEADER = "Sec-WebSocket-Protocol"
SEC_WEBSOCKET_EXTENSIONS_HEADER = "Sec-WebSocket-Extensions"
WEBSOCKET_UPGRADE_TYPE = "websocket"
UPGRADE_CONNECTION_TYPE = "Upgrade"

# HTTP statuses the server answers with.
HTTP_STATUS_BAD_REQUEST = 400
HTTP_STATUS_UNAUTHORIZED = 401
HTTP_STATUS_FORBIDDEN = 403
HTTP_STATUS_NOT_FOUND = 404
HTTP_STATUS_METHOD_NOT_ALLOWED = 405
HTTP_STATUS_REQUEST_TIMEOUT = 408
HTTP_STATUS_LENGTH_REQUIRED = 411
HTTP_STATUS_CONTENT_TOO_LARGE = 413
HTTP_STATUS_UPGRADE_REQUIRED = 426
HTTP_STATUS_HEADERS_TOO_LARGE = 431
HTTP_STATUS_INTERNAL_SERVER_ERROR = 500
HTTP_STATUS_NOT_IMPLEMENTED = 501
HTTP_STATUS_SERVICE_UNAVAILABLE = 503
HTTP_STATUS_GATEWAY_TIMEOUT = 504
HTTP_STATUS_VERSION_NOT_SUPPORTED = 505

PERMESSAGE_DEFLATE_EXTENSION = "permessage-deflate"


def is_control_opcode(opcode: int) -> bool:
    """Control frames have the high bit of the opcode set."""
    return opcode & 0x8 != 0


def is_valid_close_code(code: int) -> bool:
    """May this code appear in a received Close frame (RFC 6455 section 7.4)?"""
    if 1000 <= code <= 1014:
        return code not in (1004, 1005, 1006)
    return 3000 <= code <= 4999


# RFC 7230 section 3.2.6: token = 1*tchar.
TCHAR_CLASS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_TOKEN_RUN = re.compile(TCHAR_CLASS + "+")
_TOKEN = re.compile(_TOKEN_RUN.pattern + r"\Z")


def is_token(text: str) -> bool:
    """Is `text` a non-empty RFC 7230 token?"""
    return _TOKEN.match(text) is not None


@dataclass
class ExtensionParameter:
    """One offered or accepted extension: its name and ordered (name, value) parameters."""

    _name: str
    _parameters: list[tuple[str, str | None]] = field(default_factory=list)

    def name(self) -> str:
        return self._name

    def add_parameter(self, name: str, value: str | None) -> None:
        self._parameters.append((name, value))

    def get_parameters(self) -> list[tuple[str, str | None]]:
        return self._parameters

    def get_parameter_names(self) -> list[str]:
        return [name for name, _ in self._parameters]

    def has_parameter(self, name: str) -> bool:
        return any(n == name for n, _ in self._parameters)

    def get_parameter_value(self, name: str) -> str | None:
        for n, value in self._parameters:
            if n == name:
                return value
        return None


class ExtensionParsingException(ValueError):
    """The Sec-WebSocket-Extensions header does not follow RFC 6455 section 9.1."""


class _HeaderScanner:
    """Walks an HTTP header value: tokens, quoted strings, separators, white space."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def consume(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def token(self) -> str:
        self.skip_space()
        match = _TOKEN_RUN.match(self.text, self.pos)
        if match is None:
            raise ExtensionParsingException(
                f"expected a token at position {self.pos} of {self.text!r}"
            )
        self.pos = match.end()
        return match.group()

    def quoted_string(self) -> str:
        """Reads a quoted-string after its opening quote; backslash escapes one char."""
        chars = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if c == '"':
                return "".join(chars)
            if c == "\\":
                if self.pos >= len(self.text):
                    break
                c = self.text[self.pos]
                self.pos += 1
            chars.append(c)
        raise ExtensionParsingException(f"unterminated quoted string in {self.text!r}")


def _parse_extension_param(scanner: _HeaderScanner, extension: ExtensionParameter) -> None:
    name = scanner.token()
    value = None
    if scanner.consume("="):
        if scanner.consume('"'):
            value = scanner.quoted_string()
            # RFC 6455 9.1: an unescaped quoted value must still be a token.
            if not is_token(value):
                raise ExtensionParsingException(
                    f"quoted value {value!r} of parameter {name!r} is not a token"
                )
        else:
            value = scanner.token()
    extension.add_parameter(name, value)


def parse_extensions(data: str) -> list[ExtensionParameter]:
    """Parses a Sec-WebSocket-Extensions value into offers, in the client's order.

    Empty list elements (`a, , b`) are skipped as RFC 7230 section 7 allows; anything
    else that is not the grammar raises ExtensionParsingException.
    """
    scanner = _HeaderScanner(data)
    extensions: list[ExtensionParameter] = []
    while not scanner.at_end():
        if scanner.consume(","):
            continue
        extension = ExtensionParameter(scanner.token())
        while scanner.consume(";"):
            _parse_extension_param(scanner, extension)
        if not scanner.at_end() and not scanner.consume(","):
            raise ExtensionParsingException(
                f"unexpected {scanner.peek()!r} at position {scanner.pos} of {data!r}"
            )
        extensions.append(extension)
    if not extensions:
        raise ExtensionParsingException("no extension in the header")
    return extensions


def format_extension(extension: ExtensionParameter) -> str:
    """Formats one extension for a response header."""
    parts = [extension.name()]
    for name, value in extension.get_parameters():
        parts.append(name if value is None else f"{name}={value}")
    return "; ".join(parts)


def format_extensions(extension_list: list[ExtensionParameter]) -> str:
    """Formats a list of extensions as a Sec-WebSocket-Extensions value."""
    return ", ".join(format_extension(e) for e in extension_list)


def parse_token_list(data: str) -> list[str]:
    """Parses a comma list of tokens (Connection, Upgrade, Sec-WebSocket-Protocol).

    Raises ValueError when an element is not a token.
    """
    items = []
    for element in data.split(","):
        element = element.strip(" \t")
        if not element:
            continue
        if not is_token(element):
            raise ValueError(f"{element!r} is not a token")
        items.append(element)
    return items
