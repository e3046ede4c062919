"""Read-only access to the DuckDB warehouse: describe relations, list them, run one read statement.

Every connection is opened ``read_only=True`` with external access disabled and the configuration
locked, so even a statement that slips past the SQL guard cannot write, attach another file or read
the filesystem. The guard still runs first so the caller gets a precise refusal ("DELETE is not a
read") instead of a raw DuckDB error.
"""

from __future__ import annotations

import difflib
import json
import math
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
import sqlglot
from pydantic import BaseModel, ConfigDict, JsonValue
from sqlglot import exp
from sqlglot.errors import ParseError

from tools.errors import (
    ConfigurationError,
    InvalidArguments,
    QueryError,
    ReadOnlyViolation,
    WarehouseLocked,
)
from tools.locks import locked_message

DEFAULT_SCHEMA = "main"
MAX_QUERY_LIMIT = 10_000
#: a read-only query past this is interrupted (a runaway cross join must not hold a tool call)
QUERY_TIMEOUT_S = 30.0
#: rows stop being fetched once their JSON passes this: a result goes into a model's context
MAX_RESULT_BYTES = 1_000_000
#: one value longer than this as text (a huge list, a document) is cut inside DuckDB, with a marker
MAX_VALUE_CHARS = 10_000
TRUNCATED_MARKER = "… [truncated by ae: value longer than {limit} characters]"

# external access off: no read_csv/COPY/ATTACH/INSTALL on any path; locked so SET cannot undo it.
_CONNECTION_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "lock_configuration": True,
}


# --- result models --------------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class RelationRef(_Frozen):
    database: str
    schema_name: str
    name: str
    kind: Literal["table", "view"]

    @property
    def qualified_name(self) -> str:
        return f"{self.database}.{self.schema_name}.{self.name}"

    @property
    def sql(self) -> str:
        """The relation as safely quoted SQL, for interpolation into a FROM clause."""
        return ".".join(quote_identifier(part) for part in (self.database, self.schema_name, self.name))


class ColumnInfo(_Frozen):
    name: str
    type: str
    nullable: bool


class RelationDescription(_Frozen):
    relation: RelationRef
    columns: list[ColumnInfo]
    row_count: int


class QueryResult(_Frozen):
    columns: list[str]
    types: list[str]
    rows: list[list[JsonValue]]
    row_count: int
    #: not every row is here: more existed than ``limit``, or their JSON passed the byte budget
    truncated: bool
    #: some values were longer than the per-value limit and end with the truncation marker
    values_truncated: bool = False


# --- connections ----------------------------------------------------------------------------------


