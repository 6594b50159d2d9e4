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

``--tls`` connects with wss:// (``--ca FILE`` names the CA certificate that
signed the server's, e.g. cert/ca.pem for the test certificates);
``--protocol`` offers subprotocols and prints the one chosen
(``protocol: NAME``); ``--deflate`` offers permessage-deflate (RFC 7692) and
prints what the server accepted (``extensions: ...``).

If the server closes instead of echoing the last message, because that
message asked it to (``CODE REASON`` sent to /close) or with a normal code
(1000 or 3000-4999), the close is printed and the exit status is 0.  A close
before that, or with an error code, is a failure.

Any failure is reported as a single ``echo_client: error: ...`` line on
stderr and the exit status is 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import socket
import ssl
import sys
import zlib
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

DEFAULT_PORT = 8880
DEFAULT_TLS_PORT = 8443
PERMESSAGE_DEFLATE = "permessage-deflate"
# Appended to a compressed message before inflating (RFC 7692 section 7.2.2).
DEFLATE_TAIL = b"\x00\x00\xff\xff"

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
    rsv1: bool = False  # set on the first frame of a compressed message


class CloseInfo(NamedTuple):
    """Status code and reason taken from a close frame."""

    code: int
    reason: str


class ServerClosed(Exception):
    """Raised when the server's close frame arrives while reading."""

    def __init__(self, info: CloseInfo) -> None:
        super().__init__(f"code={info.code} reason={info.reason}")
        self.info = info
        # Index of the message whose echo the close arrived instead of.
        self.pending: Optional[int] = None


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
                        type=int, default=None,
                        help=f"server port (default: {DEFAULT_PORT}, "
                             f"{DEFAULT_TLS_PORT} with --tls)")
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
                        help="subprotocol(s) to request, comma separated; "
                             "the one the server chose is printed")
    parser.add_argument("--deflate", action="store_true",
                        help="offer permessage-deflate compression and print "
                             "the extensions the server accepted")
    parser.add_argument("--tls", action="store_true",
                        help="connect over TLS (wss://)")
    parser.add_argument("--ca", metavar="FILE", default=None,
                        help="CA certificate(s) to verify the server with, "
                             "PEM (default: the system's; needs --tls)")
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
    if args.ca is not None and not args.tls:
        parser.error("--ca needs --tls")
    if args.port is None:
        args.port = DEFAULT_TLS_PORT if args.tls else DEFAULT_PORT
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
                  origin: Optional[str], protocols: Sequence[str],
                  deflate: bool = False) -> bytes:
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
    if deflate:
        # No parameters: the server may not then limit our window either.
        lines.append(f"Sec-WebSocket-Extensions: {PERMESSAGE_DEFLATE}")
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


def parse_deflate_response(value: str) -> dict[str, Optional[str]]:
    """Check the server's answer to our permessage-deflate offer; return its
    parameters (name -> value, None for a parameter without one)."""
    elements = [item.strip() for item in value.split(",")]
    if len(elements) != 1:
        raise ClientError(f"server accepted more than the one extension "
                          f"offered: {value!r}")
    name, *raw_params = [part.strip() for part in elements[0].split(";")]
    if name.lower() != PERMESSAGE_DEFLATE:
        raise ClientError(f"server accepted extension {name!r}, which was "
                          "not offered")
    params: dict[str, Optional[str]] = {}
    for raw in raw_params:
        pname, sep, pvalue = (part.strip() for part in raw.partition("="))
        pname = pname.lower()
        if pname in params:
            raise ClientError(f"permessage-deflate parameter {pname} repeated")
        if pname in ("server_no_context_takeover",
                     "client_no_context_takeover"):
            if sep:
                raise ClientError(f"permessage-deflate parameter {pname} "
                                  "takes no value")
            params[pname] = None
        elif pname == "server_max_window_bits":
            bits = pvalue.strip('"')
            if not (bits.isdigit() and 8 <= int(bits) <= 15):
                raise ClientError(f"bad server_max_window_bits {pvalue!r}")
            params[pname] = bits
        else:
            # client_max_window_bits included: we did not offer it.
            raise ClientError(f"unexpected permessage-deflate parameter "
                              f"{pname!r}")
    return params


def check_response(status_line: str, status: int, headers: dict[str, str],
                   key: str, protocols: Sequence[str],
                   deflate_offered: bool = False
                   ) -> tuple[Optional[str], Optional[str]]:
    """Validate the server's handshake answer.

    Return the chosen protocol and the accepted Sec-WebSocket-Extensions value
    (each None when there is none).
    """
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
    extensions = headers.get("sec-websocket-extensions") or None
    if extensions is not None:
        if not deflate_offered:
            raise ClientError("server accepted extensions that were not "
                              "requested: " + extensions)
        parse_deflate_response(extensions)
    chosen = headers.get("sec-websocket-protocol")
    if chosen is not None:
        if chosen not in protocols:
            raise ClientError(f"server selected subprotocol {chosen!r} "
                              "which was not requested")
    return chosen, extensions


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


