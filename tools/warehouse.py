"""Read-only access to a DuckDB warehouse file: run one read statement, and the DuckDB helpers around it.

The functions here take the DuckDB file's path, as they did before the warehouse port: each opens
the file through the port's DuckDB implementation (tools/warehouse_port), read-only with external
access disabled and the configuration locked, so even a statement that slips past the SQL guard
cannot write, attach another file or read the filesystem. Code that can hold a ``Warehouse`` (any
adapter) should use its methods instead (``tools.warehouse_port.warehouse_for``).
"""

from __future__ import annotations

from pathlib import Path

from tools.warehouse_port import duckdb_warehouse
from tools.warehouse_port.duckdb_runner import execute_query, open_readonly, readonly_connection
from tools.warehouse_port.guard import check_read_only_sql
from tools.warehouse_port.interrupts import interrupt_queries
from tools.warehouse_port.models import (
    ColumnInfo,
    QueryResult,
    RelationDescription,
    RelationRef,
    quote_identifier,
)
from tools.warehouse_port.port import MAX_QUERY_LIMIT
from tools.warehouse_port.port import parse_relation_name as _parse_relation_name
from tools.warehouse_port.runner import MAX_RESULT_BYTES, QUERY_TIMEOUT_S
from tools.warehouse_port.values import MAX_VALUE_CHARS, TRUNCATED_MARKER, to_json_value

__all__ = [
    "DEFAULT_SCHEMA",
    "MAX_QUERY_LIMIT",
    "MAX_RESULT_BYTES",
    "MAX_VALUE_CHARS",
    "QUERY_TIMEOUT_S",
    "TRUNCATED_MARKER",
    "ColumnInfo",
    "QueryResult",
    "RelationDescription",
    "RelationRef",
    "check_read_only_sql",
    "execute_query",
    "interrupt_queries",
    "open_readonly",
    "parse_relation_name",
    "quote_identifier",
    "readonly_connection",
    "run_readonly_query",
    "to_json_value",
]

#: where DuckDB puts a relation named without a schema
DEFAULT_SCHEMA = "main"


def parse_relation_name(relation: str) -> tuple[str | None, str, str]:
    """Split ``table`` / ``schema.table`` / ``database.schema.table`` (quoted parts allowed), a
    missing schema being DuckDB's ``main``."""
    database, schema, name = _parse_relation_name(relation, "duckdb")
    return database, schema or DEFAULT_SCHEMA, name


def run_readonly_query(
    db_path: Path,
    sql: str,
    limit: int = 100,
    *,
    timeout_s: float = QUERY_TIMEOUT_S,
    max_bytes: int = MAX_RESULT_BYTES,
) -> QueryResult:
    """Run one read-only statement and return at most ``limit`` rows as JSON-able values
    (``Warehouse.query``: bounded in time and size)."""
    return duckdb_warehouse(db_path).query(sql, limit, timeout_s=timeout_s, max_bytes=max_bytes)
