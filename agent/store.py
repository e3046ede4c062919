"""The run store (one row per run) and the LangGraph checkpointer, on SQLite or PostgreSQL.

SQLite under the project's ``.ae/`` is the embedded default; a ``postgresql://`` store URL puts
runs and checkpoints in PostgreSQL so several workers and machines share them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tools.errors import ConfigurationError

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


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass(frozen=True)
class RunRecord:
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
        if url and not is_postgres(url) and not url.startswith("sqlite:"):
            raise ConfigurationError(
                f"unsupported store URL {url!r}", hint="use postgresql://... or leave it unset"
            )
        if not url:
            state_dir.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{state_dir / 'ae.sqlite'}"
        self.url = url
        self.engine = sa.create_engine(_sqlalchemy_url(url), pool_pre_ping=True)
        metadata.create_all(self.engine)

    def create(self, *, run_id: str, request: str, project_dir: Path, target: str, planner: str) -> None:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
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

    def finish(self, run_id: str, *, status: str, reason: str, report_dir: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(status=status, reason=reason, report_dir=report_dir, updated_at=datetime.now(UTC))
            )

    def get(self, run_id: str) -> RunRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).mappings().first()
        return RunRecord(**row) if row else None

    def recent(self, limit: int = 20) -> list[RunRecord]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(sa.select(runs).order_by(runs.c.created_at.desc()).limit(limit)).mappings().all()
            )
        return [RunRecord(**row) for row in rows]

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def open_checkpointer(url: str | None, state_dir: Path) -> Iterator[Any]:
    """A LangGraph checkpointer: SQLite at .ae/checkpoints.sqlite, or PostgreSQL at the store URL."""
    if url and is_postgres(url):
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(_psycopg_url(url)) as saver:
            saver.setup()
            yield saver
        return
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    state_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(state_dir / "checkpoints.sqlite", check_same_thread=False)
    try:
        sqlite_saver = SqliteSaver(conn)
        sqlite_saver.setup()
        yield sqlite_saver
    finally:
        conn.close()
