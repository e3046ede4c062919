"""The engine child's SQL channel: statements run by the project's own dbt adapter.

A ``__sql__`` request (``DbtEngine.sql``) names statements; they run on a connection of the adapter
dbt itself would use for this project and target, built the way dbt's CLI builds it
(dbt/cli/requires.py: ``load_profile``, ``load_project``, ``RuntimeConfig.from_parts``, the
adapter's class from its plugin), so credentials, connection and dialect come from the profile and
any dbt adapter answers. The adapter is built once and kept while the profile, the project file and
the dbt arguments are unchanged; it is not registered with dbt's adapter factory, whose adapters
every dbt invocation resets. A connection lives for one request: a session's settings never reach
the next request, and a DuckDB file is released between calls like after a dbt invocation.

Limits: each result stops at ``limit`` rows and ``max_bytes`` of JSON, long values are cut; a
request runs in a worker thread and, past ``timeout_s``, the adapter's own cancel (dbt's
``cancel_open_connections``, what dbt does on Ctrl-C: ``pg_terminate_backend`` on PostgreSQL, an interrupt on
DuckDB) stops it; on PostgreSQL ``statement_timeout`` stops it first, in the server.

Read-only requests run inside the child's read-only walls (tools/engine/child.py ``walls``): on
PostgreSQL each statement runs in a transaction that starts read-only, and a query is taken first so
that the transaction can no longer be turned read-write; on DuckDB the file is opened read-only with
no file access. The statements come from ae's warehouse port (tools/warehouse_port), which checks
any text it did not write itself (one read statement) before sending it.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.engine.classify import classify
from tools.engine.results import SQL_COMMAND, DbtError, ErrorKind, SqlReply
from tools.warehouse_port.values import fetch_within

__all__ = ["SQL_COMMAND", "AdapterCache", "dbt_options", "dbt_profile", "run_sql"]

#: past the time limit, how long the warehouse gets to stop by itself before dbt's cancel
_CANCEL_AFTER_S = 1.0
#: statements that start a read-only PostgreSQL request: a snapshot taken makes the transaction's
#: read-only mode final (PostgreSQL refuses SET TRANSACTION READ WRITE after any query)
_POSTGRES_READ_ONLY = ("SELECT 1",)


@dataclass(frozen=True)
class _Built:
    key: str
    adapter: Any


class AdapterCache:
    """The one adapter this child keeps, rebuilt when what it was built from changes."""

    def __init__(self) -> None:
        self._built: _Built | None = None

    def get(self, options: dict[str, str | None]) -> Any:
        key = _key(options)
        if self._built is None or self._built.key != key:
            self._built = _Built(key, _build(options))
        return self._built.adapter


def _key(options: dict[str, str | None]) -> str:
    """The dbt arguments and the bytes of the profile and project files they lead to."""
    digest = hashlib.sha256(repr(sorted(options.items())).encode())
    project = Path(options["project_dir"] or ".")
    for path in (Path(options["profiles_dir"] or project) / "profiles.yml", project / "dbt_project.yml"):
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"(missing)")
    return digest.hexdigest()


def dbt_profile(options: dict[str, str | None], target: str | None = None) -> Any:
    """dbt's rendered profile for the engine's options (``target`` instead of theirs when given),
    with dbt's flags and environment set as its CLI sets them first (dbt/cli/requires.py)."""
    import os
    from argparse import Namespace

    from dbt.config.runtime import load_profile
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    set_invocation_context(dict(os.environ))  # what env_var() in the profile reads
    set_from_args(Namespace(**options, threads=None, vars={}), {})
    project_dir = options["project_dir"] or "."
    return load_profile(project_dir, {}, options["profile"], target or options["target"], None)


def _build(options: dict[str, str | None]) -> Any:
    """The project's adapter, as dbt's CLI builds it for a command (dbt/cli/requires.py)."""
    from argparse import Namespace

    from dbt.adapters.factory import get_adapter_class_by_name, load_plugin
    from dbt.config.runtime import RuntimeConfig, load_project
    from dbt.mp_context import get_mp_context

    profile = dbt_profile(options)
    project = load_project(options["project_dir"] or ".", False, profile, {})
    load_plugin(profile.credentials.type)
    config = RuntimeConfig.from_parts(project, profile, Namespace(**options, threads=None, vars={}))
    adapter_class: Any = get_adapter_class_by_name(profile.credentials.type)
    return adapter_class(config, get_mp_context())


def dbt_options(args: list[str]) -> dict[str, str | None]:
    """The project, profile and target flags of the engine's arguments (``DbtEngine._base_args``)."""

    def option(flag: str) -> str | None:
        return args[args.index(flag) + 1] if flag in args[:-1] else None

    return {
        "project_dir": option("--project-dir"),
        "profiles_dir": option("--profiles-dir"),
        "profile": option("--profile"),
        "target": option("--target"),
    }


def _type_name(connections: Any, code: Any) -> str:
    """A column's type as the driver names it (dbt's ``data_type_code_to_name``, else its code)."""
    if isinstance(code, str):
        return code
    try:
        return str(connections.data_type_code_to_name(code))
    except Exception:  # an adapter without the method, or a code its driver does not know
        return str(code)


def _result(connections: Any, cursor: Any, limit: int | None, max_bytes: int | None) -> dict[str, Any]:
    description = getattr(cursor, "description", None) or []
    if not description:  # a statement without rows (DDL, SET)
        return {"columns": [], "types": [], "rows": [], "row_count": 0, "truncated": False}
    rows, truncated, values_truncated = fetch_within(cursor, limit, max_bytes, len(description), False)
    return {
        "columns": [str(d[0]) for d in description],
        "types": [_type_name(connections, d[1]) for d in description],
        "rows": rows,
        "row_count": len(rows),
        "truncated": truncated,
        "values_truncated": values_truncated,
    }


