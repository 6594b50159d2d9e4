"""What a handler is given: the request object and its raw connection.

The attribute names are those pywebsocket3 handlers read and set (`ws_resource`,
`ws_protocol`, `ws_stream`, `connection.remote_addr`, ...), so their code runs unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from mod_ws.common import STATUS_NO_STATUS_RECEIVED
from mod_ws.exceptions import ConnectionTerminatedException
from mod_ws.protocol.closing import CloseHandshake
from mod_ws.protocol.headers import Headers
from mod_ws.server.transport import ByteReader, Transport

_logger = logging.getLogger(__name__)


class Connection:
    """One client connection: buffered reads, and writes serialised by one lock.

    Handlers may write raw bytes (`write`) between frames the stream sends; the shared
    lock keeps every write whole.
    """

    written = False  # set once `write` was called (the handler answers by itself)

    def __init__(self, transport: Transport, remote_addr: Any, local_addr: Any) -> None:
        self.transport = transport
        self.reader = ByteReader(transport)
        self.write_lock = threading.Lock()
        self.remote_addr = remote_addr
        self.local_addr = local_addr
        self._close_callbacks: list[Callable[[], None]] = []

    def add_close_callback(self, callback: Callable[[], None]) -> None:
        """Runs `callback` when the connection ends (helper threads stop on it)."""
        self._close_callbacks.append(callback)

    def run_close_callbacks(self) -> None:
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                _logger.exception("close callback %r raised", callback)

    def write(self, data: bytes | str) -> None:
        """Sends raw bytes, whole, between other writers' frames. A str is sent as
        UTF-8: handlers written for Python 2's pywebsocket write response heads as str."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.written = True
        with self.write_lock:
            try:
                self.transport.sendall(data)
            except OSError as e:
                raise ConnectionTerminatedException(f"connection lost while sending: {e}") from None

    def read(self, length: int) -> bytes:
        """Reads `length` raw bytes (after any the server already buffered), blocking
        until they arrive; fewer, down to none, only when the client closed first (as
        a file's read does, which pywebsocket3's handlers expect)."""
        parts = []
        while length > 0:
            try:
                part = self.reader.read_some(length)
            except ConnectionTerminatedException:
                break
            parts.append(part)
            length -= len(part)
        return b"".join(parts)

    def get_local_addr(self) -> Any:
        return self.local_addr

    def get_remote_addr(self) -> Any:
        return self.remote_addr


class WebSocketRequest:
    """The request handed to handlers' web_socket_* functions.

    Every carrier fills the same fields: `method` is GET for an HTTP/1.1 Upgrade and
    CONNECT for an extended CONNECT (RFC 8441, RFC 9220); `protocol` is the carrier's
    HTTP version string.
    """

    # Set from web_socket_do_extra_handshake by faults.delay_handshake_response and
    # faults.trickle_handshake_response: how the 101 goes out (class defaults: no cost).
    handshake_response_delay = 0.0
    handshake_response_trickle: tuple[float, int] | None = None

    def __init__(
        self,
        method: str,
        uri: str,
        protocol: str,
        headers_in: Headers,
        connection: Connection,
        secure: bool = False,
    ) -> None:
        self.method = method
        self.uri = uri
        self.unparsed_uri = uri
        self.protocol = protocol
        self.headers_in = headers_in
        self.connection = connection
        self._secure = secure
        # Headers a handler adds to the handshake response, as (name, value) pairs.
        self.extra_headers: list[tuple[str, str]] = []
        self.ws_resource = uri
        self.ws_origin: str | None = None
        self.ws_version: int | None = None
        self.ws_protocol: str | None = None
        self.ws_requested_protocols: list[str] | None = None
        self.ws_extensions: list | None = None
        self.ws_requested_extensions: list | None = None
        self.ws_extension_processors: list = []
        self.ws_deflate = False
        self.ws_stream: Any = None
        # The closing handshake's state (mod_ws.protocol.closing); the attributes
        # below are pywebsocket3's views on it.
        self.close_handshake = CloseHandshake()
        self.accepted_at = time.monotonic()  # for the session's duration in the log

    @property
    def server_terminated(self) -> bool:
        """True once the server sends no more frames (its close is out, or the
        connection failed)."""
        return self.close_handshake.server_terminated

    @server_terminated.setter
    def server_terminated(self, value: bool) -> None:
        # Browser tests write their own close frame with connection.write and then
        # say so here: the server must then neither close again nor answer the
        # client's close.
        if value:
            self.close_handshake.sent_elsewhere()

    @property
    def client_terminated(self) -> bool:
        """True once no more frames are read from the client (its close arrived, or
        the connection failed)."""
        return self.close_handshake.client_terminated

    @property
    def ws_close_code(self) -> int | None:
        """The code of the client's close frame (1005 if it had none), once received."""
        received = self.close_handshake.received
        return None if received is None else received[0]

    @property
    def ws_close_reason(self) -> str | None:
        """The reason of the client's close frame, once received; None, as in
        pywebsocket3, when that frame had no body (ws_close_code is then 1005)."""
        received = self.close_handshake.received
        if received is None or (received[0] == STATUS_NO_STATUS_RECEIVED and not received[1]):
            return None
        return received[1]

    def is_https(self) -> bool:
        return self._secure

    def get_peer_cert(self) -> dict | None:
        """The client's verified TLS certificate: a dict of `subject`, `issuer`,
        `serial`, `not_before`, `not_after` and `subject_alt_names`; None without TLS
        or without a client certificate (see --tls-client-auth)."""
        peer_certificate = getattr(self.connection.transport, "peer_certificate", None)
        return peer_certificate() if peer_certificate is not None else None

    def __repr__(self) -> str:
        return f"<WebSocketRequest {self.ws_resource!r} from {self.connection.remote_addr}>"
