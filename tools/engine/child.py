"""The engine's child process: a warm Python with dbt imported, running one invocation at a time.

It reads requests from a pipe (a private child) or a Unix socket (a shared server), runs
``dbtRunner().invoke`` with the process cwd at the project (so relative DuckDB paths in profiles
resolve there), converts dbt's result objects into ``DbtResult`` dicts and sends them back.
Nothing here parses log text. A ``__sql__`` request runs statements through the project's dbt
adapter instead of a dbt command (tools/engine/adapter_sql.py), inside the same walls.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tools.collector import collector_paused
from tools.engine.adapter_sql import SQL_COMMAND, AdapterCache, dbt_options, run_sql
from tools.engine.classify import classify
from tools.engine.confine import confine_duckdb
from tools.engine.process import project_identity
from tools.engine.read_only_login import Login, LoginCache
from tools.engine.results import DbtError, DbtResult, NodeResult, NodeTiming, Preview, SqlReply
from tools.private_sockets import listen, stop_listening

#: kinds of node failures that are the warehouse's, not the model's, and the error type reported
_PASSING = {"locked": "DatabaseLocked", "unreachable": "WarehouseUnreachable", "conflict": "WarehouseBusy"}
#: how often a child checks that its parent (private child) or caller (shared server) is still there
WATCHDOG_INTERVAL_S = 0.5
#: how often an idle shared server checks that its project folder is still the one it started in
PROJECT_CHECK_S = 1.0


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime | date) else None


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _node_result(item: Any) -> NodeResult:
    node = item.node
    adapter_response = getattr(item, "adapter_response", None) or {}
    extra: dict[str, Any] = {}
    for attr in ("max_loaded_at", "snapshotted_at"):
        if getattr(item, attr, None) is not None:
            extra[attr] = _iso(getattr(item, attr))
    if getattr(item, "age", None) is not None:
        extra["age_s"] = float(item.age)
    return NodeResult(
        unique_id=node.unique_id,
        name=node.name,
        resource_type=str(node.resource_type),
        status=str(item.status),
        message=str(item.message) if item.message is not None else None,
        failures=getattr(item, "failures", None),
        execution_time=float(getattr(item, "execution_time", 0.0) or 0.0),
        timing=[
            NodeTiming(name=t.name, started_at=_iso(t.started_at), completed_at=_iso(t.completed_at))
            for t in getattr(item, "timing", []) or []
        ],
        original_file_path=getattr(node, "original_file_path", None),
        compiled_sql=getattr(node, "compiled_code", None),
        relation=getattr(node, "relation_name", None),
        rows_affected=adapter_response.get("rows_affected") if isinstance(adapter_response, dict) else None,
        extra=extra,
    )


def _preview(items: list[Any]) -> Preview | None:
    # dbt show also runs the selection's tests' SQL; the preview is the first model-like node's table.
    for item in items:
        table = getattr(item, "agate_table", None)
        if table is None or str(getattr(item.node, "resource_type", "")) == "test":
            continue
        return Preview(
            node=item.node.unique_id,
            columns=[str(c) for c in table.column_names],
            rows=[[_json_value(v) for v in row] for row in table.rows],
        )
    return None


def to_result(command: str, args: list[str], res: Any, elapsed: float) -> DbtResult:
    result = DbtResult(command=command, args=args, success=bool(res.success), elapsed_s=elapsed)
    if res.exception is not None:
        exc = res.exception
        result.error = DbtError(kind=classify(exc), type=type(exc).__name__, message=str(exc).strip())
        return result
    payload = res.result
    items = list(getattr(payload, "results", None) or [])
    if isinstance(payload, list):  # dbt ls
        result.listed = [str(x) for x in payload]
    elif items and hasattr(items[0], "node"):
        result.nodes = [_node_result(item) for item in items if getattr(item, "node", None) is not None]
        if command == "show":
            result.preview = _preview(items)
    if not result.success and result.error is None:
        # a node that failed on a fault that passes (a lock, the server gone): the call failed, not
        # the model, so the parent can retry it
        passing = [n for n in result.nodes if n.message and classify(n.message) in _PASSING]
        if passing:
            kind = classify(passing[0].message or "")
            result.error = DbtError(kind=kind, type=_PASSING[kind], message=passing[0].message or "")
        elif command == "debug":
            result.error = DbtError(
                kind="configuration", type="DebugFailed", message="dbt debug reported a failing check"
            )
    return result


def release_warehouse() -> None:
    """Close the DuckDB file dbt-duckdb keeps open, so other processes can open it between calls.

    dbt-duckdb keeps one database per process in ``DuckDBConnectionManager._ENV`` and, with its
    default ``keep_open: true``, never closes it: the file stays locked for as long as this child
    lives, and ae's own read-only reads (profiling, Verify) fail with a lock held by our PID.
    ``close()`` drops the database; the next invocation reopens it (tens of ms, `make bench`).
    Looked up in ``sys.modules`` rather than imported: with another adapter there is nothing to do.
    """
    module = sys.modules.get("dbt.adapters.duckdb.connections")
    manager = getattr(module, "DuckDBConnectionManager", None)
    env = getattr(manager, "_ENV", None)
    if manager is None or env is None:
        return
    path = str(getattr(env.creds, "path", ""))
    # an in-memory database would lose its data, and MotherDuck holds no local lock
    if path == ":memory:" or getattr(env.creds, "is_motherduck", False):
        return
    with manager._LOCK:
        env.close()


def _setup(project_dir: str) -> None:
    """Working directory at the project (relative DuckDB paths resolve there), dbt's quiet settings;
    dbt prints progress to stdout, so fd 1 goes to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.chdir(project_dir)
    os.environ.update(
        {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "DBT_VERSION_CHECK": "false",
            "DBT_USE_COLORS": "false",
            "DBT_PARTIAL_PARSE": "true",
        }
    )
    import dbt.cli.main  # the slow import, done before saying hello

    with contextlib.suppress(ImportError):  # what confine_duckdb wraps, so no call pays for it
        import dbt.adapters.duckdb.environments  # noqa: F401
    with contextlib.suppress(ImportError):  # what read_only_postgres wraps (dbt-postgres's driver)
        importlib.import_module("psycopg2")