def _agate_result(table: Any, limit: int | None) -> dict[str, Any]:
    """A result through ``adapter.execute`` (an adapter whose connections run no DB-API cursor)."""
    from tools.warehouse_port.values import capped_value, to_json_value

    rows = [[capped_value(to_json_value(v))[0] for v in row] for row in table.rows]
    kept = rows if limit is None else rows[:limit]
    return {
        "columns": [str(c) for c in table.column_names],
        "types": [type(t).__name__ for t in table.column_types],
        "rows": kept,
        "row_count": len(kept),
        "truncated": len(kept) < len(rows),
    }


def _session(adapter_type: str, read_only: bool, timeout_s: float) -> list[str]:
    """Statements that set a request's connection up on adapters ae knows."""
    if adapter_type != "postgres":
        return []
    # the server stops the statement itself; dbt's cancel after _CANCEL_AFTER_S is the fallback
    setup = [f"SET statement_timeout = {max(int(timeout_s * 1000), 1)}"]
    return setup + list(_POSTGRES_READ_ONLY) if read_only else setup


def _statements(adapter: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the request's statements on a fresh connection, in one transaction."""
    from dbt.adapters.sql.connections import SQLConnectionManager

    statements: list[str] = request["statements"]
    read_only = bool(request.get("read_only"))
    limit, max_bytes = request.get("limit"), request.get("max_bytes")
    connections = adapter.connections
    with adapter.connection_named("ae_sql"):
        if not isinstance(connections, SQLConnectionManager):
            # e.g. BigQuery: no DB-API cursor, so no transaction and rows through agate
            return [_agate_result(adapter.execute(sql, fetch=True)[1], limit) for sql in statements]
        if request.get("autocommit") and adapter.type() == "postgres":
            return _autocommitted(connections, statements, float(request["timeout_s"]))
        for sql in _session(adapter.type(), read_only, float(request["timeout_s"])):
            connections.add_query(sql, auto_begin=True)
        results = []
        for sql in statements:
            _, cursor = connections.add_query(sql, auto_begin=True)
            results.append(_result(connections, cursor, limit, max_bytes))
        if read_only:
            connections.rollback_if_open()
        else:
            connections.commit_if_has_connection()
        return results


def _autocommitted(connections: Any, statements: list[str], timeout_s: float) -> list[dict[str, Any]]:
    """Statements PostgreSQL refuses inside a transaction (CREATE DATABASE, DROP DATABASE), each
    committed as it runs: the psycopg2 handle in autocommit, and no BEGIN from dbt (auto_begin off).
    The connection is this request's alone, so the mode ends with it."""
    handle = connections.get_thread_connection().handle
    handle.autocommit = True
    connections.add_query(f"SET statement_timeout = {max(int(timeout_s * 1000), 1)}", auto_begin=False)
    return [
        _result(connections, connections.add_query(sql, auto_begin=False)[1], None, None)
        for sql in statements
    ]


def _with_deadline(
    adapter: Any, work: Callable[[], list[dict[str, Any]]], timeout_s: float
) -> tuple[Any, bool]:
    """``work()`` in a worker thread; past ``timeout_s`` (and a second's grace for the warehouse's
    own limit) cancelled by dbt's ``cancel_open_connections`` from this thread. Returns the result or the
    exception raised, and whether the deadline passed. A worker that the cancel does not stop is
    waited for: the parent kills this process at its own deadline (``DbtEngine.sql``)."""
    outcome: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the caller, which reports it
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="ae-sql", daemon=True).start()
    if done.wait(timeout_s + _CANCEL_AFTER_S):
        return outcome[0], False
    if adapter.is_cancelable():  # else the parent's deadline ends this process
        with contextlib.suppress(Exception), adapter.connection_named("ae_cancel"):
            adapter.cancel_open_connections()
    done.wait()
    return outcome[0], True


def _error(exc: BaseException, timed_out: bool) -> DbtError:
    from dbt_common.exceptions import DbtRuntimeError

    kind: ErrorKind = "timeout" if timed_out else classify(exc)
    if kind == "runtime" and isinstance(exc, DbtRuntimeError):
        # what the adapter raised while running a statement: the warehouse rejected it (dbt-duckdb
        # wraps DuckDB's errors in DbtRuntimeError, not DbtDatabaseError)
        kind = "database"
    # dbt's errors put "Database Error" and a newline before the server's message
    message = getattr(exc, "msg", None) or str(exc)
    return DbtError(kind=kind, type=type(exc).__name__, message=" ".join(str(message).split()))


def run_sql(cache: AdapterCache, request: dict[str, Any]) -> SqlReply:
    """Answer one ``__sql__`` request (module docstring); the caller has the walls up."""
    started = time.perf_counter()
    try:
        adapter = cache.get(dbt_options(request["args"]))
    except Exception as exc:  # the profile or project cannot be loaded, the adapter is missing
        error = DbtError(kind="configuration", type=type(exc).__name__, message=str(exc).strip())
        return SqlReply(error=error, elapsed_s=time.perf_counter() - started)
    outcome, timed_out = _with_deadline(adapter, lambda: _statements(adapter, request), request["timeout_s"])
    with contextlib.suppress(Exception):  # a connection the cancel already broke
        adapter.cleanup_connections()
    reply = SqlReply(adapter=adapter.type(), elapsed_s=time.perf_counter() - started)
    if isinstance(outcome, BaseException):
        reply.error = _error(outcome, timed_out)
    else:
        reply.results = outcome
    return reply
