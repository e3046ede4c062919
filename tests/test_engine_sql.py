"""The engine's ``__sql__`` channel (DbtEngine.sql): SQL run by the project's dbt adapter in the child.

On a real PostgreSQL server (a database of its own, dropped after) and a real DuckDB file: limits,
the read-only walls and what they do not stop, and each class of PostgreSQL fault, provoked for real
(a lock held by another session, a session terminated, a deadlock, a serialization conflict, a
port where no server listens, a role without rights, a syntax error).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.postgres import postgres_database
from tests.warehouse_projects import duckdb_project, postgres_project
from tools.engine import DbtCall, DbtEngine
from tools.engine.classify import classify
from tools.errors import (
    ConfigurationError,
    ConnectionFault,
    QueryError,
    ReadOnlyViolation,
    WarehouseBusy,
)

READER = f"ae_reader_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(dsn, project) on a database of its own, with table ``t`` (id, v) and a role without rights."""
    with postgres_database("ae_port") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create table t (id integer primary key, v integer)")
            conn.execute("insert into t select i, 0 from generate_series(1, 50) i")
            conn.execute(f"create role {READER} login")
        try:
            yield dsn, postgres_project(tmp_path_factory.mktemp("pg") / "project", dsn, reader=READER)
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"drop owned by {READER}")
                conn.execute(f"drop role {READER}")


@pytest.fixture(scope="module")
def engine(pg: tuple[str, Path]) -> Iterator[DbtEngine]:
    with DbtEngine(pg[1]) as engine:
        yield engine


def _rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def _after(seconds: float, action: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)
    thread.start()
    return thread


# --- limits ---------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_rows_are_capped_and_results_typed(engine: DbtEngine) -> None:
    reply = engine.sql(["select id, v from t order by id", "select 'x' as a, 1.5 as b"], limit=3)
    first, second = reply.results
    assert reply.adapter == "postgres"
    assert first["rows"] == [[1, 0], [2, 0], [3, 0]] and first["truncated"]
    assert second["rows"] == [["x", 1.5]] and not second["truncated"]
    small = engine.sql(["select id from t"], max_bytes=20).results[0]
    assert 1 <= small["row_count"] < 50 and small["truncated"]


@pytest.mark.postgres
def test_a_statement_past_its_time_limit_is_cancelled_not_the_engine(engine: DbtEngine) -> None:
    engine.sql(["select 1"])
    pid = engine.pid
    started = time.perf_counter()
    with pytest.raises(QueryError, match="1s time limit"):
        engine.sql(["select pg_sleep(30)"], timeout_s=1)
    assert time.perf_counter() - started < 5
    assert engine.sql(["select 2"]).results[0]["rows"] == [[2]]
    assert engine.pid == pid  # stopped in the server; the dbt process was not killed


def test_duckdb_through_dbt_is_cancelled_and_read_only(tmp_path: Path) -> None:
    project = duckdb_project(tmp_path / "duck")
    with DbtEngine(project) as engine:
        engine.sql(["create table t as select range as id from range(10)"], read_only=False)
        pid = engine.pid
        with pytest.raises(QueryError, match="time limit"):
            engine.sql(["select sum(a.range * b.range) from range(200000) a, range(200000) b"], timeout_s=1)
        assert engine.pid == pid
        with pytest.raises(ReadOnlyViolation, match="read-only"):
            engine.sql(["insert into t values (11)"], read_only=True)
        with pytest.raises(QueryError, match="disabled"):  # no file access in a read-only call
            engine.sql(["select * from read_text('/etc/hostname')"], read_only=True)
        assert engine.sql(["select count(*) from t"]).results[0]["rows"] == [[10]]


# --- the read-only walls on PostgreSQL, and what they do not stop ---------------------------------


@pytest.mark.postgres
def test_a_read_only_request_cannot_write(engine: DbtEngine, pg: tuple[str, Path]) -> None:
    dsn = pg[0]
    insert = "insert into t values (1000, 1)"
    with pytest.raises(ReadOnlyViolation, match="read-only transaction"):
        engine.sql([insert], read_only=True)
    # the transaction's own mode cannot be switched back: ae takes a snapshot first
    with pytest.raises(QueryError, match="must be set before any query"):
        engine.sql(["set transaction read write", insert], read_only=True)
    # a new session default does not change the transaction already running
    with pytest.raises(ReadOnlyViolation, match="read-only transaction"):
        engine.sql(["set default_transaction_read_only = off", insert], read_only=True)
    assert _rows(dsn, "select count(*) from t where id = 1000") == [(0,)]


@pytest.mark.postgres
def test_the_session_default_is_not_a_permission(engine: DbtEngine, pg: tuple[str, Path]) -> None:
    """What was found: SQL that turns the session default off and ends the transaction writes
    (psycopg2 does not see a COMMIT sent as SQL, so the next statement runs outside any transaction,
    committed at once). The port sends one checked read per request, which cannot do this; a model's
    Jinja during Validate can. The walls stop writes by mistake; a read-only role is what holds
    (tools/engine/child.py read_only_postgres)."""
    dsn = pg[0]
    escape = ["set default_transaction_read_only = off", "commit", "insert into t values (2000, 1)"]
    try:
        engine.sql(escape, read_only=True)
        assert _rows(dsn, "select count(*) from t where id = 2000") == [(1,)]
    finally:
        engine.sql(["delete from t where id = 2000"], read_only=False)


