"""`python -m mod_ws` / `mod_ws`: start the server from the command line or a config file.

Everything a user can get wrong at start-up (options, paths, a port in use) ends in one
line `mod_ws: error: ...` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import socket
import sys
import threading
from pathlib import Path

from mod_ws import __version__, accelerators, aliases
from mod_ws.defaults import PING_TIMEOUT, REQUEST_TIMEOUT
from mod_ws.dispatch import Dispatcher, load_handler_map
from mod_ws.exceptions import DispatchException
from mod_ws.logging_setup import configure_logging, start_thread_monitor
from mod_ws.options import PROG, parse_options
from mod_ws.server import listener
from mod_ws.server.basic_auth import expected_authorization
from mod_ws.server.cgi import normalize_cgi_paths
from mod_ws.server.config import ServerConfig
from mod_ws.server.listener import format_address
from mod_ws.server.reporting import reachable_host
from mod_ws.server.sockets import ServerStartError, open_listeners
from mod_ws.server.status import STATUS_JSON_PATH, STATUS_PATH, StatusBoard
from mod_ws.server.transport import SocketTransport, TransportFactory

_logger = logging.getLogger("mod_ws")


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def under_document_root(options: argparse.Namespace, path: str | None) -> str | None:
    """A path option's file or directory. A relative one is looked up under the
    document root first, where pywebsocket3 (which changes into the document root at
    start-up) finds it, then in the current directory."""
    if path is None or Path(path).is_absolute():
        return path
    under_root = Path(options.document_root) / path
    return str(under_root) if under_root.exists() else path


def build_dispatcher(options: argparse.Namespace) -> Dispatcher:
    """Loads every handler under the handler root (relative roots hang off -d)."""
    if getattr(options, "pywebsocket_imports", True):
        aliases.install()
    handler_root = under_document_root(options, options.websock_handlers) or options.document_root
    dispatcher = Dispatcher(
        handler_root,
        under_document_root(options, options.scan_dir),
        allow_handlers_outside_root_dir=options.allow_handlers_outside_root_dir,
        handler_encoding=getattr(options, "handler_encoding", None),
        reload=getattr(options, "reload", False),
    )
    if options.websock_handlers_map_file:
        load_handler_map(dispatcher, under_document_root(options, options.websock_handlers_map_file))
    dispatcher.error_details = getattr(options, "error_details", True)
    return dispatcher


def build_transport_factory(options: argparse.Namespace) -> TransportFactory:
    """Plain TCP, or TLS with the files the options name (checked here, once)."""
    if not options.use_tls:
        return SocketTransport
    # Imported only when used: pyOpenSSL and cryptography add some 15,000 objects that
    # every full garbage collection of a plain server would otherwise walk.
    from mod_ws.server.tls import (
        ALPN_HTTP1,
        ALPN_WITH_HTTP2,
        TlsConfig,
        TlsSetupError,
        make_tls_factory,
    )

    tls = TlsConfig(
        certificate=under_document_root(options, options.certificate),
        private_key=under_document_root(options, options.private_key),
        client_auth=options.tls_client_auth,
        client_ca=under_document_root(options, options.tls_client_ca),
        client_cert_optional=options.tls_client_cert_optional,
        module=options.tls_module,
        alpn=ALPN_WITH_HTTP2 if getattr(options, "http2", False) else ALPN_HTTP1,
    )
    try:
        return make_tls_factory(tls, handshake_timeout=options.request_timeout,
                                send_timeout=options.send_timeout)
    except TlsSetupError as e:
        raise ServerStartError(str(e)) from None


def build_config(options: argparse.Namespace) -> ServerConfig:
    """What the server's connections need from the options: transport, handlers, limits.

    Raises ServerStartError (TLS files) or DispatchException (handler root)."""
    transport_factory = build_transport_factory(options)
    # pywebsocket3's embedders set cgi_directories themselves (WPT sets it to []).
    cgi_paths = getattr(options, "cgi_directories", None)
    return ServerConfig(
        document_root=Path(options.document_root).resolve(),
        dispatcher=build_dispatcher(options),
        validation_host=options.validation_host,
        validation_port=options.validation_port,
        request_timeout=options.request_timeout,
        max_request_header_size=options.max_request_header_size,
        close_timeout=options.close_timeout,
        max_message_size=options.max_message_size,
        send_timeout=options.send_timeout,
        follow_symlinks_out=options.allow_symlinks_outside_document_root,
        transport_factory=transport_factory,
        basic_auth=(expected_authorization(options.basic_auth_credential)
                    if options.use_basic_auth else None),
        cgi_paths=normalize_cgi_paths(",".join(cgi_paths) if cgi_paths is not None
                                      else options.cgi_paths),
        cgi_timeout=options.cgi_timeout,
        log_frames=getattr(options, "log_frames", False),
        max_frame_size=getattr(options, "max_frame_size", None),
        auto_fragment_size=getattr(options, "auto_fragment_size", None),
        max_connections=getattr(options, "max_connections", None),
        handshake_timeout=getattr(options, "handshake_timeout", REQUEST_TIMEOUT),
        ping_interval=getattr(options, "ping_interval", None),
        ping_timeout=getattr(options, "ping_timeout", PING_TIMEOUT),
        # The options are in milliseconds, the config in seconds.
        latency=(getattr(options, "latency", None) or 0.0) / 1000.0,
        latency_jitter=(getattr(options, "latency_jitter", None) or 0.0) / 1000.0,
        bandwidth=getattr(options, "bandwidth", None),
    )


def add_status_board(config: ServerConfig, options: argparse.Namespace,
                     listeners: list[socket.socket]) -> None:
    """Turns the status page on: by --status-page, or when every listener is on loopback
    (unless --no-status-page), as a page on a public address would show who connects."""
    wanted = getattr(options, "status_page", None)
    if wanted is None:
        wanted = bool(listeners) and all(_is_loopback(sock.getsockname()[0]) for sock in listeners)
    if wanted:
        config.status = StatusBoard(config.dispatcher.handler_files)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def build_side_carriers(config: ServerConfig, options: argparse.Namespace) -> list[listener.SideCarrier]:
    """HTTP/3 on its UDP port when --http3-port asks (bound here, served once started)."""
    port = getattr(options, "http3_port", None)
    if port is None:
        return []
    from mod_ws.server.http3.server import Http3Server  # only when asked: aioquic is an extra

    return [Http3Server(config, options.server_host, port,
                        certificate=under_document_root(options, options.certificate),
                        private_key=under_document_root(options, options.private_key))]


def build_server(options: argparse.Namespace) -> listener.WebSocketServer:
    """The server the options describe, listening but not yet serving."""
    config = build_config(options)
    listeners = open_listeners(options.server_host, options.port,
                                        options.request_queue_size)
    add_status_board(config, options, listeners)
    return listener.WebSocketServer(config, listeners, options.shutdown_timeout,
                                    build_side_carriers(config, options))


# --- pywebsocket3's embedding API, name for name (web-platform-tests uses it) -------


def _parse_args_and_config(args: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """pywebsocket3's parser entry point: (options, positional arguments) from a
    command line and any --config file; a bad option exits as on the command line."""
    return parse_options(args), []


class WebSocketServer(listener.WebSocketServer):
    """pywebsocket3's `WebSocketServer(options)`: listens at once, serves in
    `serve_forever()` until `shutdown()`, which waits for it to stop.

    As in pywebsocket3, a port that cannot be bound leaves `_sockets` empty (logged
    at critical) instead of raising, so the embedder decides what to do.
    """

    def __init__(self, options: argparse.Namespace) -> None:
        config = build_config(options)
        try:
            listeners = open_listeners(options.server_host, options.port,
                                                options.request_queue_size)
        except ServerStartError as e:
            _logger.critical("no socket listening: %s", e)
            listeners = []
        add_status_board(config, options, listeners)
        super().__init__(config, listeners, options.shutdown_timeout,
                         build_side_carriers(config, options))
        self.websocket_server_options = options
        options.dispatcher = config.dispatcher
        self._serving = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    @property
    def _sockets(self) -> list[tuple[socket.socket, tuple]]:
        """(listening socket, getaddrinfo-style tuple) for each bound address."""
        return [(sock, (sock.family, sock.type, sock.proto, "", sock.getsockname()))
                for sock in self.listeners if sock.fileno() >= 0]

    @property
    def server_address(self) -> tuple:
        return (self.websocket_server_options.server_host, self.port if self.listeners else 0)

    def fileno(self) -> int:
        return self.listeners[0].fileno()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        if not self.listeners:
            _logger.critical("serve_forever: no socket is listening")
            return
        self._stopped.clear()
        self._serving.set()
        try:
            super().serve_forever(poll_interval)
        finally:
            self._serving.clear()
            self._stopped.set()

    def shutdown(self) -> None:
        """Stops serve_forever and waits until it has (open WebSockets closed with
        1001, handler threads given --shutdown-timeout), as socketserver's does."""
        super().shutdown()
        if self._serving.is_set():
            self._stopped.wait(self.shutdown_timeout + 5.0)

    def server_close(self) -> None:
        for sock in self.listeners:
            sock.close()


