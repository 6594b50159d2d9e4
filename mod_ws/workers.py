"""A thread per connection, with finished threads kept briefly for the next connection.

Starting a thread costs a clone and a wait until it runs (`Thread.start` blocks the
accepting thread until then); under a stream of short connections that is a large
share of a handshake. A thread whose connection ended waits up to `idle_timeout` for
another one before it exits, so each connection still has a thread of its own, and an
idle server still goes back to its one accepting thread.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable

DEFAULT_IDLE_TIMEOUT = 1.0
DEFAULT_MAX_IDLE = 16


class ConnectionThreads:
    """Runs `run(item)` for each submitted item on a thread of its own."""

    def __init__(self, run: Callable[[object], None], idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 max_idle: int = DEFAULT_MAX_IDLE) -> None:
        self._run = run
        self._idle_timeout = idle_timeout
        self._max_idle = max_idle
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting on _work; each item put there is promised to one
        self._work: queue.SimpleQueue = queue.SimpleQueue()

    def submit(self, item: object, name: str) -> None:
        """Hands `item` to a waiting thread, or starts a new thread (named `name`) for it."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._work.put((item, name))
                return
        threading.Thread(target=self._serve, args=(item, name), name=name, daemon=True).start()

    def _serve(self, item: object, name: str) -> None:
        current = threading.current_thread()
        while True:
            current.name = name
            self._run(item)
            with self._lock:
                if self._idle >= self._max_idle:
                    return
                self._idle += 1
            current.name = "idle connection thread"
            try:
                item, name = self._work.get(timeout=self._idle_timeout)
            except queue.Empty:
                with self._lock:
                    # A submit may have promised an item just as the wait ran out.
                    try:
                        item, name = self._work.get_nowait()
                    except queue.Empty:
                        self._idle -= 1
                        return
