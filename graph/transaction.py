"""Applying a plan's changeset so that it can be undone exactly, even after the process dies.

A journal in the run directory holds what the changeset replaces *before* any file is written
(write-ahead), then the full record after. A resumed run finds the journal: if the disk already
holds the changeset it is not applied twice; if it holds a half-applied one, that is undone first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.changeset import AppliedChangeset, Changeset, PriorFile
from tools.paths import ProjectPaths

JOURNAL = "applied.json"


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


def rollback_journaled(applied: dict[str, Any] | None, run_dir: Path) -> bool:
    """Undo what the run applied; True when something was rolled back."""
    journal = run_dir / JOURNAL
    record = (
        AppliedChangeset.model_validate(applied)
        if applied
        else AppliedChangeset.model_validate_json(journal.read_text(encoding="utf-8"))
        if journal.exists()
        else None
    )
    if record is None:
        return False
    record.rollback()
    journal.unlink(missing_ok=True)
    return True


def merge_applied(first: AppliedChangeset, second: AppliedChangeset) -> AppliedChangeset:
    """One record for two consecutive applies (Document's description edits after Validate's)."""
    known = {p.path for p in first.priors}
    return AppliedChangeset(
        root=first.root,
        priors=[*first.priors, *(p for p in second.priors if p.path not in known)],
        created_dirs=[*first.created_dirs, *second.created_dirs],
    )
