"""Claude's warehouse tools (tools/warehouse_tools.py) and MCP's, on DuckDB and on PostgreSQL.

The tools run through the registry on the run's ``ToolContext.warehouse()``: the DuckDB file opened
by ae, or PostgreSQL through dbt-postgres in the engine's child process. Both hold the same seeded
shop (tests/warehouse_projects.py), so the same figures hold on each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import postgres_database
from tests.warehouse_projects import CUSTOMERS, ORDERS, duckdb_project, postgres_project, seed
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.errors import ConfigurationError
from tools.paths import ProjectPaths
from tools.registry import ToolOutcome, invoke

#: a table whose name holds a quote, a semicolon and a comment marker: only quoting reaches it
ODD_TABLE = 'we"ird; drop table shop.orders; --'


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def ctx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolContext]:
    root = tmp_path_factory.mktemp(request.param) / "shop"
    if request.param == "postgres":
        with postgres_database("ae_tools") as dsn, DbtEngine(postgres_project(root, dsn)) as engine:
            yield _seeded(engine)
    else:
        with DbtEngine(duckdb_project(root)) as engine:
            yield _seeded(engine)


def _seeded(engine: DbtEngine) -> ToolContext:
    context = ToolContext(paths=ProjectPaths.for_project(engine.project_dir), target="dev", engine=engine)
    warehouse = context.warehouse()
    seed(warehouse)
    odd = warehouse.dialect.relation(None, "shop", ODD_TABLE)
    warehouse.execute([f"CREATE TABLE {odd} AS SELECT 1 AS n"])
    return context


def _ok(ctx: ToolContext, name: str, **arguments: Any) -> Any:
    outcome = invoke(ctx, name, arguments)
    assert outcome.ok, outcome.error
    return outcome.output


def _orders(ctx: ToolContext) -> int:
    return int(_ok(ctx, "run_query", sql="select count(*) from shop.orders")["rows"][0][0])


def test_the_warehouse_tools_answer_on_the_runs_adapter(ctx: ToolContext) -> None:
    listed = _ok(ctx, "list_warehouse_relations", schema_name="shop")
    assert {r["name"] for r in listed} == {"customers", "orders", "big_orders", ODD_TABLE}
    assert {r["kind"] for r in listed if r["name"] == "big_orders"} == {"view"}
    described = _ok(ctx, "describe_warehouse_relation", relation="shop.orders")
    assert described["row_count"] == len(ORDERS)
    assert [c["name"] for c in described["columns"]] == ["order_id", "customer_id", "status", "amount"]
    profiled = _ok(ctx, "profile_columns", relation="shop.customers", columns=["customer_id", "tier"])
    assert profiled["row_count"] == len(CUSTOMERS) and profiled["key_candidates"] == ["customer_id"]
    assert set(profiled["columns"][1]["value_set"]) == {"gold", "silver", "bronze"}
    fk = _ok(
        ctx,
        "check_foreign_key",
        child_relation="shop.orders",
        child_column="customer_id",
        parent_relation="shop.customers",
        parent_column="customer_id",
    )
    assert fk["is_foreign_key"] and fk["child_values"] == len(ORDERS)
    queried = _ok(ctx, "run_query", sql="select order_id from shop.orders order by order_id", limit=2)
    assert queried["rows"] == [[1], [2]] and queried["truncated"]


@pytest.mark.parametrize(
    "relation",
    [
        'shop.orders"; drop table shop.orders; --',
        "shop.orders; drop table shop.orders",
        "shop.orders' or '1'='1",
        "(select 1) as t",
    ],
)
def test_a_hostile_relation_name_is_refused_and_changes_nothing(ctx: ToolContext, relation: str) -> None:
    for name, arguments in [
        ("describe_warehouse_relation", {"relation": relation}),
        ("profile_columns", {"relation": relation}),
        ("list_warehouse_relations", {"schema_name": relation}),
    ]:
        outcome = invoke(ctx, name, arguments)
        assert outcome.ok == (name == "list_warehouse_relations"), outcome.error
        assert outcome.ok or outcome.channel == "model", outcome.error
        assert outcome.output in (None, [])  # a schema literal matched no schema
    assert _orders(ctx) == len(ORDERS)


def test_a_name_with_quotes_and_semicolons_is_quoted_not_run(ctx: ToolContext) -> None:
    quoted = ODD_TABLE.replace('"', '""')
    described = _ok(ctx, "describe_warehouse_relation", relation=f'shop."{quoted}"')
    assert described["relation"]["name"] == ODD_TABLE and described["row_count"] == 1
    assert _ok(ctx, "profile_columns", relation=f'shop."{quoted}"')["key_candidates"] == ["n"]
    assert _orders(ctx) == len(ORDERS)


@pytest.mark.parametrize(
    "sql", ["select 1; drop table shop.orders", "drop table shop.orders", "delete from shop.orders"]
)
def test_run_query_refuses_writes(ctx: ToolContext, sql: str) -> None:
    outcome: ToolOutcome = invoke(ctx, "run_query", {"sql": sql})
    assert not outcome.ok and outcome.channel == "model" and outcome.error
    assert _orders(ctx) == len(ORDERS)


@pytest.mark.postgres
def test_mcp_serves_the_same_tools_on_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.mcp.tools import read_tools
    from agent.mcp.workspaces import Workspaces

    monkeypatch.setenv("AE_CONFIG", str(tmp_path / "user" / "config.yml"))
    for name in ("AE_PROTECTED_TARGETS", "AE_STORE_URL", "DBT_TARGET", "AE_MCP_TOOLS"):
        monkeypatch.delenv(name, raising=False)
    with postgres_database("ae_mcp") as dsn:
        project = postgres_project(tmp_path / "shop", dsn)
        workspaces = Workspaces(project)
        try:
            tools = {t.name: t.fn for t in read_tools(workspaces)}
            seed(workspaces.tool_context("", "").warehouse())
            counted = tools["ae_sql"](sql="select count(*) from shop.orders", limit=10)
            assert counted["rows"] == [[len(ORDERS)]]
            assert tools["ae_describe"](relation="shop.customers")["row_count"] == len(CUSTOMERS)
            assert tools["ae_profile"](relation="shop.orders")["key_candidates"][0] == "order_id"
        finally:
            workspaces.close()


def test_a_context_without_an_engine_says_postgres_needs_one(tmp_path: Path) -> None:
    project = postgres_project(tmp_path / "shop", "postgresql://postgres@127.0.0.1:5432/unused")
    context = ToolContext(paths=ProjectPaths.for_project(project), target="dev")
    with pytest.raises(ConfigurationError, match=r"postgres warehouse.*no dbt engine"):
        context.warehouse()