def read_only_warehouse() -> Callable[[], None]:
    """Have DuckDB open read-only, with no file access, until the returned function undoes it.

    The second wall behind graph/phases/approve.py: while Validate parses and compiles, a
    ``run_query`` in a model cannot write the warehouse, ATTACH another file or COPY to one.
    dbt-duckdb always connects with ``read_only=False``, so ``duckdb.connect`` itself is wrapped;
    the profile is untouched, so dbt's partial parse still holds. A database that does not exist
    yet is opened in memory (a read-only open would fail, and there is nothing in it to protect).
    """
    import duckdb

    real = duckdb.connect

    def connect(
        database: str | Path = ":memory:",
        read_only: bool = False,
        config: dict[str, str | bool | int | float | list[str]] | None = None,
    ) -> duckdb.DuckDBPyConnection:
        settings = {**(config or {}), "enable_external_access": False}
        in_memory = str(database) in {"", ":memory:"} or not os.path.exists(database)
        return real(":memory:" if in_memory else database, read_only=not in_memory, config=settings)

    duckdb.connect = connect

    def restore() -> None:
        duckdb.connect = real

    return restore


READ_ONLY_OPTION = "-c default_transaction_read_only=on"


def read_only_postgres(login: Login | None = None) -> Callable[[], None]:
    """Have PostgreSQL connections start read-only until the returned function undoes it; with
    ``login``, log in as that read-only role instead of the target's user.

    The second wall on PostgreSQL, as ``read_only_warehouse`` is on DuckDB: every connection
    dbt-postgres opens meanwhile (through psycopg2, whose ``connect`` is wrapped here) passes
    ``-c default_transaction_read_only=on`` in its startup options, added to any the profile sets
    (a ``search_path`` is passed that way too, which would override a PGOPTIONS variable). A model's
    ``run_query`` during Validate's parse and compile then fails with "cannot execute INSERT in a
    read-only transaction", and so does any write in a read-only ``__sql__`` request.

    What it is not: a permission. It is a session default the session may change. SQL that runs
    ``SET default_transaction_read_only = off`` (or ``SET SESSION CHARACTERISTICS AS TRANSACTION READ
    WRITE``), then ends its transaction (COMMIT) writes in the next one; so can a model's Jinja that
    sends those statements. It stops writes by mistake and SQL that does not know it is there,
    nothing more. The wall that holds is the role: give the profile a read-only login for the
    target (an output ``<target>_read_only``, tools/engine/read_only_login.py) and ae's read-only
    calls connect as that role, which no SQL talks into writing. Without psycopg2 (no dbt-postgres)
    there is nothing to wrap.
    """
    psycopg2: Any = sys.modules.get("psycopg2")
    if psycopg2 is None:
        return lambda: None
    real = psycopg2.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        kwargs["options"] = f"{kwargs.get('options') or ''} {READ_ONLY_OPTION}".strip()
        if login is not None:
            kwargs.update(user=login.user, password=login.password)
        return real(*args, **kwargs)

    psycopg2.connect = connect

    def restore() -> None:
        psycopg2.connect = real

    return restore


