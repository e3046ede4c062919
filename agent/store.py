"""The run store (one row per run) and the LangGraph checkpointer, on SQLite or PostgreSQL.

SQLite under the project's ``.ae/`` is the embedded default; a ``postgresql://`` store URL puts
runs and checkpoints in PostgreSQL so several workers and machines share them. Every status the
store records is also written to the run's own record file (agent/runs.py), which ``ae runs``,
``ae show`` and ``ae doctor`` read without opening the store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from agent.runs import start_record, update_record
from tools.errors import ConfigurationError
from tools.logs import redact, redact_known
from tools.paths import refuse_state_links
from tools.project_lock import advisory_lock, file_lock
from tools.store_urls import (
    is_postgres,
    is_sqlite,
    psycopg_url,
    register_url_password,
    safe_url,
    sqlalchemy_url,
)

#: how long a second run waits for the project's lock before it refuses
LOCK_WAIT_S = 60.0

metadata = sa.MetaData()
runs = sa.Table(
    "ae_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("project_dir", sa.Text, nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("planner", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("report_dir", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def _store_error(url: str, exc: Exception, *, what: str = "the run store") -> ConfigurationError:
    """A clear error for a store that cannot be used: unreachable, corrupt, read-only, full."""
    detail = redact(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0])
    if not is_postgres(url):
        file = url.removeprefix("sqlite:///")
        if "not a database" in detail or "malformed" in detail:
            return ConfigurationError(
                f"{what} {file} is damaged ({detail})",
                hint=f"move it aside (`mv {file} {file}.broken`) and run again: the run history starts "
                "afresh; the project's files are not affected",
            )
        if "disk is full" in detail:
            return ConfigurationError(
                f"cannot write {what} {file}: the disk is full",
                hint=f"free some space on the disk that holds {Path(file).parent} and run the command "
                "again; a run this stopped is listed by `ae runs` with the command that resumes it",
            )
        return ConfigurationError(
            f"cannot use {what} {file}: {detail}",
            hint="make the folder writable and free some space, or set AE_STORE_URL",
        )
    return ConfigurationError(
        f"the run store at {safe_url(url)} cannot be used: {detail}",
        hint="start PostgreSQL or fix AE_STORE_URL (a password with @ : / must be percent-encoded)",
    )


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    request: str
    project_dir: str
    target: str
    planner: str
    status: str
    reason: str
    report_dir: str | None
    created_at: datetime
    updated_at: datetime


class RunStore:
    def __init__(self, url: str | None, state_dir: Path) -> None:
        if url and not is_postgres(url) and not is_sqlite(url):
            raise ConfigurationError(
                f"unsupported store URL {safe_url(url)!r}", hint="use postgresql://... or leave it unset"
            )
        if not url:
            state_dir.mkdir(parents=True, exist_ok=True)
            refuse_state_links(state_dir / "ae.sqlite")  # sqlite follows a planted link
            url = f"sqlite:///{state_dir / 'ae.sqlite'}"
        register_url_password(url)
        if "@" in url.partition("://")[2].rpartition("@")[0]:
            # a driver would take the password's tail for the host and quote it in its error
            raise ConfigurationError(
                f"the store URL {safe_url(url)} has an unencoded @ in its user or password",
                hint="percent-encode it as %40 (and : / as %3A %2F)",
            )
        self.url = url
        self.state_dir = state_dir
        connect_args = {"connect_timeout": 10} if is_postgres(url) else {}
        self.engine = sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True, connect_args=connect_args)
        with self._guard():
            metadata.create_all(self.engine)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise _store_error(self.url, exc) from None

    @contextmanager
    def project_lock(
        self, project_dir: Path, run_id: str, *, notify: Callable[[str], None], wait_s: float = LOCK_WAIT_S
    ) -> Iterator[None]:
        """Hold the project's lock for one run: an advisory lock in a PostgreSQL store (runs on other
        machines share it), else a file lock in the state folder (tools/project_lock.py)."""
        if is_postgres(self.url):
            lock = advisory_lock(
                psycopg_url(self.url), project_dir, run_id=run_id, wait_s=wait_s, notify=notify
            )
        else:
            lock = file_lock(self.state_dir, project_dir, run_id=run_id, wait_s=wait_s, notify=notify)
        with lock:
            yield

    @contextmanager
    def marks_failure(self, run_id: str) -> Iterator[None]:
        """A run stopped by an error is recorded as failed (interrupted on Ctrl-C), never left running."""
        try:
            yield
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            with suppress(Exception):  # the store itself may be what failed; the error says so
                self.finish(run_id, status=status, reason=redact(f"stopped: {exc}"), report_dir=None)
            raise

    def create(self, *, run_id: str, request: str, project_dir: Path, target: str, planner: str) -> None:
        request = redact_known(request)
        now = datetime.now(UTC)
        with self._guard(), self.engine.begin() as conn:
            conn.execute(
                runs.insert().values(
                    run_id=run_id,
                    request=request,
                    project_dir=str(project_dir),
                    target=target,
                    planner=planner,
                    status="running",
                    reason="",
                    created_at=now,
                    updated_at=now,
                )
            )
        start_record(self.state_dir, run_id=run_id, request=request, target=target)

    def reopen(self, run: StoredRun) -> None:
        """A stopped run is carried on by this process (a resume): it is running again."""
        with self._guard(), self.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.run_id == run.run_id)
                .values(status="running", reason="", updated_at=datetime.now(UTC))
            )
        start_record(self.state_dir, run_id=run.run_id, request=run.request, target=run.target)

    def finish(self, run_id: str, *, status: str, reason: str, report_dir: str | None) -> None:
        reason = redact(reason)
        with self._guard(), self.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(status=status, reason=reason, report_dir=report_dir, updated_at=datetime.now(UTC))
            )
        update_record(self.state_dir, run_id, status=status, reason=reason)

    def get(self, run_id: str) -> StoredRun | None:
        with self._guard(), self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).mappings().first()
        return StoredRun(**row) if row else None

    def recent(self, limit: int = 20) -> list[StoredRun]:
        with self._guard(), self.engine.connect() as conn:
            rows = (
                conn.execute(sa.select(runs).order_by(runs.c.created_at.desc()).limit(limit)).mappings().all()
            )
        return [StoredRun(**row) for row in rows]

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def open_checkpointer(url: str | None, state_dir: Path) -> Iterator[Any]:
    """A LangGraph checkpointer: SQLite at .ae/checkpoints.sqlite, or PostgreSQL at the store URL;
    either way what it stores has the known secrets replaced (agent/checkpoints.py)."""
    from agent.checkpoints import NamedSqliteSaver, RedactingSerializer

    if is_postgres(url):
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver

        with ExitStack() as stack:
            try:
                connected = stack.enter_context(PostgresSaver.from_conn_string(psycopg_url(url)))
                saver = PostgresSaver(connected.conn, serde=RedactingSerializer())
                saver.setup()
            except psycopg.Error as exc:
                raise _store_error(url, exc) from None
            yield saver
        return
    import sqlite3

    state_dir.mkdir(parents=True, exist_ok=True)
    file = state_dir / "checkpoints.sqlite"
    refuse_state_links(file)  # sqlite follows a planted link
    error = functools.partial(_store_error, f"sqlite:///{file}", what="the checkpoint store")
    try:
        conn = sqlite3.connect(file, check_same_thread=False)
    except sqlite3.Error as exc:
        raise error(exc) from None
    try:
        sqlite_saver = NamedSqliteSaver(conn, error)
        try:
            sqlite_saver.setup()
        except sqlite3.DatabaseError as exc:
            raise error(exc) from None
        yield sqlite_saver
    finally:
        conn.close()
