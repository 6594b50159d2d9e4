"""One timer thread per server, for bounds no blocked thread can enforce on itself.

A connection thread stuck in a handler's `web_socket_do_extra_handshake`, or blocked
reading from a client that went silent, cannot notice that its time is up. The
`Watchdog` runs callbacks at deadlines on its own thread: `--handshake-timeout` answers
408 and cuts a handshake still unfinished at its bound, and `--ping-interval` pings
idle sessions and closes those whose pong does not come back. Callbacks must be short
and must not wait for long: they run one after another.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable

_logger = logging.getLogger(__name__)


_COMPACT_AFTER = 64  # cancelled timers held before the heap is rebuilt without them


class Watchdog:
    """Runs callbacks at monotonic deadlines on one daemon thread: the server starts it
    when it starts serving and stops it at shutdown (or the first `schedule` does)."""

    def __init__(self, name: str = "watchdog") -> None:
        self._name = name
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._counter = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> None:
        """Starts the thread now (the server does, so a handshake never waits for it)."""
        with self._changed:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._thread is None:
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def schedule(self, delay: float, callback: Callable[[], None]) -> int:
        """Runs `callback` after `delay` seconds; returns a handle for `cancel`."""
        handle = next(self._counter)
        entry = (time.monotonic() + delay, handle, callback)
        with self._changed:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._start_locked()
            elif self._heap[0] is entry:
                # Only an earlier deadline needs the thread awake: most come later (every
                # handshake schedules one), and waking it for each would cost a switch.
                self._changed.notify()
        return handle

    def cancel(self, handle: int) -> None:
        with self._changed:
            self._cancelled.add(handle)
            # Most timers are cancelled long before they are due (every handshake sets
            # one): drop them in batches rather than hold them, and what they reference,
            # until their deadline.
            if len(self._cancelled) > _COMPACT_AFTER and 2 * len(self._cancelled) > len(self._heap):
                self._heap = [entry for entry in self._heap if entry[1] not in self._cancelled]
                heapq.heapify(self._heap)
                self._cancelled.clear()

    def stop(self, timeout: float = 1.0) -> None:
        """Drops every pending callback and ends the thread (a later `schedule` starts
        a new one)."""
        with self._changed:
            self._stopped = True
            self._heap.clear()
            self._cancelled.clear()
            thread, self._thread = self._thread, None
            self._changed.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                while True:
                    if self._stopped:
                        return
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            _, handle, callback = heapq.heappop(self._heap)
                            if handle in self._cancelled:
                                self._cancelled.discard(handle)
                                continue
                            break
                        self._changed.wait(wait)
                    else:
                        self._changed.wait()
            try:
                callback()
            except Exception:  # noqa: BLE001 - one connection's trouble must not stop the others
                _logger.exception("watchdog callback %r raised", callback)


__all__ = ["Watchdog"]
