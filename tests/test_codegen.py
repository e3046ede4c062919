"""The pure SQL/YAML generators: shapes dbt and the lint rely on, without running dbt."""

from __future__ import annotations

import jinja2
import pytest
import sqlglot
import yaml
from sqlglot import exp

from tools.codegen import (
    Aggregate,
    ChildSummary,
    ColumnDoc,
    IncrementalFilter,
    MartSpec,
    ModelConfig,
    ParentJoin,
    RawInput,
    SelectColumn,
    SnapshotSpec,
    TestSpec,
    accepted_values_test,
    column_entry,
    dump_yaml,
    load_yaml_mapping,
    mart_output_columns,
    mart_sql,
    merge_column_tests,
    relationships_test,
    snapshot_yaml,
    staging_sql,
)
from tools.errors import InvalidArguments


def select_names(sql: str) -> list[str]:
    parsed = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(parsed, exp.Query)
    return parsed.named_selects


def render(sql: str, *, incremental: bool = False) -> str:
    """The model's Jinja rendered as dbt would, with refs and sources as plain relation names."""
    return (
        jinja2.Environment()
        .from_string(sql)
        .render(
            config=lambda **_: "",
            ref=lambda model: model,
            source=lambda source, table: f"{source}.{table}",
            is_incremental=lambda: incremental,
            this="analytics.this_model",
        )
    )


ORDERS = MartSpec(
    base_model="stg_orders",
    base_cte="orders",
    base_columns=("order_id", "customer_id", "ordered_at", "updated_at"),
    key="order_id",
    config=ModelConfig(materialized="incremental", unique_key="order_id", incremental_strategy="merge"),
    parents=(
        ParentJoin(
            cte="customers",
            model="stg_customers",
            key="customer_id",
            foreign_key="customer_id",
            columns=(
                SelectColumn("customer_name", "customer_name"),
                SelectColumn("created_at", "customer_created_at"),
            ),
        ),
    ),
    children=(
        ChildSummary(
            cte="items_per_order",
            model="stg_items",
            foreign_key="order_id",
            aggregates=(
                Aggregate("count(*)", "item_count", "0"),
                Aggregate("max(added_at)", "last_added_at"),
            ),
        ),
    ),
    derived=(SelectColumn("cast(ordered_at as date)", "ordered_date"),),
    incremental=IncrementalFilter("updated_at", "updated_at", ">=", "rows changed since the last run"),
)


def test_mart_sql_reads_refs_joins_through_ctes_and_lists_every_column() -> None:
    sql = mart_sql(ORDERS)
    assert "select *" not in sql.lower() and "source(" not in sql
    assert "left join customers on orders.customer_id = customers.customer_id" in sql
    assert "left join items_per_order on orders.order_id = items_per_order.order_id" in sql
    assert "coalesce(items_per_order.item_count, 0) as item_count" in sql
    assert "items_per_order.last_added_at" in sql and "coalesce(items_per_order.last_added_at" not in sql
    assert "customers.created_at as customer_created_at" in sql
    assert "unique_key='order_id'" in sql and "incremental_strategy='merge'" in sql
    assert "{% if is_incremental() %}" in sql
    flat = " ".join(sql.split())
    assert "where updated_at >= ( select max(this_model.updated_at) from {{ this }} as this_model )" in flat
    assert select_names(render(sql)) == mart_output_columns(ORDERS)
    incremental = render(sql, incremental=True)
    assert "from analytics.this_model as this_model" in incremental
    assert select_names(incremental) == mart_output_columns(ORDERS)
    assert mart_output_columns(ORDERS) == [
        "order_id",
        "customer_id",
        "ordered_at",
        "updated_at",
        "ordered_date",
        "customer_name",
        "customer_created_at",
        "last_added_at",
        "item_count",
    ]  # fmt: skip  (plain columns before calculations, sqlfluff ST06)
    # the columns are listed where they are read and where they are output, not a third time
    assert "final" not in sql and sql.count("customers.customer_name") == 1


def test_a_mart_that_joins_nothing_selects_each_column_once() -> None:
    pass_through = MartSpec(
        base_model="stg_orders",
        base_cte="orders",
        base_columns=("order_id", "ordered_at", "status"),
        key="order_id",
        config=ModelConfig(materialized="incremental", unique_key="order_id", incremental_strategy="merge"),
        derived=(SelectColumn("cast(ordered_at as date)", "ordered_date"),),
        incremental=IncrementalFilter("ordered_at", "ordered_at", ">=", "rows changed since the last run"),
    )
    sql = mart_sql(pass_through)
    assert "with " not in sql and sql.count("status") == 1
    assert "cast(ordered_at as date) as ordered_date" in sql
    assert "from {{ ref('stg_orders') }}\n{% if is_incremental() %}" in sql
    assert select_names(render(sql)) == ["order_id", "ordered_at", "status", "ordered_date"]


def test_column_entry_records_why_each_test_is_there_in_meta() -> None:
    reasons = {"unique": "the grain key", "not_null": "the grain key", "accepted_values": "stale"}
    entry = column_entry(ColumnDoc("order_id", "Primary key.", ("unique", "not_null"), reasons))
    # a reason for a test the column does not have is not written
    assert entry["config"] == {"meta": {"ae_tests": {"unique": "the grain key", "not_null": "the grain key"}}}
    assert "config" not in column_entry(ColumnDoc("note", "Free text."))