def open_readonly(db_path: Path) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-only. Prefer ``readonly_connection``, which always closes it."""
    if not db_path.is_file():
        raise ConfigurationError(
            f"warehouse file {db_path} does not exist",
            hint="build the project first (dbt run/seed) or check the target's `path` in profiles.yml",
        )
    try:
        return duckdb.connect(str(db_path), read_only=True, config=_CONNECTION_CONFIG)
    except duckdb.IOException as exc:
        if "Could not set lock" in str(exc):
            raise WarehouseLocked(locked_message(f"warehouse {db_path}", str(exc))) from exc
        raise ConfigurationError(f"cannot open warehouse {db_path}: {exc}") from exc
    except duckdb.ConnectionException as exc:
        # This process already holds the file with another configuration (e.g. dbt-duckdb kept
        # its read-write connection open); it is released when that connection closes.
        if "different configuration" in str(exc):
            raise WarehouseLocked(
                f"warehouse {db_path} is open read-write in this process (likely by dbt): {exc}"
            ) from exc
        raise ConfigurationError(f"cannot open warehouse {db_path}: {exc}") from exc


@contextmanager
def readonly_connection(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_readonly(db_path)
    try:
        yield con
    finally:
        con.close()


# --- identifiers and relations --------------------------------------------------------------------


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def parse_relation_name(relation: str) -> tuple[str | None, str, str]:
    """Split ``table`` / ``schema.table`` / ``database.schema.table`` (quoted parts allowed)."""
    try:
        table = exp.to_table(relation, dialect="duckdb")
    except ParseError as exc:
        raise InvalidArguments(f"{relation!r} is not a relation name: {exc}") from exc
    parts = table.parts
    if (
        not 1 <= len(parts) <= 3
        or table.alias
        or not all(isinstance(part, exp.Identifier) and part.name for part in parts)
    ):
        raise InvalidArguments(
            f"{relation!r} is not a relation name",
            hint="use table, schema.table or database.schema.table",
        )
    return (table.catalog or None, table.db or DEFAULT_SCHEMA, table.name)


def _relation_rows(con: duckdb.DuckDBPyConnection, where: str, params: list[str]) -> list[RelationRef]:
    rows = con.execute(
        "SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables "
        f"WHERE {where} ORDER BY table_catalog, table_schema, table_name",
        params,
    ).fetchall()
    return [
        RelationRef(database=db, schema_name=schema, name=name, kind="view" if kind == "VIEW" else "table")
        for db, schema, name, kind in rows
    ]


def _list_relations(con: duckdb.DuckDBPyConnection, schema: str | None) -> list[RelationRef]:
    if schema is None:
        return _relation_rows(con, "true", [])
    return _relation_rows(con, "lower(table_schema) = lower(?)", [schema])


def resolve_relation(con: duckdb.DuckDBPyConnection, relation: str) -> RelationRef:
    """Find a relation by name, case-insensitively as DuckDB does; QueryError with near matches."""
    database, schema, name = parse_relation_name(relation)
    if database is None:
        database = str(_scalar(con, "SELECT current_database()"))
    found = _relation_rows(
        con,
        "lower(table_catalog) = lower(?) AND lower(table_schema) = lower(?) AND lower(table_name) = lower(?)",
        [database, schema, name],
    )
    if found:
        return found[0]
    siblings = [ref.name for ref in _list_relations(con, schema) if ref.database.lower() == database.lower()]
    if not siblings:
        schemas = sorted({ref.schema_name for ref in _list_relations(con, None)})
        raise QueryError(
            f"relation {relation!r} not found: schema {schema!r} has no relations in database "
            f"{database!r}; schemas with relations: {', '.join(schemas) or '(none)'}",
            hint="use the list_relations tool to see what exists",
        )
    close = difflib.get_close_matches(name, siblings, n=5, cutoff=0.5)
    suggestion = f" Did you mean: {', '.join(f'{schema}.{c}' for c in close)}?" if close else ""
    shown = ", ".join(siblings[:50]) + (" ..." if len(siblings) > 50 else "")
    raise QueryError(
        f"relation {relation!r} not found in {database}.{schema}.{suggestion} Relations in {schema}: {shown}"
    )


def relation_columns(con: duckdb.DuckDBPyConnection, ref: RelationRef) -> list[ColumnInfo]:
    rows = con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [ref.database, ref.schema_name, ref.name],
    ).fetchall()
    return [ColumnInfo(name=name, type=dtype, nullable=nullable == "YES") for name, dtype, nullable in rows]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = execute_query(con, sql).fetchone()
    return None if row is None else row[0]


def describe_relation(db_path: Path, relation: str) -> RelationDescription:
    """Columns (name, type, nullable) and row count of a table or view."""
    with readonly_connection(db_path) as con:
        ref = resolve_relation(con, relation)
        columns = relation_columns(con, ref)
        row_count = int(_scalar(con, f"SELECT count(*) FROM {ref.sql}"))
    return RelationDescription(relation=ref, columns=columns, row_count=row_count)


def list_relations(db_path: Path, schema: str | None = None) -> list[RelationRef]:
    """Tables and views in the warehouse, optionally only those of one schema."""
    with readonly_connection(db_path) as con:
        return _list_relations(con, schema)


# --- the read-only SQL guard ----------------------------------------------------------------------

_READ_STATEMENTS = (exp.Select, exp.SetOperation, exp.Describe, exp.Show, exp.Summarize, exp.Pivot)
_WRITE_NODES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Copy)
# PRAGMAs that only report catalog facts; others (threads=, enable_profiling ...) change settings.
_READ_PRAGMAS = frozenset(
    {
        "table_info",
        "show",
        "show_tables",
        "show_tables_expanded",
        "show_databases",
        "database_list",
        "database_size",
        "storage_info",
        "metadata_info",
        "version",
        "platform",
        "functions",
        "collations",
    }
)
# Table functions that read files or run SQL hidden in a string (which the guard cannot inspect).
_REFUSED_FUNCTION_PREFIXES = ("read_", "parquet_", "sqlite_", "postgres_", "mysql_", "iceberg_", "delta_")
_REFUSED_FUNCTIONS = frozenset({"glob", "sniff_csv", "st_read", "query", "query_table", "getenv"})


def _statement_kind(statement: exp.Expr) -> str:
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    if isinstance(statement, exp.Create):
        return f"CREATE {statement.args.get('kind') or ''}".strip()
    words = statement.sql(dialect="duckdb").split(maxsplit=1)
    return words[0].upper() if words else type(statement).__name__.upper()


def _function_name(func: exp.Func) -> str:
    return (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()


def _refuse_file_access(statement: exp.Expr) -> None:
    for func in statement.find_all(exp.Func):
        name = _function_name(func)
        if name in _REFUSED_FUNCTIONS or name.startswith(_REFUSED_FUNCTION_PREFIXES):
            raise ReadOnlyViolation(
                f"refused {name}(): functions that read files or run SQL from a string are not allowed; "
                "query warehouse relations only"
            )
    for table in statement.find_all(exp.Table):
        for part in table.parts:
            # DuckDB reads FROM 'data.csv' / FROM "dir/x.parquet" as a file (a replacement scan).
            if isinstance(part, exp.Identifier) and any(ch in part.name for ch in "/\\.:"):
                raise ReadOnlyViolation(
                    f"refused FROM {part.name!r}: it names a file, not a warehouse relation"
                )


def _check_read_statement(statement: exp.Expr) -> None:
    if isinstance(statement, exp.Command) and str(statement.this).upper() == "EXPLAIN":
        # sqlglot keeps EXPLAIN's body as text; check that the explained statement is a read.
        body = statement.expression.name if statement.expression else ""
        if body.lstrip().upper().startswith("ANALYZE"):
            body = body.lstrip()[len("ANALYZE") :]
        check_read_only_sql(body)
        return
    if isinstance(statement, exp.Pragma):
        name = statement.this.name.lower() if isinstance(statement.this, exp.Anonymous | exp.Column) else ""
        if name not in _READ_PRAGMAS:
            raise ReadOnlyViolation(f"refused PRAGMA {statement.this.sql()}: it is not a catalog read")
        return
    if not isinstance(statement, _READ_STATEMENTS):
        raise ReadOnlyViolation(f"refused {_statement_kind(statement)} statement: it is not a read")
    for node in statement.find_all(*_WRITE_NODES):
        raise ReadOnlyViolation(f"refused {_statement_kind(node)} inside a query: it is not a read")
    if any(statement.find_all(exp.Into)):
        raise ReadOnlyViolation("refused SELECT ... INTO: it creates a table")
    _refuse_file_access(statement)


def _describe_parse_error(exc: ParseError) -> str:
    # str(exc) carries terminal colour codes around the offending token; rebuild it plainly
    if not exc.errors:
        return str(exc)
    first = exc.errors[0]
    return (
        f"{first['description']} at line {first['line']}, column {first['col']} (near {first['highlight']!r})"
    )


def check_read_only_sql(sql: str) -> None:
    """Raise ReadOnlyViolation unless ``sql`` is exactly one read statement."""
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    except ParseError as exc:
        raise QueryError(f"SQL could not be parsed: {_describe_parse_error(exc)}") from exc
    if not statements:
        raise InvalidArguments("the SQL is empty")
    if len(statements) > 1:
        kinds = ", ".join(_statement_kind(s) for s in statements)
        raise ReadOnlyViolation(f"refused {len(statements)} statements ({kinds}): send exactly one")
    _check_read_statement(statements[0])


# --- running queries ------------------------------------------------------------------------------


def to_json_value(value: Any) -> JsonValue:
    """A DuckDB result value as JSON: numbers stay numbers when exact, the rest becomes text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        as_float = float(value)
        # keep money-like decimals numeric, but never lose digits of a wide DECIMAL(38, x)
        return as_float if value.is_finite() and Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    return str(value)


