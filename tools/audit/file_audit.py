"""Where a DuckDB warehouse's audit copy lives: one folder per project, ``.ae/audit/``.

One place, not one per run, because dbt keys its partial parse on the profile's connection values
(the DuckDB ``path`` among them): a copy always at the same path, with its dbt target folder kept
between runs, parses only what changed, where a new place each run would parse the whole project
again (measured ~0.6 s per run on the example). Runs on a project take turns (the project lock),
so one copy is enough; ``owner`` says whose it is, and a run resumed after another run took the
folder finds its copy gone instead of publishing someone else's.
"""

from __future__ import annotations

from pathlib import Path

from tools.paths import STATE_DIR

FOLDER = "audit"
#: the file naming the run whose copy the folder holds, and the one naming the last run that had it
OWNER_FILE, LAST_FILE = "run", "last"


def copy_folder(root: Path) -> Path:
    return root / STATE_DIR / FOLDER


def claim(folder: Path, run_id: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in (OWNER_FILE, LAST_FILE):
        (folder / name).write_text(run_id, encoding="utf-8")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def owner(folder: Path) -> str | None:
    return _read(folder / OWNER_FILE)


def last_user(folder: Path) -> str | None:
    """The run that last built in the folder (its copy may be gone)."""
    return _read(folder / LAST_FILE)


def release(folder: Path, run_id: str) -> bool:
    """Delete run ``run_id``'s copy (the profile and dbt's target folder stay for the next run);
    False when the folder holds another run's copy, which is left alone."""
    if owner(folder) != run_id:
        return False
    for copy in [*folder.glob("*.duckdb"), *folder.glob("*.duckdb.wal")]:
        copy.unlink(missing_ok=True)
    (folder / OWNER_FILE).unlink(missing_ok=True)
    return True
