"""Column-level lineage (tools/column_lineage.py) on dbt-labs' public jaffle_shop: upstream to the seed
columns, downstream to model columns, tests and exposures; its budget on a long chain; and once on the
manifest dbt itself compiles."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.change_what_exists import FIXTURE, MODELS, manifest_nodes, read, relation
from tools.column_lineage import ColumnGraph, ColumnRef, LineageBudget, from_manifest
from tools.errors import UnknownNode
from tools.manifest import Manifest

PAYMENTS = "model.jaffle_shop.stg_payments"


def _nodes() -> dict[str, dict[str, Any]]:
    nodes = manifest_nodes({name: read(path) for name, path in MODELS.items()})
    nodes["test.jaffle_shop.not_null_orders_amount"] = {
        "name": "not_null_orders_amount", "resource_type": "test",
        "attached_node": "model.jaffle_shop.orders", "column_name": "amount",
        "test_metadata": {"name": "not_null", "kwargs": {"column_name": "amount"}},
        "depends_on": {"nodes": ["model.jaffle_shop.orders"]},
    }  # fmt: skip
    nodes["test.jaffle_shop.relationships_orders_customer_id"] = {
        "name": "relationships_orders_customer_id", "resource_type": "test",
        "attached_node": "model.jaffle_shop.orders", "column_name": "customer_id",
        "test_metadata": {
            "name": "relationships", "kwargs": {"to": "ref('customers')", "field": "customer_id"}
        },
        "depends_on": {"nodes": ["model.jaffle_shop.customers", "model.jaffle_shop.orders"]},
    }  # fmt: skip
    nodes["test.jaffle_shop.assert_no_negative_payments"] = {
        "name": "assert_no_negative_payments", "resource_type": "test",
        "compiled_code": f"select * from {relation('stg_payments')} where amount < 0",
        "depends_on": {"nodes": [PAYMENTS]},
    }  # fmt: skip
    nodes["exposure.jaffle_shop.revenue_board"] = {
        "name": "revenue_board", "resource_type": "exposure",
        "depends_on": {"nodes": ["model.jaffle_shop.customers"]},
    }  # fmt: skip
    return nodes


def test_customer_lifetime_value_comes_from_stg_payments_amount_and_the_raw_payments_column() -> None:
    found = ColumnGraph(_nodes()).upstream("customers", "customer_lifetime_value")
    assert found.columns == (
        (ColumnRef(PAYMENTS, "amount"), 1),
        (ColumnRef("seed.jaffle_shop.raw_payments", "amount"), 2),
    )
    assert found.origins == (ColumnRef("seed.jaffle_shop.raw_payments", "amount"),)
    assert found.complete


def test_an_incremental_model_compiled_as_an_incremental_run_reads_itself_without_looping() -> None:
    """dbt compiles an incremental model whose table exists with its is_incremental() branch: the SQL
    reads {{ this }}, the model's own relation, which is no parent of it."""
    nodes = _nodes()
    nodes["model.jaffle_shop.recent_orders"] = {
        "name": "recent_orders", "resource_type": "model", "relation_name": relation("recent_orders"),
        "compiled_code": f"select order_id, order_date from {relation('stg_orders')} "
        f"where order_date >= (select max(order_date) from {relation('recent_orders')})",
        "depends_on": {"nodes": ["model.jaffle_shop.stg_orders"]},
    }  # fmt: skip
    graph = ColumnGraph(nodes)
    assert graph.columns("model.jaffle_shop.recent_orders") == ["order_id", "order_date"]
    found = graph.upstream("recent_orders", "order_date")
    assert found.complete and ColumnRef("seed.jaffle_shop.raw_orders", "order_date") in dict(found.columns)


def test_a_renamed_and_pivoted_column_is_followed_through_ctes() -> None:
    graph = ColumnGraph(_nodes())
    assert [c for c, _ in graph.upstream("orders", "credit_card_amount").columns] == [
        ColumnRef(PAYMENTS, "amount"),
        ColumnRef(PAYMENTS, "payment_method"),
        ColumnRef("seed.jaffle_shop.raw_payments", "amount"),
        ColumnRef("seed.jaffle_shop.raw_payments", "payment_method"),
    ]
    # a rename: stg_orders.customer_id is raw_orders.user_id
    assert graph.upstream("stg_orders", "customer_id").origins == (
        ColumnRef("seed.jaffle_shop.raw_orders", "user_id"),
    )


def test_downstream_of_a_column_reaches_model_columns_tests_and_exposures() -> None:
    found = ColumnGraph(_nodes()).downstream("stg_payments", "amount")
    assert {c for c, _ in found.columns} == {
        ColumnRef("model.jaffle_shop.customers", "customer_lifetime_value"),
        *(
            ColumnRef("model.jaffle_shop.orders", c)
            for c in (
                "amount",
                "credit_card_amount",
                "coupon_amount",
                "bank_transfer_amount",
                "gift_card_amount",
            )
        ),
    }
    assert found.tests == (
        "test.jaffle_shop.assert_no_negative_payments",
        "test.jaffle_shop.not_null_orders_amount",
    )
    assert found.exposures == ("exposure.jaffle_shop.revenue_board",)
    assert found.complete


