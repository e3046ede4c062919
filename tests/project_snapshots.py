"""What a test compares before and after a run to prove what changed: the project's files and every
relation of a DuckDB warehouse."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

#: dbt's and ae's working folders: written by any run, never the user's files
WORKING_FOLDERS = frozenset({"target", "logs", ".ae"})


def files_snapshot(root: Path) -> dict[str, str]:
    """Hashes of the project's files by relative path, without the working folders and the warehouse
    (a ``.duckdb`` file and its write-ahead log)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not WORKING_FOLDERS & set(p.relative_to(root).parts) and ".duckdb" not in p.name
    }


def warehouse_snapshot(db: Path) -> dict[str, tuple[int, int]]:
    """Every relation with its row count and an order-free hash of its rows."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = con.execute("select table_schema, table_name from information_schema.tables order by 1, 2")
        snapshot = {}
        for schema, table in names.fetchall():
            row = con.execute(
                f'select count(*), coalesce(sum(hash(t)), 0) from "{schema}"."{table}" t'
            ).fetchone()
            assert row is not None
            snapshot[f"{schema}.{table}"] = (int(row[0]), int(row[1]))
    return snapshot
