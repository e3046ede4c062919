"""DBOS set-up for ae's queue: one place for the app name, version, schema and executor id.

Facts measured with DBOS 3.4.0 that shape this module: the schema must exist before a
client enqueues (a client never creates it), so every entry point migrates first; a worker needs a
stable unique ``executor_id`` and a pinned ``application_version``; a worker killed and never
restarted leaves its workflows PENDING until someone recovers them (``recover_executor``).
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
from contextlib import closing

import sqlalchemy as sa
from dbos import DBOS, DBOSClient, DBOSConfig, Queue

from agent.queue import wake
from agent.queue.config import APP_NAME, APP_VERSION, QUEUE_POLL_S, QUEUE_URL_ENV
from tools.errors import ConfigurationError
from tools.logs import redact
from tools.store_urls import is_sqlite, safe_url

#: DBOS logs every recovery and launch at INFO; ae's own lines say what matters
logging.getLogger("dbos").setLevel(logging.WARNING)


def unusable_store(url: str, exc: Exception) -> ConfigurationError:
    """The queue store cannot be used (down, unreachable, refusing): which store, why, what to do."""
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    detail = redact(str(cause).strip().splitlines()[0] if str(cause).strip() else "")
    return ConfigurationError(
        f"cannot open the queue store {safe_url(url)}: {type(cause).__name__}: {detail}",
        hint=f"start it, or point {QUEUE_URL_ENV} at one that answers (sqlite:///PATH or "
        "postgresql://USER@HOST/DB), or unset it for this machine's own SQLite queue",
    )


def migrate(url: str) -> None:
    """Create or upgrade the queue's schema; a clear error when the store cannot be reached."""
    try:
        DBOS.migrate(url)
        if is_sqlite(url):
            _write_ahead_log(url)
    except Exception as exc:  # any driver's connection error: say which store and what next
        raise unusable_store(url, exc) from None


def _write_ahead_log(url: str) -> None:
    """Put the SQLite queue in WAL mode (kept by the file, so once is enough): a commit then syncs
    one file instead of a journal and the database, which took half of the ~60 ms between one task's
    end and the next one's start, and readers (`ae queue list`) no longer wait for writers. WAL
    needs a local disk, as one machine's queue has; a store on several machines is PostgreSQL."""
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        with closing(sqlite3.connect(database, timeout=30)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")


class QueueClient(DBOSClient):
    """A DBOS client that knows its store, to send the workers a notice of what it enqueues."""

    def __init__(self, url: str) -> None:
        super().__init__(system_database_url=url, application_name=APP_NAME)
        self.url = url


def open_client(url: str) -> QueueClient:
    """A client for enqueueing and inspecting tasks without running any (no launch, no threads)."""
    migrate(url)
    return QueueClient(url)


def launch_worker(url: str, *, executor_id: str, queue: str, concurrency: int) -> Queue:
    """Start this process as a worker: DBOS's threads take tasks from the queue from now on.

    The workflow must be registered first (``agent.queue.tasks`` is imported by the caller)."""
    migrate(url)
    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": url,
        "application_version": APP_VERSION,
        "executor_id": executor_id,
        "log_level": "WARNING",
    }
    _console_to_current_stderr()
    DBOS(config=config)
    DBOS.listen_queues([])  # DBOS's own thread takes no ae task: ae runs that loop on a Wake
    DBOS.launch()  # also recovers this executor's own PENDING tasks (a restarted worker)
    registered = DBOS.register_queue(
        queue, worker_concurrency=concurrency, polling_interval_sec=QUEUE_POLL_S, on_conflict="always_update"
    )
    _take_tasks(url, registered)
    return registered


def _console_to_current_stderr() -> None:
    """DBOS makes its console handler when it is imported, on the stderr of that moment; a process
    that has since replaced sys.stderr (a test's capture, a redirected run) would have DBOS write to,
    and flush, a stream that may be closed by now."""
    for handler in logging.getLogger("dbos").handlers:
        if handler.name == "__dbos_console_log_handler__" and isinstance(handler, logging.StreamHandler):
            handler.acquire()  # not setStream: it flushes the old stream first, which may be closed
            try:
                handler.stream = sys.stderr
            finally:
                handler.release()


#: this process's queue loop and its Wake while it is a worker
_LOOPS: list[tuple[wake.Wake, threading.Thread]] = []


def _take_tasks(url: str, queue: Queue) -> None:
    """Run DBOS's own queue loop for ``queue`` on a thread of ae's, sleeping on a Wake (wake.py).

    ``queue_worker_thread`` and the DBOS instance are internal in DBOS 3.4.0; this is their only
    use, and every queue test runs a worker through it, so an upgrade that changes them fails a
    test, not production."""
    from dbos._dbos import _get_dbos_instance
    from dbos._queue import queue_worker_thread

    dbos = _get_dbos_instance()
    waker = wake.Wake(lambda: dbos._active_workflows_set.count_for_queue(queue.name))
    loop = threading.Thread(
        target=queue_worker_thread, args=(waker, dbos, queue), name=f"ae-queue-{queue.name}", daemon=True
    )
    loop.start()
    wake.listen(url, queue.name, waker)
    waker.notice()  # the tasks enqueued while no worker ran, and this worker's own recovered ones
    _LOOPS.append((waker, loop))


def shut_down(grace_s: float) -> None:
    """Stop taking tasks and wait up to ``grace_s`` for the running ones."""
    while _LOOPS:
        waker, loop = _LOOPS.pop()
        waker.set()
        loop.join(timeout=grace_s)  # a look under way ends before DBOS is torn down under it
    DBOS.destroy(workflow_completion_timeout_sec=int(grace_s))


def recover_executor(executor_id: str) -> list[str]:
    """Re-queue the PENDING tasks of a dead worker so that a live one takes them; their ids.

    ``DBOS._recover_pending_workflows`` is internal in 3.4.0: this is its only caller, and
    tests/test_queue.py exercises it, so an upgrade that renames it fails a test, not production."""
    handles = DBOS._recover_pending_workflows([executor_id])
    return [handle.get_workflow_id() for handle in handles]
