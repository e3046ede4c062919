"""The warehouse port: one test body, three warehouses (real DuckDB, real dbt, real PostgreSQL).

- ``duckdb-direct``: the DuckDB file opened by ae (tools/warehouse_port/duckdb_runner.py);
- ``duckdb-adapter``: the same kind of file through dbt-duckdb in the engine's child process;
- ``postgres-adapter``: a PostgreSQL database (its own, dropped after) through dbt-postgres.

Each holds the same seeded shop (tests/warehouse_projects.py), so every figure asserted here is the
same on every warehouse.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.postgres import postgres_database
from tests.warehouse_projects import (
    CUSTOMERS,
    ORDERS,
    duckdb_project,
    postgres_project,
    seed,
)
from tools.engine import DbtEngine
from tools.errors import InvalidArguments, NotOnAdapter, QueryError, ReadOnlyViolation
from tools.profiling import foreign_key_matches, profile_relation, suggest_foreign_keys
from tools.warehouse_port import (
    ColumnInfo,
    QueryResult,
    RelationName,
    RelationRef,
    Warehouse,
    adapter_warehouse,
    duckdb_warehouse,
)
from tools.warehouse_port.dialects import dialect_for
from tools.warehouse_port.runner import Statement
from tools.warehouse_port.values import MAX_VALUE_CHARS, TRUNCATED_MARKER

#: a statement that runs for far longer than the tests' time limits, per adapter
SLOW = {
    "duckdb": "select sum(a.range * b.range) from range(200000) a, range(200000) b",
    "postgres": "select pg_sleep(30)",
}
#: a read of a file, per adapter (refused by the guard before anything runs)
FILE_READS = {
    "duckdb": ["select * from read_csv('/etc/passwd')", "select * from '/etc/passwd.csv'"],
    "postgres": ["select pg_read_file('/etc/passwd')", "select lo_import('/etc/passwd')"],
}


@dataclass(frozen=True)
class Case:
    name: str
    warehouse: Warehouse


def _open(kind: str, root: Path, dsn: str | None) -> Iterator[Case]:
    if kind == "duckdb-direct":
        project = duckdb_project(root)
        warehouse = duckdb_warehouse(project / "warehouse.duckdb")
        seed(warehouse)
        yield Case(kind, warehouse)
        return
    project = duckdb_project(root) if dsn is None else postgres_project(root, dsn)
    with DbtEngine(project) as engine:
        warehouse = adapter_warehouse(engine)
        seed(warehouse)
        yield Case(kind, warehouse)


@pytest.fixture(
    scope="module",
    params=[
        "duckdb-direct",
        "duckdb-adapter",
        pytest.param("postgres-adapter", marks=pytest.mark.postgres),
    ],
)
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    root = tmp_path_factory.mktemp(request.param) / "shop"
    if request.param.startswith("postgres"):
        with postgres_database("ae_port") as dsn:
            yield from _open(request.param, root, dsn)
    else:
        yield from _open(request.param, root, None)


# --- read-only queries ----------------------------------------------------------------------------


def test_query_caps_rows_and_bytes(case: Case) -> None:
    wh = case.warehouse
    capped = wh.query("select order_id from shop.orders order by order_id", limit=3)
    assert capped.rows == [[1], [2], [3]]
    assert capped.truncated
    whole = wh.query("select order_id, status from shop.orders order by order_id", limit=100)
    assert whole.row_count == len(ORDERS) and not whole.truncated
    budget = wh.query("select order_id, status from shop.orders", limit=100, max_bytes=60)
    assert 1 <= budget.row_count < len(ORDERS) and budget.truncated


def test_query_cuts_long_values(case: Case) -> None:
    result = case.warehouse.query(f"select repeat('x', {MAX_VALUE_CHARS * 3}) as long_text, 7 as n", limit=1)
    value = result.rows[0][0]
    assert isinstance(value, str) and value.endswith(TRUNCATED_MARKER.format(limit=MAX_VALUE_CHARS))
    assert len(value) < MAX_VALUE_CHARS + 100
    assert result.values_truncated and result.rows[0][1] == 7


def test_query_stops_at_its_time_limit(case: Case) -> None:
    wh = case.warehouse
    started = time.perf_counter()
    with pytest.raises(QueryError, match="time limit"):
        wh.query(SLOW[wh.adapter], limit=1, timeout_s=1)
    assert time.perf_counter() - started < 10
    assert wh.query("select 1 as still_answering", limit=1).rows == [[1]]  # the same engine, alive


@pytest.mark.parametrize(
    "sql",
    [
        "delete from shop.orders",
        "drop table shop.orders",
        "select 1; drop table shop.orders",  # two statements
        "with gone as (delete from shop.orders returning *) select * from gone",  # a write in a CTE
        "select * into shop.copy from shop.orders",
        "update shop.orders set amount = 0",
    ],
)
def test_query_refuses_writes(case: Case, sql: str) -> None:
    with pytest.raises(ReadOnlyViolation):
        case.warehouse.query(sql)
    assert case.warehouse.row_count("shop.orders") == len(ORDERS)


def test_query_refuses_file_access(case: Case) -> None:
    for sql in FILE_READS[case.warehouse.adapter]:
        with pytest.raises(ReadOnlyViolation, match="refused"):
            case.warehouse.query(sql)


def test_a_write_past_the_guard_is_refused_by_the_warehouse(case: Case) -> None:
    """The second wall: a read-only call cannot write even when its SQL was never checked."""
    wh = case.warehouse
    with pytest.raises(ReadOnlyViolation, match="read-only"):
        wh.runner.run(
            [Statement("insert into shop.orders values (99, 1, 'sneaky', 1)")],
            read_only=True,
            limit=None,
            timeout_s=30,
            max_bytes=None,
        )
    assert wh.row_count("shop.orders") == len(ORDERS)


# --- catalog and profiles -------------------------------------------------------------------------


def test_list_and_describe(case: Case) -> None:
    wh = case.warehouse
    shop = {(ref.name, ref.kind) for ref in wh.list_relations("shop")}
    assert shop >= {("customers", "table"), ("orders", "table"), ("big_orders", "view")}
    assert all(ref.schema_name == "shop" for ref in wh.list_relations("SHOP"))
    described = wh.describe("shop.orders")
    assert [c.name for c in described.columns] == ["order_id", "customer_id", "status", "amount"]
    # the full type, scale and length included (a unit test's scratch table is made with it)
    types = [c.type.lower() for c in described.columns[2:]]
    assert types in (["character varying(20)", "numeric(10,2)"], ["varchar", "decimal(10,2)"])
    assert described.row_count == len(ORDERS)
    assert wh.describe("shop.big_orders").row_count == sum(1 for o in ORDERS if float(o[3]) > 20)
    assert wh.resolve("Shop.Orders").name == "orders"  # case-insensitive, as dbt's names are
    with pytest.raises(QueryError, match=r"Did you mean: shop\.orders"):
        wh.resolve("shop.ordres")


def test_profile_figures(case: Case) -> None:
    wh = case.warehouse
    customers = profile_relation(wh, "shop.customers")
    by_name = {c.name: c for c in customers.columns}
    assert customers.row_count == len(CUSTOMERS)
    assert customers.key_candidates == ["customer_id", "email", "signup_date"]
    assert customers.timestamp_columns == ["signup_date"]
    assert (by_name["customer_id"].min, by_name["customer_id"].max) == ("1", "12")
    assert (by_name["signup_date"].min, by_name["signup_date"].max) == ("2024-01-02", "2024-01-13")
    assert by_name["tier"].value_set == ["bronze", "gold", "silver"]  # 4 each: ties by value
    assert (by_name["nickname"].nulls, by_name["nickname"].distinct) == (3, 9)
    assert not by_name["nickname"].is_unique
    orders = profile_relation(wh, "shop.orders", top_n=2)
    by_name = {c.name: c for c in orders.columns}
    assert orders.key_candidates == ["order_id", "amount"]
    assert by_name["status"].value_set == ["completed", "returned"]
    assert [(v.value, v.count) for v in by_name["status"].top_values] == [("completed", 24), ("returned", 6)]
    assert (by_name["amount"].min, by_name["amount"].max) == ("1.50", "45.00")
    assert by_name["customer_id"].distinct == 12


def test_foreign_keys(case: Case) -> None:
    wh = case.warehouse
    match = foreign_key_matches(wh, "shop.orders", "customer_id", "shop.customers", "customer_id")
    assert (match.child_values, match.orphan_rows, match.is_foreign_key) == (30, 0, True)
    orphans = foreign_key_matches(wh, "shop.orders", "order_id", "shop.customers", "customer_id")
    assert (orphans.orphan_rows, orphans.orphan_sample) == (18, [13, 14, 15, 16, 17])
    found = suggest_foreign_keys(wh, "shop.orders", ["shop.customers"])
    assert [(m.child_column, m.parent_column) for m in found] == [("customer_id", "customer_id")]


# --- writes: schemas, copies, renames, drops, hashes ----------------------------------------------


def test_copy_rename_drop_and_fingerprints(case: Case) -> None:
    wh = case.warehouse
    wh.create_schema("scratch_copy")
    try:
        original = wh.fingerprint("shop.orders")
        assert original.rows == len(ORDERS)
        copy = wh.copy_relation("shop.orders", RelationName(schema_name="scratch_copy", name="orders"))
        assert (copy.kind, wh.fingerprint(copy)) == ("table", original)
        # the same rows in another order: the same fingerprint
        wh.execute(
            [
                f"CREATE TABLE {wh.dialect.relation(None, 'scratch_copy', 'reversed')} AS "
                "SELECT * FROM shop.orders ORDER BY order_id DESC"
            ]
        )
        assert wh.fingerprint("scratch_copy.reversed") == original
        wh.execute(["UPDATE scratch_copy.orders SET status = 'lost' WHERE order_id = 7"])
        changed = wh.fingerprint("scratch_copy.orders")
        assert changed.rows == original.rows and changed.hash != original.hash
        view = wh.copy_relation("shop.big_orders", RelationName(schema_name="scratch_copy", name="big"))
        assert view.kind == "view"
        assert wh.fingerprint(view) == wh.fingerprint("shop.big_orders")
        frozen = wh.copy_relation(
            "shop.big_orders", RelationName(schema_name="scratch_copy", name="big_rows"), as_table=True
        )
        assert frozen.kind == "table"
        renamed = wh.rename_relation("scratch_copy.reversed", "kept")
        assert wh.resolve("scratch_copy.kept") == renamed
        assert wh.drop_relation(renamed).name == "kept"
        assert "kept" not in {r.name for r in wh.list_relations("scratch_copy")}
        names = wh.relation_names()
        database = wh.resolve("shop.orders").database.lower()
        gone = f"{database}.scratch_copy.big_rows"
        assert gone in names
        assert wh.drop_relations([gone, f"{database}.scratch_copy.never_there"]) == [gone]
        assert gone not in wh.relation_names()
    finally:
        wh.drop_schema("scratch_copy")
    assert "scratch_copy" not in {r.schema_name for r in wh.list_relations()}
    assert wh.row_count("shop.orders") == len(ORDERS)


def test_moving_between_schemas(case: Case) -> None:
    """PostgreSQL moves a relation (ALTER ... SET SCHEMA); DuckDB has no such statement, and says so."""
    wh = case.warehouse
    wh.create_schema("scratch_move")
    try:
        wh.copy_relation("shop.customers", RelationName(schema_name="shop", name="to_move"))
        if wh.adapter == "duckdb":
            with pytest.raises(NotOnAdapter, match="not on duckdb: moving a relation to another schema"):
                wh.rename_relation("shop.to_move", "moved", schema="scratch_move")
            wh.drop_relation("shop.to_move")
        else:
            moved = wh.rename_relation("shop.to_move", "moved", schema="scratch_move")
            assert (moved.schema_name, moved.name) == ("scratch_move", "moved")
            assert wh.row_count("scratch_move.moved") == len(CUSTOMERS)
    finally:
        wh.drop_schema("scratch_move")
    assert "to_move" not in {r.name for r in wh.list_relations("shop")}


def test_hostile_identifiers_stay_names(case: Case) -> None:
    """Quotes, semicolons and comment markers in schema and table names are parts of the names."""
    wh = case.warehouse
    schema, name = 'we"ird; drop schema shop cascade; --', "o'rders\"; drop table shop.orders; --"
    wh.create_schema(schema)
    try:
        copy = wh.copy_relation("shop.orders", RelationName(schema_name=schema, name=name))
        [listed] = wh.list_relations(schema)
        assert (listed.schema_name, listed.name) == (schema, name) == (copy.schema_name, copy.name)
        assert wh.describe(listed).row_count == len(ORDERS)
        assert wh.fingerprint(listed) == wh.fingerprint("shop.orders")
        assert profile_relation(wh, listed).key_candidates == ["order_id", "amount"]
        wh.drop_relation(listed)
        assert wh.list_relations(schema) == []
    finally:
        wh.drop_schema(schema)
    # a name with a statement glued on is a name that does not exist, never a statement
    with pytest.raises((InvalidArguments, QueryError), match="not"):
        wh.describe("shop.orders; drop table shop.orders")
    assert wh.row_count("shop.orders") == len(ORDERS)


def test_loaded_rows_keep_hostile_values(case: Case) -> None:
    """Fixture rows (a unit test's expected output) go in as typed literals, whatever they hold."""
    wh = case.warehouse
    wh.create_schema("scratch_rows")
    try:
        tricky = ["it's", "back\\slash\\", "'); drop table shop.orders; --", None]
        wh.load_rows(
            RelationName(schema_name="scratch_rows", name="fixture"),
            [
                ColumnInfo(name="id", type="integer", nullable=False),
                ColumnInfo(name="label", type="varchar(100)", nullable=True),
                ColumnInfo(name="day", type="date", nullable=True),
            ],
            [[i, value, "2024-02-29"] for i, value in enumerate(tricky)],
        )
        result: QueryResult = wh.query("select label, day from scratch_rows.fixture order by id", limit=10)
        assert [row[0] for row in result.rows] == tricky
        assert {row[1] for row in result.rows} == {"2024-02-29"}
        with pytest.raises(InvalidArguments, match="column type"):
            wh.load_rows(
                RelationName(schema_name="scratch_rows", name="bad"),
                [ColumnInfo(name="x", type="", nullable=True)],
                [],
            )
    finally:
        wh.drop_schema("scratch_rows")
    assert wh.row_count("shop.orders") == len(ORDERS)


# --- what an adapter ae does not know gets --------------------------------------------------------


class _Recording:
    """A runner that records what it is asked to run and answers nothing (no warehouse needed to
    show that an unknown adapter is refused before anything runs)."""

    adapter = "snowflake"

    def __init__(self) -> None:
        self.ran: list[str] = []

    def reading(self) -> AbstractContextManager[None]:
        return nullcontext()

    def run(
        self,
        statements: Sequence[Statement],
        *,
        read_only: bool,
        limit: int | None,
        timeout_s: float,
        max_bytes: int | None,
    ) -> list[QueryResult]:
        self.ran += [s.sql for s in statements]
        return [QueryResult(columns=[], types=[], rows=[], row_count=0, truncated=False) for _ in statements]


def test_an_unknown_adapter_says_what_it_cannot_do() -> None:
    runner = _Recording()
    wh = Warehouse(runner, dialect_for("snowflake"))
    assert wh.dialect.sqlglot == "snowflake"
    orders = RelationRef(database="db", schema_name="analytics", name="orders", kind="view")
    with pytest.raises(NotOnAdapter, match="not on snowflake: a hash of a relation's rows"):
        wh.fingerprint(orders)
    with pytest.raises(NotOnAdapter, match="not on snowflake: copying a view by its definition"):
        wh.copy_relation(orders, RelationName(schema_name="s", name="v"))
    with pytest.raises(NotOnAdapter, match="not on snowflake: moving a relation"):
        wh.rename_relation(orders, "x", schema="elsewhere")
    assert runner.ran == []  # nothing reached the warehouse
    wh.copy_relation(orders, RelationName(schema_name="s", name="t"), as_table=True)
    assert runner.ran == ['CREATE TABLE "s"."t" AS SELECT * FROM "db"."analytics"."orders"']
    with pytest.raises(InvalidArguments, match="names no schema"):
        wh.resolve("orders")


def test_reads_in_a_reading_block_share_one_connection_and_free_the_file_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Profiling opens a DuckDB file once per tool call, not once per query; a failed query in the
    block leaves no transaction behind for the next, and after the block the file takes a write."""
    import duckdb

    import tools.warehouse_port.duckdb_runner as runner

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table t as select 1 as n")
    opened: list[bool] = []
    real_open = runner._open

    def counted(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        opened.append(read_only)
        return real_open(path, read_only=read_only)

    monkeypatch.setattr(runner, "_open", counted)
    warehouse = duckdb_warehouse(db)
    with warehouse.reading():
        assert warehouse.query("select n from t").rows == [[1]]
        with pytest.raises(QueryError):
            warehouse.query("select no_such_column from t")
        assert warehouse.query("select count(*) from t").rows == [[1]]
        profile_relation(warehouse, "main.t")  # its own block, inside ours: the same connection
    assert opened == [True]
    warehouse.execute(["insert into t values (2)"])
    assert warehouse.row_count("main.t") == 2
