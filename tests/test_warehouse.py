"""Read-only warehouse tools against a real DuckDB file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tools.errors import (
    ConfigurationError,
    InvalidArguments,
    QueryError,
    ReadOnlyViolation,
    WarehouseLocked,
)
from tools.warehouse import (
    MAX_VALUE_CHARS,
    TRUNCATED_MARKER,
    check_read_only_sql,
    execute_query,
    readonly_connection,
    run_readonly_query,
)
from tools.warehouse_port import duckdb_warehouse


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("warehouse") / "dev.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        """
        CREATE SCHEMA raw;
        CREATE TABLE raw.orders (
            order_id INTEGER NOT NULL, status VARCHAR, amount DECIMAL(10, 2),
            ordered_on DATE, created_at TIMESTAMP
        );
        INSERT INTO raw.orders VALUES
            (1, 'placed', 10.50, '2024-01-01', '2024-01-01 08:00:00'),
            (2, 'shipped', 20.00, '2024-01-02', '2024-01-02 09:30:00'),
            (3, 'placed', NULL, NULL, NULL);
        CREATE TABLE raw.order_items (order_id INTEGER, sku VARCHAR);
        CREATE TABLE main.customers (customer_id INTEGER, name VARCHAR);
        INSERT INTO main.customers VALUES (1, 'Ann'), (2, 'Bo');
        CREATE VIEW main.placed_orders AS SELECT * FROM raw.orders WHERE status = 'placed';
        """
    )
    con.close()
    return path


def test_describe_reports_columns_types_nullability_and_row_count(warehouse: Path) -> None:
    description = duckdb_warehouse(warehouse).describe("raw.orders")

    assert description.relation.qualified_name == "dev.raw.orders"
    assert description.relation.kind == "table"
    assert description.row_count == 3
    assert [(c.name, c.type, c.nullable) for c in description.columns] == [
        ("order_id", "INTEGER", False),
        ("status", "VARCHAR", True),
        ("amount", "DECIMAL(10,2)", True),
        ("ordered_on", "DATE", True),
        ("created_at", "TIMESTAMP", True),
    ]


def test_describe_defaults_to_main_and_accepts_three_part_names(warehouse: Path) -> None:
    assert duckdb_warehouse(warehouse).describe("customers").row_count == 2
    view = duckdb_warehouse(warehouse).describe("DEV.main.Placed_Orders")
    assert view.relation.kind == "view"
    assert view.row_count == 2


def test_unknown_relation_names_near_matches(warehouse: Path) -> None:
    with pytest.raises(QueryError) as raised:
        duckdb_warehouse(warehouse).describe("raw.ordrs")
    assert "raw.orders" in raised.value.message
    assert "order_items" in raised.value.message  # the relations that do exist in the schema


def test_unknown_schema_lists_the_schemas(warehouse: Path) -> None:
    with pytest.raises(QueryError, match="main, raw"):
        duckdb_warehouse(warehouse).describe("staging.orders")


def test_list_relations_all_and_by_schema(warehouse: Path) -> None:
    everything = {ref.qualified_name for ref in duckdb_warehouse(warehouse).list_relations()}
    assert everything == {
        "dev.main.customers",
        "dev.main.placed_orders",
        "dev.raw.order_items",
        "dev.raw.orders",
    }
    in_raw = duckdb_warehouse(warehouse).list_relations("raw")
    assert [ref.name for ref in in_raw] == ["order_items", "orders"]


def test_query_returns_json_ready_rows(warehouse: Path) -> None:
    result = run_readonly_query(
        warehouse, "SELECT order_id, amount, ordered_on, created_at FROM raw.orders ORDER BY order_id"
    )

    assert result.columns == ["order_id", "amount", "ordered_on", "created_at"]
    assert result.types == ["INTEGER", "DECIMAL(10,2)", "DATE", "TIMESTAMP"]
    assert result.rows[0] == [1, 10.5, "2024-01-01", "2024-01-01T08:00:00"]
    assert result.rows[2] == [3, None, None, None]
    assert (result.row_count, result.truncated) == (3, False)
    json.dumps(result.model_dump())  # everything in it must serialise


def test_query_is_cut_at_limit_and_says_so(warehouse: Path) -> None:
    result = run_readonly_query(warehouse, "SELECT * FROM range(10)", limit=4)
    assert result.rows == [[0], [1], [2], [3]]
    assert (result.row_count, result.truncated) == (4, True)


def test_query_limit_must_be_positive(warehouse: Path) -> None:
    with pytest.raises(InvalidArguments):
        run_readonly_query(warehouse, "SELECT 1", limit=0)


@pytest.mark.parametrize(
    "sql",
    [
        "WITH placed AS (SELECT * FROM raw.orders WHERE status = 'placed') SELECT count(*) FROM placed",
        "SELECT order_id FROM raw.orders UNION ALL SELECT customer_id FROM customers",
        "DESCRIBE raw.orders",
        "SHOW TABLES",
        "EXPLAIN SELECT * FROM raw.orders",
        "SUMMARIZE raw.orders",
        "PRAGMA table_info('raw.orders')",
    ],
)
def test_read_statements_are_allowed(warehouse: Path, sql: str) -> None:
    assert run_readonly_query(warehouse, sql).row_count > 0


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("DELETE FROM raw.orders", "DELETE"),
        ("DROP TABLE raw.orders", "DROP"),
        ("CREATE TABLE x AS SELECT 1", "CREATE TABLE"),
        ("SELECT 1; DROP TABLE raw.orders", "2 statements"),
        ("UPDATE raw.orders SET status = 'x'", "UPDATE"),
        ("INSERT INTO customers VALUES (3, 'Cy')", "INSERT"),
        ("COPY raw.orders TO '/tmp/orders.csv'", "COPY"),
        ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("SET threads = 1", "SET"),
        ("CALL pragma_version()", "CALL"),
        ("PRAGMA threads = 1", "PRAGMA"),
        ("SELECT 1 AS x INTO new_table", "INTO"),
        ("EXPLAIN ANALYZE DELETE FROM raw.orders", "DELETE"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT * FROM read_parquet('data/*.parquet')", "read_parquet"),
        ("SELECT * FROM glob('/etc/*')", "glob"),
        ("SELECT * FROM '/etc/passwd'", "/etc/passwd"),
        ("SELECT * FROM query('SELECT 1')", "query"),
    ],
)
def test_writes_and_file_access_are_refused_before_running(warehouse: Path, sql: str, kind: str) -> None:
    with pytest.raises(ReadOnlyViolation, match=kind):
        check_read_only_sql(sql)  # the guard alone refuses it, naming the statement kind
    with pytest.raises(ReadOnlyViolation):
        run_readonly_query(warehouse, sql)
    assert duckdb_warehouse(warehouse).describe("raw.orders").row_count == 3


def test_connection_refuses_writes_and_files_even_without_the_guard(warehouse: Path) -> None:
    # defense in depth: what the parser might miss, the connection itself refuses
    with readonly_connection(warehouse) as con:
        with pytest.raises(ReadOnlyViolation, match="read-only"):
            execute_query(con, "DELETE FROM raw.orders")
        with pytest.raises(ReadOnlyViolation, match="disabled by configuration"):
            execute_query(con, "SELECT * FROM read_csv('/etc/passwd')")
        with pytest.raises(ReadOnlyViolation):
            execute_query(con, "SET enable_external_access = true")


def test_sql_errors_carry_the_warehouse_message(warehouse: Path) -> None:
    with pytest.raises(QueryError, match="no_such_column"):
        run_readonly_query(warehouse, "SELECT no_such_column FROM raw.orders")
    with pytest.raises(QueryError, match="could not be parsed"):
        run_readonly_query(warehouse, "SELEC 1")


def test_missing_warehouse_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        duckdb_warehouse(tmp_path / "nope.duckdb").describe("orders")


@pytest.fixture
def locked_warehouse(warehouse: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the warehouse held open for writing by another process."""
    path = tmp_path / "locked.duckdb"
    shutil.copy(warehouse, path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, duckdb\n"
            "con = duckdb.connect(sys.argv[1])\n"
            "print('holding', flush=True)\n"
            "time.sleep(120)\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        yield path
    finally:
        holder.kill()
        holder.wait()


def test_lock_held_by_another_process_is_transient(locked_warehouse: Path) -> None:
    with pytest.raises(WarehouseLocked, match=r"is locked by (PID \d+|another process)"):
        duckdb_warehouse(locked_warehouse).describe("raw.orders")


def test_a_runaway_query_is_interrupted_with_an_error_the_model_can_act_on(warehouse: Path) -> None:
    # it was: a 10^10-row query ran for 223 s
    started = time.monotonic()
    with pytest.raises(QueryError, match=r"ran past its 1s time limit") as raised:
        run_readonly_query(warehouse, "SELECT sum(i) FROM range(10000000000) t(i)", timeout_s=1)
    assert time.monotonic() - started < 10
    assert "LIMIT" in str(raised.value)
    assert run_readonly_query(warehouse, "SELECT 1 AS one", timeout_s=1).rows == [[1]]  # no stray interrupt


def test_a_huge_value_is_cut_inside_duckdb_with_a_marker(warehouse: Path) -> None:
    # it was: one row holding a 20M-element list took 2.2 GB; the list no longer reaches Python
    result = run_readonly_query(warehouse, "SELECT 7 AS n, range(2000000) AS big, 'small' AS s")
    (row,) = result.rows
    assert row[0] == 7 and row[2] == "small"
    assert isinstance(row[1], str) and row[1].startswith("[0, 1, 2, ")
    assert row[1].endswith(TRUNCATED_MARKER.format(limit=MAX_VALUE_CHARS))
    assert len(row[1]) < MAX_VALUE_CHARS + 100
    assert result.values_truncated and not result.truncated
    assert result.types == ["INTEGER", "BIGINT[]", "VARCHAR"]


def test_rows_stop_at_the_byte_budget(warehouse: Path) -> None:
    sql = "SELECT i, repeat('x', 2000) AS pad FROM range(1000) t(i)"
    result = run_readonly_query(warehouse, sql, limit=1000, max_bytes=50_000)
    assert result.truncated and 20 <= result.row_count <= 25
    assert len(json.dumps(result.rows)) <= 50_000
    default = run_readonly_query(warehouse, sql, limit=1000)  # 2 MB of rows, over the 1 MB default
    assert default.truncated and 450 <= default.row_count <= 500
