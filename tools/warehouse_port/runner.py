"""What an implementation of the warehouse port provides: statements in, typed results out.

Two implementations: ``DuckDbRunner`` (a DuckDB file opened by ae itself, tools/warehouse_port/
duckdb_runner.py) and ``AdapterRunner`` (SQL run by the project's dbt adapter in the engine's child
process, tools/warehouse_port/adapter_runner.py). Everything else of the port (catalog, profiling,
copies, hashes) is SQL built once on top of ``run`` (tools/warehouse_port/port.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from tools.warehouse_port.models import QueryResult

#: a read-only query past this is stopped (a runaway cross join must not hold a tool call)
QUERY_TIMEOUT_S = 30.0
#: what ae's own statements (catalog, profiling, copies) may take: a profile of a big table is slow
OWN_TIMEOUT_S = 300.0
#: rows stop being fetched once their JSON passes this: a result goes into a model's context
MAX_RESULT_BYTES = 1_000_000


@dataclass(frozen=True)
class Statement:
    """One statement of a call. ``query``: a SELECT (or set operation) the runner may wrap, to cap
    its rows inside the database and cut long values there when it can. ``alone``: see the field."""

    sql: str
    query: bool = False
    #: a statement PostgreSQL refuses inside a transaction (CREATE DATABASE): committed as it runs
    alone: bool = False


class SqlRunner(Protocol):
    """Runs statements on one warehouse. Every call is its own transaction: rolled back when
    ``read_only`` (where writing fails anyway, not merely is undone), committed otherwise.

    Raises tools.errors classes only: QueryError (rejected SQL, a timeout), ReadOnlyViolation (a
    write refused by the warehouse), WarehouseLocked / ConnectionFault / WarehouseBusy (transient),
    ConfigurationError (the profile or file is wrong).
    """

    @property
    def adapter(self) -> str:
        """The dbt adapter type: "duckdb", "postgres", ..."""

    def run(
        self,
        statements: Sequence[Statement],
        *,
        read_only: bool,
        limit: int | None,
        timeout_s: float,
        max_bytes: int | None,
    ) -> list[QueryResult]:
        """Each statement's result (``limit`` rows at most, None for all; rows within ``max_bytes``
        of JSON), all within ``timeout_s``; a statement that returns nothing gives an empty result."""

    def reading(self) -> AbstractContextManager[None]:
        """While the block runs, read-only calls may share one connection (each still its own
        transaction); a runner whose connections live on anyway does nothing."""
