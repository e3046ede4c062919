"""Applying a plan's changeset so that it can be undone exactly, even after the process dies.

A journal in the run directory holds what the changeset replaces *before* any file is written
(write-ahead), then the full record after. A resumed run finds the journal: if the disk already
holds the changeset it is not applied twice; if it holds a half-applied one, that is undone first.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tools.changeset import AppliedChangeset, Changeset, PriorFile
from tools.errors import AeError
from tools.journal import load, save
from tools.paths import ProjectPaths
from tools.warehouse_undo import drop_relations

JOURNAL = "applied.json"
#: relations Execute built, for a rollback to drop the ones it created
RELATIONS_JOURNAL = "relations.json"
#: where dbt's own output stood when the changeset was applied (see ArtifactMark)
ARTIFACTS_JOURNAL = "artifacts.json"


def _damaged_hint(run_dir: Path) -> str:
    return (
        f"`ae undo {run_dir.name}` falls back to the run's checkpoint; failing that, restore the "
        "project's files from version control (`git status` shows what changed) and delete the file"
    )


def load_applied(run_dir: Path) -> AppliedChangeset | None:
    """The run's applied-changeset journal; None when there is none, DamagedJournal when unreadable."""
    return load(run_dir / JOURNAL, AppliedChangeset, what_to_do=_damaged_hint(run_dir))


def apply_journaled(changeset: Changeset, paths: ProjectPaths, run_dir: Path) -> AppliedChangeset:
    journal = run_dir / JOURNAL
    previous = load_applied(run_dir)
    if previous is not None:
        if changeset.is_applied(paths):
            return previous  # resumed after apply: the files are already in place
        previous.rollback()
    mark_artifacts(paths.root, run_dir)
    priors = AppliedChangeset(
        root=str(paths.root),
        priors=[
            PriorFile.capture(c.path, paths.resolve(c.path, must_exist=False), after=c.content)
            for c in changeset.changes
        ],
    )
    save(journal, priors)  # write-ahead: what will be replaced is on disk before anything is
    applied = changeset.apply(paths)
    save(journal, applied)
    return applied


class ArtifactMark(BaseModel):
    """dbt's output folders as they were at apply, so a rollback can take back what the run wrote.

    dbt writes compiled SQL, run_results.json and its log as it goes; after a failed run they hold
    the rolled-back code, compiled with whatever values it read (secrets included). A rollback
    deletes the files under target/ written since the mark (dbt regenerates them; a missing
    partial-parse file only costs one full parse) and truncates logs/dbt.log to its size then.
    """

    since_ns: int
    target_dir: str
    log_file: str
    #: None when the log did not exist: the run created it, so the rollback removes it
    log_size: int | None


#: kernels stamp files with a coarse clock that can lag time.time_ns(); a file the run wrote
#: just after the mark must not look older than it
_CLOCK_SLACK_NS = 1_000_000_000


def mark_artifacts(root: Path, run_dir: Path) -> None:
    """Record where dbt's output stands; a resumed run keeps the first mark."""
    journal = run_dir / ARTIFACTS_JOURNAL
    if journal.exists():
        return
    log_file = Path(os.environ.get("DBT_LOG_PATH") or root / "logs") / "dbt.log"
    save(
        journal,
        ArtifactMark(
            since_ns=time.time_ns() - _CLOCK_SLACK_NS,
            target_dir=str(Path(os.environ.get("DBT_TARGET_PATH") or root / "target")),
            log_file=str(log_file),
            log_size=log_file.stat().st_size if log_file.is_file() else None,
        ),
    )


def keep_artifacts(run_dir: Path) -> None:
    """A successful run's dbt output is the person's to keep: no later undo takes it back."""
    for mark in run_dir.rglob(ARTIFACTS_JOURNAL):
        mark.unlink()