class PerMessageDeflate:
    """permessage-deflate as negotiated (RFC 7692): compresses the messages we
    send, inflates the ones the server compressed."""

    def __init__(self, params: dict[str, Optional[str]]) -> None:
        # Without context takeover, every message starts a fresh stream.
        self.reset_inflater = "server_no_context_takeover" in params
        self.reset_deflater = "client_no_context_takeover" in params
        self._deflater: Optional[zlib._Compress] = None
        self._inflater: Optional[zlib._Decompress] = None

    def compress(self, data: bytes) -> bytes:
        """Return the compressed payload of one message."""
        if self._deflater is None or self.reset_deflater:
            self._deflater = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        out = self._deflater.compress(data) + \
            self._deflater.flush(zlib.Z_SYNC_FLUSH)
        # A sync flush ends in the 4 bytes the receiver adds back.
        return out[:-4] if out.endswith(DEFLATE_TAIL) else out

    def decompress(self, data: bytes) -> bytes:
        """Return the inflated payload of one compressed message."""
        if self._inflater is None or self.reset_inflater:
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            out = self._inflater.decompress(data + DEFLATE_TAIL,
                                            MAX_MESSAGE_BYTES + 1)
        except zlib.error as exc:
            raise ProtocolError(f"cannot inflate a message: {exc}") from None
        if len(out) > MAX_MESSAGE_BYTES or self._inflater.unconsumed_tail:
            raise ProtocolError("message exceeds the size limit once "
                                "inflated")
        if self._inflater.eof:
            # The message ended the deflate stream (a final block): the next
            # message starts a new one.
            self._inflater = None
        return out


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
        self.deflate: Optional[PerMessageDeflate] = None

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
                  origin: Optional[str], protocols: Sequence[str],
                  deflate: bool = False
                  ) -> tuple[Optional[str], Optional[str]]:
        """Run the opening handshake; return the negotiated subprotocol and
        extensions (the Sec-WebSocket-Extensions value), each maybe None."""
        key = make_key()
        request = build_request(resource, host, port, key, origin, protocols,
                                deflate)
        for line in request.decode("utf-8").rstrip("\r\n").split("\r\n"):
            self.log(f"> {line}")
        self.send_raw(request, "the handshake request")
        head = self.read_response_head()
        for line in head.decode("iso-8859-1").split("\r\n"):
            self.log(f"< {line}")
        status_line, status, headers = parse_response_head(head)
        chosen, extensions = check_response(status_line, status, headers, key,
                                            protocols, deflate)
        self.log(f"protocol: {chosen if chosen is not None else '(none)'}")
        if extensions is not None:
            self.deflate = PerMessageDeflate(parse_deflate_response(extensions))
        return chosen, extensions

    # -- frames ------------------------------------------------------------

    def send_frame(self, opcode: int, payload: bytes,
                   what: str = "a frame") -> None:
        """Send a single masked frame."""
        self.send_raw(encode_frame(opcode, payload), what)

    def send_message(self, opcode: int, payload: bytes,
                     what: str = "a message") -> None:
        """Send a data message in one frame, compressed if deflate is on."""
        if self.deflate is None:
            self.send_frame(opcode, payload, what)
            return
        frame = bytearray(encode_frame(opcode, self.deflate.compress(payload)))
        frame[0] |= 0x40  # RSV1: this message is compressed
        self.send_raw(bytes(frame), what)

    def read_frame(self, what: str) -> Frame:
        """Read and sanity-check one frame from the server."""
        b0, b1 = self.read_exactly(2, what)
        fin = bool(b0 & 0x80)
        rsv1 = bool(b0 & 0x40)
        if b0 & 0x30:
            raise ProtocolError("frame with RSV2 or RSV3 set "
                                "(no extension defines them)")
        opcode = b0 & 0x0F
        if opcode not in DATA_OPCODES and opcode not in CONTROL_OPCODES:
            raise ProtocolError(f"frame with unknown opcode {opcode:#x}")
        if rsv1 and self.deflate is None:
            raise ProtocolError("frame with RSV1 set "
                                "(no extension was negotiated)")
        if rsv1 and opcode not in (OP_TEXT, OP_BINARY):
            raise ProtocolError("RSV1 set on a control or continuation frame "
                                "(RFC 7692 section 6)")
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
        return Frame(fin, opcode, payload, rsv1)

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
        compressed = False
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
                compressed = frame.rsv1
            parts.append(frame.payload)
            total += len(frame.payload)
            if total > MAX_MESSAGE_BYTES:
                raise ProtocolError("message exceeds the size limit")
            if frame.fin:
                payload = b"".join(parts)
                if compressed:
                    assert self.deflate is not None  # checked in read_frame
                    payload = self.deflate.decompress(payload)
                return opcode, payload

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