def execute_query(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """Execute SQL, mapping DuckDB's refusals and errors to our error channels."""
    try:
        return con.execute(sql, params)
    except duckdb.PermissionException as exc:
        raise ReadOnlyViolation(f"refused by the warehouse: {exc}") from exc
    except duckdb.Error as exc:
        if "read-only mode" in str(exc) or "configuration has been locked" in str(exc):
            raise ReadOnlyViolation(f"refused by the warehouse: {exc}") from exc
        raise QueryError(str(exc)) from exc


def run_readonly_query(
    db_path: Path,
    sql: str,
    limit: int = 100,
    *,
    timeout_s: float = QUERY_TIMEOUT_S,
    max_bytes: int = MAX_RESULT_BYTES,
) -> QueryResult:
    """Run one read-only statement and return at most ``limit`` rows as JSON-able values.

    Bounded in time (interrupted after ``timeout_s``: a QueryError the caller can act on) and in
    size (rows stop at ``max_bytes`` of JSON; a single value past ``MAX_VALUE_CHARS`` is cut).
    """
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise InvalidArguments(f"limit must be between 1 and {MAX_QUERY_LIMIT}, got {limit}")
    check_read_only_sql(sql)
    query = sqlglot.parse_one(sql, dialect="duckdb")
    # only a query can be a subquery; catalog statements (DESCRIBE, SHOW, PRAGMA ...) return little
    capped = isinstance(query, exp.Select | exp.SetOperation)
    with readonly_connection(db_path) as con, _interrupted_after(con, timeout_s, sql) as timer:
        try:
            cursor = execute_query(con, _capped_values_sql(sql) if capped else sql)
            description = cursor.description or []
            width = len(description) // 2 if capped else len(description)
            rows, truncated, values_truncated = _fetch_within(cursor, limit, max_bytes, width, capped)
        except QueryError as exc:
            if timer.fired.is_set():
                raise timer.error() from exc
            raise
    return QueryResult(
        columns=[d[0] for d in description[:width]],
        types=[str(d[1]) for d in description[:width]],
        rows=rows,
        row_count=len(rows),
        truncated=truncated,
        values_truncated=values_truncated,
    )


class _QueryTimer:
    def __init__(self, timeout_s: float, sql: str) -> None:
        self.timeout_s = timeout_s
        self.sql = sql
        self.fired = threading.Event()

    def error(self) -> QueryError:
        shown = self.sql if len(self.sql) <= 200 else self.sql[:200] + " ..."
        return QueryError(
            f"the query ran past its {self.timeout_s:g}s time limit and was stopped: {shown}",
            hint="filter or aggregate more, add a LIMIT, or query a smaller relation",
        )


@contextmanager
def _interrupted_after(con: duckdb.DuckDBPyConnection, timeout_s: float, sql: str) -> Iterator[_QueryTimer]:
    """Interrupt ``con``'s running query from a timer thread once ``timeout_s`` has passed."""
    timer = _QueryTimer(timeout_s, sql)

    def fire() -> None:
        timer.fired.set()
        con.interrupt()

    thread = threading.Timer(timeout_s, fire)
    thread.daemon = True
    thread.start()
    try:
        yield timer
    finally:
        thread.cancel()


def _capped_values_sql(sql: str) -> str:
    """``sql`` with each value longer than MAX_VALUE_CHARS as text replaced inside DuckDB.

    The first half of the columns are the values (NULL where too long), the second half the first
    MAX_VALUE_CHARS characters of those too long (NULL otherwise): a 20M-element list never reaches
    Python, where it took gigabytes.
    """
    too_long = f"strlen(COLUMNS(*)::VARCHAR) > {MAX_VALUE_CHARS}"
    return (
        f"SELECT CASE WHEN {too_long} THEN NULL ELSE COLUMNS(*) END, "
        f"CASE WHEN {too_long} THEN left(COLUMNS(*)::VARCHAR, {MAX_VALUE_CHARS}) END "
        f"FROM ({sql}) AS ae_query"
    )


def _fetch_within(
    cursor: Any, limit: int, max_bytes: int, width: int, capped: bool
) -> tuple[list[list[JsonValue]], bool, bool]:
    """Up to ``limit`` rows, stopping before the JSON of the rows passes ``max_bytes``.

    Returns the rows, whether rows were left out, and whether values were cut.
    """
    rows: list[list[JsonValue]] = []
    size = 0
    values_truncated = False
    # fetched in small batches: one extra row tells whether the result was cut, without counting it
    while batch := cursor.fetchmany(min(100, limit + 1 - len(rows))):
        for fetched in batch:
            if len(rows) == limit:
                return rows, True, values_truncated
            row = [to_json_value(v) for v in fetched[:width]]
            if capped:
                for index, prefix in enumerate(fetched[width:]):
                    if prefix is not None:
                        row[index] = prefix + TRUNCATED_MARKER.format(limit=MAX_VALUE_CHARS)
                        values_truncated = True
            size += len(json.dumps(row, default=str))
            if size > max_bytes and rows:
                return rows, True, values_truncated
            rows.append(row)
    return rows, False, values_truncated
