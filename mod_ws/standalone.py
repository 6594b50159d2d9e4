"""`python -m mod_ws` / `mod_ws`: start the server from the command line or a config file.

Everything a user can get wrong at start-up (options, paths, a port in use) ends in one
line `mod_ws: error: ...` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from mod_ws import accelerators
from mod_ws.dispatch import Dispatcher, load_handler_map
from mod_ws.exceptions import DispatchException
from mod_ws.logging_setup import configure_logging, start_thread_monitor
from mod_ws.options import PROG, parse_options
from mod_ws.server.basic_auth import expected_authorization
from mod_ws.server.cgi import normalize_cgi_paths
from mod_ws.server.config import ServerConfig
from mod_ws.server.listener import ServerStartError, WebSocketServer, format_address
from mod_ws.server.transport import SocketTransport, TransportFactory

_logger = logging.getLogger("mod_ws")


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def build_dispatcher(options: argparse.Namespace) -> Dispatcher:
    """Loads every handler under the handler root (relative roots hang off -d)."""
    document_root = Path(options.document_root)
    handler_root = document_root / (options.websock_handlers or ".")
    scan_dir = None
    if options.scan_dir:
        scan_dir = handler_root / options.scan_dir
    dispatcher = Dispatcher(
        str(handler_root),
        str(scan_dir) if scan_dir else None,
        allow_handlers_outside_root_dir=options.allow_handlers_outside_root_dir,
        handler_encoding=options.handler_encoding,
    )
    if options.websock_handlers_map_file:
        load_handler_map(dispatcher, options.websock_handlers_map_file)
    return dispatcher


def tls_file(options: argparse.Namespace, path: str | None) -> str | None:
    """A TLS file option's path. A relative one is looked up under the document root
    first, where pywebsocket3 (which changes into the document root before opening
    them) finds it, then in the current directory."""
    if path is None or Path(path).is_absolute():
        return path
    under_root = Path(options.document_root) / path
    return str(under_root) if under_root.is_file() else path


def build_transport_factory(options: argparse.Namespace) -> TransportFactory:
    """Plain TCP, or TLS with the files the options name (checked here, once)."""
    if not options.use_tls:
        return SocketTransport
    # Imported only when used: pyOpenSSL and cryptography add some 15,000 objects that
    # every full garbage collection of a plain server would otherwise walk.
    from mod_ws.server.tls import TlsConfig, TlsSetupError, make_tls_factory

    tls = TlsConfig(
        certificate=tls_file(options, options.certificate),
        private_key=tls_file(options, options.private_key),
        client_auth=options.tls_client_auth,
        client_ca=tls_file(options, options.tls_client_ca),
        client_cert_optional=options.tls_client_cert_optional,
        module=options.tls_module,
    )
    try:
        return make_tls_factory(tls, handshake_timeout=options.request_timeout,
                                send_timeout=options.send_timeout)
    except TlsSetupError as e:
        raise ServerStartError(str(e)) from None


def build_server(options: argparse.Namespace) -> WebSocketServer:
    """The server the options describe, listening but not yet serving."""
    transport_factory = build_transport_factory(options)
    dispatcher = build_dispatcher(options)
    config = ServerConfig(
        document_root=Path(options.document_root).resolve(),
        dispatcher=dispatcher,
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
        cgi_paths=normalize_cgi_paths(options.cgi_paths),
        cgi_timeout=options.cgi_timeout,
    )
    return WebSocketServer(config, options.server_host, options.port,
                           options.request_queue_size, options.shutdown_timeout)


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
    resources = server.config.dispatcher.resources()
    banner = (
        f"listening on {', '.join(format_address(a) for a in server.addresses)}"
        f"{' (TLS: wss://, https://)' if options.use_tls else ''}; "
        f"document root {options.document_root}; {len(resources)} handler(s): "
        f"{' '.join(resources) or '(none)'}"
    )
    # Printed whatever the log level: test harnesses wait for this line.
    print(f"{PROG}: {banner}", file=sys.stderr, flush=True)
    _logger.info("%s", banner)
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
