"""Unit tests of mod_ws.server.workers: threads that wait for connections and serve them."""

from __future__ import annotations

import itertools
import queue
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT, server_env

from mod_ws.server import workers
from mod_ws.server.workers import ListenerThreads

needs_idle_expiry = pytest.mark.skipif(not workers._EXCLUSIVE,
                                       reason="waiting threads time out only with EPOLLEXCLUSIVE")


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


_POOL_NUMBERS = itertools.count()


class Pool:
    """ListenerThreads on a loopback listener, with a 'main thread' that starts the
    threads it asks for, as WebSocketServer.serve_forever does."""

    def __init__(self, serve, **kwargs) -> None:
        self.name = f"waiting {next(_POOL_NUMBERS)}"  # of this pool's waiting threads
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.served: list[tuple[int, str]] = []  # (thread ident, thread name) per connection
        self.threads: set[threading.Thread] = set()
        self.lock = threading.Lock()
        self.wanted: queue.SimpleQueue = queue.SimpleQueue()
        self.wanted_count = 0

        def serve_and_record(sock, address):
            current = threading.current_thread()
            with self.lock:
                self.threads.add(current)
                self.served.append((threading.get_ident(), current.name))
            current.name = "serving"
            try:
                serve(sock)
            finally:
                sock.close()

        self.threads_wanted = ListenerThreads(self.listener, serve_and_record, self.name,
                                              self._want, **kwargs)
        self._stop = threading.Event()
        self._main = threading.Thread(target=self._main_loop, name="test main")

    def _want(self, acceptor) -> None:
        self.wanted_count += 1
        self.wanted.put(acceptor)

    def _main_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.wanted.get(timeout=0.05).start_thread()
            except queue.Empty:
                pass

    def __enter__(self):
        self.threads_wanted.start()
        self._main.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._main.join(5)
        self.threads_wanted.stop()
        self.listener.close()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def alive(self) -> int:
        """Threads of this pool that exist, waiting or serving."""
        with self.lock:
            serving = sum(t.is_alive() and t.name == "serving" for t in self.threads)
        return serving + sum(t.name == self.name for t in threading.enumerate())

    def count(self) -> int:
        with self.lock:
            return len(self.served)


def _refuse_thread_start(*args, **kwargs):
    """Stands in for Thread.start when the process is out of threads."""
    raise RuntimeError("can't start new thread")


def echo_once(sock: socket.socket) -> None:
    data = sock.recv(100)
    if data:
        sock.sendall(data)


def test_concurrent_connections_each_get_a_thread_of_their_own():
    """Thread per connection: five connections that wait for each other all run at once."""
    barrier = threading.Barrier(5, timeout=5)

    def serve(sock):
        barrier.wait()
        echo_once(sock)

    with Pool(serve) as pool:
        clients = [pool.connect() for _ in range(5)]
        for client in clients:
            client.sendall(b"x")
        assert [client.recv(1) for client in clients] == [b"x"] * 5
        assert len({ident for ident, _ in pool.served}) == 5
        for client in clients:
            client.close()


def test_serving_threads_share_one_start_event_and_still_report_alive_and_join():
    """The start-up Event each thread gives back (1.2 KiB a held connection) changes
    nothing a caller of threading can see: is_alive while serving, join once done."""
    release = threading.Event()

    def serve(sock):
        release.wait(5)
        echo_once(sock)

    with Pool(serve) as pool:
        clients = [pool.connect() for _ in range(3)]
        assert wait_until(lambda: pool.count() == 3)
        with pool.lock:
            threads = list(pool.threads)
        assert len(threads) == 3
        assert all(thread.is_alive() for thread in threads)
        assert all(thread._started is workers._STARTED for thread in threads)
        assert all("started" in repr(thread) for thread in threads)
        release.set()
        for client in clients:
            client.sendall(b"x")
            assert client.recv(1) == b"x"
            client.close()
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()


def test_a_thread_that_finished_serves_the_next_connection_and_waits_under_its_name():
    # No idle thread may time out here, so the count of waiting threads only grows back.
    with Pool(echo_once, idle_timeout=60) as pool:
        for _ in range(3):
            with pool.connect() as client:
                client.sendall(b"a")
                assert client.recv(1) == b"a"
            # The thread that served is waiting again beside the one started when it took
            # the last waiting place; before that, the next connection could find no
            # thread waiting and ask for a third.
            assert wait_until(lambda: pool.threads_wanted.waiting() >= 2)
        assert wait_until(lambda: all(t.name == pool.name for t in pool.threads if t.is_alive()))
        # One connection at a time never needs more than two threads.
        assert len({ident for ident, _ in pool.served}) <= 2
        assert all(name == pool.name for _, name in pool.served)


