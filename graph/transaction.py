"""Applying a plan's changeset so that it can be undone exactly, even after the process dies.

A journal in the run directory holds what the changeset replaces *before* any file is written
(write-ahead), then the full record after. A resumed run finds the journal: if the disk already
holds the changeset it is not applied twice; if it holds a half-applied one, that is undone first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tools.changeset import AppliedChangeset, Changeset, PriorFile
from tools.errors import AeError
from tools.paths import ProjectPaths
from tools.warehouse_undo import drop_relations

JOURNAL = "applied.json"
#: relations Execute built, for a rollback to drop the ones it created
RELATIONS_JOURNAL = "relations.json"


def apply_journaled(changeset: Changeset, paths: ProjectPaths, run_dir: Path) -> AppliedChangeset:
    journal = run_dir / JOURNAL
    if journal.exists():
        previous = AppliedChangeset.model_validate_json(journal.read_text(encoding="utf-8"))
        if changeset.is_applied(paths):
            return previous  # resumed after apply: the files are already in place
        previous.rollback()
    run_dir.mkdir(parents=True, exist_ok=True)
    priors = AppliedChangeset(
        root=str(paths.root),
        priors=[
            PriorFile.capture(c.path, paths.resolve(c.path, must_exist=False)) for c in changeset.changes
        ],
    )
    journal.write_text(priors.model_dump_json(), encoding="utf-8")
    applied = changeset.apply(paths)
    journal.write_text(applied.model_dump_json(), encoding="utf-8")
    return applied


class BuiltRelations(BaseModel):
    """What Execute built in the warehouse: relations it created, and existing ones it rebuilt."""

    db_path: str
    created: list[str] = []
    replaced: list[str] = []


def record_built_relations(run_dir: Path, built: BuiltRelations) -> None:
    """Journal the relations a build created, so that a rollback (now or after a crash) drops them."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RELATIONS_JOURNAL).write_text(built.model_dump_json(), encoding="utf-8")


@dataclass(frozen=True)
class Rollback:
    """What undoing a run did: files restored, relations dropped, relations it could not restore."""

    files: bool
    dropped: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        parts = ["rolled the changeset back; the project's files are as they were" if self.files else ""]
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
        return "; ".join(p for p in parts if p)


def rollback_journaled(applied: dict[str, Any] | None, run_dir: Path) -> Rollback | None:
    """Undo what the run applied and built; None when it had nothing to undo."""
    journal = run_dir / JOURNAL
    record = (
        AppliedChangeset.model_validate(applied)
        if applied
        else AppliedChangeset.model_validate_json(journal.read_text(encoding="utf-8"))
        if journal.exists()
        else None
    )
    if record is not None:
        record.rollback()
        journal.unlink(missing_ok=True)
    relations = _undo_relations(run_dir)
    if relations is None:
        return Rollback(files=True) if record is not None else None
    return replace(relations, files=record is not None)


def _undo_relations(run_dir: Path) -> Rollback | None:
    journal = run_dir / RELATIONS_JOURNAL
    if not journal.exists():
        return None
    built = BuiltRelations.model_validate_json(journal.read_text(encoding="utf-8"))
    try:
        dropped = drop_relations(Path(built.db_path), built.created)
    except AeError as exc:
        return Rollback(files=False, replaced=built.replaced, error=f"could not drop {built.created}: {exc}")
    journal.unlink(missing_ok=True)
    return Rollback(files=False, dropped=dropped, replaced=built.replaced)


def merge_applied(first: AppliedChangeset, second: AppliedChangeset) -> AppliedChangeset:
    """One record for two consecutive applies (Document's description edits after Validate's)."""
    known = {p.path for p in first.priors}
    return AppliedChangeset(
        root=first.root,
        priors=[*first.priors, *(p for p in second.priors if p.path not in known)],
        created_dirs=[*first.created_dirs, *second.created_dirs],
    )
