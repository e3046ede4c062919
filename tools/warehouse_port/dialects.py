"""What differs between warehouses in the SQL ae writes: quoting, catalogs, hashes, view definitions.

Every statement the port sends is built here from names and values, quoted by sqlglot for the
adapter's dialect, never by pasting text. An adapter ae knows (DuckDB, PostgreSQL) gets a dialect
with every capability; any other dbt adapter gets the portable subset (information_schema, ANSI
aggregates) and ``NotOnAdapter`` for the rest, said when asked for, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect as SqlglotDialect

from tools.errors import NotOnAdapter

#: dbt adapter type -> sqlglot dialect, where the names differ or the adapter is a dialect's cousin
_SQLGLOT_NAMES = {"sqlserver": "tsql", "synapse": "tsql", "glue": "spark", "impala": "hive"}
#: a fingerprint is (rows, hash of the rows, equal for equal rows in any order)
_FINGERPRINT_COLUMNS = 2


def sqlglot_dialect(adapter: str) -> str:
    """The sqlglot dialect for a dbt adapter type; "" (sqlglot's generic SQL) when it has none."""
    name = _SQLGLOT_NAMES.get(adapter, adapter)
    try:
        SqlglotDialect.get_or_raise(name)
    except ValueError:
        return ""
    return name


@dataclass(frozen=True)
class Dialect:
    """The portable subset: what any adapter with an ``information_schema`` answers."""

    #: the dbt adapter type ("duckdb", "postgres", "snowflake" ...)
    adapter: str
    #: sqlglot's name for the dialect ("" for its generic SQL)
    sqlglot: str
    #: where a relation named without a schema lives (None: the adapter's default is not known here)
    default_schema: str | None = None
    #: whether a read-only connection may still create temporary tables (the tables dbt fills for a
    #: unit test): DuckDB's read-only file may, PostgreSQL's read-only transaction may not
    temp_tables_when_read_only: bool = False
    #: schemas that hold the database's own catalog, never user relations
    system_schemas: tuple[str, ...] = ("information_schema",)
    #: a hidden column naming each row of a table (DuckDB's rowid, PostgreSQL's ctid), for editing
    #: chosen rows of a table that may have no key; None where ae knows of none
    row_id: str | None = None

    # --- names and values -------------------------------------------------------------------------

    def ident(self, name: str) -> str:
        """``name`` as a quoted identifier: any character, quotes included, stays part of the name."""
        return exp.to_identifier(name, quoted=True).sql(dialect=self.sqlglot)

    def literal(self, value: str) -> str:
        """``value`` as a string literal (quotes doubled)."""
        return exp.Literal.string(value).sql(dialect=self.sqlglot)

    def relation(self, database: str | None, schema: str, name: str) -> str:
        parts = [database] if database else []
        return ".".join(self.ident(part) for part in [*parts, schema, name])

    def text(self, expression: str) -> str:
        """``expression`` cast to the dialect's text type."""
        return f"CAST({expression} AS {exp.DataType.build('text').sql(dialect=self.sqlglot)})"

    def limited(self, sql: str, rows: int) -> str:
        """A query capped at ``rows`` rows inside the warehouse, so a driver that buffers whole
        results (psycopg2 does) never holds more than the cap. The query's text is kept as it is
        (a newline ends a trailing comment); only the subquery around it is ae's."""
        return f"SELECT * FROM (\n{sql.rstrip().rstrip(';')}\n) AS ae_query LIMIT {rows}"

    # --- catalog ----------------------------------------------------------------------------------

    def relations_sql(self, where: str) -> str:
        """Tables and views (catalog, schema, name, type) matching ``where``, in a stable order."""
        hidden = ", ".join(self.literal(s) for s in self.system_schemas)
        return (
            "SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables "
            f"WHERE lower(table_schema) NOT IN ({hidden}) AND ({where}) "
            "ORDER BY table_catalog, table_schema, table_name"
        )

    def columns_sql(self, database: str, schema: str, name: str) -> str:
        return (
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            f"WHERE table_catalog = {self.literal(database)} AND table_schema = {self.literal(schema)} "
            f"AND table_name = {self.literal(name)} ORDER BY ordinal_position"
        )

    def current_database(self) -> str:
        """An expression for the connection's database (catalog)."""
        return "current_database()"

    # --- profiling --------------------------------------------------------------------------------

    def comparable(self, column: str, column_type: str) -> str:
        """``column`` in a form that can be grouped, counted distinct and ordered."""
        return column

    def min_max(self, column: str, column_type: str) -> tuple[str, str]:
        """Smallest and largest value as text."""
        return self.text(f"min({column})"), self.text(f"max({column})")

    # --- what only known dialects can do ----------------------------------------------------------

    def fingerprint_sql(self, relation: str) -> str:
        """(rows, a hash of the rows that is equal for equal rows in any order)."""
        raise NotOnAdapter(
            self.adapter,
            "a hash of a relation's rows (ae knows the row-hash functions of duckdb and postgres only)",
            hint="compare row counts, or run the comparison on a DuckDB or PostgreSQL target",
        )

    def view_definition_sql(self, database: str, schema: str, name: str) -> str:
        raise NotOnAdapter(
            self.adapter,
            "copying a view by its definition (ae reads view definitions of duckdb and postgres only)",
            hint="copy it as a table (as_table=True), or rebuild the view with dbt",
        )

    def view_body(self, definition: str) -> str:
        """The SELECT of a view, from what ``view_definition_sql`` returned."""
        return definition

    def database_sql(self, verb: str, name: str) -> str:
        """``CREATE DATABASE`` or ``DROP DATABASE`` of ``name`` (a scratch database ae made)."""
        raise NotOnAdapter(self.adapter, "creating and dropping a database (ae knows postgres only)")

    def move_sql(self, kind: str, relation: str, schema: str) -> str:
        raise NotOnAdapter(
            self.adapter,
            "moving a relation to another schema",
            hint="copy it into the other schema (copy_relation), then drop the original",
        )


class DuckDbDialect(Dialect):
    def fingerprint_sql(self, relation: str) -> str:
        # hash() of the whole row, summed: order-free; hugeint so the sum cannot overflow
        return (
            f"SELECT count(*), CAST(coalesce(sum(CAST(hash(t) AS HUGEINT)), 0) AS VARCHAR) FROM {relation} t"
        )

    def view_definition_sql(self, database: str, schema: str, name: str) -> str:
        return (
            f"SELECT sql FROM duckdb_views() WHERE database_name = {self.literal(database)} "
            f"AND schema_name = {self.literal(schema)} AND view_name = {self.literal(name)}"
        )

    def view_body(self, definition: str) -> str:
        # duckdb_views() gives the whole CREATE VIEW statement; keep its query
        create = sqlglot.parse_one(definition, dialect="duckdb")
        query = create.expression if isinstance(create, exp.Create) else None
        if query is None:
            raise NotOnAdapter(self.adapter, f"copying a view whose definition is not a query: {definition}")
        return str(query.sql(dialect="duckdb"))

    # DuckDB has no ALTER ... SET SCHEMA (checked on 2.0.1): move_sql stays NotOnAdapter


class PostgresDialect(Dialect):
    def literal(self, value: str) -> str:
        # with standard_conforming_strings off (a server setting) a backslash escapes the quote
        # after it; an E'' string means the same whatever the setting
        if "\\" in value:
            return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
        return super().literal(value)

    def fingerprint_sql(self, relation: str) -> str:
        # each row's text hashed, the hashes sorted and hashed again: order-free
        row = "md5(CAST(t AS text))"
        return f"SELECT count(*), md5(coalesce(string_agg({row}, '' ORDER BY {row}), '')) FROM {relation} t"

    def view_definition_sql(self, database: str, schema: str, name: str) -> str:
        regclass = self.literal(self.relation(None, schema, name))
        return f"SELECT pg_get_viewdef(CAST({regclass} AS regclass), true)"

    def columns_sql(self, database: str, schema: str, name: str) -> str:
        # the full type (numeric(10,2), character(3)), where information_schema says numeric and
        # character: a unit test's scratch table must hold values as the input does (the scale of
        # a numeric is in its text, which dbt's unit test compares), and character alone is char(1)
        regclass = self.literal(self.relation(None, schema, name))
        return (
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
            "CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END FROM pg_catalog.pg_attribute a "
            f"WHERE a.attrelid = CAST({regclass} AS regclass) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum"
        )

    def database_sql(self, verb: str, name: str) -> str:
        if verb == "CREATE":
            return f"CREATE DATABASE {self.ident(name)}"
        # WITH (FORCE): a connection dbt left open must not keep the scratch database alive
        return f"DROP DATABASE IF EXISTS {self.ident(name)} WITH (FORCE)"

    def move_sql(self, kind: str, relation: str, schema: str) -> str:
        return f"ALTER {kind} {relation} SET SCHEMA {self.ident(schema)}"

    def comparable(self, column: str, column_type: str) -> str:
        # json has no equality operator (no GROUP BY, no DISTINCT); jsonb has one
        return f"CAST({column} AS jsonb)" if column_type.lower() == "json" else column

    def min_max(self, column: str, column_type: str) -> tuple[str, str]:
        kind = column_type.lower()
        if kind == "boolean":  # PostgreSQL has no min/max of a boolean
            return self.text(f"bool_and({column})"), self.text(f"bool_or({column})")
        if kind in {"json", "jsonb", "xml", "uuid", "point", "user-defined"}:
            return "NULL", "NULL"  # no ordering worth reporting
        return super().min_max(column, column_type)


def dialect_for(adapter: str) -> Dialect:
    """The dialect of a dbt adapter type (``ProfileTarget.type``)."""
    if adapter == "duckdb":
        return DuckDbDialect(
            adapter, "duckdb", default_schema="main", temp_tables_when_read_only=True, row_id="rowid"
        )
    if adapter == "postgres":
        return PostgresDialect(
            adapter,
            "postgres",
            default_schema="public",
            system_schemas=("information_schema", "pg_catalog"),
            row_id="ctid",
        )
    return Dialect(adapter, sqlglot_dialect(adapter))
