"""Generated tests follow the columns' meaning, not just today's rows: accepted_values on enum-like
codes only (never free text), not_null only where the SQL or the source promises a value, uniqueness
on the grain key, and a reason for each; marts read staging through one another, not all at once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pydantic import JsonValue

from agent.commands.column_facts import (
    ColumnFacts,
    ForeignKey,
    enum_values,
    facts_from_profile,
    generated_test_reasons,
    generated_tests,
)
from tests.demo_generation import Generated, generated_demo
from tools.codegen import test_kind as kind_of
from tools.profiling import ColumnProfile, ValueCount

__all__ = ["generated_demo"]


def _profile(
    name: str, values: list[JsonValue], *, rows: int = 1000, column_type: str = "VARCHAR"
) -> ColumnProfile:
    return ColumnProfile(
        name=name,
        type=column_type,
        rows=rows,
        distinct=len(values),
        nulls=0,
        null_fraction=0.0,
        min=None,
        max=None,
        top_values=[ValueCount(value=v, count=rows // len(values)) for v in values],
        is_unique=False,
        low_cardinality=True,
        value_set=values,
    )


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("status", ["placed", "shipped", "completed"]),
        ("product_type", ["jaffle", "beverage"]),
        ("payment_method", ["credit_card", "Bank transfer", "coupon"]),
        ("currency", ["USD", "EUR", "GBP"]),
    ],
)
def test_short_repeating_codes_get_accepted_values(name: str, values: list[JsonValue]) -> None:
    facts = facts_from_profile(_profile(name, values))
    assert enum_values(_profile(name, values)) == tuple(sorted(values, key=str))
    assert "accepted_values" in {kind_of(t) for t in generated_tests(facts)}


@pytest.mark.parametrize(
    ("name", "values", "rows"),
    [
        # named like prose or contact data: open-ended whatever today's rows hold
        ("product_name", ["Nutellaphone", "Tangaroo"], 4000),
        ("product_description", ["Toasted sandwich", "Iced tea"], 4000),
        ("manager_email", ["ana@jaffle.shop", "bo@jaffle.shop"], 40),
        # shaped like prose or contact data, whatever the name
        ("label", ["Toasted sandwich with ham and cheese", "Iced tea with lemon"], 4000),
        ("contact", ["ana@jaffle.shop", "bo@jaffle.shop"], 40),
        ("code", ["A", "B"], 40),  # identifier-like name
    ],
)
def test_free_text_and_identifiers_get_no_accepted_values(
    name: str, values: list[JsonValue], rows: int
) -> None:
    facts = facts_from_profile(_profile(name, values, rows=rows))
    assert facts.category_values is None
    assert "accepted_values" not in {kind_of(t) for t in generated_tests(facts)}


def test_each_generated_test_comes_with_its_reason() -> None:
    key = ColumnFacts(name="order_id", type="INTEGER", never_null=True, unique=True, is_key=True)
    reference = ColumnFacts(
        name="customer_id",
        type="INTEGER",
        never_null=True,
        foreign_key=ForeignKey("dim_customers", "customer_id"),
    )
    count = ColumnFacts(name="order_count", type="BIGINT", never_null=True, is_measure_aggregate=True)
    assert generated_tests(key) == ["unique", "not_null"]
    assert set(generated_test_reasons(key)) == {"unique", "not_null"}
    assert "grain key" in generated_test_reasons(key)["unique"]
    assert "dim_customers.customer_id" in generated_test_reasons(reference)["relationships"]
    assert "coalesce" in generated_test_reasons(count)["not_null"]
    # a plain measure with no nulls today: nothing about its meaning promises a value
    amount = ColumnFacts(name="tax_rate", type="DECIMAL(5,4)", never_null=True)
    assert generated_tests(amount) == [] and generated_test_reasons(amount) == {}


# --- on the example: the demo's generated project ---------------------------------------------------

#: free-text columns of the example, as a reviewer reads them (names, prose, contact data)
FREE_TEXT = {"customer_name", "email", "store_name", "product_name", "product_description", "supply_name"}


def _tests_by_kind(generated: Generated) -> dict[str, set[tuple[str, str]]]:
    """test kind -> {(model, column)} over every generated model's YAML."""
    found: dict[str, set[tuple[str, str]]] = {}
    for node in generated.manifest["nodes"].values():
        if node["resource_type"] != "test" or not node.get("attached_node", "").startswith("model."):
            continue
        model = node["attached_node"].rsplit(".", 1)[-1]
        kind = str((node.get("test_metadata") or {}).get("name"))
        found.setdefault(kind, set()).add((model, str(node.get("column_name"))))
    return found


