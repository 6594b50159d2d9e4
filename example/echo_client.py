#!/usr/bin/env python3
"""Minimal WebSocket echo client built on the Python standard library only.

It opens a WebSocket connection (RFC 6455) to an echo endpoint, sends each
message as a masked text frame, prints what comes back, then runs the closing
handshake.  Example::

    python example/echo_client.py -p 8880 -m Hello,World

prints::

    send: Hello
    recv: Hello
    send: World
    recv: World
    close: code=1000 reason=

Any failure is reported as a single ``echo_client: error: ...`` line on
stderr and the exit status is 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import socket
import sys
from typing import NamedTuple, Optional, Sequence

PROG = "echo_client"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEFAULT_MESSAGES = "Hello,<>,\u041f\u0440\u0438\u0432\u0435\u0442"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
DATA_OPCODES = (OP_CONTINUATION, OP_TEXT, OP_BINARY)
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)

STATUS_NORMAL = 1000
STATUS_NO_STATUS = 1005  # reported when a close frame carries no code
STATUS_PROTOCOL_ERROR = 1002

MAX_HEADER_BYTES = 64 * 1024
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
RECV_CHUNK = 65536


class ClientError(Exception):
    """A failure to report to the user as a one-line error."""


class ProtocolError(ClientError):
    """The server broke the WebSocket protocol."""


class Frame(NamedTuple):
    """One decoded WebSocket frame."""

    fin: bool
    opcode: int
    payload: bytes


class CloseInfo(NamedTuple):
    """Status code and reason taken from a close frame."""

    code: int
    reason: str


class ServerClosed(Exception):
    """Raised when the server's close frame arrives while reading."""

    def __init__(self, info: CloseInfo) -> None:
        super().__init__(f"code={info.code} reason={info.reason}")
        self.info = info


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def valid_close_code(code: int) -> bool:
    """Return True if ``code`` may be sent in a close frame (RFC 6455 7.4)."""
    if 1000 <= code <= 1014:
        return code not in (1004, 1005, 1006)
    return 3000 <= code <= 4999


def close_code_arg(text: str) -> int:
    """argparse type for ``--close-code``."""
    try:
        code = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not valid_close_code(code):
        raise argparse.ArgumentTypeError(
            f"{code} cannot be sent (use 1000-1003, 1007-1014 or 3000-4999)")
    return code


def positive_float_arg(text: str) -> float:
    """argparse type for a strictly positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Create the command line parser."""
    parser = argparse.ArgumentParser(
        prog="echo_client.py",
        description="Send messages to a WebSocket echo endpoint and print "
                    "the replies.")
    parser.add_argument("-s", "--server-host", "--host", dest="host",
                        default="127.0.0.1",
                        help="server host name or address (default: "
                             "%(default)s; IPv6 such as ::1 is accepted)")
    parser.add_argument("-p", "--server-port", "--port", dest="port",
                        type=int, default=8880,
                        help="server port (default: %(default)s)")
    parser.add_argument("-r", "--resource", default="/echo",
                        help="resource path (default: %(default)s)")
    parser.add_argument("-m", "--message", dest="messages",
                        default=DEFAULT_MESSAGES,
                        help="comma separated messages to send "
                             "(default: %(default)s)")
    parser.add_argument("--origin", default=None,
                        help="value of the Origin header (not sent if "
                             "omitted)")
    parser.add_argument("--protocol", default=None,
                        help="subprotocol(s) to request, comma separated")
    parser.add_argument("--close-code", type=close_code_arg,
                        default=STATUS_NORMAL,
                        help="status code of our close frame "
                             "(default: %(default)s)")
    parser.add_argument("--close-reason", default="",
                        help="reason text of our close frame (default: empty)")
    parser.add_argument("--timeout", type=positive_float_arg, default=10.0,
                        help="socket timeout in seconds (default: "
                             "%(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show handshake details on stderr")
    return parser


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse and cross-check the command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"port out of range: {args.port}")
    if not args.resource.startswith("/") or any(c.isspace() or ord(c) < 0x21
                                                for c in args.resource):
        parser.error("resource must start with '/' and contain no spaces")
    if len(args.close_reason.encode("utf-8")) > 123:
        parser.error("close reason is longer than 123 UTF-8 bytes")
    args.host = args.host.strip()
    if args.host.startswith("[") and args.host.endswith("]"):
        args.host = args.host[1:-1]
    if not args.host:
        parser.error("empty host")
    args.message_list = args.messages.split(",")
    args.protocol_list = parse_protocols(args.protocol)
    for text in (args.origin or "", args.protocol or ""):
        if "\r" in text or "\n" in text:
            parser.error("header values cannot contain line breaks")
    return args


