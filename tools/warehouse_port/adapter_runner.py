"""The generic implementation of the warehouse port: SQL run by the project's dbt adapter.

Statements go to the engine's child process (``DbtEngine.sql``, tools/engine/adapter_sql.py), where
dbt's own adapter for the project's profile and target runs them: credentials, connection and
dialect come from the profile, so any dbt adapter gets this path. A query's rows are capped inside
the warehouse (a subquery with a LIMIT one past the cap), since drivers such as psycopg2 fetch a
whole result before the first row is read; long values are cut in the child, after the fetch.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from tools.warehouse_port.dialects import Dialect
from tools.warehouse_port.models import QueryResult
from tools.warehouse_port.runner import Statement

if TYPE_CHECKING:  # the engine imports the port's values; the port needs the engine only to call it
    from tools.engine.engine import DbtEngine


class AdapterRunner:
    """Statements through ``engine``'s dbt adapter (module docstring)."""

    def __init__(self, engine: DbtEngine, dialect: Dialect) -> None:
        self.engine = engine
        self.dialect = dialect

    @property
    def adapter(self) -> str:
        return self.dialect.adapter

    def reading(self) -> AbstractContextManager[None]:
        return nullcontext()  # dbt's adapter keeps its connection in the engine's child anyway

    def run(
        self,
        statements: Sequence[Statement],
        *,
        read_only: bool,
        limit: int | None,
        timeout_s: float,
        max_bytes: int | None,
    ) -> list[QueryResult]:
        sql = [
            self.dialect.limited(s.sql, limit + 1) if s.query and limit is not None else s.sql
            for s in statements
        ]
        reply = self.engine.sql(
            sql,
            read_only=read_only,
            limit=limit,
            max_bytes=max_bytes,
            timeout_s=timeout_s,
            autocommit=any(s.alone for s in statements),
        )
        return [QueryResult.model_validate(result) for result in reply.results]