def clean_artifacts(run_dir: Path) -> int:
    """Take back dbt's output written since the mark; returns how many files were removed or cut."""
    journal = run_dir / ARTIFACTS_JOURNAL
    mark = load(journal, ArtifactMark, what_to_do="delete it; dbt's target/ can be removed safely")
    if mark is None:
        return 0
    cleaned = 0
    target = Path(mark.target_dir)
    for path in sorted(target.rglob("*"), reverse=True) if target.is_dir() else []:
        if path.is_file() and path.stat().st_mtime_ns >= mark.since_ns:
            path.unlink()
            cleaned += 1
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    log_file = Path(mark.log_file)
    if log_file.is_file() and mark.log_size is None:
        log_file.unlink()
        cleaned += 1
    elif log_file.is_file() and log_file.stat().st_size > (mark.log_size or 0):
        # dbt appends to its log: cutting it back removes exactly the run's lines
        os.truncate(log_file, mark.log_size or 0)
        cleaned += 1
    journal.unlink()
    return cleaned


class BuiltRelations(BaseModel):
    """What Execute built in the warehouse: relations it created, and existing ones it rebuilt."""

    db_path: str
    created: list[str] = []
    replaced: list[str] = []


def record_built_relations(run_dir: Path, built: BuiltRelations) -> None:
    """Journal the relations a build created, so that a rollback (now or after a crash) drops them."""
    save(run_dir / RELATIONS_JOURNAL, built)


@dataclass(frozen=True)
class Rollback:
    """What undoing a run did: files restored or kept, relations dropped or left rebuilt."""

    files: bool
    #: files changed by someone else since this run wrote them: kept, not overwritten
    conflicts: list[str] = field(default_factory=list)
    #: dbt output files the run wrote (target/, logs/dbt.log) taken back
    artifacts: int = 0
    dropped: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        parts: list[str] = []
        if self.files and self.conflicts:
            parts.append(
                f"rolled the changeset back except {', '.join(self.conflicts)}: changed since this run "
                "wrote them, so the newer version was kept; check them by hand"
            )
        elif self.files:
            parts.append("rolled the changeset back; the project's files are as they were")
        if self.artifacts:
            parts.append(f"removed {self.artifacts} dbt output file(s) the run wrote (target/, logs/)")
        if self.dropped:
            parts.append(
                f"dropped {len(self.dropped)} relation(s) the run created: {', '.join(self.dropped)}"
            )
        if self.replaced:
            names = " ".join(r.rsplit(".", 1)[-1] for r in self.replaced)
            parts.append(
                f"{', '.join(self.replaced)} were rebuilt by the run and keep its data: "
                f"rebuild them from the restored files with `dbt build --select {names}`"
            )
        if self.error:
            parts.append(self.error)
        return "; ".join(parts)


def rollback_journaled(applied: dict[str, Any] | None, run_dir: Path) -> Rollback | None:
    """Undo what the run applied and built; None when it had nothing to undo."""
    record = AppliedChangeset.model_validate(applied) if applied else load_applied(run_dir)
    conflicts = record.rollback() if record is not None else []
    (run_dir / JOURNAL).unlink(missing_ok=True)
    undone = Rollback(files=record is not None, conflicts=conflicts, artifacts=clean_artifacts(run_dir))
    relations = _undo_relations(run_dir)
    if relations is not None:
        undone = replace(relations, files=undone.files, conflicts=conflicts, artifacts=undone.artifacts)
    return undone if undone.files or relations is not None else None


def _undo_relations(run_dir: Path) -> Rollback | None:
    journal = run_dir / RELATIONS_JOURNAL
    built = load(journal, BuiltRelations, what_to_do="drop the relations the run created by hand")
    if built is None:
        return None
    try:
        dropped = drop_relations(Path(built.db_path), built.created)
    except AeError as exc:
        return Rollback(files=False, replaced=built.replaced, error=f"could not drop {built.created}: {exc}")
    journal.unlink(missing_ok=True)
    return Rollback(files=False, dropped=dropped, replaced=built.replaced)


def merge_applied(first: AppliedChangeset, second: AppliedChangeset) -> AppliedChangeset:
    """One record for two consecutive applies (Document's description edits after Validate's):
    each path keeps its state before the first and the bytes the second left."""
    later = {p.path: p for p in second.priors}
    known = {p.path for p in first.priors}
    merged = [
        p.model_copy(update={"after_sha256": later[p.path].after_sha256}) if p.path in later else p
        for p in first.priors
    ]
    return AppliedChangeset(
        root=first.root,
        priors=[*merged, *(p for p in second.priors if p.path not in known)],
        created_dirs=[*first.created_dirs, *second.created_dirs],
    )