def test_taking_the_last_waiting_place_asks_for_another_thread():
    release = threading.Event()
    with Pool(lambda sock: release.wait(5)) as pool:
        client = pool.connect()
        assert wait_until(lambda: pool.count() == 1)
        assert pool.wanted_count == 1
        assert wait_until(lambda: pool.threads_wanted.waiting() == 1)  # the new one waits
        release.set()
        client.close()


@needs_idle_expiry
def test_idle_threads_beyond_one_exit_after_the_idle_timeout():
    release = threading.Event()
    with Pool(lambda sock: release.wait(5), idle_timeout=0.2) as pool:
        clients = [pool.connect() for _ in range(4)]
        assert wait_until(lambda: pool.count() == 4)
        # Four serving, at least one more waiting; counted before any can time out.
        assert wait_until(lambda: pool.alive() >= 5)
        release.set()
        for client in clients:
            client.close()
        assert wait_until(lambda: pool.alive() == 1 and pool.threads_wanted.waiting() == 1)


def test_no_more_than_max_idle_threads_wait():
    release = threading.Event()
    with Pool(lambda sock: release.wait(5), idle_timeout=30, max_idle=2) as pool:
        clients = [pool.connect() for _ in range(6)]
        assert wait_until(lambda: pool.count() == 6)
        release.set()
        for client in clients:
            client.close()
        assert wait_until(lambda: pool.threads_wanted.waiting() == 2 and pool.alive() == 2)
        time.sleep(0.2)
        assert pool.threads_wanted.waiting() == 2 and pool.alive() == 2


def test_every_connection_is_served_exactly_once_while_idle_threads_expire():
    """Connections racing with waiting threads timing out are neither lost nor doubled."""
    def serve(sock):
        echo_once(sock)

    with Pool(serve, idle_timeout=0.01) as pool:
        def client(base):
            for i in range(base, base + 60):
                with pool.connect() as sock:
                    sock.sendall(str(i).encode())
                    assert sock.recv(100) == str(i).encode()
                if i % 10 == 0:
                    time.sleep(0.02)  # let some waiting threads time out meanwhile

        clients = [threading.Thread(target=client, args=(k * 1000,)) for k in range(3)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(20)
        assert pool.count() == 180
        assert wait_until(lambda: pool.threads_wanted.waiting() >= 1)


def test_stop_lets_every_waiting_thread_exit_promptly():
    with Pool(echo_once, idle_timeout=30) as pool:
        for _ in range(3):  # some threads that served, some that never did
            with pool.connect() as client:
                client.sendall(b"a")
                assert client.recv(1) == b"a"
        assert wait_until(lambda: pool.threads_wanted.waiting() >= 1)
        waiting_threads = [t for t in threading.enumerate() if t.name == pool.name]
        assert waiting_threads
    for thread in waiting_threads:
        thread.join(3)
        assert not thread.is_alive()
    assert pool.threads_wanted.waiting() == 0


def test_a_thread_that_cannot_be_started_is_logged_and_counted_out(monkeypatch, caplog):
    with Pool(echo_once) as pool:
        monkeypatch.setattr(workers.threading.Thread, "start", _refuse_thread_start)
        before = pool.threads_wanted.waiting()
        assert pool.threads_wanted.start_thread() is False
        assert pool.threads_wanted.waiting() == before
        assert "cannot start another connection thread" in caplog.text
        monkeypatch.undo()


def test_start_fails_when_not_even_one_thread_can_be_started(monkeypatch):
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        pool = ListenerThreads(listener, lambda sock, address: None, "waiting", lambda pool: None)

        monkeypatch.setattr(workers.threading.Thread, "start", _refuse_thread_start)
        with pytest.raises(RuntimeError, match="cannot start a thread"):
            pool.start()
        assert pool.waiting() == 0
    finally:
        listener.close()


def test_the_command_line_reports_a_server_without_threads_in_one_line():
    """The server prints its one-line error and exits 2 instead of a traceback."""
    script = (
        "import sys, threading\n"
        "def refuse(*args, **kwargs):\n"
        "    raise RuntimeError(\"can't start new thread\")\n"
        "threading.Thread.start = refuse\n"
        "from mod_ws.standalone import main\n"
        "sys.exit(main(['-H', '127.0.0.1', '-p', '0', '-d', 'example']))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=server_env(),
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "mod_ws: error: cannot start a thread to accept connections" in result.stderr
    assert "Traceback" not in result.stderr
