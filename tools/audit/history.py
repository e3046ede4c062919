"""Where the versions a run replaced are kept for ``ae undo``, and for how long.

One DuckDB file per publishing run under ``.ae/warehouse-history/``: the tables it replaced, each
as the table it was (views are kept as their query in the run's publication journal). Only the
latest ``keep`` runs' files are kept per project (the ``warehouse_history_runs`` setting, default
5); ``ae doctor`` shows the space they take.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.paths import STATE_DIR

HISTORY_DIR = "warehouse-history"
#: how many runs' replaced relations are kept unless the settings say otherwise
DEFAULT_KEEP = 5


def history_dir(root: Path) -> Path:
    return root / STATE_DIR / HISTORY_DIR


def history_file(root: Path, run_id: str) -> Path:
    """The file of run ``run_id``'s kept versions (made when it publishes)."""
    folder = history_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{run_id}.duckdb"


def _kept(root: Path) -> list[Path]:
    folder = history_dir(root)
    files = (
        [p for p in folder.glob("*.duckdb") if p.is_file() and not p.is_symlink()] if folder.is_dir() else []
    )
    return sorted(files, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def prune_history(root: Path, *, keep: int) -> int:
    """Delete all but the newest ``keep`` runs' kept versions; how many runs' files went."""
    old = _kept(root)[keep:]
    for path in old:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
    return len(old)


@dataclass(frozen=True)
class HistorySpace:
    runs: int
    bytes: int

    def describe(self) -> str:
        return f"{self.runs} run(s)' replaced relations kept for undo, {self.bytes / 1e6:.1f} MB"


def history_space(root: Path) -> HistorySpace:
    kept = _kept(root)
    return HistorySpace(runs=len(kept), bytes=sum(p.stat().st_size for p in kept))
