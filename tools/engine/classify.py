"""Which kind of failure a dbt invocation or an adapter's SQL met, so the parent picks its channel.

DuckDB's file lock is known by its message. A server warehouse's faults are known by the SQLSTATE of
the driver's error where there is one (psycopg2 and psycopg put it on ``pgcode`` / ``sqlstate``;
dbt wraps the driver's error, keeping it as the cause), else by the server's message, which is all a
dbt node result carries. PostgreSQL's codes: https://www.postgresql.org/docs/current/errcodes-appendix.html

- ``locked`` (a DuckDB file held by another process), ``unreachable`` (connection refused or lost,
  the server shutting down or starting up) and ``conflict`` (a lock timeout, a deadlock, a
  serialization failure) pass: the parent retries them by policy;
- ``timeout`` (a statement stopped at its time limit), ``read_only`` (a write refused by a read-only
  transaction), ``permission`` (the role may not) and ``database`` (syntax, unknown relation or
  column ...) do not: the caller or the model changes something first.
"""

from __future__ import annotations

from tools.engine.results import ErrorKind

LOCK_MARKERS = ("Could not set lock on file", "Conflicting lock is held")
#: SQLSTATE classes and codes, most specific first
_SQLSTATES: tuple[tuple[str, ErrorKind], ...] = (
    ("57014", "timeout"),  # query_canceled: statement_timeout, or ae's cancel at the time limit
    ("57P01", "unreachable"),  # admin_shutdown (pg_terminate_backend, a restart)
    ("57P02", "unreachable"),  # crash_shutdown
    ("57P03", "unreachable"),  # cannot_connect_now (starting up, in recovery)
    ("40001", "conflict"),  # serialization_failure
    ("40P01", "conflict"),  # deadlock_detected
    ("55P03", "conflict"),  # lock_not_available (lock_timeout, NOWAIT)
    ("25006", "read_only"),  # read_only_sql_transaction
    ("42501", "permission"),  # insufficient_privilege
    ("08", "unreachable"),  # connection_exception and its subclasses
)
#: the same faults by the server's or driver's words, for errors that carry no code
_MARKERS: tuple[tuple[str, ErrorKind], ...] = (
    ("canceling statement due to statement timeout", "timeout"),
    ("canceling statement due to user request", "timeout"),
    ("canceling statement due to lock timeout", "conflict"),
    ("could not obtain lock", "conflict"),
    ("deadlock detected", "conflict"),
    ("could not serialize access", "conflict"),
    ("terminating connection due to administrator command", "unreachable"),
    ("the database system is starting up", "unreachable"),
    ("the database system is shutting down", "unreachable"),
    ("the database system is in recovery mode", "unreachable"),
    ("server closed the connection unexpectedly", "unreachable"),
    ("connection refused", "unreachable"),
    ("could not connect to server", "unreachable"),
    ("could not translate host name", "unreachable"),
    ("connection already closed", "unreachable"),
    ("in a read-only transaction", "read_only"),
    ("attached in read-only mode", "read_only"),  # DuckDB opened read-only
    ("permission denied for ", "permission"),
)


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the driver's error in ``exc``'s chain of causes, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "pgcode", None) or getattr(current, "sqlstate", None)
        if isinstance(code, str) and code:
            return code
        current = current.__cause__ or current.__context__
    return None


def warehouse_kind(exc: BaseException | str) -> ErrorKind | None:
    """The kind of a warehouse fault named by a SQLSTATE or a known message; None for others."""
    text = str(exc)
    if any(marker in text for marker in LOCK_MARKERS):
        return "locked"
    code = None if isinstance(exc, str) else _sqlstate(exc)
    if code is not None:
        for prefix, kind in _SQLSTATES:
            if code.startswith(prefix):
                return kind
        return "database"
    lowered = text.lower()
    return next((kind for marker, kind in _MARKERS if marker in lowered), None)


def classify(exc: BaseException | str) -> ErrorKind:
    """Which kind of failure this is; the parent maps kinds to error channels."""
    kind = warehouse_kind(exc)
    if kind is not None:
        return kind
    if isinstance(exc, str):
        return "runtime"
    from dbt.adapters.exceptions.connection import FailedToConnectError
    from dbt.exceptions import ParsingError
    from dbt_common.exceptions import CompilationError, DbtConfigError, DbtDatabaseError, DbtInternalError

    if isinstance(exc, CompilationError | ParsingError):
        return "compilation"
    # a connection refused for what the profile says (no such database, a wrong password): no
    # retry helps; a server that did not answer was classified above
    if isinstance(exc, DbtConfigError | FailedToConnectError):
        return "configuration"
    if isinstance(exc, DbtDatabaseError):
        return "database"
    if isinstance(exc, DbtInternalError):
        return "internal"
    return "runtime"