@pytest.mark.postgres
def test_a_read_only_dbt_compile_cannot_write(engine: DbtEngine, pg: tuple[str, Path]) -> None:
    """Validate's compile (read_only=True): a model's run_query meets a read-only session."""
    dsn, project = pg
    model = project / "models" / "sneaky.sql"
    model.write_text("{% do run_query('insert into t values (3000, 1); commit') %}\nselect 1 as one\n")
    try:
        refused = engine.invoke(DbtCall(command="compile", select=["sneaky"], read_only=True))
        assert not refused.success and refused.error is not None
        assert refused.error.kind == "read_only" and "read-only transaction" in refused.error.message
        assert _rows(dsn, "select count(*) from t where id = 3000") == [(0,)]
        engine.invoke(DbtCall(command="compile", select=["sneaky"]))  # the wall was only for that call
        assert _rows(dsn, "select count(*) from t where id = 3000") == [(1,)]
        # and what it is not: code that knows the wall turns it off (module docstring of child.py)
        model.write_text(
            "{% do run_query('set default_transaction_read_only = off; commit; "
            "insert into t values (3001, 1)') %}\nselect 1 as one\n"
        )
        engine.invoke(DbtCall(command="compile", select=["sneaky"], read_only=True))
        assert _rows(dsn, "select count(*) from t where id = 3001") == [(1,)]
    finally:
        model.unlink()
        engine.sql(["delete from t where id in (3000, 3001)"], read_only=False)


@pytest.mark.postgres
def test_a_read_only_login_is_the_wall_that_holds(pg: tuple[str, Path], tmp_path: Path) -> None:
    """With ``dev_read_only`` in the profile, read-only calls log in as a role that may only read:
    the escape the session default lets through is refused by a permission, in SQL and in a compile."""
    dsn = pg[0]
    role = f"ae_ro_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"create role {role} login")
        conn.execute(f"grant usage on schema public to {role}")
        conn.execute(f"grant select on t to {role}")
    project = postgres_project(tmp_path / "project", dsn, read_only=role)
    escape = ["set default_transaction_read_only = off", "commit", "insert into t values (4000, 1)"]
    try:
        with DbtEngine(project) as engine:
            assert engine.sql(["select current_user, count(*) from t"]).results[0]["rows"] == [[role, 50]]
            with pytest.raises(QueryError, match="permission denied for table t"):
                engine.sql(escape, read_only=True)
            model = project / "models" / "sneaky.sql"
            model.write_text(
                "{% do run_query('set default_transaction_read_only = off; commit; "
                "insert into t values (4001, 1)') %}\nselect 1 as one\n"
            )
            refused = engine.invoke(DbtCall(command="compile", select=["sneaky"], read_only=True))
            assert refused.error is not None and "permission denied for table t" in refused.error.message
            assert _rows(dsn, "select count(*) from t where id >= 4000") == [(0,)]
            # a call that may write keeps the target's own login
            own = engine.sql(["select current_user"], read_only=False).results[0]["rows"][0][0]
            assert own != role
            # a read-only login for another database is refused, never used nor skipped
            profile = project / "profiles.yml"
            text = profile.read_text()
            profile.write_text(
                text[: text.index("dev_read_only:")]
                + text[text.index("dev_read_only:") :].replace("dbname: ", "dbname: other_", 1)
            )
            with pytest.raises(ConfigurationError, match="must be for the same database"):
                engine.sql(["select 1"])
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"drop owned by {role}")
            conn.execute(f"drop role {role}")


# --- PostgreSQL faults, each provoked for real ----------------------------------------------------


@pytest.mark.postgres
def test_model_fixable_faults(engine: DbtEngine) -> None:
    with pytest.raises(QueryError, match="syntax error"):
        engine.sql(["selec 1"])
    with pytest.raises(QueryError, match="does not exist"):
        engine.sql(["select * from no_such_table"])
    with pytest.raises(QueryError, match="column"):
        engine.sql(["select no_such_column from t"])


@pytest.mark.postgres
def test_a_role_without_rights(pg: tuple[str, Path]) -> None:
    """Permission denied is not transient: a read goes back as a query error, a write is the setup's."""
    with DbtEngine(pg[1], target="reader") as reader:
        with pytest.raises(QueryError, match="permission denied for table t"):
            reader.sql(["select * from t"])
        with pytest.raises(ConfigurationError, match="permission denied for schema public"):
            reader.sql(["create table public.mine (a integer)"], read_only=False)


@pytest.mark.postgres
def test_no_server_is_transient(pg: tuple[str, Path]) -> None:
    with DbtEngine(pg[1], target="down") as down, pytest.raises(ConnectionFault, match="did not answer"):
        down.sql(["select 1"])


