"""One run per project: a lock held while a run may change the project's files.

Two runs at once on one project undo each other: run A's rollback restores files run B has since
rewritten. A run therefore holds the project's lock from before it applies its changeset until it
finishes. With the embedded (SQLite) store the lock is ``flock`` on ``.ae/project.lock``, which
the kernel drops when the holder dies, so a killed run never leaves it behind; with a PostgreSQL
store, where runs on several machines share the project, it is a session-level advisory lock keyed
by the project's path, dropped when the holder's connection ends.

A second run waits (bounded, saying who holds the lock), then refuses with ``ProjectBusy``.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.errors import ConfigurationError
from tools.paths import StateLinkRefused, refuse_state_links

LOCK_FILE = "project.lock"
_POLL_S = 0.2

Notify = Callable[[str], None]


class ProjectBusy(ConfigurationError):
    """Another run holds the project's lock and did not release it in time."""


#: who holds the lock, until the holder has written its name (it does right after taking the lock)
UNKNOWN_HOLDER = "another ae process"
#: how long a waiter waits for that name before it says "another ae process"
_NAME_WAIT_S = 1.0


def _holder_text(run_id: str) -> str:
    return json.dumps({"run_id": run_id, "pid": os.getpid(), "since": datetime.now(UTC).isoformat()})


def _describe(raw: str | None) -> str:
    try:
        holder: dict[str, Any] = json.loads(raw or "")
        return f"run {holder['run_id']} (pid {holder['pid']}, since {holder['since'][:19]})"
    except (ValueError, KeyError, TypeError):
        return UNKNOWN_HOLDER


def _wait(
    try_acquire: Callable[[], bool],
    holder: Callable[[], str],
    *,
    project: Path,
    wait_s: float,
    notify: Notify,
) -> None:
    """Poll ``try_acquire`` until it succeeds or ``wait_s`` passes; tells ``notify`` once who holds it."""
    started = time.monotonic()
    deadline = started + wait_s
    told = False
    while not try_acquire():
        if time.monotonic() >= deadline:
            raise ProjectBusy(
                f"{project} is busy: {holder()} is changing it, and one run at a time may",
                hint="wait for it to finish and run again (or stop it; its rollback keeps your files)",
            )
        who = holder()
        # the holder names itself just after it takes the lock: give it a moment before saying "someone"
        if not told and (who != UNKNOWN_HOLDER or time.monotonic() - started >= _NAME_WAIT_S):
            notify(f"waiting up to {wait_s:g}s for {who}, which holds the project's lock")
            told = True
        time.sleep(_POLL_S)


@contextmanager
def file_lock(
    state_dir: Path, project: Path, *, run_id: str, wait_s: float, notify: Notify
) -> Iterator[None]:
    """``flock`` on ``<state_dir>/project.lock``; the file says who holds it (run id, pid). A lock
    file that is a link is refused: truncating it would truncate wherever it points."""
    path = state_dir / LOCK_FILE
    refuse_state_links(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateLinkRefused(f"{path} is a symbolic link") from None
        raise

    def try_acquire() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def holder() -> str:
        return _describe(os.pread(fd, 4096, 0).decode("utf-8", errors="replace"))

    try:
        _wait(try_acquire, holder, project=project, wait_s=wait_s, notify=notify)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder_text(run_id).encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing drops the flock


def advisory_key(project: Path) -> int:
    """A signed 64-bit key for ``pg_advisory_lock`` from the project's resolved path."""
    digest = hashlib.sha256(str(project.resolve()).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def advisory_lock(dsn: str, project: Path, *, run_id: str, wait_s: float, notify: Notify) -> Iterator[None]:
    """A PostgreSQL session advisory lock; the connection's application_name says who holds it."""
    import psycopg

    key = advisory_key(project)
    # pg_locks shows a bigint key as two oids: the high and the low 32 bits
    high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    with psycopg.connect(
        dsn, autocommit=True, connect_timeout=10, application_name=f"ae run {run_id} pid {os.getpid()}"
    ) as conn:

        def try_acquire() -> bool:
            row = conn.execute("select pg_try_advisory_lock(%s)", (key,)).fetchone()
            return bool(row and row[0])

        def holder() -> str:
            row = conn.execute(
                "select a.application_name, a.pid, a.backend_start from pg_locks l "
                "join pg_stat_activity a on a.pid = l.pid where l.locktype = 'advisory' "
                "and l.granted and l.classid = %s and l.objid = %s and l.objsubid = 1",
                (high, low),
            ).fetchone()
            return f"`{row[0]}` (postgres backend {row[1]})" if row else "another ae process"

        _wait(try_acquire, holder, project=project, wait_s=wait_s, notify=notify)
        try:
            yield
        finally:
            with suppress(psycopg.Error):  # a lost connection has dropped the lock already
                conn.execute("select pg_advisory_unlock(%s)", (key,))