def test_mart_sql_refuses_duplicate_output_columns() -> None:
    clash = MartSpec(
        base_model="stg_orders",
        base_cte="orders",
        base_columns=("order_id", "status"),
        key="order_id",
        config=ModelConfig(materialized="table"),
        derived=(SelectColumn("upper(status)", "status"),),
    )
    with pytest.raises(InvalidArguments, match="duplicate columns: status"):
        mart_sql(clash)


def test_staging_sql_casts_renames_and_never_joins() -> None:
    columns = [
        SelectColumn("cast(id as integer)", "order_id"),
        SelectColumn("cast(status as varchar)", "status"),
    ]
    sql = staging_sql(RawInput("orders", "raw"), columns, ModelConfig(materialized="view"))
    assert sql.startswith("{{ config(materialized='view') }}\n")
    assert "cast(id as integer) as order_id" in sql and "cast(status as varchar) as status" in sql
    assert "{{ source('raw', 'orders') }}" in sql and "join" not in sql
    assert select_names(render(sql)) == ["order_id", "status"]
    with pytest.raises(InvalidArguments):
        staging_sql(RawInput("orders", "raw"), [], ModelConfig(materialized="view"))


def test_staging_from_a_seed_refs_it_and_repeats_no_project_config() -> None:
    columns = [SelectColumn("cast(id as integer)", "order_id")]
    inherited = ModelConfig(materialized="view", inherited="view")
    sql = staging_sql(RawInput("raw_orders"), columns, inherited)
    assert sql.startswith("select\n") and "from {{ ref('raw_orders') }}" in sql
    # a different materialization than the folder's is still written, and so is anything beyond it
    assert staging_sql(RawInput("raw_orders"), columns, ModelConfig("table", inherited="view")).startswith(
        "{{ config(materialized='table') }}\n"
    )
    incremental = ModelConfig("incremental", unique_key="order_id", inherited="incremental")
    assert "unique_key='order_id'" in staging_sql(RawInput("raw_orders"), columns, incremental)
    assert "materialized" not in staging_sql(RawInput("raw_orders"), columns, incremental)


def test_config_block_lists_partitions_as_columns_for_duckdb() -> None:
    block = mart_sql(
        MartSpec(
            base_model="stg_x",
            base_cte="xs",
            base_columns=("x_id",),
            key="x_id",
            config=ModelConfig(materialized="table", partition_by=("x_date",)),
        )
    )
    # dbt-duckdb accepts a string or a list of column names (a BigQuery-style dict is a compile error)
    assert "partition_by=['x_date']" in block


def test_yaml_is_block_style_without_aliases_and_keeps_multiline_text() -> None:
    shared = {"warn_after": {"count": 12, "period": "hour"}}
    text = dump_yaml(
        {
            "version": 2,
            "sources": [
                {"name": "raw", "description": "first line\nsecond line\n", "tables": [
                    {"name": "a", "config": {"freshness": shared}},
                    {"name": "b", "config": {"freshness": shared}},
                ]},
            ],
        }
    )  # fmt: skip
    assert "&id" not in text and "*id" not in text
    assert text.startswith("version: 2\n\nsources:\n  - name: raw\n")
    assert "description: |\n      first line\n      second line\n" in text
    assert yaml.safe_load(text)["sources"][0]["tables"][1]["config"]["freshness"] == shared


def test_load_yaml_mapping_refuses_broken_yaml() -> None:
    with pytest.raises(InvalidArguments, match="not valid YAML"):
        load_yaml_mapping("models: [", "bad.yml")
    assert load_yaml_mapping(None, "x.yml") == {}


def test_tests_use_dbt_1_11_arguments_and_merge_without_duplicates() -> None:
    assert accepted_values_test(["a", "b"]) == {"accepted_values": {"arguments": {"values": ["a", "b"]}}}
    assert relationships_test("dim_customers", "customer_id") == {
        "relationships": {"arguments": {"to": "ref('dim_customers')", "field": "customer_id"}}
    }
    existing: list[TestSpec] = ["not_null", {"accepted_values": {"arguments": {"values": ["x"]}}}]
    merged = merge_column_tests(existing, ["unique", "not_null", accepted_values_test(["y"])])
    assert merged == [*existing, "unique"]


def test_snapshot_yaml_by_strategy() -> None:
    spec = SnapshotSpec(
        name="customers_snapshot",
        relation="source('raw', 'customers')",
        description="history",
        unique_key="id",
        strategy="timestamp",
        updated_at="updated_at",
    )
    entry = yaml.safe_load(snapshot_yaml(spec))["snapshots"][0]
    assert entry["relation"] == "source('raw', 'customers')"
    assert entry["config"] == {
        "schema": "snapshots",
        "unique_key": "id",
        "strategy": "timestamp",
        "updated_at": "updated_at",
    }
    check = yaml.safe_load(
        snapshot_yaml(SnapshotSpec(**{**spec.__dict__, "strategy": "check", "check_cols": ("a",)}))
    )
    assert check["snapshots"][0]["config"]["check_cols"] == ["a"]
    with pytest.raises(InvalidArguments, match="needs at least one column"):
        snapshot_yaml(SnapshotSpec(**{**spec.__dict__, "strategy": "check"}))