def parse_protocols(value: Optional[str]) -> list[str]:
    """Split a comma separated subprotocol list, dropping empty items."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


# ---------------------------------------------------------------------------
# Opening handshake
# ---------------------------------------------------------------------------


def host_header(host: str, port: int) -> str:
    """Return the Host header value, bracketing IPv6 literals."""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def make_key() -> str:
    """Return a fresh Sec-WebSocket-Key: base64 of 16 random bytes."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def expected_accept(key: str) -> str:
    """Compute the Sec-WebSocket-Accept value the server must answer."""
    digest = hashlib.sha1((key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def build_request(resource: str, host: str, port: int, key: str,
                  origin: Optional[str], protocols: Sequence[str]) -> bytes:
    """Build the HTTP/1.1 upgrade request of the opening handshake."""
    lines = [
        f"GET {resource} HTTP/1.1",
        f"Host: {host_header(host, port)}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    if protocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(protocols)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def parse_response_head(head: bytes) -> tuple[str, int, dict[str, str]]:
    """Split a response head into (status line, status code, headers).

    Header names are lower-cased; repeated headers are joined with ", ".
    """
    text = head.decode("iso-8859-1")
    lines = text.split("\r\n")
    status_line = lines[0].strip()
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ClientError(f"not an HTTP response: {status_line[:80]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise ClientError(
            f"bad HTTP status line: {status_line[:80]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ClientError(f"malformed response header: {line[:80]!r}")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers \
            else value
    return status_line, status, headers


def header_tokens(value: str) -> list[str]:
    """Split a comma separated header value into lower-case tokens."""
    return [token.strip().lower() for token in value.split(",")
            if token.strip()]


def check_response(status_line: str, status: int, headers: dict[str, str],
                   key: str, protocols: Sequence[str]) -> Optional[str]:
    """Validate the server's handshake answer; return the chosen protocol."""
    if status != 101:
        raise ClientError(f"server did not switch protocols: got "
                          f"{status_line!r}, expected status 101")
    if "websocket" not in header_tokens(headers.get("upgrade", "")):
        raise ClientError("handshake response lacks 'Upgrade: websocket'")
    if "upgrade" not in header_tokens(headers.get("connection", "")):
        raise ClientError("handshake response lacks 'Connection: Upgrade'")
    accept = headers.get("sec-websocket-accept")
    if accept is None:
        raise ClientError("handshake response lacks Sec-WebSocket-Accept")
    if accept != expected_accept(key):
        raise ClientError(f"bad Sec-WebSocket-Accept {accept!r} "
                          f"(expected {expected_accept(key)!r})")
    if headers.get("sec-websocket-extensions"):
        raise ClientError("server accepted extensions that were not "
                          "requested: " + headers["sec-websocket-extensions"])
    chosen = headers.get("sec-websocket-protocol")
    if chosen is not None:
        if chosen not in protocols:
            raise ClientError(f"server selected subprotocol {chosen!r} "
                              "which was not requested")
    return chosen


# ---------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------


def mask_payload(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the repeated 4-byte ``mask`` as big integers."""
    size = len(payload)
    if size == 0:
        return b""
    repeated = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(size, "big")


def encode_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """Encode one masked client frame."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 1 << 16:
        head = bytes((first, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + mask_payload(payload, mask)


def encode_close_payload(code: Optional[int], reason: str) -> bytes:
    """Build the body of a close frame (empty when ``code`` is None)."""
    if code is None:
        return b""
    return code.to_bytes(2, "big") + reason.encode("utf-8")


def decode_close_payload(payload: bytes) -> CloseInfo:
    """Parse the body of a close frame received from the server."""
    if not payload:
        return CloseInfo(STATUS_NO_STATUS, "")
    if len(payload) == 1:
        raise ProtocolError("close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not valid_close_code(code):
        raise ProtocolError(f"close frame with invalid status code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("close reason is not valid UTF-8") from None
    return CloseInfo(code, reason)


def describe_binary(data: bytes, limit: int = 32) -> str:
    """Return a short hex description of a binary message."""
    preview = data[:limit].hex(" ")
    more = " ..." if len(data) > limit else ""
    return f"<{len(data)} bytes binary: {preview}{more}>"


# ---------------------------------------------------------------------------
# Connection
# ---------------------------------------------------------------------------


class Connection:
    """A client WebSocket connection over a blocking socket."""

    def __init__(self, sock: socket.socket, timeout: float,
                 verbose: bool = False) -> None:
        self.sock = sock
        self.timeout = timeout
        self.verbose = verbose
        self.buffer = bytearray()
        self.close_sent = False

    # -- low level I/O -----------------------------------------------------

    def _fill(self, what: str) -> None:
        """Receive more bytes into the buffer, failing clearly."""
        try:
            chunk = self.sock.recv(RECV_CHUNK)
        except socket.timeout:
            raise ClientError(f"timed out after {self.timeout:g}s waiting "
                              f"for {what}") from None
        except OSError as exc:
            raise ClientError(f"connection lost while waiting for {what}: "
                              f"{exc.strerror or exc}") from None
        if not chunk:
            raise ClientError(f"connection closed by server while waiting "
                              f"for {what}")
        self.buffer += chunk

    def read_exactly(self, size: int, what: str) -> bytes:
        """Return exactly ``size`` bytes from the connection."""
        while len(self.buffer) < size:
            self._fill(what)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def send_raw(self, data: bytes, what: str) -> None:
        """Send bytes, turning socket errors into ClientError."""
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise ClientError(f"timed out sending {what}") from None
        except OSError as exc:
            raise ClientError(f"connection lost while sending {what}: "
                              f"{exc.strerror or exc}") from None

    def log(self, text: str) -> None:
        """Print a diagnostic line on stderr in verbose mode."""
        if self.verbose:
            print(f"{PROG}: {text}", file=sys.stderr, flush=True)

    # -- handshake ---------------------------------------------------------

    def read_response_head(self) -> bytes:
        """Read the HTTP response head (up to the blank line)."""
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buffer[:end])
                del self.buffer[:end + 4]
                return head
            if len(self.buffer) > MAX_HEADER_BYTES:
                raise ClientError("handshake response header too large")
            try:
                self._fill("the handshake response")
            except ClientError:
                if self.buffer:
                    first = bytes(self.buffer).split(b"\r\n", 1)[0]
                    raise ClientError(
                        "incomplete handshake response from server: "
                        + repr(first[:80].decode("iso-8859-1"))) from None
                raise

    def handshake(self, resource: str, host: str, port: int,
                  origin: Optional[str],
                  protocols: Sequence[str]) -> Optional[str]:
        """Run the opening handshake; return the negotiated subprotocol."""
        key = make_key()
        request = build_request(resource, host, port, key, origin, protocols)
        for line in request.decode("utf-8").rstrip("\r\n").split("\r\n"):
            self.log(f"> {line}")
        self.send_raw(request, "the handshake request")
        head = self.read_response_head()
        for line in head.decode("iso-8859-1").split("\r\n"):
            self.log(f"< {line}")
        status_line, status, headers = parse_response_head(head)
        chosen = check_response(status_line, status, headers, key, protocols)
        self.log(f"protocol: {chosen if chosen is not None else '(none)'}")
        return chosen

    # -- frames ------------------------------------------------------------

    def send_frame(self, opcode: int, payload: bytes,
                   what: str = "a frame") -> None:
        """Send a single masked frame."""
        self.send_raw(encode_frame(opcode, payload), what)

    def read_frame(self, what: str) -> Frame:
        """Read and sanity-check one frame from the server."""
        b0, b1 = self.read_exactly(2, what)
        fin = bool(b0 & 0x80)
        if b0 & 0x70:
            raise ProtocolError("frame with reserved bits set "
                                "(no extension was negotiated)")
        opcode = b0 & 0x0F
        if opcode not in DATA_OPCODES and opcode not in CONTROL_OPCODES:
            raise ProtocolError(f"frame with unknown opcode {opcode:#x}")
        if b1 & 0x80:
            raise ProtocolError("server sent a masked frame")
        size = b1 & 0x7F
        if size == 126:
            size = int.from_bytes(self.read_exactly(2, what), "big")
        elif size == 127:
            size = int.from_bytes(self.read_exactly(8, what), "big")
            if size >> 63:
                raise ProtocolError("frame length has its top bit set")
        if opcode in CONTROL_OPCODES:
            if not fin:
                raise ProtocolError("fragmented control frame")
            if size > 125:
                raise ProtocolError("control frame longer than 125 bytes")
        if size > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"frame of {size} bytes exceeds the "
                                f"{MAX_MESSAGE_BYTES} byte limit")
        payload = self.read_exactly(size, what) if size else b""
        return Frame(fin, opcode, payload)

    def handle_control(self, frame: Frame) -> None:
        """React to a ping, pong or close frame received from the server."""
        if frame.opcode == OP_PING:
            self.log(f"ping received ({len(frame.payload)} bytes)")
            if not self.close_sent:
                self.send_frame(OP_PONG, frame.payload, "a pong")
        elif frame.opcode == OP_PONG:
            self.log("unsolicited pong ignored")
        elif frame.opcode == OP_CLOSE:
            raise ServerClosed(decode_close_payload(frame.payload))

    def receive_message(self, what: str) -> tuple[int, bytes]:
        """Return (opcode, payload) of the next complete data message.

        Fragmented messages are reassembled; pings are answered.  A close
        frame from the server raises ServerClosed.
        """
        opcode: Optional[int] = None
        parts: list[bytes] = []
        total = 0
        while True:
            frame = self.read_frame(what)
            if frame.opcode in CONTROL_OPCODES:
                self.handle_control(frame)
                continue
            if frame.opcode == OP_CONTINUATION:
                if opcode is None:
                    raise ProtocolError("continuation frame without a "
                                        "message to continue")
            elif opcode is not None:
                raise ProtocolError("new data frame inside a fragmented "
                                    "message")
            else:
                opcode = frame.opcode
            parts.append(frame.payload)
            total += len(frame.payload)
            if total > MAX_MESSAGE_BYTES:
                raise ProtocolError("message exceeds the size limit")
            if frame.fin:
                return opcode, b"".join(parts)

    def send_close(self, code: Optional[int], reason: str) -> None:
        """Send our close frame once."""
        if not self.close_sent:
            self.close_sent = True
            self.send_frame(OP_CLOSE, encode_close_payload(code, reason),
                            "the close frame")

    def await_close(self) -> CloseInfo:
        """Wait for the server's close frame, discarding data messages."""
        while True:
            try:
                opcode, payload = self.receive_message(
                    "the server's close frame")
            except ServerClosed as closed:
                return closed.info
            self.log(f"ignored message after close: opcode {opcode}, "
                     f"{len(payload)} bytes")

    def drain_until_eof(self) -> None:
        """Give the server a moment to close TCP first (RFC 6455 7.1.1)."""
        try:
            self.sock.settimeout(min(self.timeout, 2.0))
            while self.sock.recv(RECV_CHUNK):
                pass
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Session
# ---------------------------------------------------------------------------


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """Open the TCP connection."""
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise ClientError(f"cannot resolve {host!r}: {exc.strerror or exc}") \
            from None
    except socket.timeout:
        raise ClientError(f"timed out connecting to "
                          f"{host_header(host, port)}") from None
    except OSError as exc:
        raise ClientError(f"cannot connect to {host_header(host, port)}: "
                          f"{exc.strerror or exc}") from None


def echo_messages(conn: Connection, messages: Sequence[str]) -> None:
    """Send every message and print it together with the echoed reply."""
    for message in messages:
        conn.send_frame(OP_TEXT, message.encode("utf-8"), "a message")
        print(f"send: {message}", flush=True)
        opcode, payload = conn.receive_message(f"the echo of {message!r}")
        if opcode == OP_TEXT:
            try:
                reply = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError("text message is not valid UTF-8") \
                    from None
        else:
            reply = describe_binary(payload)
        print(f"recv: {reply}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Connect, echo the messages, close; return the exit status."""
    sock = connect(args.host, args.port, args.timeout)
    conn = Connection(sock, args.timeout, args.verbose)
    try:
        conn.handshake(args.resource, args.host, args.port, args.origin,
                       args.protocol_list)
        try:
            echo_messages(conn, args.message_list)
        except ServerClosed as closed:
            # The server ended the session before every echo arrived:
            # complete its closing handshake, then report the failure.
            info = closed.info
            code = None if info.code == STATUS_NO_STATUS else info.code
            conn.send_close(code, "")
            print(f"close: code={info.code} reason={info.reason}", flush=True)
            conn.drain_until_eof()
            raise ClientError("server closed the connection before all "
                              "messages were echoed") from None
        conn.send_close(args.close_code, args.close_reason)
        info = conn.await_close()
        print(f"close: code={info.code} reason={info.reason}", flush=True)
        conn.drain_until_eof()
        return 0
    except ProtocolError:
        try:
            conn.send_close(STATUS_PROTOCOL_ERROR, "")
        except ClientError:
            pass
        raise
    finally:
        sock.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the process exit status."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore
        except (AttributeError, ValueError):
            pass
    args = parse_args(argv)
    try:
        return run(args)
    except ProtocolError as exc:
        message = f"protocol error: {exc}"
    except ClientError as exc:
        message = str(exc)
    except KeyboardInterrupt:
        message = "interrupted"
    except Exception as exc:  # never show a traceback to the user
        message = f"unexpected {type(exc).__name__}: {exc}"
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
