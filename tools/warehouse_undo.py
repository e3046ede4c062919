"""The one write ae makes to the warehouse outside dbt: dropping relations a rolled-back run created.

A run that fails after Execute built new models leaves their tables and views behind; rolling its
files back without dropping them would leave the warehouse holding relations no model defines.
Only relations the run itself created are dropped (Execute records which ones did not exist before
it built), never one that was there before.

These take a DuckDB file's path; on any warehouse, the port's ``Warehouse.relation_names`` and
``Warehouse.drop_relations`` do the same (tools/warehouse_port/port.py), which these call.
"""

from __future__ import annotations

from pathlib import Path

from tools.warehouse import parse_relation_name
from tools.warehouse_port import duckdb_warehouse


def list_relation_names(db_path: Path) -> set[str]:
    """Every table and view as ``database.schema.name`` in lower case (empty when no file yet)."""
    if not db_path.is_file():
        return set()
    return duckdb_warehouse(db_path).relation_names()


def qualified(relation: str, default_database: str) -> str:
    """``"db"."schema"."name"`` (dbt's relation_name) as ``db.schema.name`` in lower case."""
    database, schema, name = parse_relation_name(relation)
    return ".".join(part.lower() for part in (database or default_database, schema, name))


def drop_relations(db_path: Path, relations: list[str]) -> list[str]:
    """Drop each ``db.schema.name`` that still exists (as the table or view it is); return those dropped."""
    if not relations or not db_path.is_file():
        return []
    return duckdb_warehouse(db_path).drop_relations(relations)
