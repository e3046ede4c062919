"""DBOS set-up for ae's queue: one place for the app name, version, schema and executor id.

Facts measured with DBOS 3.4.0 that shape this module: the schema must exist before a
client enqueues (a client never creates it), so every entry point migrates first; a worker needs a
stable unique ``executor_id`` and a pinned ``application_version``; a worker killed and never
restarted leaves its workflows PENDING until someone recovers them (``recover_executor``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dbos import DBOS, DBOSClient, DBOSConfig

from agent.queue.config import APP_NAME, APP_VERSION, QUEUE_POLL_S, QUEUE_URL_ENV
from tools.errors import ConfigurationError
from tools.logs import redact
from tools.store_urls import safe_url

if TYPE_CHECKING:
    from dbos import Queue

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
    except Exception as exc:  # any driver's connection error: say which store and what next
        raise unusable_store(url, exc) from None


def open_client(url: str) -> DBOSClient:
    """A client for enqueueing and inspecting tasks without running any (no launch, no threads)."""
    migrate(url)
    return DBOSClient(system_database_url=url, application_name=APP_NAME)


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
    DBOS(config=config)
    DBOS.launch()  # also recovers this executor's own PENDING tasks (a restarted worker)
    return DBOS.register_queue(
        queue, worker_concurrency=concurrency, polling_interval_sec=QUEUE_POLL_S, on_conflict="always_update"
    )


def shut_down(grace_s: float) -> None:
    """Stop taking tasks and wait up to ``grace_s`` for the running ones."""
    DBOS.destroy(workflow_completion_timeout_sec=int(grace_s))


def recover_executor(executor_id: str) -> list[str]:
    """Re-queue the PENDING tasks of a dead worker so that a live one takes them; their ids.

    ``DBOS._recover_pending_workflows`` is internal in 3.4.0: this is its only caller, and
    tests/test_queue.py exercises it, so an upgrade that renames it fails a test, not production."""
    handles = DBOS._recover_pending_workflows([executor_id])
    return [handle.get_workflow_id() for handle in handles]
