"""The listening server: sockets on every requested address, a thread per connection.

Owns only sockets and threads. Shutdown stops accepting, tells every open WebSocket
the server is going away (1001), waits a bounded time for the handlers to finish, then
cuts whatever is left.
"""

from __future__ import annotations

import logging
import queue
import socket
import sys
import threading
import time
from typing import Protocol

from mod_ws.common import HTTP_STATUS_SERVICE_UNAVAILABLE
from mod_ws.defaults import SHUTDOWN_TIMEOUT
from mod_ws.server.config import ServerConfig
from mod_ws.server.http1.connection import ConnectionHandler, refusal
from mod_ws.server.reporting import format_address
from mod_ws.server.sockets import ServerStartError, plain_address
from mod_ws.server.status import StatusBoard
from mod_ws.server.transport import Transport, set_send_timeout
from mod_ws.server.workers import ListenerThreads

_logger = logging.getLogger(__name__)


# After the shutdown bound, the connections still open are cut and their threads given
# this long to leave; waking the threads that wait to accept takes at most the second.
_CUT_ALLOWANCE = 0.25
_ACCEPTOR_STOP_WAIT = 0.5


class SideCarrier(Protocol):
    """A carrier served beside the TCP listeners, on its own threads (HTTP/3 on its UDP
    port): the server starts it, lists its sessions and stops it with the rest."""

    def start(self) -> None:
        """Begins serving; raises ServerStartError if it cannot."""
        ...

    def describe(self) -> str:
        """Its line of the start-up banner: what it serves, where."""
        ...

    def open_requests(self) -> list:
        """The requests of its WebSocket sessions open now."""
        ...

    def close_going_away(self) -> None:
        """Sends 1001 to each of its WebSockets and accepts no new ones."""
        ...

    def stop(self, deadline: float) -> None:
        """Ends its sessions and connections by `deadline` (a time.monotonic() value)."""
        ...


# Longer send timeouts mean "never" in practice; the kernel's timeval must still hold them.
_LONGEST_SEND_TIMEOUT = 10.0 ** 9

# Linux copies these socket options from a listening socket to each accepted one, so
# they are set once on the listener; elsewhere they are set on every connection.
_OPTIONS_INHERITED = sys.platform.startswith("linux")


def configure_connection_socket(sock: socket.socket, send_timeout: float) -> None:
    """Small frames go out at once; dead peers are noticed; writes cannot block forever.

    SO_SNDTIMEO bounds each blocking send (SocketTransport bounds a whole write with
    it), so a peer that stops reading makes the write fail after `send_timeout`
    instead of holding its thread; TCP keepalive
    notices a peer that vanished while the connection was idle.
    """
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    set_send_timeout(sock, min(send_timeout, _LONGEST_SEND_TIMEOUT))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


# --max-connections: what a connection beyond the limit is told, at once.
_BUSY_RETRY_AFTER = 1  # seconds


def _refuse_over_limit(transport: Transport, remote: tuple, limit: int,
                       board: StatusBoard | None) -> None:
    """Answers 503 with Retry-After and closes, on the accepting thread and without
    waiting for the request: the connection costs no thread of its own."""
    reason = f"the server is serving its limit of {limit} connections (--max-connections)"
    _logger.warning("%s: 503 %s", format_address(remote), reason)
    if board is not None:
        board.refused(remote, "-", "", HTTP_STATUS_SERVICE_UNAVAILABLE, reason)
    try:
        transport.recv_ready(65536)  # what already arrived, so closing sends no reset
        transport.sendall(refusal(HTTP_STATUS_SERVICE_UNAVAILABLE, reason,
                                  [("Retry-After", str(_BUSY_RETRY_AFTER))]))
        transport.half_close()
    except OSError:
        pass
    finally:
        transport.close()


def _carrier_for(transport: Transport) -> type:
    """The class that serves a connection: HTTP/2 when ALPN chose h2, else HTTP/1.1."""
    if getattr(transport, "alpn_protocol", None) == "h2":
        from mod_ws.server.http2.connection import Http2Connection  # h2 is an extra

        return Http2Connection
    return ConnectionHandler


