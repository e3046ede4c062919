"""The warehouse port: everything ae asks of a warehouse, on any implementation of ``SqlRunner``.

``Warehouse`` is what phases, commands and tools hold. Its SQL is built here once, per dialect
(tools/warehouse_port/dialects.py), and run by the implementation: a DuckDB file opened by ae, or
the project's dbt adapter in the engine's child process. Three kinds of calls:

- reads of the model's or a person's SQL (``query``): one statement, checked read-only with sqlglot
  in the warehouse's dialect, then run where a write fails anyway, rows and time capped;
- reads of ae's own SQL (catalog, counts, hashes, profiles: ``read`` and the methods on it);
- writes of ae's own SQL (schemas, copies, renames, drops, loaded rows: ``execute`` and the methods
  on it), never of text a model or a file supplied; names are always quoted by the dialect.

What an adapter cannot do raises ``NotOnAdapter`` naming the adapter, never a silent skip.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from contextlib import AbstractContextManager

from pydantic import JsonValue
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tools.errors import InvalidArguments, QueryError
from tools.warehouse_port.dialects import Dialect
from tools.warehouse_port.guard import parse_read
from tools.warehouse_port.models import (
    ColumnInfo,
    Fingerprint,
    QueryResult,
    RelationDescription,
    RelationName,
    RelationRef,
)
from tools.warehouse_port.runner import (
    MAX_RESULT_BYTES,
    OWN_TIMEOUT_S,
    QUERY_TIMEOUT_S,
    SqlRunner,
    Statement,
)

MAX_QUERY_LIMIT = 10_000


def parse_relation_name(relation: str, dialect: str = "duckdb") -> tuple[str | None, str | None, str]:
    """Split ``table`` / ``schema.table`` / ``database.schema.table`` (quoted parts allowed);
    the parts not given are None."""
    try:
        table = exp.to_table(relation, dialect=dialect)
    except (ParseError, TokenError) as exc:  # an unclosed quote fails in the tokenizer
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
    return (table.catalog or None, table.db or None, table.name)


class Warehouse:
    """The port (module docstring). ``runner`` is the implementation, ``dialect`` its SQL."""

    def __init__(self, runner: SqlRunner, dialect: Dialect) -> None:
        self.runner = runner
        self.dialect = dialect

    @property
    def adapter(self) -> str:
        return self.dialect.adapter

    def reading(self) -> AbstractContextManager[None]:
        """Read-only calls in the block may share one connection (``SqlRunner.reading``)."""
        return self.runner.reading()

    # --- running SQL ------------------------------------------------------------------------------

    def query(
        self,
        sql: str,
        limit: int = 100,
        *,
        timeout_s: float = QUERY_TIMEOUT_S,
        max_bytes: int = MAX_RESULT_BYTES,
    ) -> QueryResult:
        """Run one read-only statement of untrusted text; at most ``limit`` rows as JSON-able values.

        Bounded in time (stopped after ``timeout_s``: a QueryError the caller can act on) and in
        size (rows stop at ``max_bytes`` of JSON; a long value is cut, with a marker).
        """
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise InvalidArguments(f"limit must be between 1 and {MAX_QUERY_LIMIT}, got {limit}")
        statement = parse_read(sql, self.dialect.sqlglot)
        # only a query can be a subquery; catalog statements (DESCRIBE, SHOW ...) return little
        is_query = isinstance(statement, exp.Select | exp.SetOperation)
        [result] = self.runner.run(
            [Statement(sql, query=is_query)],
            read_only=True,
            limit=limit,
            timeout_s=timeout_s,
            max_bytes=max_bytes,
        )
        return result

    def read(self, statements: Sequence[str], *, timeout_s: float = OWN_TIMEOUT_S) -> list[QueryResult]:
        """ae's own read statements (built with ``dialect``), all rows, in one read-only call."""
        return self.runner.run(
            [Statement(sql) for sql in statements],
            read_only=True,
            limit=None,
            timeout_s=timeout_s,
            max_bytes=None,
        )

    def execute(self, statements: Sequence[str], *, timeout_s: float = OWN_TIMEOUT_S) -> None:
        """ae's own write statements (built with ``dialect``) in one transaction: all or nothing.
        Never text from a model, a plan or a file: names in it must be quoted by ``dialect``."""
        self.runner.run(
            [Statement(sql) for sql in statements],
            read_only=False,
            limit=None,
            timeout_s=timeout_s,
            max_bytes=None,
        )

    def _rows(self, sql: str) -> list[list[JsonValue]]:
        return self.read([sql])[0].rows

    # --- catalog ----------------------------------------------------------------------------------

    def _relations(self, where: str) -> list[RelationRef]:
        return [
            RelationRef(
                database=str(db),
                schema_name=str(schema),
                name=str(name),
                kind="view" if kind == "VIEW" else "table",
            )
            for db, schema, name, kind in self._rows(self.dialect.relations_sql(where))
        ]

    def list_relations(self, schema: str | None = None) -> list[RelationRef]:
        """Tables and views, optionally only those of one schema (matched case-insensitively)."""
        if schema is None:
            return self._relations("1 = 1")
        return self._relations(f"lower(table_schema) = lower({self.dialect.literal(schema)})")

    def relation_names(self) -> set[str]:
        """Every table and view as ``database.schema.name`` in lower case (Execute's journal of
        what a run created compares two of these)."""
        return {ref.qualified_name.lower() for ref in self.list_relations()}

    def current_database(self) -> str:
        return str(self._rows(f"SELECT {self.dialect.current_database()}")[0][0])

    def resolve(self, relation: str | RelationRef) -> RelationRef:
        """Find a relation by name, case-insensitively (an exact spelling first); QueryError naming
        near matches when there is none."""
        if isinstance(relation, RelationRef):
            return relation
        database, schema, name = parse_relation_name(relation, self.dialect.sqlglot)
        schema = schema or self.dialect.default_schema
        if schema is None:
            raise InvalidArguments(
                f"{relation!r} names no schema, and ae does not know {self.adapter}'s default",
                hint="name it as schema.table",
            )
        lit = self.dialect.literal
        catalog = f"lower({lit(database) if database else self.dialect.current_database()})"
        found = self._relations(
            f"lower(table_catalog) = {catalog} AND lower(table_schema) = lower({lit(schema)}) "
            f"AND lower(table_name) = lower({lit(name)})"
        )
        exact = [ref for ref in found if (ref.schema_name, ref.name) == (schema, name)]
        if exact or found:
            return (exact or found)[0]
        raise self._not_found(relation, database or self.current_database(), schema, name)

    def _not_found(self, relation: str, database: str, schema: str, name: str) -> QueryError:
        siblings = [r.name for r in self.list_relations(schema) if r.database.lower() == database.lower()]
        if not siblings:
            schemas = sorted({ref.schema_name for ref in self.list_relations()})
            return QueryError(
                f"relation {relation!r} not found: schema {schema!r} has no relations in database "
                f"{database!r}; schemas with relations: {', '.join(schemas) or '(none)'}",
                hint="use the list_relations tool to see what exists",
            )
        close = difflib.get_close_matches(name, siblings, n=5, cutoff=0.5)
        suggestion = f" Did you mean: {', '.join(f'{schema}.{c}' for c in close)}?" if close else ""
        shown = ", ".join(siblings[:50]) + (" ..." if len(siblings) > 50 else "")
        return QueryError(
            f"relation {relation!r} not found in {database}.{schema}.{suggestion} "
            f"Relations in {schema}: {shown}"
        )

    def sql_of(self, ref: RelationRef | RelationName) -> str:
        """The relation as quoted SQL in this dialect."""
        return self.dialect.relation(ref.database, ref.schema_name, ref.name)

    def columns(self, relation: str | RelationRef) -> list[ColumnInfo]:
        ref = self.resolve(relation)
        rows = self._rows(self.dialect.columns_sql(ref.database, ref.schema_name, ref.name))
        return [ColumnInfo(name=str(n), type=str(t), nullable=nullable == "YES") for n, t, nullable in rows]

    def row_count(self, relation: str | RelationRef) -> int:
        ref = self.resolve(relation)
        return int(str(self._rows(f"SELECT count(*) FROM {self.sql_of(ref)}")[0][0]))

    def describe(self, relation: str | RelationRef) -> RelationDescription:
        """Columns (name, type, nullable) and row count of a table or view."""
        ref = self.resolve(relation)
        return RelationDescription(relation=ref, columns=self.columns(ref), row_count=self.row_count(ref))

    def fingerprint(self, relation: str | RelationRef) -> Fingerprint:
        """Rows and an order-free hash of them: equal data, equal fingerprint (on one adapter)."""
        ref = self.resolve(relation)
        rows, digest = self._rows(self.dialect.fingerprint_sql(self.sql_of(ref)))[0]
        return Fingerprint(rows=int(str(rows)), hash=str(digest))

    # --- writes (ae's own) ------------------------------------------------------------------------

    def _schema_sql(self, schema: str, database: str | None) -> str:
        return ".".join(self.dialect.ident(p) for p in ([database] if database else []) + [schema])

    def create_schema(self, schema: str, database: str | None = None) -> None:
        self.execute([f"CREATE SCHEMA IF NOT EXISTS {self._schema_sql(schema, database)}"])

    def drop_schema(self, schema: str, database: str | None = None) -> None:
        """Drop a schema and everything in it (a scratch schema ae made)."""
        self.execute([f"DROP SCHEMA IF EXISTS {self._schema_sql(schema, database)} CASCADE"])

    def create_database(self, name: str) -> None:
        """A database beside this one on the same server (a scratch one: PostgreSQL only)."""
        self._alone(self.dialect.database_sql("CREATE", name))

    def drop_database(self, name: str) -> None:
        """Drop a database ae created (``create_database``), whoever is still connected to it."""
        self._alone(self.dialect.database_sql("DROP", name))

    def _alone(self, sql: str) -> None:
        self.runner.run(
            [Statement(sql, alone=True)], read_only=False, limit=None, timeout_s=OWN_TIMEOUT_S, max_bytes=None
        )

    def drop_relation(self, relation: str | RelationRef) -> RelationRef:
        """Drop a table or view (as the kind it is)."""
        ref = self.resolve(relation)
        self.execute([f"DROP {ref.kind.upper()} IF EXISTS {self.sql_of(ref)}"])
        return ref

    def drop_relations(self, qualified: Sequence[str]) -> list[str]:
        """Drop each ``database.schema.name`` (lower case, as ``relation_names`` gives) that still
        exists, in one transaction; return those dropped, in the order given (an undo of relations
        a run created)."""
        present = {ref.qualified_name.lower(): ref for ref in self.list_relations()}
        dropped = [name for name in dict.fromkeys(qualified) if name in present]
        if dropped:
            self.execute(
                [f"DROP {present[n].kind.upper()} IF EXISTS {self.sql_of(present[n])}" for n in dropped]
            )
        return dropped

    def rename_relation(
        self, relation: str | RelationRef, new_name: str, *, schema: str | None = None
    ) -> RelationRef:
        """Rename a table or view, and move it to ``schema`` when given (PostgreSQL only: DuckDB has
        no ALTER ... SET SCHEMA, so there NotOnAdapter says to copy and drop instead)."""
        ref = self.resolve(relation)
        kind = ref.kind.upper()
        statements = []
        current = ref
        if schema is not None and schema != ref.schema_name:
            statements.append(self.dialect.move_sql(kind, self.sql_of(ref), schema))
            current = ref.model_copy(update={"schema_name": schema})
        if new_name != ref.name:
            statements.append(f"ALTER {kind} {self.sql_of(current)} RENAME TO {self.dialect.ident(new_name)}")
        if statements:
            self.execute(statements)
        return current.model_copy(update={"name": new_name})

    def copy_relation(
        self, relation: str | RelationRef, dest: RelationName, *, as_table: bool = False
    ) -> RelationRef:
        """Copy a relation to ``dest`` (which must not exist): a table's rows into a new table; a view
        as a view with the same definition, or its rows into a table when ``as_table``. For the
        incremental proof's scratch copies and for keeping what a rebuild would replace."""
        ref = self.resolve(relation)
        target = self.sql_of(dest)
        if ref.kind == "view" and not as_table:
            [[definition]] = self._rows(
                self.dialect.view_definition_sql(ref.database, ref.schema_name, ref.name)
            )
            self.execute([f"CREATE VIEW {target} AS {self.dialect.view_body(str(definition))}"])
        else:
            self.execute([f"CREATE TABLE {target} AS SELECT * FROM {self.sql_of(ref)}"])
        return RelationRef(
            database=dest.database or ref.database,
            schema_name=dest.schema_name,
            name=dest.name,
            kind="view" if ref.kind == "view" and not as_table else "table",
        )

    def load_rows(
        self, dest: RelationName, columns: Sequence[ColumnInfo], rows: Sequence[Sequence[JsonValue]]
    ) -> None:
        """Create table ``dest`` with ``columns`` holding ``rows`` (a unit test's fixture rows, for
        its expected output). Each column type is parsed as a type of this dialect and written back
        by sqlglot, so a type name cannot carry SQL of its own."""
        if not columns:
            raise InvalidArguments("a table needs at least one column")
        types = [self._type(c.type) for c in columns]
        definition = ", ".join(
            f"{self.dialect.ident(c.name)} {t}" for c, t in zip(columns, types, strict=True)
        )
        statements = [f"CREATE TABLE {self.sql_of(dest)} ({definition})"]
        if rows:
            values = ", ".join(
                "(" + ", ".join(self._value(v, t) for v, t in zip(row, types, strict=True)) + ")"
                for row in rows
            )
            statements.append(f"INSERT INTO {self.sql_of(dest)} VALUES {values}")
        self.execute(statements)

    def _type(self, name: str) -> str:
        try:
            return exp.DataType.build(name, dialect=self.dialect.sqlglot).sql(dialect=self.dialect.sqlglot)
        except (ParseError, ValueError) as exc:
            raise InvalidArguments(f"{name!r} is not a column type of {self.adapter}") from exc

    def _value(self, value: JsonValue, column_type: str) -> str:
        """A value as a typed literal: the text is quoted by the dialect and cast to the column."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        text = json.dumps(value) if isinstance(value, list | dict) else str(value)
        return f"CAST({self.dialect.literal(text)} AS {column_type})"