def test_a_column_only_joined_on_is_a_read_not_a_derivation() -> None:
    found = ColumnGraph(_nodes()).downstream("stg_payments", "order_id")
    # orders.order_id comes from stg_orders; stg_payments.order_id only groups and joins
    assert ColumnRef("model.jaffle_shop.orders", "order_id") not in {c for c, _ in found.columns}
    assert found.readers == ("model.jaffle_shop.customers", "model.jaffle_shop.orders")


def test_a_relationships_test_depends_on_the_column_it_points_to() -> None:
    graph = ColumnGraph(_nodes())
    impact = graph.impact("customers", ["customer_id"])
    assert "test.jaffle_shop.relationships_orders_customer_id" in impact.tests
    assert (
        "test.jaffle_shop.relationships_orders_customer_id"
        not in graph.impact("customers", ["first_name"]).tests
    )
    assert impact.exposures == ("exposure.jaffle_shop.revenue_board",)


def test_a_model_whose_sql_does_not_parse_is_named_not_guessed() -> None:
    nodes = _nodes()
    nodes["model.jaffle_shop.broken"] = {
        "name": "broken", "resource_type": "model", "compiled_code": "select amount from (((",
        "depends_on": {"nodes": [PAYMENTS]}, "relation_name": relation("broken"),
    }  # fmt: skip
    found = ColumnGraph(nodes).downstream("stg_payments", "amount")
    assert found.unresolved == ("model.jaffle_shop.broken",)
    assert not found.complete
    with pytest.raises(UnknownNode):
        ColumnGraph(nodes).upstream("nope", "x")


def _chain(length: int) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {
        "seed.p.m0": {
            "name": "m0",
            "resource_type": "seed",
            "columns": ["id", "v"],
            "relation_name": relation("m0"),
        }
    }
    for i in range(1, length + 1):
        parent = "seed.p.m0" if i == 1 else f"model.p.m{i - 1}"
        nodes[f"model.p.m{i}"] = {
            "name": f"m{i}", "resource_type": "model", "depends_on": {"nodes": [parent]},
            "relation_name": relation(f"m{i}"),
            "compiled_code": f"with s as (select * from {relation(f'm{i - 1}')})\n"
            "select id, v + 1 as v from s",
        }  # fmt: skip
    return nodes


def test_a_long_chain_is_walked_within_the_budget_and_a_cut_says_so() -> None:
    started = time.monotonic()
    found = ColumnGraph(_chain(300)).upstream("m300", "v")
    elapsed = time.monotonic() - started
    assert found.origins == (ColumnRef("seed.p.m0", "v"),) and len(found.columns) == 300
    assert elapsed < 20, elapsed
    cut = ColumnGraph(_chain(300), budget=LineageBudget(max_models=50)).upstream("m300", "v")
    assert cut.cut == "stopped after analysing 50 models (the budget)"
    assert not cut.complete and cut.origins == ()
    late = ColumnGraph(_chain(300), budget=LineageBudget(seconds=0)).downstream("m0", "v")
    assert late.cut == "stopped at the 0 s deadline"


@pytest.mark.slow
def test_lineage_on_the_manifest_dbt_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dbt.cli.main import dbtRunner

    root = tmp_path / "jaffle_shop"
    shutil.copytree(FIXTURE, root)
    (root / "profiles.yml").write_text(
        "jaffle_shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: j.duckdb\n"
    )
    monkeypatch.chdir(root)
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    result = dbtRunner().invoke(
        [
            "compile",
            "--project-dir",
            str(root),
            "--profiles-dir",
            str(root),
            "--no-send-anonymous-usage-stats",
            "-q",
        ]
    )
    assert result.success, result.exception
    nodes = from_manifest(Manifest.load(root))
    for node in nodes.values():  # a seed's columns: its CSV header (the manifest declares none)
        if node["resource_type"] == "seed":
            node["raw_code"] = (root / node["original_file_path"]).read_text()
    graph = ColumnGraph(nodes)
    up = graph.upstream("customers", "customer_lifetime_value")
    assert [c for c, _ in up.columns] == [
        ColumnRef(PAYMENTS, "amount"),
        ColumnRef("seed.jaffle_shop.raw_payments", "amount"),
    ]
    down = graph.downstream("stg_orders", "status")
    assert {c for c, _ in down.columns} == {ColumnRef("model.jaffle_shop.orders", "status")}
    assert any(t.startswith("test.jaffle_shop.accepted_values_orders_status") for t in down.tests)