@pytest.mark.postgres
def test_a_missing_database_is_the_profile(tmp_path: Path, pg: tuple[str, Path]) -> None:
    """And the adapter is rebuilt when the profile changes, not kept from before."""
    project = postgres_project(tmp_path / "project", pg[0])
    profile = project / "profiles.yml"
    good = profile.read_text()
    with DbtEngine(project) as engine:
        assert engine.sql(["select 1"]).results[0]["rows"] == [[1]]
        profile.write_text(good.replace(f"dbname: {pg[0].rsplit('/', 1)[1]}", "dbname: ae_no_such_database"))
        with pytest.raises(ConfigurationError, match="ae_no_such_database"):
            engine.sql(["select 1"])
        profile.write_text(good)
        assert engine.sql(["select 1"]).results[0]["rows"] == [[1]]


@pytest.mark.postgres
def test_a_lock_held_by_another_session_is_transient(engine: DbtEngine, pg: tuple[str, Path]) -> None:
    with psycopg.connect(pg[0]) as holder:
        holder.execute("lock table t in access exclusive mode")
        with pytest.raises(WarehouseBusy, match="lock timeout"):
            engine.sql(["set lock_timeout = '300ms'", "select count(*) from t"])
        holder.rollback()
    assert engine.sql(["select count(*) from t"]).results[0]["rows"] == [[50]]


@pytest.mark.postgres
def test_a_terminated_session_is_transient(engine: DbtEngine, pg: tuple[str, Path]) -> None:
    def terminate() -> None:
        _rows(
            pg[0],
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where query like '%pg_sleep(7.5)%' and pid <> pg_backend_pid()",
        )

    _after(0.7, terminate)
    with pytest.raises(ConnectionFault, match="did not answer"):
        engine.sql(["select pg_sleep(7.5)"], timeout_s=20)
    assert engine.sql(["select 1"]).results[0]["rows"] == [[1]]


@pytest.mark.postgres
def test_a_serialization_conflict_is_transient(engine: DbtEngine, pg: tuple[str, Path]) -> None:
    def concurrent_update() -> None:
        with psycopg.connect(pg[0], autocommit=True) as other:
            other.execute("update t set v = v + 1 where id = 1")

    _after(0.3, concurrent_update)
    statements = [
        "set transaction isolation level repeatable read",
        "select count(*) from t",  # the snapshot
        "select pg_sleep(1)",
        "update t set v = v + 10 where id = 1",
    ]
    with pytest.raises(WarehouseBusy, match="could not serialize access"):
        engine.sql(statements, read_only=False)


@pytest.mark.postgres
def test_a_deadlock_is_transient(engine: DbtEngine, pg: tuple[str, Path]) -> None:
    """ae's request waits first, so its session finds the cycle (after deadlock_timeout) and loses."""
    errors: list[BaseException] = []

    def other_session() -> None:
        with psycopg.connect(pg[0]) as other:
            other.execute("update t set v = v where id = 2")
            time.sleep(0.6)  # ae's request now holds id 1 and waits for id 2
            try:
                other.execute("update t set v = v where id = 1")
            except psycopg.Error as exc:
                errors.append(exc)
            other.rollback()

    thread = _after(0.0, other_session)
    time.sleep(0.2)
    with pytest.raises(WarehouseBusy, match="deadlock detected"):
        engine.sql(["update t set v = v where id = 1", "update t set v = v where id = 2"], read_only=False)
    thread.join(10)
    assert errors == []  # the other session went on once ae's transaction was aborted


@pytest.mark.postgres
def test_classify_by_sqlstate_and_by_words() -> None:
    """The child's classify: a driver error's SQLSTATE first, the server's words for what has none
    (a dbt node result carries only its message)."""
    with psycopg.connect(_admin_dsn()) as conn:
        try:
            conn.execute("select 1/0")
        except psycopg.Error as exc:
            assert classify(exc) == "database"
    assert classify("canceling statement due to lock timeout") == "conflict"
    assert classify("FATAL: terminating connection due to administrator command") == "unreachable"
    assert classify("Could not set lock on file x.duckdb: Conflicting lock is held") == "locked"
    assert classify("ERROR: cannot execute INSERT in a read-only transaction") == "read_only"


def _admin_dsn() -> str:
    from tests.postgres import POSTGRES_ADMIN_DSN

    return POSTGRES_ADMIN_DSN


@pytest.mark.postgres
def test_a_dbt_build_that_meets_another_sessions_lock_is_retryable(
    engine: DbtEngine, pg: tuple[str, Path]
) -> None:
    """The same fault inside a dbt invocation (not the __sql__ channel) reaches the policy layer as
    WarehouseBusy, so it is retried instead of failing the run on the model's merits."""
    model = pg[1] / "models" / "counted.sql"
    model.write_text("{{ config(pre_hook=\"set lock_timeout = '300ms'\") }}\nselect count(*) as n from t\n")
    try:
        with psycopg.connect(pg[0]) as holder:
            holder.execute("lock table t in access exclusive mode")
            with pytest.raises(WarehouseBusy, match=r"(?s)dbt run: .*lock timeout"):
                engine.invoke(DbtCall(command="run", select=["counted"]))
            holder.rollback()
        assert engine.invoke(DbtCall(command="run", select=["counted"])).success
    finally:
        model.unlink()