@contextlib.contextmanager
def walls(args: list[str], read_only: bool, login: Login | None = None) -> Iterator[None]:
    """What every request runs inside: SQL reaches only the project and what the profile names
    (tools/engine/confine.py); a read-only request's connections cannot write (DuckDB opened
    read-only, PostgreSQL sessions read-only by default, as ``login`` when the profile gives a
    read-only login); the DuckDB file is released after."""
    restores = [read_only_warehouse(), read_only_postgres(login)] if read_only else []
    restores.append(confine_duckdb(Path(_option(args, "--project-dir") or "."), withheld_folders(args)))
    try:
        yield
    finally:
        release_warehouse()
        for restore in reversed(restores):
            restore()


def _option(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def withheld_folders(args: list[str]) -> list[Path]:
    """Folders of the project SQL may not read although their names do not say so
    (tools/engine/confine.py): dbt's target and log folders when moved from ``target``/``logs``,
    and the folder holding the profile."""
    project = Path(_option(args, "--project-dir") or ".")
    named = [
        _option(args, "--target-path"),
        _option(args, "--log-path"),
        _option(args, "--profiles-dir"),
        os.environ.get("DBT_TARGET_PATH"),
        os.environ.get("DBT_LOG_PATH"),
    ]
    return [project / path for path in named if path]


def hello() -> bytes:
    return json.dumps({"ready": True, "pid": os.getpid()}).encode() + b"\n"


#: the adapter the SQL channel keeps between requests (tools/engine/adapter_sql.py)
_ADAPTERS = AdapterCache()
#: the profile's read-only login, if any (tools/engine/read_only_login.py)
_LOGINS = LoginCache()


def answer(line: bytes) -> bytes:
    """One request line in (``{"command": ..., "args": [...]}``), its reply line out; a ``__sql__``
    request is answered by the project's dbt adapter (tools/engine/adapter_sql.py)."""
    request = json.loads(line)
    command, args = request["command"], request["args"]
    read_only = bool(request.get("read_only"))
    try:
        login = _LOGINS.get(dbt_options(args)) if read_only else None
    except Exception as exc:  # a read-only login the profile gets wrong: refused, never bypassed
        error = DbtError(kind="configuration", type=type(exc).__name__, message=str(exc))
        refused = (
            SqlReply(error=error)
            if command == SQL_COMMAND
            else DbtResult(command=command, args=args, success=False, error=error)
        )
        return json.dumps(refused.model_dump(mode="json")).encode() + b"\n"
    with walls(args, read_only, login):
        if command == SQL_COMMAND:
            reply = run_sql(_ADAPTERS, request).model_dump(mode="json")
        else:
            reply = _invoke(command, args).model_dump(mode="json")
    return json.dumps(reply).encode() + b"\n"


def _invoke(command: str, args: list[str]) -> DbtResult:
    from dbt.cli.main import dbtRunner

    started = time.perf_counter()
    try:
        res = dbtRunner().invoke(args)
        return to_result(command, args, res, time.perf_counter() - started)
    except Exception as exc:  # report anything; the parent decides what it means
        return DbtResult(
            command=command,
            args=args,
            success=False,
            elapsed_s=time.perf_counter() - started,
            error=DbtError(kind=classify(exc), type=type(exc).__name__, message=str(exc)),
        )


def serve_pipe(project_dir: str) -> None:
    """A private child: requests on stdin, replies on a copy of the original stdout, until EOF."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    with collector_paused():
        _setup(project_dir)
    protocol.write(hello())
    protocol.flush()
    for line in sys.stdin.buffer:
        protocol.write(answer(line))
        protocol.flush()


def serve_socket(project_dir: str, socket_path: Path, keep_alive_s: float, warm_up: list[str]) -> None:
    """A shared server (tools/engine/process.py): one connection at a time, until idle for keep_alive_s.

    It listens before importing dbt, so clients queue instead of starting servers of their own, and
    parses the project before taking the first one, so their first call finds it warm, unless a
    caller is already waiting for its call (``_caller_waiting``).
    """
    server, inode = listen(socket_path, 16)
    with collector_paused():
        _setup(project_dir)
        waiting = _caller_waiting(server)
        if waiting is None:
            answer(json.dumps({"command": "parse", "args": warm_up}).encode())
        else:
            with waiting:
                _serve_connection(waiting)
    server.settimeout(min(keep_alive_s, PROJECT_CHECK_S))
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < keep_alive_s and in_project(project_dir):
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        with conn:
            if not in_project(project_dir):
                break  # the caller finds the socket gone and starts a server on the new folder
            _serve_connection(conn)
        idle_since = time.monotonic()
    stop_listening(server, socket_path, inode)


def _caller_waiting(server: socket.socket) -> socket.socket | None:
    """A caller queued while dbt imported (the ``ae run`` that started this server, ready for its
    call): served at once, its call parsing the project, rather than after a warm-up parse it would
    wait behind. Connections already closed (a caller that only made sure a server runs) are dropped."""
    server.setblocking(False)
    try:
        while True:
            try:
                conn, _ = server.accept()
            except BlockingIOError:
                return None
            conn.settimeout(None)
            if not _hung_up(conn):
                return conn
            conn.close()
    finally:
        server.settimeout(None)


def in_project(project_dir: str) -> bool:
    """Whether the working directory (the project folder this server started in) is still the
    folder at ``project_dir``. A project deleted and re-created there is another folder: this
    server would keep parsing the deleted one (``[Errno 2]`` on every call), so it leaves at once;
    clients key their server by the folder's identity (tools/engine/process.py) and start a new one.
    """
    try:
        return project_identity(Path(project_dir)) == project_identity(Path("."))
    except FileNotFoundError:
        return False


def _serve_connection(conn: socket.socket) -> None:
    try:
        conn.sendall(hello())
        with conn.makefile("rb") as requests:
            for line in requests:
                with _exit_if_caller_leaves(conn):
                    reply = answer(line)
                conn.sendall(reply)
    except OSError:  # the client went away (killed, timed out); the next one is waiting
        return


def _hung_up(conn: socket.socket) -> bool:
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False  # connected, nothing sent: the caller is waiting for its reply
    except OSError:
        return True


@contextlib.contextmanager
def _exit_if_caller_leaves(conn: socket.socket) -> Iterator[None]:
    """The shared server's answer to a caller killed mid-call (kill -9 of ae): exit at once.

    The server outlives ae processes by design, but a call nobody waits for (a runaway model) must
    not keep running: dbt cannot be cancelled mid-invocation, so the process ends, which also frees
    the DuckDB file. Queued callers then find no server and start a fresh one.
    """
    done = threading.Event()

    def watch() -> None:
        while not done.wait(WATCHDOG_INTERVAL_S):
            if _hung_up(conn):
                os._exit(1)

    watcher = threading.Thread(target=watch, name="caller-watchdog", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


#: prctl(2) option: the signal this process gets when the thread that started it ends
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, *, pdeathsig: bool) -> None:
    """End this process when ``parent_pid`` (the ae process that started it) ends, even by kill -9.

    A private child outliving ae holds the DuckDB file and keeps running a runaway model for nobody.
    ``pdeathsig`` asks Linux to SIGKILL us at once (the parent starts us from its main thread, see
    tools/engine/process.py); the watchdog thread covers other systems and children started from a
    worker thread: once we are re-parented, ``getppid()`` no longer names ``parent_pid``.
    """
    if pdeathsig and sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(WATCHDOG_INTERVAL_S)
        os._exit(1)  # the parent died before or after prctl took effect

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.engine.child")
    parser.add_argument("project_dir")
    parser.add_argument("--socket", type=Path, help="serve on this Unix socket instead of stdin/stdout")
    parser.add_argument("--keep-alive", type=float, default=300.0, help="seconds idle before exiting")
    parser.add_argument("--warm-up", type=json.loads, default=[], help="dbt arguments for the warm-up parse")
    parser.add_argument("--parent-pid", type=int, help="exit when this process (ae) ends")
    parser.add_argument("--pdeathsig", action="store_true", help="also ask Linux to kill us with our parent")
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid, pdeathsig=args.pdeathsig)
    if args.socket is None:
        serve_pipe(args.project_dir)
    else:
        serve_socket(args.project_dir, args.socket, args.keep_alive, [*args.warm_up])


if __name__ == "__main__":
    main(sys.argv[1:])
    # Skip the interpreter's teardown of dbt's modules (~0.5 s the parent would wait for): the
    # warehouse was released after the last call, so only log files need flushing.
    logging.shutdown()
    os._exit(0)
