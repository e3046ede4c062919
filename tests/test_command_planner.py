"""The command planner on the example project, with real dbt and DuckDB and no graph.

One module-scoped journey applies the changesets of the demo's command sequence (building between
steps where later steps read built relations), and the tests look at what each step planned and at
the finished project: it builds with every test passing, lints clean, and is fully documented.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.commands import CommandPlanner, HeuristicDescriber
from graph.phases.document import undocumented
from graph.plan_spec import PlanRequest, PlanSpec
from tools.context import ToolContext
from tools.engine import DbtEngine, DbtResult
from tools.errors import InvalidArguments, PathRefused, UnknownNode
from tools.example_project import create_example_project
from tools.lint import lint_project
from tools.manifest import Manifest
from tools.paths import ProjectPaths
from tools.profiling import profile_relation

pytestmark = pytest.mark.slow

#: the demo sequence, in order; "build" runs `dbt build` so later steps can read what was built
JOURNEY: tuple[str, ...] = (
    '/dbt-source --schema raw --table "*" --freshness "warn_after: {count: 12, period: hour}"',
    "/dbt-model --name stg_customers --type staging",
    "/dbt-model --name stg_orders --type staging",
    "/dbt-model --name stg_items --type staging",
    "/dbt-model --name stg_products --type staging",
    "/dbt-model --name stg_stores --type staging",
    "/dbt-model --name stg_supplies --type staging",
    "build",
    "/dbt-model --name dim_customers --type dimension",
    "/dbt-model --name dim_products --type dimension",
    "build",
    "/dbt-model --name fct_orders --type fact --materialization incremental --partition-by date",
    "build",
    "/dbt-model --name fct_order_items --type fact",
    "/dbt-snapshot --source-table raw.customers --unique-key id --strategy timestamp --updated-at updated_at",
    "/dbt-snapshot --source-table raw.items --name items_snapshot",
    "/dbt-seed --file seeds/store_regions.csv",
    '/dbt-macro --name cents_to_dollars --parameters "column_name, scale"',
    "build",
    "/data-quality-test --model stg_stores",
    '/exposure-define --name revenue_dashboard --type dashboard --depends-on "fct_orders,dim_customers"',
)

SEED_CSV = "store_id,region\n1,east\n2,east\n3,central\n"


@dataclass
class Journey:
    project: Path
    engine: DbtEngine
    specs: dict[str, PlanSpec] = field(default_factory=dict)
    builds: list[DbtResult] = field(default_factory=list)

    def tools(self) -> ToolContext:
        return ToolContext(paths=ProjectPaths.for_project(self.project), target="dev", engine=self.engine)

    def plan(self, line: str) -> PlanSpec:
        return CommandPlanner().plan(PlanRequest(request=line), self.tools())

    def file(self, path: str) -> str:
        return (self.project / path).read_text(encoding="utf-8")

    def properties(self, path: str, kind: str, name: str) -> dict[str, Any]:
        entries = yaml.safe_load(self.file(path))[kind]
        return next(e for e in entries if e["name"] == name)

    def columns(self, path: str, name: str) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.properties(path, "models", name)["columns"]}

    def spec(self, prefix: str) -> PlanSpec:
        return next(spec for line, spec in self.specs.items() if line.startswith(prefix))


def failures(result: DbtResult) -> list[str]:
    # exposures report "no-op" in dbt build; only real failures count
    return [
        f"{n.name}: {n.status} {n.message}"
        for n in result.nodes
        if n.status in {"error", "fail", "runtime error"}
    ]


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    project = create_example_project(tmp_path_factory.mktemp("commands") / "shop", scale=1, seed=42)
    (project / "seeds" / "store_regions.csv").write_text(SEED_CSV, encoding="utf-8")
    with DbtEngine(project) as engine:
        state = Journey(project, engine)
        for line in JOURNEY:
            if line == "build":
                result = engine.run("build")
                assert result.success, failures(result)
                state.builds.append(result)
                continue
            spec = state.plan(line)
            spec.changeset.apply(ProjectPaths.for_project(project))
            state.specs[line] = spec
        state.builds.append(engine.run("build"))
        yield state


def column_tests(columns: dict[str, dict[str, Any]], name: str) -> list[Any]:
    return list(columns[name].get("data_tests") or [])


def test_the_finished_project_builds_lints_clean_and_is_documented(journey: Journey) -> None:
    final = journey.builds[-1]
    assert final.success and not failures(final)
    tests = [n for n in final.nodes if n.resource_type == "test"]
    assert len(tests) > 60 and all(n.status == "pass" for n in tests)
    assert {n.name for n in final.nodes if n.resource_type == "snapshot"} == {
        "customers_snapshot",
        "items_snapshot",
    }
    journey.engine.run("parse")
    manifest = Manifest.load(journey.project)
    report = lint_project(manifest.raw, journey.project)
    assert report.errors == [], report.render_text()
    models = list(manifest.root("model"))
    assert len(models) == 10
    assert undocumented(manifest, models) == []


def test_sources_declare_every_raw_table_with_freshness_where_the_data_has_a_timestamp(
    journey: Journey,
) -> None:
    spec = journey.spec("/dbt-source")
    assert spec.operations is not None and spec.operations[0].command == "source freshness"
    assert spec.operations[0].select == ["source:raw.customers", "source:raw.orders"]
    assert spec.verify_select == []
    assert "no freshness for items, products, stores, supplies" in (spec.answer or "")
    tables = {
        t["name"]: t
        for t in journey.properties("models/staging/raw/_raw__sources.yml", "sources", "raw")["tables"]
    }
    assert set(tables) == {"customers", "orders", "items", "products", "stores", "supplies"}
    assert tables["orders"]["config"] == {
        "loaded_at_field": "updated_at",
        "freshness": {"warn_after": {"count": 12, "period": "hour"}},
    }
    # descriptions a person wrote in the source file survive the rewrite
    assert (
        tables["items"]["description"] == "One row per product on an order; an order has one to four items."
    )
    freshness = journey.engine.run("source freshness", select=["source:raw.orders"])
    assert [n.status for n in freshness.nodes] == ["warn"]  # the example data is old: stale, as warned


def test_staging_lists_casts_and_renames_columns_and_never_joins(journey: Journey) -> None:
    sql = journey.file("models/staging/raw/stg_orders.sql")
    assert "{{ source('raw', 'orders') }}" in sql
    assert "join" not in sql.lower() and "*" not in sql and "ref(" not in sql
    for line in ("cast(id as integer) as order_id", "cast(status as varchar) as status",
                 "cast(updated_at as timestamp) as updated_at"):  # fmt: skip
        assert line in sql
    assert "cast(name as varchar) as product_name" in journey.file("models/staging/raw/stg_products.sql")
    supplies = journey.file("models/staging/raw/stg_supplies.sql")
    assert "cast(perishable as boolean) as is_perishable" in supplies
    # `cost` is an SQL keyword (sqlfluff RF04 refuses it as an alias): prefixed like name and type
    assert "cast(cost as integer) as supply_cost" in supplies
    assert journey.spec("/dbt-model --name stg_orders").operations is None  # build what changed


def test_tests_follow_the_data(journey: Journey) -> None:
    orders = journey.columns("models/staging/raw/stg_orders.yml", "stg_orders")
    assert column_tests(orders, "order_id") == ["unique", "not_null"]
    assert column_tests(orders, "status")[1] == {
        "accepted_values": {"arguments": {"values": ["completed", "placed", "returned", "shipped"]}}
    }
    # low-cardinality but numeric or an identifier: no accepted_values
    assert column_tests(orders, "store_id") == ["not_null"]
    items = journey.columns("models/staging/raw/stg_items.yml", "stg_items")
    assert column_tests(items, "sku") == ["not_null"]
    customers = journey.columns("models/staging/raw/stg_customers.yml", "stg_customers")
    # email is unique in the data but is not the key: no unique test
    assert "unique" not in column_tests(customers, "email")
    assert customers["customer_id"]["description"] == "Primary key of the customer."  # from the source YAML


def test_dimensions_aggregate_the_children_found_in_the_data(journey: Journey) -> None:
    sql = journey.file("models/marts/dim_customers.sql")
    assert "source(" not in sql and "select *" not in sql.lower()
    assert "from {{ ref('stg_orders') }}" in sql and "group by customer_id" in sql
    columns = journey.columns("models/marts/dim_customers.yml", "dim_customers")
    assert column_tests(columns, "customer_id") == ["unique", "not_null"]
    assert column_tests(columns, "order_count") == ["not_null"]
    # some customers never ordered: their first order time is null, so it gets no not_null
    assert column_tests(columns, "first_ordered_at") == []
    db = journey.project / "jaffle_shop.duckdb"
    first_order = next(
        c for c in profile_relation(db, "dim_customers").columns if c.name == "first_ordered_at"
    )
    assert first_order.nulls > 0
    products = journey.columns("models/marts/dim_products.yml", "dim_products")
    assert {"supply_count", "total_supply_cost", "item_count"} <= set(products)


def test_the_incremental_fact_merges_on_its_key_filtered_on_a_real_timestamp(journey: Journey) -> None:
    sql = journey.file("models/marts/fct_orders.sql")
    assert "unique_key='order_id'" in sql and "incremental_strategy='merge'" in sql
    assert "{% if is_incremental() %}" in sql
    # minus the lookback window, on {{ this }} aliased so its column is never the outer query's
    assert "where updated_at >= (\n        select max(this_model.updated_at) - interval '{{ var(" in sql
    assert "from {{ this }} as this_model\n    )" in sql
    assert "partition_by=['ordered_date']" in sql and "cast(ordered_at as date) as ordered_date" in sql
    answer = journey.spec("/dbt-model --name fct_orders").answer or ""
    assert "DuckDB ignores it" in answer
    raw = profile_relation(journey.project / "jaffle_shop.duckdb", "raw.orders")
    assert "updated_at" in raw.updated_at_candidates
    columns = journey.columns("models/marts/fct_orders.yml", "fct_orders")
    assert {
        "relationships": {"arguments": {"to": "ref('dim_customers')", "field": "customer_id"}}
    } in column_tests(columns, "customer_id")
    # joined attributes would go stale in rows the incremental filter does not re-read
    assert not {"customer_name", "customer_email", "store_name", "item_count"} & set(columns)
    assert {"order_id", "customer_id", "order_total", "updated_at"} <= set(columns)
    rerun = journey.engine.run("run", select=["fct_orders"])  # an incremental run on the built table
    assert rerun.success and not failures(rerun)


def test_fact_at_item_grain_takes_its_events_attributes_without_their_measures(journey: Journey) -> None:
    columns = journey.columns("models/marts/fct_order_items.yml", "fct_order_items")
    # a parent's own columns are prefixed with its entity unless they already name it
    assert {"order_id", "sku", "customer_id", "ordered_at", "order_status"} <= set(columns)
    assert "order_total" not in columns  # an order's total would repeat on each of its items
    assert {"relationships": {"arguments": {"to": "ref('fct_orders')", "field": "order_id"}}} in column_tests(
        columns, "order_id"
    )
    # a product is an entity, not an event the item belongs to: the fact keeps its key, tested
    # against its dimension, and leaves its name and price to dim_products
    assert not {"product_name", "product_price"} & set(columns)
    assert {"relationships": {"arguments": {"to": "ref('dim_products')", "field": "sku"}}} in column_tests(
        columns, "sku"
    )
    answer = journey.spec("/dbt-model --name fct_order_items").answer or ""
    assert (
        "keeps the keys sku (stg_products): a fact leaves an entity's attributes to its dimension" in answer
    )


def test_snapshot_strategy_comes_from_the_data(journey: Journey) -> None:
    customers = journey.properties("snapshots/customers_snapshot.yml", "snapshots", "customers_snapshot")
    assert customers["relation"] == "source('raw', 'customers')"
    assert (
        customers["config"]["strategy"] == "timestamp" and customers["config"]["updated_at"] == "updated_at"
    )
    items = journey.properties("snapshots/items_snapshot.yml", "snapshots", "items_snapshot")
    assert items["config"]["strategy"] == "check" and items["config"]["check_cols"] == ["order_id", "sku"]
    spec = journey.spec("/dbt-snapshot --source-table raw.items")
    assert [(op.command, op.select) for op in spec.operations or []] == [("snapshot", ["items_snapshot"])]


def test_seed_and_macro(journey: Journey) -> None:
    seed = journey.spec("/dbt-seed")
    assert [(op.command, op.select) for op in seed.operations or []] == [("seed", ["store_regions"])]
    assert seed.verify_select == ["store_regions"]
    columns = {
        c["name"]: c
        for c in journey.properties("seeds/store_regions.yml", "seeds", "store_regions")["columns"]
    }
    assert columns["store_id"]["data_tests"] == ["unique", "not_null"]
    assert {"accepted_values": {"arguments": {"values": ["central", "east"]}}} in columns["region"][
        "data_tests"
    ]
    macro = journey.spec("/dbt-macro")
    assert macro.operations == [] and macro.document is False
    macro_sql = journey.file("macros/cents_to_dollars.sql")
    assert "{% macro cents_to_dollars(column_name, scale=2) -%}" in macro_sql
    # its test ran in the journey's builds and passed (dbt build runs singular tests)
    assert macro.verify_select == ["assert_cents_to_dollars"]
    assert any(n.name == "assert_cents_to_dollars" and n.status == "pass" for n in journey.builds[-1].nodes)


def test_data_quality_tests_are_added_only_where_the_data_supports_them(journey: Journey) -> None:
    spec = journey.spec("/data-quality-test")
    # Verify picks the tests this added (graph.nodes.new_tests), not the model's others
    assert spec.operations == [] and spec.verify_select is None
    answer = spec.answer or ""
    assert "unique on store_name: unique today but not named like a key" in answer
    assert "accepted_values on tax_rate: few values, but not an enum-like code" in answer
    columns = journey.columns("models/staging/raw/stg_stores.yml", "stg_stores")
    assert "not_null" in column_tests(columns, "store_name")
    assert "unique" not in column_tests(columns, "store_name")
    # the build after it ran the new tests: all passed (checked in the finished-project test)


def test_exposure_is_declared_on_existing_models(journey: Journey) -> None:
    exposure = journey.properties("models/exposures/revenue_dashboard.yml", "exposures", "revenue_dashboard")
    assert exposure["depends_on"] == ["ref('fct_orders')", "ref('dim_customers')"]
    assert exposure["owner"] == {"name": "Analytics Engineering"}


def test_answers_for_commands_that_change_nothing(journey: Journey) -> None:
    lineage = journey.plan("/model-lineage --model fct_orders --upstream 1 --downstream 1")
    assert lineage.changeset.is_empty and lineage.operations == [] and lineage.document is False
    assert "<- stg_orders  [model]" in (lineage.answer or "")
    assert "-> revenue_dashboard  [exposure]" in (lineage.answer or "")
    run = journey.plan("/dbt-run --select stg_orders+ --full-refresh")
    assert [(o.command, o.select, o.full_refresh) for o in run.operations or []] == [
        ("run", ["stg_orders+"], True)
    ]
    assert run.verify_select is None  # Verify tests what it built: nothing failing is published
    test = journey.plan("/dbt-test --select fct_orders --store-failures")
    assert (test.operations, test.verify_select, test.store_failures) == ([], ["fct_orders"], True)
    compiled = journey.plan("/dbt-compile --select dim_customers --show-compiled-sql")
    assert '"jaffle_shop"."main"."stg_customers"' in (compiled.answer or "")
    docs = journey.plan("/dbt-docs --generate --serve --port 8081")
    assert [o.command for o in docs.operations or []] == ["docs generate"]
    assert "dbt docs serve --port 8081" in (docs.answer or "")
    assert [o.command for o in journey.plan("/dbt-debug").operations or []] == ["debug"]


@pytest.mark.parametrize(
    ("line", "error", "expected"),
    [
        ("/dbt-run --select stg_orderz", UnknownNode, "nothing in the project is named 'stg_orderz'"),
        ("/data-quality-test --model fct_nope", UnknownNode, "no model named 'fct_nope'"),
        ("/exposure-define --name x --type ml --depends-on fct_order", UnknownNode,
         "do not exist: fct_order (did you mean fct_orders"),
        ("/dbt-model --name fct_events --type fact", InvalidArguments,
         "/dbt-model --name stg_events --type staging"),
        ("/dbt-model --name stg_events --type staging", InvalidArguments,
         "no declared source table or seed named 'events'"),
        ("/incremental-model --name fct_orders --unique-key customer_id", InvalidArguments,
         "does not identify rows"),
        # issue 24: a model that exists is edited in place or refused, never generated again
        ("/incremental-model --name fct_orders --unique-key order_id", InvalidArguments,
         "fct_orders is already incremental"),
        ("/dbt-model --name dim_customers --type dimension", InvalidArguments,
         "dim_customers already exists (models/marts/dim_customers.sql)"),
        ("/dbt-snapshot --source-table raw.users", InvalidArguments,
         "/dbt-source --schema raw --table users"),
        ("/dbt-snapshot --source-table raw.items --strategy timestamp", InvalidArguments,
         "no updated_at-like"),
        # J2: never read as its last part (a model fct_orders exists)
        ('/dbt-snapshot --source-table "raw.customers; drop table prod.fct_orders"', InvalidArguments,
         "is not a table name"),
        ("/dbt-snapshot --source-table nope.fct_orders", InvalidArguments,
         "neither a declared source table, a seed nor a model"),
        ("/dbt-seed --file ../outside.csv", PathRefused, "outside the project root"),
        ("/dbt-seed --file models/staging/raw/_raw__sources.yml", InvalidArguments, "is not a .csv file"),
        ("/dbt-source --schema raw --table orderz", InvalidArguments, "no table orderz (did you mean orders"),
        ("/dbt-source --schema raw --table orders --freshness 'warn_after: {count: x, period: hour}'",
         InvalidArguments, "count must be a positive whole number"),
        ("/dbt-source --schema raw --table orders --freshness 'warn_after: {count: 1, period: week}'",
         InvalidArguments, "period must be one of minute, hour, day"),
        ("/dbt-macro --name ref --parameters a", InvalidArguments, "dbt's Jinja context"),
        ("/dbt-macro --name cents_to_dollars --parameters a", InvalidArguments, "already exists"),
        ("/dbt-package --name dbt_utils --version 1.1.0", InvalidArguments, "offline"),
        ("/dbt-debug --profile other", InvalidArguments, "uses the profile 'jaffle_shop'"),
        ("/dbt-model --name fct_orders --type fact --type dimension", InvalidArguments, "given twice"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_a_reason_and_nothing_written(
    journey: Journey, line: str, error: type[Exception], expected: str
) -> None:
    tools = journey.tools()
    with pytest.raises(error) as caught:
        CommandPlanner().plan(PlanRequest(request=line), tools)
    assert expected in str(caught.value)
    assert tools.changeset.is_empty


def test_a_mart_on_a_model_that_is_not_built_names_the_command_that_builds_it(journey: Journey) -> None:
    paths = ProjectPaths.for_project(journey.project)
    staged = journey.plan("/dbt-model --name stg_orders_copy --type staging --source raw.orders")
    applied = staged.changeset.apply(paths)
    try:
        with pytest.raises(InvalidArguments) as caught:
            journey.plan("/dbt-model --name fct_orders_copy --type fact --from stg_orders_copy")
        assert "model stg_orders_copy is not built yet" in str(caught.value)
        assert "/dbt-run --select stg_orders_copy" in str(caught.value)
    finally:
        applied.rollback(paths)


def test_describer_documents_a_hand_written_model_from_its_data(journey: Journey) -> None:
    paths = ProjectPaths.for_project(journey.project)
    sql = "select order_id, status, order_total from {{ ref('stg_orders') }}\n"
    (journey.project / "models" / "int_order_totals.sql").write_text(sql, encoding="utf-8")
    try:
        journey.engine.run("run", select=["int_order_totals"])
        journey.engine.run("parse")
        manifest = Manifest.load(journey.project)
        uid = "model.jaffle_shop.int_order_totals"
        assert undocumented(manifest, [uid]) == [uid]
        changeset = HeuristicDescriber().describe(manifest, [uid], journey.tools())
        again = HeuristicDescriber().describe(manifest, [uid], journey.tools())
        assert changeset == again  # deterministic
        applied = changeset.apply(paths)
        try:
            entry = journey.properties("models/int_order_totals.yml", "models", "int_order_totals")
            assert entry["description"] == (
                "Intermediate model int_order_totals: one row per order "
                "(key order_id, unique and not null in the data); built from stg_orders."
            )
            columns = {c["name"]: c["description"] for c in entry["columns"]}
            # written from each column's role: the key, an enum-like status, an amount
            assert columns["order_id"] == "Primary key: one row per order."
            assert columns["status"] == "Status of the order: one of completed, placed, returned, shipped."
            assert columns["order_total"] == "Total of the order, an amount in the source's units."
            journey.engine.run("parse")
            assert undocumented(Manifest.load(journey.project), [uid]) == []
        finally:
            applied.rollback(paths)
    finally:
        (journey.project / "models" / "int_order_totals.sql").unlink()


def test_the_planner_records_each_dbt_and_warehouse_call_for_the_report(journey: Journey) -> None:
    tools = journey.tools()
    CommandPlanner().plan(PlanRequest(request="/data-quality-test --model stg_orders"), tools)
    called = [c.name for c in tools.calls]
    assert called[0] == "dbt_parse"
    assert "profile_columns" in called
    profiled = next(c for c in tools.calls if c.name == "profile_columns")
    assert profiled.ok and profiled.arguments == {"relation": '"jaffle_shop"."main"."stg_orders"'}
