"""A thread per connection, and the idle threads wait for connections themselves.

Each new connection wakes one waiting thread, which accepts it and serves it to its
end: no second thread is woken and nothing is handed between an accepting thread and a
serving one (that hand-off cost about 45 µs of CPU per connection; bench/, handshake
scenario). A thread that takes the last waiting place asks for another
(`thread_wanted`); the server's main thread starts it, so thread creation never runs on
a serving thread's stack. A thread that finishes its connection waits for the next one,
unless `max_idle` threads already wait; one that waits `idle_timeout` without a
connection exits, down to a single thread per listening socket.

Waiting threads sleep in an epoll of their own registered with EPOLLEXCLUSIVE (Linux),
so a connection wakes one of them rather than all, and each can time out on its own.
Elsewhere they block in accept(), which wakes one thread too, and do not time out.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from typing import Callable

DEFAULT_IDLE_TIMEOUT = 1.0
DEFAULT_MAX_IDLE = 16
# After a failed accept() (out of descriptors, say), wait this long before the next.
_ACCEPT_ERROR_PAUSE = 0.05
_EXCLUSIVE = getattr(select, "EPOLLEXCLUSIVE", 0)

_logger = logging.getLogger(__name__)


# A set Event shared by every started connection thread; see _drop_start_event.
_STARTED = threading.Event()
_STARTED.set()


def _drop_start_event(thread: threading.Thread) -> None:
    """Lets a started thread give back the Event that `start()` waited on.

    threading.Thread keeps that Event (a Condition, its lock and a deque: 1.2 KiB) for
    its whole life, and after `start()` it only ever answers "yes, started". With a
    thread per held connection that is 1.2 of the 16 KiB a blocked Python thread costs
    (bench/, idle and scale scenarios): a shared Event that is set answers the same.
    Done only where the attribute is what CPython 3.9-3.13 have there, an Event that is
    set; anywhere else the thread keeps its own.
    """
    started = getattr(thread, "_started", None)
    if isinstance(started, threading.Event) and started.is_set():
        thread._started = _STARTED


class ListenerThreads:
    """Accepts connections on `listener` and runs `serve(sock, address)` for each one on
    the thread that accepted it."""

    def __init__(self, listener: socket.socket, serve: Callable[[socket.socket, tuple], None],
                 name: str, thread_wanted: Callable[[ListenerThreads], None],
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 max_idle: int = DEFAULT_MAX_IDLE) -> None:
        self._listener = listener
        self._serve = serve
        self._name = name  # of a waiting thread; `serve` may rename it while it serves
        self._thread_wanted = thread_wanted  # must call start_thread() soon, on its thread
        self._idle_timeout = idle_timeout
        self._max_idle = max_idle
        self._lock = threading.Lock()
        self._waiting = 0  # threads waiting for a connection, or started and about to
        self._stopping = False
        # With exclusive epoll waits the listener is non-blocking: two woken threads may
        # race for one connection, and the loser must not block in accept().
        listener.setblocking(not _EXCLUSIVE)

    def start(self) -> None:
        """Starts the first waiting thread."""
        if not self.start_thread():
            raise RuntimeError("cannot start a thread to accept connections")

    def stop(self, timeout: float = 2.0) -> None:
        """Wakes every waiting thread and waits (bounded) until they have left; threads
        serving a connection finish it first.

        The listener may be closed only after this: a waiting thread that has not yet
        seen the wake-up would otherwise sleep on until its idle timeout.
        """
        with self._lock:
            self._stopping = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes all waiters; accept() fails
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while self.waiting() and time.monotonic() < deadline:
            time.sleep(0.01)

    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def start_thread(self) -> bool:
        """Starts one more waiting thread; False if none could be started."""
        with self._lock:
            if self._stopping:
                return False
            self._waiting += 1
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        try:
            thread.start()
        except RuntimeError as e:  # out of threads: those already running go on serving
            with self._lock:
                self._waiting -= 1
            _logger.warning("cannot start another connection thread: %s", e)
            return False
        _drop_start_event(thread)
        return True

    def _run(self) -> None:
        current = threading.current_thread()
        while True:
            accepted = self._wait_and_accept()
            if accepted is None:
                return
            sock, address = accepted
            with self._lock:
                self._waiting -= 1
                last = self._waiting == 0
            if last:
                self._thread_wanted(self)
            try:
                self._serve(sock, address)
            finally:
                current.name = self._name
            with self._lock:
                if self._stopping or self._waiting >= self._max_idle:
                    return
                self._waiting += 1

    def _wait_and_accept(self) -> tuple[socket.socket, tuple] | None:
        """The next connection, or None when this thread should exit (it is then no
        longer counted as waiting)."""
        listener = self._listener
        poller = None
        while _EXCLUSIVE and poller is None:
            try:
                poller = select.epoll(1)
                poller.register(listener.fileno(), select.EPOLLIN | _EXCLUSIVE)
            except (OSError, ValueError) as e:  # out of descriptors, or closed at shutdown
                if poller is not None:
                    poller.close()
                    poller = None
                if self._stop_or_pause("cannot wait for connections", e):
                    return None
        try:
            while True:
                if poller is not None and not poller.poll(self._idle_timeout, 1):
                    with self._lock:  # idle_timeout passed without a connection
                        if self._stopping or self._waiting > 1:
                            self._waiting -= 1
                            return None
                    continue
                try:
                    return listener.accept()
                except BlockingIOError:  # another woken thread took the connection
                    continue
                except OSError as e:
                    if self._stop_or_pause("accept failed", e):
                        return None
        finally:
            if poller is not None:
                poller.close()  # a serving thread holds no extra descriptor

    def _stop_or_pause(self, what: str, error: Exception) -> bool:
        """After a failed wait or accept: True if the server is stopping (the thread
        leaves and is no longer counted as waiting), else logs and pauses, then False."""
        with self._lock:
            if self._stopping:
                self._waiting -= 1
                return True
        _logger.warning("%s: %s", what, error)
        time.sleep(_ACCEPT_ERROR_PAUSE)
        return False