def tls_context(ca_file: Optional[str]) -> ssl.SSLContext:
    """A client TLS context trusting ``ca_file`` (or the system's CAs)."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        # A missing file is an OSError, a file with no certificate an SSLError.
        reason = getattr(exc, "strerror", None) or exc
        raise ClientError(f"cannot load CA certificate {ca_file!r}: "
                          f"{reason}") from None


def start_tls(sock: socket.socket, host: str, port: int,
              ca_file: Optional[str]) -> socket.socket:
    """Run the TLS handshake, verifying the server's certificate and name."""
    context = tls_context(ca_file)
    where = host_header(host, port)
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        raise ClientError(f"TLS: cannot verify the certificate of {where}: "
                          f"{exc.verify_message or exc}") from None
    except socket.timeout:
        raise ClientError(f"timed out in the TLS handshake with "
                          f"{where}") from None
    except (ssl.SSLError, OSError) as exc:
        raise ClientError(f"TLS handshake with {where} failed: "
                          f"{exc.strerror or exc}") from None


def connect(host: str, port: int, timeout: float, tls: bool = False,
            ca_file: Optional[str] = None) -> socket.socket:
    """Open the TCP connection, and TLS over it with ``tls``."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise ClientError(f"cannot resolve {host!r}: {exc.strerror or exc}") \
            from None
    except socket.timeout:
        raise ClientError(f"timed out connecting to "
                          f"{host_header(host, port)}") from None
    except OSError as exc:
        raise ClientError(f"cannot connect to {host_header(host, port)}: "
                          f"{exc.strerror or exc}") from None
    if not tls:
        return sock
    try:
        return start_tls(sock, host, port, ca_file)
    except BaseException:
        sock.close()
        raise


def echo_messages(conn: Connection, messages: Sequence[str]) -> None:
    """Send every message and print it together with the echoed reply.

    A close from the server raises ServerClosed, its ``pending`` the index of
    the message whose echo did not come.
    """
    for index, message in enumerate(messages):
        conn.send_message(OP_TEXT, message.encode("utf-8"), "a message")
        print(f"send: {message}", flush=True)
        try:
            opcode, payload = conn.receive_message(f"the echo of {message!r}")
        except ServerClosed as closed:
            closed.pending = index
            raise
        if opcode == OP_TEXT:
            try:
                reply = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError("text message is not valid UTF-8") \
                    from None
        else:
            reply = describe_binary(payload)
        print(f"recv: {reply}", flush=True)


def close_was_asked_for(info: CloseInfo, message: str) -> bool:
    """Whether the server's close, come instead of the echo of the last
    ``message``, is a deliberate ending rather than a failure.

    It is when ``message`` was a ``CODE REASON`` close command (close_wsh.py)
    that the close matches, or when the close carries a normal code: 1000, or
    3000-4999, the codes applications choose.  Error codes (1001-1015) and a
    close without a code are not.
    """
    code, _, reason = message.partition(" ")
    if code.isdigit() and (int(code), reason) == (info.code, info.reason):
        return True
    return info.code == STATUS_NORMAL or 3000 <= info.code <= 4999


def run(args: argparse.Namespace) -> int:
    """Connect, echo the messages, close; return the exit status."""
    sock = connect(args.host, args.port, args.timeout, args.tls, args.ca)
    conn = Connection(sock, args.timeout, args.verbose)
    try:
        protocol, extensions = conn.handshake(
            args.resource, args.host, args.port, args.origin,
            args.protocol_list, args.deflate)
        if args.protocol_list:
            print(f"protocol: {protocol or '(none)'}", flush=True)
        if args.deflate:
            print(f"extensions: {extensions or '(none)'}", flush=True)
        try:
            echo_messages(conn, args.message_list)
        except ServerClosed as closed:
            # The server ended the session instead of echoing: complete its
            # closing handshake, then decide whether that was what we asked.
            info = closed.info
            code = None if info.code == STATUS_NO_STATUS else info.code
            conn.send_close(code, "")
            print(f"close: code={info.code} reason={info.reason}", flush=True)
            conn.drain_until_eof()
            last = closed.pending == len(args.message_list) - 1
            if last and close_was_asked_for(info, args.message_list[-1]):
                return 0
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
