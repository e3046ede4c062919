"""The typed results of the warehouse port: what a relation is, its columns, a query's rows."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, JsonValue


def quote_identifier(name: str) -> str:
    """``name`` in double quotes (DuckDB, PostgreSQL, Snowflake ...); the port quotes per dialect."""
    return '"' + name.replace('"', '""') + '"'


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class RelationRef(_Frozen):
    """A table or view that exists in the warehouse, as its catalog names it."""

    database: str
    schema_name: str
    name: str
    kind: Literal["table", "view"]

    @property
    def qualified_name(self) -> str:
        return f"{self.database}.{self.schema_name}.{self.name}"

    @property
    def sql(self) -> str:
        """The relation as double-quoted SQL, for interpolation into a FROM clause."""
        return ".".join(quote_identifier(part) for part in (self.database, self.schema_name, self.name))


class RelationName(_Frozen):
    """Where a relation is to be (a copy, a rename, loaded rows): it need not exist yet.
    ``database`` None is the connection's own database."""

    schema_name: str
    name: str
    database: str | None = None


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


class Fingerprint(_Frozen):
    """A relation's rows in two figures: equal data gives equal figures, whatever the row order.
    The hash is comparable only with another from the same adapter (each hashes its own way)."""

    rows: int
    hash: str