class WebSocketServer:
    """Accepts connections and runs each on its own thread."""

    def __init__(self, config: ServerConfig, listeners: list[socket.socket],
                 shutdown_timeout: float = SHUTDOWN_TIMEOUT,
                 side_carriers: list[SideCarrier] | None = None) -> None:
        """Serves on `listeners` (from open_listeners), which it owns from now on, and
        runs `side_carriers` for as long as it serves."""
        self.config = config
        self.side_carriers = list(side_carriers or [])
        self.shutdown_timeout = shutdown_timeout
        self.listeners = listeners
        for listener in self.listeners:
            configure_connection_socket(listener, config.send_timeout)
        self._handlers: set[ConnectionHandler] = set()
        self._handlers_changed = threading.Condition()
        self._stop = threading.Event()
        self._stop_requested_at: float | None = None
        # ListenerThreads that need one more waiting thread; None wakes serve_forever.
        self._threads_wanted: queue.SimpleQueue = queue.SimpleQueue()
        if config.status is not None:
            config.status.watch_sessions(self._open_requests)

    @property
    def addresses(self) -> list[tuple]:
        return [sock.getsockname() for sock in self.listeners]

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accepts until `shutdown` is called (from a signal handler or another thread).

        The connection threads accept (mod_ws.server.workers); this thread starts more of them
        when they ask, and otherwise waits for the stop, so signals are handled here.
        """
        acceptors = [ListenerThreads(sock, self._serve_connection,
                                     f"accept {format_address(sock.getsockname())}",
                                     self._threads_wanted.put)
                     for sock in self.listeners]
        try:
            for acceptor in acceptors:
                try:
                    acceptor.start()
                except RuntimeError as e:
                    raise ServerStartError(str(e)) from None
            try:
                self.config.watchdog.start()
            except RuntimeError as e:
                raise ServerStartError(f"cannot start the watchdog thread: {e}") from None
            for carrier in self.side_carriers:
                carrier.start()
            while not self._stop.is_set():
                try:
                    wanted = self._threads_wanted.get(timeout=poll_interval)
                except queue.Empty:
                    # A listener left with no waiting thread (none could be started):
                    # try again, so its queued connections are served once threads free up.
                    for acceptor in acceptors:
                        if acceptor.waiting() == 0:
                            acceptor.start_thread()
                    continue
                if wanted is not None:
                    wanted.start_thread()
        finally:
            # One bound for the whole shutdown, from the moment it was asked for.
            deadline = (self._stop_requested_at or time.monotonic()) + self.shutdown_timeout
            for acceptor in acceptors:
                acceptor.stop(max(0.0, min(_ACCEPTOR_STOP_WAIT, deadline - time.monotonic())))
            self._close_all(deadline)

    def _serve_connection(self, sock: socket.socket, remote: tuple) -> None:
        """Runs one accepted connection on the thread that accepted it."""
        threading.current_thread().name = f"conn {format_address(remote)}"
        if sock.gettimeout() is not None:  # blocking already, unless a default timeout is set
            sock.setblocking(True)
        try:
            if not _OPTIONS_INHERITED:
                configure_connection_socket(sock, self.config.send_timeout)
            local = sock.getsockname()
            transport = self.config.transport_factory(sock)
        except Exception as e:  # noqa: BLE001 - a factory (a TLS handshake, say) may refuse it
            _logger.debug("%s: connection refused by its transport: %s", format_address(remote), e)
            sock.close()
            return
        handler = _carrier_for(transport)(self.config, transport,
                                          plain_address(remote), plain_address(local))
        limit = self.config.max_connections
        with self._handlers_changed:
            if self._stop.is_set():  # accepted as shutdown began: _close_all cannot see it
                sock.close()
                return
            over = limit is not None and len(self._handlers) >= limit
            if not over:
                self._handlers.add(handler)
        if over:
            _refuse_over_limit(transport, remote, limit, self.config.status)
            return
        try:
            handler.run()
        finally:
            with self._handlers_changed:
                self._handlers.discard(handler)
                self._handlers_changed.notify_all()

    def _open_requests(self) -> list:
        """The requests of the WebSocket sessions open now (for the status page)."""
        with self._handlers_changed:
            requests = [request for handler in self._handlers for request in handler.open_requests()]
        for carrier in self.side_carriers:
            requests += carrier.open_requests()
        return requests

    def connection_count(self) -> int:
        with self._handlers_changed:
            return len(self._handlers)

    def shutdown(self) -> None:
        """Asks `serve_forever` to stop; safe from signal handlers and other threads.
        Serving ends within `shutdown_timeout` of this call."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self._stop.set()
        self._threads_wanted.put(None)  # SimpleQueue.put is reentrant: signal-safe

    def _close_all(self, deadline: float) -> None:
        """Stops accepting, sends 1001 to every open WebSocket, waits for the handlers
        until `deadline`, then cuts the connections still open."""
        for sock in self.listeners:
            sock.close()
        with self._handlers_changed:
            handlers = list(self._handlers)
        for handler in handlers:
            handler.close_going_away()
        for carrier in self.side_carriers:
            carrier.close_going_away()
        with self._handlers_changed:
            self._handlers_changed.wait_for(lambda: not self._handlers,
                                            max(0.0, deadline - time.monotonic()))
            stragglers = list(self._handlers)
        for handler in stragglers:
            handler.transport.abort()
        with self._handlers_changed:
            self._handlers_changed.wait_for(lambda: not self._handlers, _CUT_ALLOWANCE)
        for carrier in self.side_carriers:
            carrier.stop(max(deadline, time.monotonic() + _CUT_ALLOWANCE))
        self.config.watchdog.stop()
        if stragglers:
            _logger.info("cut %d connection(s) still open at shutdown", len(stragglers))
