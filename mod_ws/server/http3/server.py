"""The HTTP/3 side carrier: a UDP socket, one event-loop thread for every QUIC
connection on it, and a handler thread per WebSocket.

Bound when constructed (so a port in use or an unreadable certificate stops the server
before it starts, in one line), served from `start`. The loop thread routes each
datagram to its connection by connection ID (as aioquic's asyncio server does, but
with the credit-granting QuicConnection of mod_ws.server.http3.quic) and answers
unknown versions; anything that is not QUIC is dropped. Shutdown is the TCP
listeners': 1001 to every WebSocket, handler threads given until the deadline, then
every connection closed, the loop stopped and the socket closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
import time

from aioquic.buffer import Buffer
from aioquic.h3.connection import H3_ALPN
from aioquic.quic.configuration import SMALLEST_MAX_DATAGRAM_SIZE, QuicConfiguration
from aioquic.quic.packet import (
    QuicPacketType,
    encode_quic_version_negotiation,
    pull_quic_header,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mod_ws.server import session
from mod_ws.server.config import ServerConfig
from mod_ws.server.extended_connect import StreamRequest
from mod_ws.server.http3.connection import RECEIVE_WINDOW, Http3Connection
from mod_ws.server.http3.quic import CreditedQuicConnection
from mod_ws.server.http3.stream import serve_stream
from mod_ws.server.multiplexed import StreamTransport
from mod_ws.server.reporting import format_address
from mod_ws.server.request import WebSocketRequest
from mod_ws.server.sockets import ServerStartError, open_listeners

_logger = logging.getLogger("mod_ws.http3")

_IDLE_TIMEOUT = 60.0  # seconds a silent QUIC connection is kept
_DATAGRAMS_PER_WAKE = 64  # read in one go before the loop turns to its other work
_START_WAIT = 5.0
_LOOP_STOP_WAIT = 1.0
_CUT_ALLOWANCE = 0.25  # handler threads still running once their streams are cut


def _configuration(certificate: str | None, private_key: str | None,
                   config: ServerConfig) -> QuicConfiguration:
    if not certificate or not private_key:
        raise ServerStartError("--http3-port needs --certificate and --private-key")
    configuration = QuicConfiguration(
        is_client=False, alpn_protocols=H3_ALPN, idle_timeout=_IDLE_TIMEOUT,
        # A request head must fit in a new stream's window (credit comes after it).
        max_stream_data=max(RECEIVE_WINDOW, config.max_request_header_size + 4096),
        max_data=4 * RECEIVE_WINDOW)
    try:
        configuration.load_cert_chain(certificate, private_key)
    except OSError as e:
        raise ServerStartError(f"cannot read the HTTP/3 certificate or key "
                               f"({e.filename or certificate}): {e.strerror}") from None
    except Exception as e:  # noqa: BLE001 - cryptography's errors for a bad PEM vary
        raise ServerStartError(f"cannot load the HTTP/3 certificate {certificate} with key "
                               f"{private_key}: {e}") from None
    if not _key_matches(configuration):
        raise ServerStartError(f"the private key {private_key} does not match the certificate "
                               f"{certificate} (--http3-port)")
    return configuration


def _key_matches(configuration: QuicConfiguration) -> bool:
    """Does the private key belong to the certificate (else every handshake fails)?"""

    def public(key) -> bytes:
        return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    try:
        return public(configuration.certificate.public_key()) == public(
            configuration.private_key.public_key())
    except (AttributeError, ValueError, TypeError):  # a key type without a public half
        return True


def bind_udp(host: str, port: int) -> list[socket.socket]:
    """UDP sockets for `host` ('' means every IPv4 and IPv6 address), one port for all,
    non-blocking for the loop."""
    sockets = open_listeners(host, port, kind=socket.SOCK_DGRAM)
    for sock in sockets:
        sock.setblocking(False)
    return sockets


class Http3Server:
    """HTTP/3 over QUIC on a UDP port: a `SideCarrier` of mod_ws.server.listener."""

    def __init__(self, config: ServerConfig, host: str, port: int, certificate: str | None = None,
                 private_key: str | None = None) -> None:
        self.config = config
        self._configuration = _configuration(certificate, private_key, config)
        self._sockets = bind_udp(host, port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._routes: dict[bytes, Http3Connection] = {}  # by connection ID; loop thread only
        self._lock = threading.Lock()
        self._handlers: set[threading.Thread] = set()
        self._requests: set[WebSocketRequest] = set()
        self._going_away = False
        self._stopping = False

    @property
    def addresses(self) -> list[tuple]:
        return [sock.getsockname()[:2] for sock in self._sockets]

    def describe(self) -> str:
        where = ", ".join(format_address(address) for address in self.addresses)
        return f"HTTP/3 (QUIC) on UDP {where}: WebSockets by extended CONNECT (RFC 9220)"

    # Life cycle.

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                for sock in self._sockets:
                    loop.add_reader(sock.fileno(), self._readable, sock)
                loop.call_soon(ready.set)
                loop.run_forever()
            finally:
                for sock in self._sockets:
                    try:
                        loop.remove_reader(sock.fileno())
                    except (ValueError, OSError):
                        pass
                loop.close()

        thread = threading.Thread(target=run, name="h3 loop", daemon=True)
        self._loop, self._thread = loop, thread  # before the first datagram needs them
        try:
            thread.start()
        except RuntimeError as e:
            loop.close()
            self._loop = self._thread = None
            raise ServerStartError(f"cannot start the HTTP/3 thread: {e}") from None
        if not ready.wait(_START_WAIT):
            raise ServerStartError("the HTTP/3 thread did not start")

    def open_requests(self) -> list:
        with self._lock:
            return list(self._requests)

    def close_going_away(self) -> None:
        with self._lock:
            self._going_away = True
            requests = list(self._requests)
        for request in requests:
            session.close_going_away(request)

    def stop(self, deadline: float) -> None:
        with self._lock:
            self._going_away = True
            handlers = list(self._handlers)
        for thread in handlers:
            thread.join(max(0.0, deadline - time.monotonic()))
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            done = concurrent.futures.Future()

            def shut_all() -> None:
                self._stopping = True
                for connection in set(self._routes.values()):
                    connection.guarded(connection.shut, "server shutting down")
                self._routes.clear()
                done.set_result(None)
                loop.stop()

            try:
                loop.call_soon_threadsafe(shut_all)
                done.result(_LOOP_STOP_WAIT)
            except (RuntimeError, concurrent.futures.TimeoutError):
                pass
            thread.join(_LOOP_STOP_WAIT)
        for sock in self._sockets:
            sock.close()
        with self._lock:
            stragglers = list(self._handlers)
        end = time.monotonic() + _CUT_ALLOWANCE
        for thread in stragglers:
            thread.join(max(0.0, end - time.monotonic()))
        if stragglers:
            _logger.info("cut %d HTTP/3 stream(s) still open at shutdown", len(stragglers))

    # The loop thread: datagrams in.

    def _readable(self, sock: socket.socket) -> None:
        touched: dict[int, Http3Connection] = {}
        for _ in range(_DATAGRAMS_PER_WAKE):
            try:
                data, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:  # an ICMP error reported on the socket, say
                _logger.debug("UDP receive error: %s", e)
                break
            try:
                connection = self._route_datagram(sock, data, addr)
            except Exception as e:  # noqa: BLE001 - one datagram must not stop the loop
                _logger.warning("%s: datagram dropped after an unexpected error: %r",
                                format_address(addr), e)
                _logger.debug("the error", exc_info=True)
                continue
            if connection is not None:
                connection.guarded(connection.datagram_received, data, addr)
                touched[id(connection)] = connection
        for connection in touched.values():
            if not connection.closed:
                connection.guarded(connection.after_io)

    def _route_datagram(self, sock: socket.socket, data: bytes, addr: tuple) -> Http3Connection | None:
        """The connection a datagram belongs to (a new one for a client's Initial), or
        None when it is dropped or answered here."""
        configuration = self._configuration
        try:
            header = pull_quic_header(Buffer(data=data),
                                      host_cid_length=configuration.connection_id_length)
        except ValueError:
            _logger.debug("%s: not a QUIC packet (%d bytes): dropped",
                          format_address(addr), len(data))
            return None
        if (header.packet_type != QuicPacketType.VERSION_NEGOTIATION
                and header.version is not None
                and header.version not in configuration.supported_versions):
            if len(data) < SMALLEST_MAX_DATAGRAM_SIZE:  # RFC 9000 6.1: no answer to less
                return None
            try:
                sock.sendto(encode_quic_version_negotiation(
                    source_cid=header.destination_cid, destination_cid=header.source_cid,
                    supported_versions=configuration.supported_versions), addr)
            except OSError:
                pass
            return None
        connection = self._routes.get(header.destination_cid)
        if connection is not None or self._stopping:
            return connection
        if header.packet_type != QuicPacketType.INITIAL or len(data) < SMALLEST_MAX_DATAGRAM_SIZE:
            return None
        quic = CreditedQuicConnection(configuration=configuration,
                                      original_destination_connection_id=header.destination_cid)
        connection = Http3Connection(self, quic, self._loop, sock, addr)
        self._routes[header.destination_cid] = connection
        self._routes[quic.host_cid] = connection
        return connection

    # ConnectionOwner: what connections ask of the server (on the loop thread).

    def route(self, cid: bytes, connection: Http3Connection) -> None:
        self._routes[cid] = connection

    def unroute(self, cid: bytes) -> None:
        self._routes.pop(cid, None)

    def connection_ended(self, connection: Http3Connection) -> None:
        for cid in [cid for cid, c in self._routes.items() if c is connection]:
            del self._routes[cid]

    def accepting(self) -> bool:
        return not self._going_away

    def start_stream(self, connection: Http3Connection, transport: StreamTransport,
                     head: StreamRequest, resource: str | None, started: float) -> bool:
        """Starts the stream's handler thread; False if none could be started."""
        def run() -> None:
            try:
                serve_stream(self.config, connection, transport, head, resource, started,
                             self._session_opened, self._session_closed)
            finally:
                with self._lock:
                    self._handlers.discard(threading.current_thread())

        thread = threading.Thread(target=run, daemon=True,
                                  name=f"h3 stream {transport.stream_id} of {connection.peer}")
        with self._lock:
            self._handlers.add(thread)
        try:
            thread.start()
        except RuntimeError as e:
            with self._lock:
                self._handlers.discard(thread)
            _logger.warning("%s: cannot start a thread for stream %d: %s", connection.peer,
                            transport.stream_id, e)
            return False
        return True

    def _session_opened(self, request: WebSocketRequest) -> bool:
        with self._lock:
            self._requests.add(request)
            return self._going_away

    def _session_closed(self, request: WebSocketRequest) -> None:
        with self._lock:
            self._requests.discard(request)

__all__ = ["Http3Server", "bind_udp"]
