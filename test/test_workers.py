"""Unit tests of mod_ws.workers: a thread per connection, reused while recently idle."""

from __future__ import annotations

import threading
import time

from mod_ws.workers import ConnectionThreads


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Recorder:
    """Wraps a run function and remembers every thread it ran on (tests are independent
    of threads other tests left waiting)."""

    def __init__(self, run=lambda item: None) -> None:
        self.run_item = run
        self.threads: set[threading.Thread] = set()
        self.lock = threading.Lock()

    def __call__(self, item) -> None:
        with self.lock:
            self.threads.add(threading.current_thread())
        self.run_item(item)

    def alive(self) -> int:
        with self.lock:
            return sum(t.is_alive() for t in self.threads)


def test_concurrent_items_each_get_a_thread_of_their_own():
    """Thread per connection: five items that wait for each other must all run at once."""
    barrier = threading.Barrier(5, timeout=5)
    threads = set()
    lock = threading.Lock()

    def run(item):
        with lock:
            threads.add(threading.get_ident())
        barrier.wait()

    recorder = Recorder(run)
    pool = ConnectionThreads(recorder, idle_timeout=0.2)
    for i in range(5):
        pool.submit(i, f"item {i}")
    assert wait_until(lambda: len(threads) == 5)
    assert wait_until(lambda: recorder.alive() == 0)


def test_a_finished_thread_serves_the_next_item_and_takes_its_name():
    seen = []
    done = threading.Event()

    def run(item):
        seen.append((item, threading.get_ident(), threading.current_thread().name))
        done.set()

    pool = ConnectionThreads(run, idle_timeout=2.0)
    pool.submit("a", "item a")
    assert done.wait(5)
    assert wait_until(lambda: pool._idle == 1)
    done.clear()
    pool.submit("b", "item b")
    assert done.wait(5)
    (_, first_thread, _), (_, second_thread, second_name) = seen
    assert first_thread == second_thread and second_name == "item b"


def test_idle_threads_exit_after_the_idle_timeout():
    """An idle server goes back to no connection threads at all."""
    recorder = Recorder()
    pool = ConnectionThreads(recorder, idle_timeout=0.1)
    for i in range(3):
        pool.submit(i, f"item {i}")
    assert wait_until(lambda: recorder.threads and recorder.alive() == 0, timeout=3.0)
    assert pool._idle == 0


def test_no_more_than_max_idle_threads_wait():
    release = threading.Event()
    recorder = Recorder(lambda item: release.wait(5))
    pool = ConnectionThreads(recorder, idle_timeout=0.5, max_idle=2)
    for i in range(6):
        pool.submit(i, f"item {i}")
    assert wait_until(lambda: recorder.alive() == 6)
    release.set()
    assert wait_until(lambda: recorder.alive() == 2)
    assert pool._idle == 2


def test_every_item_runs_exactly_once_under_concurrent_submits_and_expiry():
    """Submits racing with idle threads timing out must neither lose nor repeat an item."""
    counts: dict[int, int] = {}
    lock = threading.Lock()

    def run(item):
        with lock:
            counts[item] = counts.get(item, 0) + 1
        time.sleep(0.001 * (item % 3))

    recorder = Recorder(run)
    pool = ConnectionThreads(recorder, idle_timeout=0.005)

    def submitter(base):
        for i in range(base, base + 150):
            pool.submit(i, f"item {i}")
            if i % 10 == 0:
                time.sleep(0.006)  # let some idle threads time out meanwhile

    submitters = [threading.Thread(target=submitter, args=(k * 1000,)) for k in range(3)]
    for t in submitters:
        t.start()
    for t in submitters:
        t.join(10)
    assert wait_until(lambda: len(counts) == 450, timeout=10)
    assert set(counts.values()) == {1}
    assert wait_until(lambda: recorder.alive() == 0, timeout=5)
    # Every promise of an item to a waiting thread was kept: none is owed any more.
    assert pool._idle == 0


def test_an_item_submitted_as_the_idle_wait_runs_out_still_runs_promptly():
    """The race between a submit and an idle thread's timeout: the item promised to the
    expiring thread must still run (no other thread would ever take it)."""
    ran = threading.Event()
    pool = ConnectionThreads(lambda item: ran.set(), idle_timeout=0.01)
    for attempt in range(200):
        ran.clear()
        pool.submit(attempt, f"item {attempt}")
        assert ran.wait(2), f"item {attempt} never ran"
        # Land the next submit around the moment the idle wait expires.
        time.sleep(0.0095 + (attempt % 11) * 0.0001)
