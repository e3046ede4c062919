"""``ae worker``: take tasks from the queue until stopped, and take over the tasks of dead workers.

DBOS's threads run the tasks; this module adds what DBOS 3.4.0 lacks: a worker killed
with -9 and never restarted leaves its tasks PENDING forever. So every worker writes a heartbeat
row, and every worker is also a janitor: a worker silent for DEAD_AFTER_S is claimed by exactly one
janitor (the one whose delete of its row succeeds), which re-queues its tasks for any live worker.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType
from typing import TextIO

import sqlalchemy as sa

from agent.queue import tasks
from agent.queue.config import DEAD_AFTER_S, HEARTBEAT_S, QUEUE_NAME, STOP_GRACE_S
from agent.queue.engine import launch_worker, recover_executor, shut_down, unusable_store
from agent.queue.wake import notify
from tools.errors import ConfigurationError
from tools.store_urls import sqlalchemy_url

_META = sa.MetaData()
WORKERS = sa.Table(
    "ae_queue_workers",
    _META,
    sa.Column("executor_id", sa.String, primary_key=True),
    sa.Column("host", sa.String, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("beat_at", sa.Float, nullable=False),
)


@dataclass(frozen=True)
class WorkerOptions:
    url: str
    executor_id: str
    queue: str = QUEUE_NAME
    concurrency: int = 1
    heartbeat_s: float = HEARTBEAT_S
    dead_after_s: float = DEAD_AFTER_S
    grace_s: float = STOP_GRACE_S


class Heartbeats:
    """The workers' heartbeat rows, in the queue's own database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(sqlalchemy_url(url))
        with self._named_errors():
            _META.create_all(self.engine)

    @contextmanager
    def _named_errors(self) -> Iterator[None]:
        """A store that is down (at start or later) is a message naming it, not a driver traceback."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise unusable_store(self.url, exc) from None

    def beat(self, executor_id: str, *, at: float | None = None) -> None:
        values = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "beat_at": time.time() if at is None else at,
        }
        with self._named_errors(), self.engine.begin() as conn:
            updated = conn.execute(
                sa.update(WORKERS).where(WORKERS.c.executor_id == executor_id).values(**values)
            ).rowcount
            if not updated:
                conn.execute(sa.insert(WORKERS).values(executor_id=executor_id, **values))

    def claim_dead(self, me: str, dead_after_s: float) -> list[str]:
        """Workers silent for ``dead_after_s``, each claimed by deleting its row: only one janitor's
        delete succeeds, so only one re-queues a dead worker's tasks."""
        cutoff = time.time() - dead_after_s
        stale = WORKERS.c.beat_at < cutoff
        claimed = []
        with self._named_errors(), self.engine.connect() as conn:
            silent = conn.execute(sa.select(WORKERS.c.executor_id).where(stale, WORKERS.c.executor_id != me))
            candidates = [row[0] for row in silent]
        for executor_id in candidates:
            with self._named_errors(), self.engine.begin() as conn:
                gone = conn.execute(sa.delete(WORKERS).where(WORKERS.c.executor_id == executor_id, stale))
                if gone.rowcount == 1:
                    claimed.append(executor_id)
        return claimed

    def close(self) -> None:
        self.engine.dispose()


def run_worker(options: WorkerOptions, *, err: TextIO | None = None) -> int:
    """Work until SIGINT or SIGTERM, then stop taking tasks, give the running ones ``grace_s`` to
    finish (they are checkpointed either way) and exit 0."""
    err = err or sys.stderr
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        print(
            f"ae worker {options.executor_id}: {signal.Signals(signum).name}, stopping", file=err, flush=True
        )
        stop.set()

    heartbeats = Heartbeats(options.url)
    heartbeats.beat(options.executor_id)
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    launch_worker(
        options.url, executor_id=options.executor_id, queue=options.queue, concurrency=options.concurrency
    )
    print(
        f"ae worker {options.executor_id}: taking tasks ({options.concurrency} at a time)",
        file=err,
        flush=True,
    )
    try:
        while not stop.wait(options.heartbeat_s):
            heartbeats.beat(options.executor_id)
            for dead in heartbeats.claim_dead(options.executor_id, options.dead_after_s):
                taken = recover_executor(dead)
                notify(options.url, options.queue)
                print(
                    f"ae worker {options.executor_id}: worker {dead} is silent; re-queued {taken}", file=err
                )
    finally:
        shut_down(options.grace_s)
        tasks.ENGINES.close()
        with suppress(ConfigurationError):  # a store that went away: the error on its way out says so
            heartbeats.beat(options.executor_id, at=0.0)  # a task left running is taken over at once
        heartbeats.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
