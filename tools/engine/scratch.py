"""A copy of a DuckDB warehouse with the engine's dbt process pointed at it.

For what must write to prove something (Verify edits upstream rows and rebuilds an incremental model
both ways) without ever writing the user's warehouse: the copy lives in a temporary folder, under
the same file name (DuckDB names the catalog after the file, and compiled SQL names the catalog),
with a profile of its own that differs from the user's only in the path, and a target path of its
own (the user's target/ and partial parse are left alone). Used for the audit copy a run builds in
(tools/audit) and for Verify's throwaway proofs (``scratch_engine``, gone when the block ends).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlglot import exp
from sqlglot.errors import ParseError

from tools.engine.engine import DbtEngine
from tools.errors import ConfigurationError
from tools.journal import write_atomic
from tools.profiles import load_yaml_mapping, profile_name
from tools.warehouse_port import Warehouse, duckdb_warehouse
from tools.warehouse_port.port import parse_relation_name

#: names of columns that record when a row last changed: a table with one is edited in place
LAST_CHANGE_WORDS = ("updated", "modified", "changed", "loaded")


def target_profile(profiles_file: Path, name: str, target: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Profile ``name``'s entry for ``target`` alone, as the user wrote it (``env_var`` calls kept, so
    no secret is written), with ``changes`` set (a key set to None is removed): a profiles.yml that
    can reach no other target."""
    profiles = load_yaml_mapping(profiles_file)
    output = dict(profiles[name]["outputs"][target])
    for key, value in changes.items():
        if value is None:
            output.pop(key, None)
        else:
            output[key] = value
    return {name: {"target": target, "outputs": {target: output}}}


def write_target_profile(engine: DbtEngine, folder: Path, **changes: Any) -> None:
    """``target_profile`` of the engine's target, written as ``folder``/profiles.yml."""
    name = profile_name(engine.project_dir, engine.profile)
    profile = target_profile(engine.profiles.file, name, engine.target_name(), changes)
    folder.mkdir(parents=True, exist_ok=True)
    # the user's target as written may hold a literal password: readable by the user alone
    write_atomic(folder / "profiles.yml", yaml.safe_dump(profile).encode(), mode=0o600)


def refuse_attached(profiles_file: Path, name: str, target: str) -> None:
    """ConfigurationError when the target attaches other databases: a copy of its warehouse would
    still write them (they would be the user's own files)."""
    if load_yaml_mapping(profiles_file)[name]["outputs"][target].get("attach"):
        raise ConfigurationError(
            f"target {target!r} attaches other databases; a copy of its warehouse would still write them",
            hint="use a target without attach:",
        )


def profile_pointing_at(profiles_file: Path, name: str, target: str, copy: Path) -> dict[str, Any]:
    """``target_profile`` with its DuckDB ``path`` pointing at ``copy``: no other file either."""
    refuse_attached(profiles_file, name, target)
    return target_profile(profiles_file, name, target, {"path": str(copy), "keep_open": False})


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
    """The engine's dbt process pointed at ``copy``, a copy of the warehouse at ``original``, with a
    profile and a dbt target folder of its own in ``folder``."""

    engine: DbtEngine
    copy: Path
    original: Path
    folder: Path

    @property
    def warehouse(self) -> Warehouse:
        """The copy, opened by ae for each call (the engine's dbt releases it between calls)."""
        return duckdb_warehouse(self.copy)

    def reset(self) -> None:
        """Copy the warehouse again: each proof starts from the user's data, not another's edits."""
        copy_duckdb(self.original, self.copy)


