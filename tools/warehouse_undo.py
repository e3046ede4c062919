"""The one write ae makes to the warehouse outside dbt: dropping relations a rolled-back run created.

A run that fails after Execute built new models leaves their tables and views behind; rolling its
files back without dropping them would leave the warehouse holding relations no model defines.
Only relations the run itself created are dropped (Execute records which ones did not exist before
it built), never one that was there before.

On any warehouse behind the port (tools/warehouse_port): a DuckDB file, or any dbt adapter through
the engine. A journal names a DuckDB file by its place and any other warehouse by its server
(``server_of``), so an undo can tell whether the profile still points where the run built.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tools.profiles import ProfileTarget
from tools.protection import Location
from tools.warehouse_port import Warehouse, duckdb_warehouse
from tools.warehouse_port.duckdb_runner import DuckDbRunner
from tools.warehouse_port.port import parse_relation_name


def _exists(warehouse: Warehouse) -> bool:
    """False for a DuckDB file not made yet (the first build creates it): it holds nothing, and
    opening it would fail."""
    runner = warehouse.runner
    return not isinstance(runner, DuckDbRunner) or runner.db_path.is_file()


def relation_names(warehouse: Warehouse) -> set[str]:
    """Every table and view as ``database.schema.name`` in lower case (empty when no file yet)."""
    return warehouse.relation_names() if _exists(warehouse) else set()


def list_relation_names(db_path: Path) -> set[str]:
    """``relation_names`` of the DuckDB file at ``db_path``."""
    return relation_names(duckdb_warehouse(db_path))


def server_of(target: ProfileTarget) -> str:
    """A warehouse that is no file, as a journal names it: ``postgres://127.0.0.1:5432/analytics``."""
    location = Location.of(target)
    return f"{location.adapter}://{location.server}/{location.database}"


def qualified(relation: str, warehouse: Warehouse) -> str:
    """``"db"."schema"."name"`` (dbt's relation_name) as ``db.schema.name`` in lower case; a part
    dbt left out is the warehouse's current database or its default schema."""
    database, schema, name = parse_relation_name(relation, warehouse.dialect.sqlglot)
    parts = (
        database or warehouse.current_database(),
        schema or warehouse.dialect.default_schema or "",
        name,
    )
    return ".".join(part.lower() for part in parts)


def drop_relations(warehouse: Warehouse, relations: Sequence[str]) -> list[str]:
    """Drop each ``db.schema.name`` that still exists (as the table or view it is, its name quoted by
    the dialect); return those dropped. A name no relation has is left alone, so a journal's text
    never reaches SQL."""
    if not relations or not _exists(warehouse):
        return []
    return warehouse.drop_relations(relations)
