"""A unit test's expected rows: the model's compiled SQL run by a warehouse on the fixture rows alone.

One path for every adapter, through the warehouse port: a scratch schema (``ae_unit_<hex>``) gets one
table per input holding its fixture rows with the input's column types; the compiled SQL, each input
swapped for its table on the parsed SQL (tools/sql_edit/retarget.py), runs as a read-only query; the
schema is dropped in a ``finally``. A relation the SQL reads that is no input is refused before
anything is created, so live rows never become expected rows.

Where the scratch schema lives: on DuckDB a throwaway DuckDB file (as fast as DuckDB in memory, and
the user's warehouse file is neither written nor locked); on any other adapter the warehouse itself,
so the SQL runs in the adapter's own dialect and functions, as dbt's unit test will run it.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
from pydantic import JsonValue
from sqlglot import exp

from tools.errors import ConfigurationError, InvalidArguments, QueryError, ReadOnlyViolation
from tools.sql_edit.retarget import retarget
from tools.warehouse_port import ColumnInfo, QueryResult, RelationName, Warehouse, duckdb_warehouse
from tools.warehouse_port.port import MAX_QUERY_LIMIT

SCRATCH_PREFIX = "ae_unit_"
#: result types whose values are exact decimals (psycopg2 names DECIMAL, DuckDB DECIMAL(p,s))
_DECIMAL_TYPES = ("DECIMAL", "NUMERIC")


@dataclass(frozen=True)
class Fixture:
    """An input's fixture: its relation as dbt compiled it, its columns (types from the catalog) and
    the rows, one value per column in that order."""

    relation: str
    columns: list[ColumnInfo]
    rows: list[list[JsonValue]]


@contextmanager
def scratch_warehouse(warehouse: Warehouse) -> Iterator[Warehouse]:
    """Where the scratch schema goes (module docstring)."""
    if warehouse.adapter != "duckdb":
        yield warehouse
        return
    with tempfile.TemporaryDirectory(prefix="ae-unit-") as tmp:
        path = Path(tmp) / "scratch.duckdb"
        duckdb.connect(str(path)).close()  # the port opens a file that exists
        yield duckdb_warehouse(path)


def expected_rows(warehouse: Warehouse, fixtures: Sequence[Fixture], compiled_sql: str) -> QueryResult:
    """The rows ``compiled_sql`` returns when its inputs hold only the fixtures' rows.
    InvalidArguments when the SQL reads a relation that is no fixture, or does not run on them."""
    schema = SCRATCH_PREFIX + secrets.token_hex(6)
    tables = [RelationName(schema_name=schema, name=f"input_{n}") for n in range(1, len(fixtures) + 1)]
    # rewritten before the schema exists: a refused relation leaves nothing behind
    stand_ins = {
        f.relation: exp.table_(t.name, db=t.schema_name, quoted=True)
        for f, t in zip(fixtures, tables, strict=True)
    }
    sql = retarget(compiled_sql, warehouse.dialect.sqlglot, stand_ins)
    with scratch_warehouse(warehouse) as scratch:
        try:
            scratch.create_schema(schema)
            for fixture, table in zip(fixtures, tables, strict=True):
                scratch.load_rows(table, fixture.columns, fixture.rows)
            result = _as_written(scratch, sql, scratch.query(sql, limit=MAX_QUERY_LIMIT))
        except (QueryError, ReadOnlyViolation, ConfigurationError) as exc:
            raise InvalidArguments(
                f"the model's SQL did not run on its fixture rows in a scratch schema on "
                f"{warehouse.adapter}: {exc}",
                hint="write the unit test's expected rows by hand",
            ) from exc
        finally:
            scratch.drop_schema(schema)
    if result.truncated or result.values_truncated:
        raise InvalidArguments(
            f"the model returns more than {MAX_QUERY_LIMIT} rows or overlong values on its fixture "
            "rows: too many to pin as expected rows",
            hint="write the unit test by hand, on fewer rows",
        )
    return result


def _as_written(scratch: Warehouse, sql: str, result: QueryResult) -> QueryResult:
    """``result`` with exact decimals as their text: dbt's unit test compares rows as text, where
    16.00 is not 16.0, and a JSON number keeps no trailing zeros. Asked again with those columns cast
    to text by the warehouse, only when there are any."""
    decimals = {
        c for c, t in zip(result.columns, result.types, strict=True) if t.upper().startswith(_DECIMAL_TYPES)
    }
    if not decimals:
        return result
    dialect = scratch.dialect
    columns = ", ".join(
        f"{dialect.text(dialect.ident(c))} AS {dialect.ident(c)}" if c in decimals else dialect.ident(c)
        for c in result.columns
    )
    return scratch.query(f"SELECT {columns} FROM (\n{sql}\n) AS ae_expected", limit=MAX_QUERY_LIMIT)
