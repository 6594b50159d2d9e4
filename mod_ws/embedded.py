"""`mod_ws.Server`: the server inside another Python program, most often a test suite.

A test of a WebSocket client wants a real server for the length of one test: on a free
loopback port, started and stopped in-process, with no subprocess to reap and no banner
to parse for the port. `Server` takes the command line's options as keywords (their
`dest` names, `mod_ws.options`), serves on a daemon thread, and on `stop()` does what
SIGTERM does to `python -m mod_ws` (open WebSockets closed with 1001, handlers given
`shutdown_timeout`, the rest cut) and then waits, bounded, for its threads to end.

    with mod_ws.Server("example") as server:
        client.connect(server.url("/echo"))     # ws://127.0.0.1:<free port>/echo

Logging stays the embedding program's: nothing here configures the root logger (the
command line's logging options are refused; configure `logging.getLogger("mod_ws")`).
As on the command line, loading handlers makes `import mod_pywebsocket` and `import
pywebsocket3` load mod_ws's modules for the whole process (mod_ws.aliases).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from types import TracebackType

from mod_ws import standalone
from mod_ws.logging_setup import ThreadMonitor, start_thread_monitor
from mod_ws.options import OptionError, options_from_keywords
from mod_ws.server.listener import format_address
from mod_ws.server.reporting import reachable_host

_logger = logging.getLogger(__name__)

# Short names for the options an embedder sets most; every option dest works as well.
ALIASES = {"host": "server_host", "handlers": "websock_handlers", "tls": "use_tls"}

# The command line's logging options set up the root logger or a process-wide level;
# inside another program those belong to that program.
_LOGGING_OPTIONS = ("log_file", "log_level", "deflate_log_level", "log_max", "log_count")

# What the listener may spend after `shutdown_timeout` once stopped: waking each
# listening socket's waiting threads (2 s at most each), cutting stragglers (1 s),
# with room to spare on a loaded machine.
_STOP_MARGIN = 5.0
_STOP_MARGIN_PER_LISTENER = 2.0
# Pool threads are daemons that leave a moment after the serving thread returns.
_POOL_EXIT_WAIT = 2.0


def _options_for(document_root: str | os.PathLike[str], keywords: dict[str, object]) -> dict[str, object]:
    """The keywords as option dests, with the embedding defaults (loopback, free port)."""
    options: dict[str, object] = {}
    given_as: dict[str, str] = {}
    for name, value in keywords.items():
        dest = ALIASES.get(name, name)
        if dest in options:
            raise OptionError(f"{given_as[dest]!r} and {name!r} set the same option; give one")
        given_as[dest] = name
        if dest in _LOGGING_OPTIONS:
            raise OptionError(f"{dest!r}: logging belongs to the embedding program; "
                              "configure logging.getLogger('mod_ws') instead")
        options[dest] = value
    if options.get("server_host") is None:  # None would mean every interface
        options["server_host"] = "127.0.0.1"
    if options.get("port") is None:
        options["port"] = 0
    options["document_root"] = os.fspath(document_root)
    return options


class Server:
    """A mod_ws server in this process, listening from construction and serving on a
    daemon thread between `start()` and `stop()` (or inside a `with` block)."""

    def __init__(self, document_root: str | os.PathLike[str], **options: object) -> None:
        """Listens at once (so `.port` is known); raises OptionError (a ValueError) for
        a bad option, ServerStartError or DispatchException if it cannot start.

        `options` are the option dests of mod_ws.options (`port`, `websock_handlers`,
        `max_message_size`, `use_tls`, `certificate`, ...; a flag takes a bool) or the
        aliases `host`, `handlers`, `tls`. Unlike the command line, the host defaults
        to 127.0.0.1 and the port to 0 (a free one). `.options` keeps the parsed
        options, as the command line would have given them."""
        self.options = options_from_keywords(**_options_for(document_root, options))
        self._server = standalone.build_server(self.options)
        # Kept: a closed listening socket no longer knows its address.
        self._addresses = list(self._server.addresses)
        self._host = reachable_host(self.options.server_host)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._monitor: ThreadMonitor | None = None
        self._stopping = False
        self._error: BaseException | None = None

    # --- where it listens ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on (a free one picked by the OS for port 0)."""
        return self._addresses[0][1]

    @property
    def host(self) -> str:
        """The host clients on this machine connect to (127.0.0.1 for every interface)."""
        return self._host

    @property
    def tls(self) -> bool:
        """Whether it serves wss:// and https://."""
        return bool(self.options.use_tls)

    def url(self, path: str = "/echo", secure: bool | None = None) -> str:
        """The WebSocket URL of `path`: wss:// over TLS (or with secure=True), else ws://."""
        return self._url("wss" if self._secure(secure) else "ws", path)

    def http_url(self, path: str = "/", secure: bool | None = None) -> str:
        """The URL of a static file or CGI program: https:// over TLS, else http://."""
        return self._url("https" if self._secure(secure) else "http", path)

    def _secure(self, secure: bool | None) -> bool:
        return self.tls if secure is None else secure

    def _url(self, scheme: str, path: str) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self.port}/{path.lstrip('/')}"

    # --- what it serves -----------------------------------------------------------

    def resources(self) -> list[str]:
        """The resources that have a handler, sorted ("/echo", "/a/b", ...)."""
        return self._server.config.dispatcher.resources()

    def source_warnings(self) -> list[str]:
        """Handler files that failed to load or were skipped, one line each: a test
        can assert there are none instead of meeting a 500 later."""
        return self._server.config.dispatcher.source_warnings()

    def connection_count(self) -> int:
        """Connections open now (WebSocket or HTTP)."""
        return self._server.connection_count()

    # --- life ---------------------------------------------------------------------

    def start(self) -> Server:
        """Serves on a daemon thread (a program that forgets stop() can still exit);
        returns self. Calling it again while serving does nothing."""
        with self._lock:
            if self._stopping:
                raise RuntimeError("this mod_ws Server has been stopped; make a new one")
            if self._thread is not None:
                return self
            self._monitor = start_thread_monitor(self.options)
            name = f"mod_ws serve {format_address(self._addresses[0])}"
            self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
            self._thread.start()
        _logger.info("serving on %s; document root %s; handlers: %s",
                     ", ".join(format_address(a) for a in self._addresses),
                     self.options.document_root, " ".join(self.resources()) or "(none)")
        return self

    def _serve(self) -> None:
        try:
            self._server.serve_forever()
        except BaseException as e:  # noqa: BLE001 - kept for stop() to raise where it is seen
            _logger.error("mod_ws server on port %d stopped: %s", self.port, e)
            self._error = e

    def stop(self, timeout: float | None = None) -> None:
        """Stops serving and waits, at most `timeout` seconds (default: the shutdown
        timeout plus what the listener needs after it), for its threads to end.

        Open WebSockets get a 1001 close; handlers still running after
        `shutdown_timeout` are cut. Safe to call more than once, or before start().
        Raises TimeoutError if the serving thread outlives the wait, or the error
        that ended serving early.
        """
        with self._lock:
            self._stopping = True
            thread, monitor = self._thread, self._monitor
        if timeout is None:
            timeout = (self._server.shutdown_timeout + _STOP_MARGIN
                       + _STOP_MARGIN_PER_LISTENER * len(self._addresses))
        deadline = time.monotonic() + timeout
        self._server.shutdown()
        try:
            if thread is None:  # never served: only the listening sockets to close
                for sock in self._server.listeners:
                    sock.close()
            else:
                thread.join(timeout)
                if thread.is_alive():
                    raise TimeoutError(f"mod_ws server on port {self.port} did not stop "
                                       f"within {timeout:g} s")
                self._wait_for_pool_threads(min(deadline, time.monotonic() + _POOL_EXIT_WAIT))
        finally:
            if monitor is not None:
                monitor.stop(max(0.0, deadline - time.monotonic()))
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _wait_for_pool_threads(self, deadline: float) -> None:
        """Once serving has returned, every connection has ended and the waiting threads
        have been told to leave; this waits (bounded) the moment they take to do so.

        The pool (mod_ws.server.workers) keeps no handles to join, so its threads are
        known by name: a waiting thread is named for its listening address."""
        names = {f"accept {format_address(address)}" for address in self._addresses}
        while time.monotonic() < deadline:
            if not any(t.name in names for t in threading.enumerate() if t.is_alive()):
                return
            time.sleep(0.01)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = ("stopped" if self._stopping else
                 "serving" if self._thread is not None else "listening")
        return f"<mod_ws.Server {self.url('/')} {state}>"


__all__ = ["ALIASES", "Server"]
