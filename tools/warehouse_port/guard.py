"""The first wall of a read-only query: exactly one statement, a read, touching no file.

Checked with sqlglot in the warehouse's own dialect before anything runs, so the caller gets a
precise refusal ("DELETE is not a read") instead of a raw database error. It is not the only wall:
the query then runs where writing fails anyway (a DuckDB file opened read-only with external access
off; a read-only transaction on PostgreSQL), since no parser sees everything a database will run.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tools.errors import InvalidArguments, QueryError, ReadOnlyViolation

_READ_STATEMENTS = (exp.Select, exp.SetOperation, exp.Describe, exp.Show, exp.Summarize, exp.Pivot)
_WRITE_NODES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Copy)
#: statements sqlglot keeps as text that only report (EXPLAIN's body is checked on its own)
_READ_COMMANDS = frozenset({"SHOW"})
# DuckDB PRAGMAs that only report catalog facts; others (threads=, enable_profiling ...) change settings.
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
# Functions that read files, run SQL hidden in a string (which the guard cannot inspect), or act on
# the session or the server; per sqlglot dialect, as (prefixes, names).
_DUCKDB_REFUSED = (
    ("read_", "parquet_", "sqlite_", "postgres_", "mysql_", "iceberg_", "delta_"),
    frozenset({"glob", "sniff_csv", "st_read", "query", "query_table", "getenv"}),
)
_POSTGRES_REFUSED = (
    (
        "pg_read_",
        "pg_ls_",
        "pg_stat_file",
        "pg_file_",
        "lo_",
        "dblink",
        "pg_terminate_",
        "pg_cancel_",
        "pg_reload_",
        "pg_rotate_",
        "pg_promote",
        "pg_switch_",
        "pg_create_",
        "pg_drop_",
        "pg_replication_",
        "pg_logical_",
        "pg_advisory",
        "pg_try_advisory",
        "pg_notify",
        "pg_import_",
        "pg_backup_",
        "query_to_xml",
        "cursor_to_xml",
    ),
    frozenset({"set_config", "nextval", "setval", "txid_current", "pg_current_xact_id"}),
)
_REFUSED_BY_DIALECT = {"duckdb": _DUCKDB_REFUSED, "postgres": _POSTGRES_REFUSED}


def _refused_functions(dialect: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """A known dialect's list; for any other, every list (refusing too much is the safe side)."""
    if dialect in _REFUSED_BY_DIALECT:
        return _REFUSED_BY_DIALECT[dialect]
    prefixes = tuple(p for refused in _REFUSED_BY_DIALECT.values() for p in refused[0])
    return prefixes, frozenset().union(*(refused[1] for refused in _REFUSED_BY_DIALECT.values()))


def statement_kind(statement: exp.Expr, dialect: str) -> str:
    """``DELETE``, ``CREATE TABLE``, ...: what a refusal names."""
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    if isinstance(statement, exp.Create):
        return f"CREATE {statement.args.get('kind') or ''}".strip()
    words = statement.sql(dialect=dialect).split(maxsplit=1)
    return words[0].upper() if words else type(statement).__name__.upper()


def _function_name(func: exp.Func) -> str:
    return (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()


def _refuse_file_access(statement: exp.Expr, dialect: str) -> None:
    prefixes, names = _refused_functions(dialect)
    for func in statement.find_all(exp.Func):
        name = _function_name(func)
        if name in names or name.startswith(prefixes):
            raise ReadOnlyViolation(
                f"refused {name}(): functions that read files, run SQL from a string or act on the "
                "session or server are not allowed; query warehouse relations only"
            )
    if dialect != "duckdb":
        return
    for table in statement.find_all(exp.Table):
        for part in table.parts:
            # DuckDB reads FROM 'data.csv' / FROM "dir/x.parquet" as a file (a replacement scan).
            if isinstance(part, exp.Identifier) and any(ch in part.name for ch in "/\\.:"):
                raise ReadOnlyViolation(
                    f"refused FROM {part.name!r}: it names a file, not a warehouse relation"
                )


def _check_read_statement(statement: exp.Expr, dialect: str) -> None:
    if isinstance(statement, exp.Command):
        command = str(statement.this).upper()
        if command == "EXPLAIN":
            # sqlglot keeps EXPLAIN's body as text; check that the explained statement is a read.
            body = statement.expression.name if statement.expression else ""
            if body.lstrip().upper().startswith("ANALYZE"):
                body = body.lstrip()[len("ANALYZE") :]
            check_read_only_sql(body, dialect)
            return
        if command in _READ_COMMANDS:
            return
    if isinstance(statement, exp.Pragma):
        name = statement.this.name.lower() if isinstance(statement.this, exp.Anonymous | exp.Column) else ""
        if name not in _READ_PRAGMAS:
            raise ReadOnlyViolation(f"refused PRAGMA {statement.this.sql()}: it is not a catalog read")
        return
    if not isinstance(statement, _READ_STATEMENTS):
        raise ReadOnlyViolation(f"refused {statement_kind(statement, dialect)} statement: it is not a read")
    for node in statement.find_all(*_WRITE_NODES):
        raise ReadOnlyViolation(f"refused {statement_kind(node, dialect)} inside a query: it is not a read")
    if any(statement.find_all(exp.Into)):
        raise ReadOnlyViolation("refused SELECT ... INTO: it creates a table")
    _refuse_file_access(statement, dialect)


def describe_parse_error(exc: ParseError) -> str:
    """sqlglot's error without the terminal colour codes it puts around the offending token."""
    if not exc.errors:
        return str(exc)
    first = exc.errors[0]
    return (
        f"{first['description']} at line {first['line']}, column {first['col']} (near {first['highlight']!r})"
    )


def parse_read(sql: str, dialect: str = "duckdb") -> exp.Expr:
    """The one read statement ``sql`` holds; ReadOnlyViolation (or QueryError, InvalidArguments) if not."""
    try:
        statements = [s for s in sqlglot.parse(sql, dialect=dialect) if s is not None]
    except ParseError as exc:
        raise QueryError(f"SQL could not be parsed: {describe_parse_error(exc)}") from exc
    if not statements:
        raise InvalidArguments("the SQL is empty")
    if len(statements) > 1:
        kinds = ", ".join(statement_kind(s, dialect) for s in statements)
        raise ReadOnlyViolation(f"refused {len(statements)} statements ({kinds}): send exactly one")
    _check_read_statement(statements[0], dialect)
    return statements[0]


def check_read_only_sql(sql: str, dialect: str = "duckdb") -> None:
    """Raise ReadOnlyViolation unless ``sql`` is exactly one read statement in ``dialect``."""
    parse_read(sql, dialect)
