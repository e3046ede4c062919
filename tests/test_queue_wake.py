"""agent/queue/wake.py: what ends a worker's sleep between looks for a task, and what does not."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.queue import wake
from agent.queue.wake import Wake


def _waited(wake_: Wake, timeout: float) -> tuple[bool, float]:
    started = time.monotonic()
    stopped = wake_.wait(timeout)
    return stopped, time.monotonic() - started


def _later(seconds: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_an_idle_worker_sleeps_the_whole_poll() -> None:
    stopped, seconds = _waited(Wake(lambda: 0), 0.3)
    assert not stopped and seconds >= 0.29


def test_a_notice_ends_the_sleep_at_once() -> None:
    waker = Wake(lambda: 0)
    _later(0.05, waker.notice)
    stopped, seconds = _waited(waker, 5.0)
    assert not stopped and seconds < 2.5


def test_a_task_ending_ends_the_sleep_and_a_task_starting_does_not() -> None:
    running = [1]
    waker = Wake(lambda: running[0])
    waker.wait(0.0)  # the worker's look saw one task running
    _later(0.05, lambda: running.__setitem__(0, 2))  # another started: no free slot, keep sleeping
    stopped, seconds = _waited(waker, 0.3)
    assert not stopped and seconds >= 0.29
    _later(0.05, lambda: running.__setitem__(0, 1))  # one ended: a slot is free, look now
    stopped, seconds = _waited(waker, 5.0)
    assert not stopped and seconds < 2.5


def test_stopping_ends_the_loop() -> None:
    waker = Wake(lambda: 0)
    _later(0.05, waker.set)
    stopped, seconds = _waited(waker, 5.0)
    assert stopped and seconds < 2.5 and waker.is_set()


def test_a_notice_on_sqlite_is_a_touched_file_beside_the_queue(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'queue.sqlite'}"
    waker = Wake(lambda: 0)
    listener = wake.listen(url, "ae", waker)
    try:
        time.sleep(wake.NOTICE_POLL_S * 3)  # the watcher has read the file's state before the notice
        _later(0.05, lambda: wake.notify(url, "ae"))
        stopped, seconds = _waited(waker, 5.0)
        assert not stopped and seconds < 2.5
        assert wake.notice_file(url, "ae") == tmp_path / "queue.sqlite.ae.wake"
        # another queue's notice is another file: it does not wake this queue's worker
        _later(0.05, lambda: wake.notify(url, "other"))
        stopped, seconds = _waited(waker, 0.4)
        assert not stopped and seconds >= 0.39
    finally:
        waker.set()
        listener.join(timeout=5)
    assert not listener.is_alive()


@pytest.mark.postgres
def test_a_notice_on_postgres_is_a_notify_for_that_queue(postgres_dsn: str) -> None:
    waker = Wake(lambda: 0)
    listener = wake.listen(postgres_dsn, "q-wake", waker)
    try:
        waker.wait(5.0)  # the listener's first notice: it is connected and listening
        _later(0.05, lambda: wake.notify(postgres_dsn, "another-queue"))
        stopped, seconds = _waited(waker, 0.5)
        assert not stopped and seconds >= 0.49
        _later(0.05, lambda: wake.notify(postgres_dsn, "q-wake"))
        stopped, seconds = _waited(waker, 5.0)
        assert not stopped and seconds < 2.5
    finally:
        waker.set()
        listener.join(timeout=5)


def test_a_notice_that_cannot_be_sent_never_fails_the_enqueue(tmp_path: Path) -> None:
    wake.notify("postgresql://nobody@127.0.0.1:1/none", "ae")  # no server there: a hint lost, no error
    wake.notify(f"sqlite:///{tmp_path / 'missing' / 'queue.sqlite'}", "ae")  # no folder: the same
