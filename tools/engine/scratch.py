"""A throwaway copy of a DuckDB warehouse with a dbt engine of its own on it.

For what must write to prove something (Verify edits upstream rows and rebuilds an incremental model
both ways) without ever writing the user's warehouse: the copy lives in a temporary folder, under
the same file name (DuckDB names the catalog after the file, and compiled SQL names the catalog),
with a profile of its own that differs from the user's only in the path, and a target path of its
own (the user's target/ and partial parse are left alone). Both go when the block ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

from tools.engine.engine import DbtEngine
from tools.errors import ConfigurationError
from tools.profiles import load_yaml_mapping, profile_name
from tools.warehouse import quote_identifier

#: names of columns that record when a row last changed: a table with one is edited in place
LAST_CHANGE_WORDS = ("updated", "modified", "changed", "loaded")
_TEXT_TYPES = ("VARCHAR",)
_NUMBER_TYPES = ("INTEGER", "BIGINT", "SMALLINT", "DOUBLE", "FLOAT", "DECIMAL", "HUGEINT", "REAL")


def profile_pointing_at(profiles_file: Path, name: str, target: str, copy: Path) -> dict[str, Any]:
    """Profile ``name``'s entry for ``target`` alone, as the user wrote it, with its DuckDB ``path``
    pointing at ``copy``: a profiles.yml that can reach no other target and no other file."""
    profiles = load_yaml_mapping(profiles_file)
    output = dict(profiles[name]["outputs"][target])
    if output.get("attach"):
        # an attached database would be the user's own file, written through the copy
        raise ConfigurationError(
            f"target {target!r} attaches other databases; a copy of its warehouse would still write them",
            hint="use a target without attach:",
        )
    output.update(path=str(copy), keep_open=False)
    return {name: {"target": target, "outputs": {target: output}}}


def copy_duckdb(source: Path, dest: Path) -> None:
    """Copy a DuckDB file and its write-ahead log (``.wal``, when there is one) over ``dest``."""
    for suffix in ("", ".wal"):
        origin = source.with_name(source.name + suffix)
        target = dest.with_name(dest.name + suffix)
        target.unlink(missing_ok=True)
        if origin.exists():
            shutil.copy2(origin, target)


@dataclass(frozen=True)
class Scratch:
    """A dbt engine on ``copy``, a copy of the warehouse at ``original``."""

    engine: DbtEngine
    copy: Path
    original: Path

    def reset(self) -> None:
        """Copy the warehouse again: each proof starts from the user's data, not another's edits."""
        copy_duckdb(self.original, self.copy)


@contextmanager
def scratch_engine(engine: DbtEngine, db_path: Path) -> Iterator[Scratch]:
    """A dbt engine like ``engine`` (its watcher too) on a copy of ``db_path``."""
    with tempfile.TemporaryDirectory(prefix="ae-scratch-") as tmp:
        folder = Path(tmp)
        copy = folder / db_path.name
        name = profile_name(engine.project_dir, engine.profile)
        profile = profile_pointing_at(engine.profiles.file, name, engine.target_name(), copy)
        (folder / "profiles.yml").write_text(yaml.safe_dump(profile), encoding="utf-8")
        with DbtEngine(
            engine.project_dir,
            target=engine.target_name(),
            profile=engine.profile,
            profiles_dir=folder,
            target_path=str(folder / "target"),
            timeout_s=engine.timeout_s,
        ) as scratch:
            scratch.watcher, scratch.heartbeat_s = engine.watcher, engine.heartbeat_s
            yield Scratch(engine=scratch, copy=copy, original=db_path)


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    rows = con.execute(f"select column_name, column_type from (describe {relation})").fetchall()
    return [(str(name), str(kind).upper()) for name, kind in rows]


def _id_like(column: str) -> bool:
    lowered = column.lower()
    return lowered in {"id", "key"} or lowered.endswith(("_id", "_key"))


def edit_rows_in_place(db: Path, relation: str) -> int:
    """Edit about one row in ten of a table the way a source system does: a value changes and the
    row's last-change column moves past every other. Returns the rows edited; 0 for a table with no
    last-change column (append-only as far as anyone can tell) or no value column to change."""
    with duckdb.connect(str(db)) as con:
        columns = _columns(con, relation)
        stamps = [
            c
            for c, kind in columns
            if kind.startswith(("TIMESTAMP", "DATE")) and any(w in c.lower() for w in LAST_CHANGE_WORDS)
        ]
        values = [c for c, kind in columns if not _id_like(c) and c not in stamps]
        text = [c for c in values if dict(columns)[c] in _TEXT_TYPES]
        numbers = [c for c in values if dict(columns)[c].startswith(_NUMBER_TYPES)]
        if not stamps or not (text or numbers):
            return 0
        value = quote_identifier(text[0] if text else numbers[0])
        changed = f"{value} || ' (edited)'" if text else f"{value} + 1"
        moved = ", ".join(
            f"{quote_identifier(s)} = cast((select max({quote_identifier(s)}) from {relation}) "
            f"+ interval 1 day as {dict(columns)[s]})"
            for s in stamps
        )
        edited = con.execute(
            f"update {relation} set {value} = {changed}, {moved} where rowid % 10 = 0"
        ).fetchone()
        return int(edited[0]) if edited else 0
