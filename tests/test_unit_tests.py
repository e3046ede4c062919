"""/data-quality-test adds a dbt unit test to a model with logic, from real rows; dbt runs it for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.commands.planner import CommandPlanner
from agent.commands.unit_tests import logic_of
from graph.plan_spec import PlanRequest, PlanSpec
from tools.context import ToolContext
from tools.engine import DbtEngine, DbtResult
from tools.example_project import create_example_project
from tools.paths import ProjectPaths


class _Shop:
    def __init__(self, project: Path, engine: DbtEngine) -> None:
        self.project = project
        self.engine = engine

    def plan(self, line: str) -> PlanSpec:
        paths = ProjectPaths.for_project(self.project)
        spec = CommandPlanner().plan(
            PlanRequest(request=line), ToolContext(paths=paths, target="dev", engine=self.engine)
        )
        spec.changeset.apply(paths)
        return spec

    def build(self, *select: str) -> None:
        result = self.engine.run("build", select=list(select))
        assert result.success, [f"{n.name}: {n.status} {n.message}" for n in result.nodes]

    def unit_tests(self, path: str) -> list[dict[str, Any]]:
        return list(yaml.safe_load((self.project / path).read_text())["unit_tests"])


def _unit_results(result: DbtResult) -> dict[str, str]:
    return {n.name: n.status for n in result.nodes if n.resource_type == "unit_test"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Shop]:
    project = create_example_project(tmp_path_factory.mktemp("unit") / "shop", scale=1, seed=42)
    with DbtEngine(project) as engine:
        shop = _Shop(project, engine)
        shop.plan("/dbt-model --name stg_customers --type staging")
        shop.plan("/incremental-model --name stg_orders --strategy merge --unique-key order_id")
        shop.build("stg_customers", "stg_orders")
        shop.plan("/dbt-model --name dim_customers --type dimension")
        shop.build("dim_customers")
        yield shop


def test_logic_is_what_a_case_an_aggregation_or_an_incremental_filter_adds() -> None:
    assert logic_of("select id, case when x then 1 end as y from t") == ["a CASE expression"]
    assert logic_of("select a, count(*) from t group by a") == ["an aggregation"]
    assert logic_of("select * from t {% if is_incremental() %} where 1 {% endif %}") == [
        "an incremental filter"
    ]
    assert logic_of("select cast(id as integer) as customer_id from t") == []


def test_an_aggregating_mart_gets_a_unit_test_that_passes_and_catches_a_changed_aggregate(
    shop: _Shop,
) -> None:
    spec = shop.plan("/data-quality-test --model dim_customers --tests not_null")
    assert "unit test dim_customers_logic_on_sample_rows" in str(spec.answer)
    assert spec.verify_select == ["dim_customers"]
    (test,) = shop.unit_tests("models/marts/dim_customers.yml")
    assert test["model"] == "dim_customers"
    assert {g["input"] for g in test["given"]} == {"ref('stg_customers')", "ref('stg_orders')"}
    assert test["expect"]["rows"], "expected rows come from the model run on the fixture rows"
    result = shop.engine.run("test", select=["dim_customers"])
    assert _unit_results(result) == {"dim_customers_logic_on_sample_rows": "pass"}, result.nodes
    # the test pins the logic: counting rows some other way makes it fail
    sql_path = shop.project / "models" / "marts" / "dim_customers.sql"
    sql = sql_path.read_text()
    assert "count(*)" in sql
    sql_path.write_text(sql.replace("count(*)", "count(*) + 1", 1))
    try:
        changed = shop.engine.run("test", select=["dim_customers"])
    finally:
        sql_path.write_text(sql)
    assert _unit_results(changed) == {"dim_customers_logic_on_sample_rows": "fail"}
    # asking again keeps the test as written: re-recording would erase what it exists to catch
    again = shop.plan("/data-quality-test --model dim_customers --tests not_null")
    assert "already there; kept as written" in str(again.answer)
    assert shop.unit_tests("models/marts/dim_customers.yml") == [test]


def test_an_incremental_model_is_unit_tested_on_its_incremental_branch(shop: _Shop) -> None:
    spec = shop.plan("/data-quality-test --model stg_orders --tests unique")
    assert "an incremental filter" in str(spec.answer)
    (test,) = shop.unit_tests("models/staging/raw/stg_orders.yml")
    assert test["overrides"] == {"macros": {"is_incremental": True}}
    assert [g["input"] for g in test["given"]] == ["source('raw', 'orders')", "this"]
    result = shop.engine.run("test", select=["stg_orders"])
    assert _unit_results(result) == {"stg_orders_logic_on_sample_rows": "pass"}, result.nodes


def test_a_plain_staging_model_gets_no_unit_test(shop: _Shop) -> None:
    spec = shop.plan("/data-quality-test --model stg_customers --tests not_null")
    assert "unit test" not in str(spec.answer) and spec.verify_select is None
    text = (shop.project / "models" / "staging" / "raw" / "stg_customers.yml").read_text()
    assert "unit_tests" not in text


def test_a_model_reading_an_ephemeral_input_keeps_its_data_tests_and_says_why_no_unit_test(
    shop: _Shop,
) -> None:
    (shop.project / "models" / "intermediate").mkdir(exist_ok=True)
    (shop.project / "models" / "intermediate" / "int_orders_inline.sql").write_text(
        "{{ config(materialized='ephemeral') }}\nselect order_id, status from {{ ref('stg_orders') }}\n"
    )
    (shop.project / "models" / "marts" / "order_status_counts.sql").write_text(
        "select status, count(*) as order_count from {{ ref('int_orders_inline') }} group by status\n"
    )
    shop.build("order_status_counts")
    spec = shop.plan("/data-quality-test --model order_status_counts --tests not_null")
    assert "- no unit test: order_status_counts reads int_orders_inline, which is ephemeral" in str(
        spec.answer
    )
    assert "+ not_null on status" in str(spec.answer) and spec.verify_select is None
