"""The DuckDB implementation of the warehouse port: the file, opened by ae itself.

A read-only call opens the file ``read_only=True`` with external access disabled and the
configuration locked, so even a statement that slips past the SQL guard cannot write, attach another
file or read the filesystem (the same confinement tools/engine/confine.py gives dbt's connections).
A write call (ae's own statements: a copy for a proof, a drop for an undo) opens it read-write, with
external access off too, in one transaction. The file is opened for the call and closed after it:
dbt in the engine's child releases it between invocations (tools/engine/child.py), and so does ae.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from tools.errors import ConfigurationError, QueryError, ReadOnlyViolation, WarehouseLocked
from tools.locks import locked_message
from tools.warehouse_port.interrupts import interruptible
from tools.warehouse_port.models import QueryResult
from tools.warehouse_port.runner import Statement
from tools.warehouse_port.values import MAX_VALUE_CHARS, fetch_within

# external access off: no read_csv/COPY/ATTACH/INSTALL on any path; locked so SET cannot undo it.
_READ_ONLY_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "lock_configuration": True,
}
_WRITE_CONFIG: dict[str, str | bool | int | float | list[str]] = {"enable_external_access": False}


def _open(db_path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    if not db_path.is_file():
        raise ConfigurationError(
            f"warehouse file {db_path} does not exist",
            hint="build the project first (dbt run/seed) or check the target's `path` in profiles.yml",
        )
    config = _READ_ONLY_CONFIG if read_only else _WRITE_CONFIG
    try:
        return duckdb.connect(str(db_path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseLocked(locked_message(f"warehouse {db_path}", str(exc))) from exc
        raise ConfigurationError(f"cannot open warehouse {db_path}: {exc}") from exc
    except duckdb.ConnectionException as exc:
        # This process already holds the file with another configuration (e.g. dbt-duckdb kept
        # its read-write connection open); it is released when that connection closes.
        if "different configuration" in str(exc):
            raise WarehouseLocked(
                f"warehouse {db_path} is open in this process with other settings (likely by dbt): {exc}"
            ) from exc
        raise ConfigurationError(f"cannot open warehouse {db_path}: {exc}") from exc


def open_readonly(db_path: Path) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-only and confined. Prefer ``readonly_connection``, which closes it."""
    return _open(db_path, read_only=True)


@contextmanager
def readonly_connection(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse open read-only while the body runs; Ctrl-C interrupts its statements (interrupts.py)."""
    con = open_readonly(db_path)
    try:
        with interruptible(con):
            yield con
    finally:
        con.close()


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


def timeout_error(timeout_s: float, sql: str) -> QueryError:
    """A statement stopped at its time limit: the caller can make it cheaper."""
    shown = sql if len(sql) <= 200 else sql[:200] + " ..."
    return QueryError(
        f"the query ran past its {timeout_s:g}s time limit and was stopped: {shown}",
        hint="filter or aggregate more, add a LIMIT, or query a smaller relation",
    )


@contextmanager
def interrupted_after(con: duckdb.DuckDBPyConnection, timeout_s: float) -> Iterator[threading.Event]:
    """Interrupt ``con``'s running statement from a timer thread once ``timeout_s`` has passed;
    the event says whether it fired."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(timeout_s, fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def capped_values_sql(sql: str) -> str:
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


def _result(cursor: Any, statement: Statement, limit: int | None, max_bytes: int | None) -> QueryResult:
    description = cursor.description or []
    if not description:  # a statement without rows (DDL)
        return QueryResult(columns=[], types=[], rows=[], row_count=0, truncated=False)
    width = len(description) // 2 if statement.query else len(description)
    rows, truncated, values_truncated = fetch_within(cursor, limit, max_bytes, width, statement.query)
    return QueryResult(
        columns=[d[0] for d in description[:width]],
        types=[str(d[1]) for d in description[:width]],
        rows=rows,
        row_count=len(rows),
        truncated=truncated,
        values_truncated=values_truncated,
    )


class DuckDbRunner:
    """Statements on a DuckDB file (module docstring)."""

    adapter = "duckdb"

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        #: the connection ``reading`` holds, per thread: a DuckDB connection is one thread's
        self._held = threading.local()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Read-only calls in the block share one read-only connection: a profile's dozen queries
        open the file once, not a dozen times (~13 ms each). Held for the block only, so the file is
        free for dbt between tool calls as before; a write in the block opens its own connection,
        which DuckDB refuses while this one is open (WarehouseLocked), so blocks only read."""
        if getattr(self._held, "con", None) is not None:
            yield  # already held by an outer block
            return
        self._held.con = _open(self.db_path, read_only=True)
        try:
            yield
        finally:
            con, self._held.con = self._held.con, None
            con.close()

    def run(
        self,
        statements: Sequence[Statement],
        *,
        read_only: bool,
        limit: int | None,
        timeout_s: float,
        max_bytes: int | None,
    ) -> list[QueryResult]:
        held: duckdb.DuckDBPyConnection | None = getattr(self._held, "con", None) if read_only else None
        con = held or _open(self.db_path, read_only=read_only)
        results: list[QueryResult] = []
        try:
            with interruptible(con), interrupted_after(con, timeout_s) as fired:
                current = ""
                try:
                    execute_query(con, "BEGIN TRANSACTION")
                    for statement in statements:
                        current = statement.sql
                        sql = capped_values_sql(current) if statement.query else current
                        results.append(_result(execute_query(con, sql), statement, limit, max_bytes))
                    execute_query(con, "ROLLBACK" if read_only else "COMMIT")
                except QueryError as exc:
                    if fired.is_set():
                        raise timeout_error(timeout_s, current) from exc
                    raise
        finally:
            if held is None:
                con.close()
            else:  # a statement that failed mid-transaction must not leave the held one open
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
        return results