def start_up_banner(server: listener.WebSocketServer, options: argparse.Namespace) -> list[str]:
    """What a person needs first: where to connect, what is served, what failed to load."""
    config = server.config
    resources = config.dispatcher.resources()
    lines = [
        f"listening on {', '.join(format_address(a) for a in server.addresses)}"
        f"{' (TLS: wss://, https://)' if options.use_tls else ''}; "
        f"document root {options.document_root}; {len(resources)} handler(s): "
        f"{' '.join(resources) or '(none)'}",
        f"{PROG} {__version__}; handler root {options.websock_handlers or options.document_root}",
    ]
    ws, web = ("wss", "https") if options.use_tls else ("ws", "http")
    hosts = [format_address((reachable_host(a[0]), a[1])) for a in server.addresses]
    for host in hosts:
        lines.append(f"WebSocket {ws}://{host}/  HTTP {web}://{host}/")
    if hosts:
        host = hosts[0]
        if (config.document_root / "console.html").is_file():
            lines.append(f"console {web}://{host}/console.html")
        if config.status is not None:
            lines.append(f"status page {web}://{host}{STATUS_PATH} (JSON: {STATUS_JSON_PATH})")
    if getattr(options, "http2", False):
        lines.append("HTTP/2 offered by ALPN (h2) on the TLS port: WebSockets by extended "
                     "CONNECT (RFC 8441)")
    for carrier in server.side_carriers:
        lines.append(carrier.describe())
    lines += config.dispatcher.source_warnings()
    return lines


def main(argv: list[str] | None = None) -> int:
    """Runs the server until SIGINT or SIGTERM; returns the exit status."""
    options = parse_options(argv)
    try:
        configure_logging(options)
    except (OSError, ValueError) as e:
        return _fail(str(e))
    try:
        server = build_server(options)
    except (DispatchException, ServerStartError) as e:
        return _fail(str(e))

    def request_shutdown(signum: int, frame: object) -> None:
        server.shutdown()

    signal.signal(signal.SIGTERM, request_shutdown)
    signal.signal(signal.SIGINT, request_shutdown)
    monitor = start_thread_monitor(options)
    banner = start_up_banner(server, options)
    # Printed whatever the log level (test harnesses wait for its first line); into the
    # log too when that is a file, not stderr again.
    print("\n".join(f"{PROG}: {line}" if i == 0 else f"  {line}" for i, line in enumerate(banner)),
          file=sys.stderr, flush=True)
    if options.log_file:
        for line in banner:
            _logger.info("%s", line)
    _logger.info("accelerators: %s", accelerators.describe())
    try:
        server.serve_forever()
    except ServerStartError as e:  # not even one thread could be started
        return _fail(str(e))
    finally:
        if monitor:
            monitor.stop()
    _logger.info("server stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