@pytest.mark.slow
def test_no_accepted_values_on_free_text_of_the_example(generated_demo: Generated) -> None:
    accepted = _tests_by_kind(generated_demo)["accepted_values"]
    assert not {column for _, column in accepted} & FREE_TEXT, sorted(accepted)
    # enum-like codes keep theirs: the rule is about meaning, not a blanket removal
    assert {
        ("stg_orders", "status"),
        ("stg_products", "product_type"),
        # the items fact keeps the product's key only; the product's type is the dimension's
        ("dim_products", "product_type"),
    } <= accepted


@pytest.mark.slow
def test_data_quality_test_adds_no_accepted_values_on_free_text(generated_demo: Generated) -> None:
    for model in ("fct_orders", "fct_order_items"):
        answer = generated_demo.answer(f"/data-quality-test --model {model} ")
        added = [line for line in answer.splitlines() if line.strip().startswith("+ accepted_values")]
        assert not [line for line in added if any(f" on {c} " in f"{line} " for c in FREE_TEXT)], answer
        for column, entry in generated_demo.columns(model).items():
            kinds = {kind_of(t) for t in entry.get("data_tests") or []}
            assert column not in FREE_TEXT or "accepted_values" not in kinds, (model, column)


@pytest.mark.slow
def test_first_ordered_at_of_a_left_joined_aggregate_is_not_tested_not_null(
    generated_demo: Generated,
) -> None:
    stores = generated_demo.columns("dim_stores")
    # every store has orders today, but a new store has none: the left join gives it null
    assert {"first_ordered_at", "last_ordered_at"} <= set(stores)
    for column in ("first_ordered_at", "last_ordered_at"):
        assert "not_null" not in {kind_of(t) for t in stores[column].get("data_tests") or []}
    assert "null for a store with no orders" in stores["first_ordered_at"]["description"]
    # the data and the meaning disagree, and the answer says so
    assert "not tested: first_/last_ordered_at" in generated_demo.answer("/dbt-model --name dim_stores")
    # a coalesced count is never null by construction, so it keeps its not_null
    assert "not_null" in stores["order_count"]["data_tests"]


def _leaf_children(manifest: dict[str, Any]) -> Counter[str]:
    """model -> how many of its direct children are models nothing reads (dbt-project-evaluator's
    fct_model_fanout counts these, threshold 3)."""
    child_map: dict[str, list[str]] = manifest["child_map"]

    def is_leaf_model(uid: str) -> bool:
        return uid.startswith("model.") and not any(c.startswith("model.") for c in child_map.get(uid, []))

    return Counter(
        {
            uid: sum(is_leaf_model(c) for c in children)
            for uid, children in child_map.items()
            if uid.startswith("model.")
        }
    )


@pytest.mark.slow
def test_no_model_fans_out_to_three_leaf_marts(generated_demo: Generated) -> None:
    fanout = {uid: n for uid, n in _leaf_children(generated_demo.manifest).items() if n >= 3}
    assert fanout == {}
    # items take the order's attributes from the fact, so stg_orders feeds one leaf mart, not three
    assert "joins fct_orders on order_id" in generated_demo.answer("/dbt-model --name fct_order_items")
