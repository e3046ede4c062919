"""The one write ae makes to the warehouse outside dbt: dropping relations a rolled-back run created.

A run that fails after Execute built new models leaves their tables and views behind; rolling its
files back without dropping them would leave the warehouse holding relations no model defines.
Only relations the run itself created are dropped (Execute records which ones did not exist before
it built), never one that was there before.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from tools.errors import WarehouseLocked
from tools.warehouse import parse_relation_name, quote_identifier, readonly_connection


def list_relation_names(db_path: Path) -> set[str]:
    """Every table and view as ``database.schema.name`` in lower case (empty when no file yet)."""
    if not db_path.is_file():
        return set()
    with readonly_connection(db_path) as con:
        rows = con.execute(
            "select table_catalog, table_schema, table_name from information_schema.tables"
        ).fetchall()
    return {".".join(str(part).lower() for part in row) for row in rows}


def qualified(relation: str, default_database: str) -> str:
    """``"db"."schema"."name"`` (dbt's relation_name) as ``db.schema.name`` in lower case."""
    database, schema, name = parse_relation_name(relation)
    return ".".join(part.lower() for part in (database or default_database, schema, name))


def drop_relations(db_path: Path, relations: list[str]) -> list[str]:
    """Drop each ``db.schema.name`` that still exists (as the table or view it is); return those dropped."""
    if not relations or not db_path.is_file():
        return []
    dropped: list[str] = []
    with _connect_for_writing(db_path) as con:
        for relation in relations:
            database, schema, name = relation.split(".", 2)
            row = con.execute(
                "select table_type from information_schema.tables where lower(table_catalog) = ? "
                "and lower(table_schema) = ? and lower(table_name) = ?",
                [database, schema, name],
            ).fetchone()
            if row is None:
                continue
            kind = "view" if row[0] == "VIEW" else "table"
            target = ".".join(quote_identifier(part) for part in (database, schema, name))
            con.execute(f"drop {kind} if exists {target}")
            dropped.append(relation)
    return dropped


def _connect_for_writing(db_path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(db_path))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseLocked(f"warehouse {db_path} is locked by another process: {exc}") from exc
        raise
