"""The run record: one small file per run, ``.ae/runs/<id>/run.json``, so runs can be found and read.

It is written when a run starts (status ``running``, the process that carries it) and replaced
whenever the run store records a new status, always atomically. A run killed mid-way therefore
stays visible: its record still says ``running`` while its process is gone. This module stays
light (pydantic and the journal helpers only) so ``ae runs``, ``ae show`` and ``ae doctor`` start
without loading dbt, LangGraph or SQLAlchemy.

A run folder that is a symbolic link is never read or written (tools/paths.refuse_state_links):
listings pass over it, and naming it is refused.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from tools.errors import ConfigurationError
from tools.journal import load, save
from tools.paths import STATE_DIR, refuse_state_links

RECORD = "run.json"
REPORT_MD = "report.md"
REPORT_JSON = "report.json"


class RunRecord(BaseModel):
    run_id: str
    request: str
    target: str
    started_at: datetime
    #: the process carrying the run, and its host: a pid only means something on its own machine
    pid: int
    host: str
    status: str = "running"
    reason: str = ""
    updated_at: datetime | None = None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to the last recorded status; None while the run is still going."""
        if self.status == "running" or self.updated_at is None:
            return None
        return (self.updated_at - self.started_at).total_seconds()


def runs_dir(state_dir: Path) -> Path:
    return state_dir / "runs"


def run_folder(state_dir: Path, run_id: str) -> Path | None:
    """The folder of run ``run_id``; None when the id is not a plain folder name or no such run
    exists; StateLinkRefused when the folder is a symbolic link."""
    if not run_id or run_id in {".", ".."} or "/" in run_id or "\0" in run_id:
        return None
    folder = runs_dir(state_dir) / run_id
    refuse_state_links(folder)
    return folder if folder.is_dir() else None


def linked_runs(state_dir: Path) -> list[str]:
    """Names under ``.ae/runs/`` that are symbolic links: listings skip them and say so."""
    folder = runs_dir(state_dir)
    return sorted(p.name for p in folder.iterdir() if p.is_symlink()) if folder.is_dir() else []


def record_path(state_dir: Path, run_id: str) -> Path:
    return runs_dir(state_dir) / run_id / RECORD


def _damaged_hint(state_dir: Path, run_id: str) -> str:
    return f"delete {record_path(state_dir, run_id)}; the run's report and journal are not affected"


def read_record(state_dir: Path, run_id: str) -> RunRecord | None:
    """The run's record; None when there is none (DamagedJournal, naming the file, when unreadable)."""
    return load(record_path(state_dir, run_id), RunRecord, what_to_do=_damaged_hint(state_dir, run_id))


def start_record(state_dir: Path, *, run_id: str, request: str, target: str) -> RunRecord:
    """Record that this process carries run ``run_id`` from now (a new run, or one resumed)."""
    earlier = read_record(state_dir, run_id)
    now = datetime.now(UTC)
    record = RunRecord(
        run_id=run_id,
        request=earlier.request if earlier else request,
        target=earlier.target if earlier else target,
        started_at=earlier.started_at if earlier else now,
        pid=os.getpid(),
        host=socket.gethostname(),
    )
    save(record_path(state_dir, run_id), record)
    return record


def update_record(state_dir: Path, run_id: str, *, status: str, reason: str) -> None:
    """Record the run's new status (a run with no record, from an older ae, is left without one)."""
    record = read_record(state_dir, run_id)
    if record is not None:
        updated = record.model_copy(
            update={"status": status, "reason": reason, "updated_at": datetime.now(UTC)}
        )
        save(record_path(state_dir, run_id), updated)


def recent_runs(state_dir: Path, limit: int) -> list[RunRecord]:
    """The newest ``limit`` runs with a record, newest first; a damaged record is skipped."""
    records: list[RunRecord] = []
    folder = runs_dir(state_dir)
    for run in folder.iterdir() if folder.is_dir() else []:
        if run.is_symlink() or (run / RECORD).is_symlink():
            continue  # never followed (linked_runs names them)
        try:
            record = read_record(state_dir, run.name)
        except ConfigurationError:
            continue  # `ae show` on that run names the damage; a listing should still list the rest
        if record is not None:
            records.append(record)
    records.sort(key=lambda r: r.started_at, reverse=True)
    return records[:limit]


def _process_alive(record: RunRecord) -> bool:
    if record.host != socket.gethostname():
        return True  # another machine's process: we cannot tell, so never call it dead
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def left_unfinished(state_dir: Path, record: RunRecord) -> bool:
    """Whether the run's files may be half-applied: it applied a changeset and never wrote a report."""
    run_dir = runs_dir(state_dir) / record.run_id
    if present_file(run_dir / REPORT_JSON):
        return False  # the run finished: whatever it left applied is its result
    from graph.transaction import JOURNAL  # ~1 s of imports, only for the rare run with no report

    return present_file(run_dir / JOURNAL)


def present_file(path: Path) -> bool:
    """Whether ae's file is there (a link is not: it is never followed)."""
    return path.is_file() and not path.is_symlink()


def is_interrupted(state_dir: Path, record: RunRecord) -> bool:
    """A run whose process is gone while it was running or had its changeset applied."""
    if _process_alive(record):
        return False
    return record.status == "running" or left_unfinished(state_dir, record)


def interrupted_runs(state_dir: Path) -> list[RunRecord]:
    """Runs a crash or kill left behind, newest first: each can be resumed or undone."""
    return [r for r in recent_runs(state_dir, limit=10_000) if is_interrupted(state_dir, r)]


def describe_interrupted(record: RunRecord, project_dir: Path) -> str:
    """One line saying which run was interrupted and the two commands that settle it."""
    applied = left_unfinished(project_dir / STATE_DIR, record)
    return (
        f"run {record.run_id} ({record.request!r} on target {record.target}, started "
        f"{record.started_at:%Y-%m-%d %H:%M:%S} UTC) was interrupted"
        f"{' with its changes still applied' if applied else ''}: resume it with "
        f"`ae resume {record.run_id} --project {project_dir}` or restore its files with "
        f"`ae undo {record.run_id} --project {project_dir}`"
    )
