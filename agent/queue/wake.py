"""Waking a worker the moment a task may start, instead of a poll later.

DBOS's queue loop sleeps a polling interval between looks for a task, so a task waited on average
half an interval after it was enqueued or after its worker became free (6-10% of a 4 s task at
0.25 s), and a shorter interval costs an idle worker CPU and database round trips on every poll.
Here the same loop (DBOS's own, run on ae's thread) sleeps on a ``Wake``, which ends its sleep early:

- when this worker's running tasks drop (one ended): an in-memory count, looked at only while a task
  runs;
- on a notice that a task was enqueued: ``notify`` sends it (``ae queue add``, ``retry``, a janitor
  re-queueing a dead worker's tasks); on PostgreSQL it is a NOTIFY, which a worker LISTENs for on
  one idle connection; on SQLite (one machine) it is a touched file beside the database, whose
  modification time a worker looks at every NOTICE_POLL_S (a ``stat``, no database access).

The polling interval stays as the net under what no notice announces (a task DBOS re-queues by
itself, a notice lost while the store was unreachable), so it can be long: an idle worker costs less
than it did.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tools.store_urls import is_postgres, psycopg_url, sqlalchemy_url

if TYPE_CHECKING:
    import psycopg

#: the PostgreSQL channel of the notices; the payload is the queue's name
CHANNEL = "ae_queue"
#: how often a waiting SQLite worker looks at the notice file (one ``stat``)
NOTICE_POLL_S = 0.02
#: how often a worker with a task running looks whether one ended (memory only)
SLOT_CHECK_S = 0.005
#: the least time between two looks that a wake starts: a task just claimed counts as running only
#: once its thread has begun it, and a look before that would claim one task too many
SETTLE_S = 0.02
#: a PostgreSQL listener that lost its connection tries again this often
RECONNECT_S = 2.0


class Wake(threading.Event):
    """What DBOS's queue loop waits on between looks for a task, in place of its stop event.

    ``wait(timeout)`` is True once stopped (the loop ends); else it is False at the first of the
    timeout (the poll), a notice, or a drop in ``running`` (this worker's tasks of the queue)."""

    def __init__(self, running: Callable[[], int]) -> None:
        super().__init__()
        self._running = running
        self._cond = threading.Condition()
        self._stopped = False
        self._noticed = False
        #: running tasks when the last wait ended: one ending during a look still wakes the next wait
        self._seen = 0
        self._ended_at = -math.inf

    def is_set(self) -> bool:
        return self._stopped

    def set(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._stopped = False

    def notice(self) -> None:
        """A task may be waiting: look now."""
        with self._cond:
            self._noticed = True
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        earliest = self._ended_at + SETTLE_S
        seen, due = self._seen, False
        with self._cond:
            while not self._stopped:
                running = self._running()
                due = due or self._noticed or running < seen
                seen = max(seen, running)
                now = time.monotonic()
                if now >= deadline or (due and now >= earliest):
                    break
                step = deadline - now
                if due:
                    step = min(step, earliest - now)
                elif seen:
                    step = min(step, SLOT_CHECK_S)
                self._cond.wait(step)
            self._noticed = False
            self._seen = self._running()
            self._ended_at = time.monotonic()
            return self._stopped


def notify(url: str, queue: str) -> None:
    """Tell the workers of ``queue`` that a task was enqueued. A hint: when it cannot be sent, the
    workers' poll still finds the task, so a failure here never fails the enqueue."""
    if is_postgres(url):
        engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sa.select(sa.func.pg_notify(CHANNEL, queue)))
                conn.commit()
        except sa.exc.DBAPIError:
            pass
        finally:
            engine.dispose()
        return
    path = notice_file(url, queue)
    with contextlib.suppress(OSError):
        path.touch()
        os.utime(path)  # touch() keeps the time of a file that exists on some systems


def notice_file(url: str, queue: str) -> Path:
    """The SQLite queue's notice file: beside the database, one per queue."""
    database = sa.engine.make_url(url).database or "queue.sqlite"
    return Path(f"{database}.{queue}.wake")


def listen(url: str, queue: str, wake: Wake) -> threading.Thread:
    """Start a thread that turns notices for ``queue`` into ``wake.notice()`` until ``wake`` is set."""
    target = _listen_postgres if is_postgres(url) else _watch_file
    thread = threading.Thread(
        target=target, args=(url, queue, wake), name=f"ae-queue-notices-{queue}", daemon=True
    )
    thread.start()
    return thread


def _watch_file(url: str, queue: str, wake: Wake) -> None:
    path = notice_file(url, queue)
    last = _mtime(path)
    while not wake.is_set():
        time.sleep(NOTICE_POLL_S)
        now = _mtime(path)
        if now != last:
            last = now
            wake.notice()


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _listen_postgres(url: str, queue: str, wake: Wake) -> None:
    import psycopg

    while not wake.is_set():
        try:
            with _listening(url) as conn:
                wake.notice()  # what was enqueued while this listener was not connected
                while not wake.is_set():
                    if any(n.payload == queue for n in conn.notifies(timeout=1.0)):
                        wake.notice()
        except psycopg.Error:
            time.sleep(RECONNECT_S)  # the store is away: the poll covers it meanwhile


@contextlib.contextmanager
def _listening(url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    import psycopg

    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        yield conn
