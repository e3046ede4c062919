"""Descriptions read as English written from each column's role, and never point at what is not there.

Unit cases for each role; then every description in the demo's generated project (models, columns,
sources, exposures) is checked for repeated words, double spaces, and references to models or
columns that do not exist.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from agent.commands.column_facts import ColumnFacts, ForeignKey
from agent.commands.descriptions import column_description, refreshed_description
from tests.demo_generation import Generated, generated_demo

__all__ = ["generated_demo"]

_CUSTOMERS = ForeignKey("dim_customers", "customer_id")


@pytest.mark.parametrize(
    ("facts", "entity", "expected"),
    [
        (
            ColumnFacts("order_id", "INTEGER", True, unique=True, is_key=True),
            "order",
            "Primary key: one row per order.",
        ),
        (
            ColumnFacts("customer_id", "INTEGER", True, foreign_key=_CUSTOMERS),
            "order",
            "The customer of the order; joins to dim_customers.customer_id.",
        ),
        (
            ColumnFacts("status", "VARCHAR", True, category_values=("placed", "shipped")),
            "order",
            "Status of the order: one of placed, shipped.",
        ),
        (ColumnFacts("order_placed_at", "TIMESTAMP", True), "order", "When the order was placed."),
        (ColumnFacts("order_date", "DATE", True), "order", "Date of the order."),
        (ColumnFacts("is_perishable", "BOOLEAN", True), "supply", "Whether the supply is perishable."),
        (ColumnFacts("has_discount", "BOOLEAN", True), "order", "Whether the order has discount."),
        (ColumnFacts("item_count", "BIGINT", True), "order", "Number of items of the order."),
        (
            ColumnFacts("order_total", "INTEGER", True),
            "order",
            "Total of the order, an amount in the source's units.",
        ),
        (ColumnFacts("customer_name", "VARCHAR", True), "customer", "Name of the customer."),
    ],
)
def test_a_column_is_described_by_its_role(facts: ColumnFacts, entity: str, expected: str) -> None:
    assert column_description(facts, entity) == expected


def test_an_inherited_reference_is_replaced_by_the_real_relationship_or_dropped() -> None:
    text = "The customer who placed the order (foreign key to customers.id)."
    assert refreshed_description(text, _CUSTOMERS) == (
        "The customer who placed the order; joins to dim_customers.customer_id."
    )
    assert refreshed_description(text, None) == "The customer who placed the order."
    # a staging model's relationship, carried to a mart that relates elsewhere, is re-pointed
    staged = "The customer who placed the order; joins to stg_customers.customer_id."
    assert refreshed_description(staged, _CUSTOMERS).endswith("joins to dim_customers.customer_id.")
    assert refreshed_description("Price in cents.", None) == "Price in cents."


# --- every description of the demo's generated project ---------------------------------------------

_REPEATED_WORD = re.compile(r"\b(\w+)\s+\1\b", re.IGNORECASE)
# model.column (not numbers like 0.0625, not abbreviations like e.g.)
_DOTTED = re.compile(r"\b([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\b")
_MODEL_NAME = re.compile(r"\b((?:stg|int|dim|fct)_[a-z0-9_]+)\b")


def _described(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, text) for every description of a model, column, source, source column or exposure."""
    found: list[tuple[str, str]] = []
    resources = [*manifest["nodes"].values(), *manifest["sources"].values(), *manifest["exposures"].values()]
    for node in resources:
        if node["resource_type"] not in {"model", "source", "exposure", "snapshot", "seed"}:
            continue
        found.append((node["unique_id"], str(node.get("description") or "")))
        for column in (node.get("columns") or {}).values():
            found.append((f"{node['unique_id']}.{column['name']}", str(column.get("description") or "")))
    return [(where, text) for where, text in found if text]


def _known_columns(manifest: dict[str, Any]) -> set[tuple[str, str]]:
    """(relation name, column) for models, snapshots and source tables, from their built columns."""
    known: set[tuple[str, str]] = set()
    for node in [*manifest["nodes"].values(), *manifest["sources"].values()]:
        name = str(node.get("name"))
        for column in node.get("columns") or {}:
            known.add((name, str(column)))
    # a source table is named source_name.table ("source raw.customers")
    known |= {(str(s["source_name"]), str(s["name"])) for s in manifest["sources"].values()}
    return known


@pytest.mark.slow
def test_every_description_of_the_demo_reads_cleanly_and_points_at_what_exists(
    generated_demo: Generated,
) -> None:
    manifest = generated_demo.manifest
    models = {str(n["name"]) for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    known = _known_columns(manifest)
    problems: list[str] = []
    described = _described(manifest)
    assert len(described) > 60
    for where, text in described:
        if "  " in text.strip():
            problems.append(f"{where}: double space in {text!r}")
        if (repeated := _REPEATED_WORD.search(text)) is not None:
            problems.append(f"{where}: repeated word {repeated.group(0)!r} in {text!r}")
        for model in _MODEL_NAME.findall(text):
            if model not in models:
                problems.append(f"{where}: names {model}, which is not a model")
        for relation, column in _DOTTED.findall(text):
            if relation in {"e", "i"}:  # e.g., i.e.
                continue
            if (relation, column) not in known:
                problems.append(f"{where}: refers to {relation}.{column}, which does not exist")
    assert problems == [], "\n".join(problems)
    # references in models point at the model the relationship test checks
    orders = generated_demo.columns("fct_order_items")
    assert orders["order_id"]["description"].endswith("joins to fct_orders.order_id.")