def copy_warehouse(engine: DbtEngine, db_path: Path, folder: Path) -> Scratch:
    """Copy the DuckDB file ``db_path`` into ``folder`` and point ``engine``'s dbt process at the copy
    (``DbtEngine.pointed_at``: no second process, no cold start)."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / db_path.name
    copy_duckdb(db_path, copy)
    refuse_attached(
        engine.profiles.file, profile_name(engine.project_dir, engine.profile), engine.target_name()
    )
    write_target_profile(engine, folder, path=str(copy), keep_open=False)
    return reopen_copy(engine, db_path, folder)


def reopen_copy(engine: DbtEngine, db_path: Path, folder: Path) -> Scratch:
    """``engine`` pointed at the copy ``copy_warehouse`` made in ``folder`` (after a resume)."""
    return Scratch(
        engine=engine.pointed_at(folder, str(folder / "target")),
        copy=folder / db_path.name,
        original=db_path,
        folder=folder,
    )


@contextmanager
def scratch_engine(engine: DbtEngine, db_path: Path) -> Iterator[Scratch]:
    """``copy_warehouse`` into a temporary folder, removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="ae-scratch-") as tmp:
        yield copy_warehouse(engine, db_path, Path(tmp))


def _id_like(column: str) -> bool:
    lowered = column.lower()
    return lowered in {"id", "key"} or lowered.endswith(("_id", "_key"))


def _kind(warehouse: Warehouse, column_type: str) -> exp.DataType | None:
    try:
        return exp.DataType.build(column_type, dialect=warehouse.dialect.sqlglot)
    except (ParseError, ValueError):  # a type sqlglot does not know is neither text nor a number here
        return None


def edit_rows_in_place(warehouse: Warehouse, relation: str) -> int:
    """Edit about one row in ten of a table the way a source system does: a value changes and the
    row's last-change column moves past every other. Returns the rows edited; 0 for a table with no
    last-change column (append-only as far as anyone can tell) or no value column to change.

    ``relation`` is found in ``warehouse``'s own database whatever database it names (a scratch
    database holds the tables under the names they have where they live). One rule on every
    adapter: the same SQL, with the row chosen by the dialect's hidden row id."""
    dialect = warehouse.dialect
    _, schema, name = parse_relation_name(relation, dialect.sqlglot)
    ref = warehouse.resolve(f"{dialect.ident(schema)}.{dialect.ident(name)}" if schema else relation)
    if dialect.row_id is None:
        return 0
    columns = [(c.name, c.type, _kind(warehouse, c.type)) for c in warehouse.columns(ref)]
    stamps = [
        (c, kind.sql(dialect=dialect.sqlglot))
        for c, _, kind in columns
        if kind is not None
        and kind.is_type(*exp.DataType.TEMPORAL_TYPES)
        and any(w in c.lower() for w in LAST_CHANGE_WORDS)
    ]
    values = [(c, kind) for c, _, kind in columns if kind is not None and not _id_like(c)]
    values = [(c, kind) for c, kind in values if c not in {s for s, _ in stamps}]
    text = [c for c, kind in values if kind.is_type(*exp.DataType.TEXT_TYPES)]
    numbers = [c for c, kind in values if kind.is_type(*exp.DataType.NUMERIC_TYPES)]
    if not stamps or not (text or numbers):
        return 0
    table, row_id, q = warehouse.sql_of(ref), dialect.row_id, dialect.ident
    value = q(text[0] if text else numbers[0])
    changed = f"{value} || ' (edited)'" if text else f"{value} + 1"
    moved = ", ".join(
        f"{q(s)} = CAST((SELECT max({q(s)}) FROM {table}) + INTERVAL '1 day' AS {t})" for s, t in stamps
    )
    # every tenth row in the table's physical order: any table, keyed or not
    chosen = (
        f"{row_id} IN (SELECT {row_id} FROM (SELECT {row_id}, row_number() OVER (ORDER BY {row_id}) AS n "
        f"FROM {table}) AS numbered WHERE n % 10 = 0)"
    )
    [counted] = warehouse.read([f"SELECT count(*) FROM {table} WHERE {chosen}"])
    edited = int(str(counted.rows[0][0]))
    if edited:
        warehouse.execute([f"UPDATE {table} SET {value} = {changed}, {moved} WHERE {chosen}"])
    return edited
