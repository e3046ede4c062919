"""What ae reads of the data after a build, on DuckDB and on PostgreSQL: Verify's row counts
(graph/figures.py) and the command planner's view (agent/commands/project.py), which Document's
profiling and every data-driven /command read. Each warehouse holds the same shop
(tests/warehouse_projects.py) and dbt builds the same models on it, so the same figures hold on each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from agent.commands.describer import HeuristicDescriber
from agent.commands.project import ProjectView
from agent.commands.unit_tests import add_unit_test
from graph.figures import row_counts
from tests.postgres import postgres_database
from tests.warehouse_projects import CUSTOMERS, ORDERS, duckdb_project, postgres_project, seed
from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine
from tools.manifest import Manifest
from tools.paths import ProjectPaths

#: an alias dbt quotes as it builds: ae must quote it too, never run it
ODD_ALIAS = "odd; drop table shop.orders --"
MODELS = {
    "completed_orders": "select order_id, customer_id, amount from shop.orders where status = 'completed'",
    "odd": f"{{{{ config(alias='{ODD_ALIAS}') }}}}\nselect 1 as n",
    "tiered": "select customer_id, case when tier = 'gold' then 1 else 0 end as is_gold "
    "from {{ source('shop', 'customers') }}",
    "never_built": "select 1 as n",
}
BUILT = ["completed_orders", "odd", "tiered"]
SOURCES = "sources:\n  - name: shop\n    schema: shop\n    tables:\n      - name: customers\n"


@dataclass(frozen=True)
class Built:
    adapter: str
    database: str
    ctx: ToolContext
    manifest: Manifest


def _build(engine: DbtEngine, adapter: str, database: str) -> Built:
    for name, sql in MODELS.items():
        (engine.project_dir / "models" / f"{name}.sql").write_text(sql)
    (engine.project_dir / "models" / "sources.yml").write_text(SOURCES)
    ctx = ToolContext(paths=ProjectPaths.for_project(engine.project_dir), target="dev", engine=engine)
    seed(ctx.warehouse())
    assert ctx.dbt(DbtCall(command="run", select=BUILT)).success
    return Built(adapter, database, ctx, Manifest.for_engine(engine))


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp(request.param) / "shop"
    if request.param == "postgres":
        with postgres_database("ae_data") as dsn, DbtEngine(postgres_project(root, dsn)) as engine:
            yield _build(engine, "postgres", dsn.rsplit("/", 1)[1])
    else:
        with DbtEngine(duckdb_project(root)) as engine:
            yield _build(engine, "duckdb", "warehouse")


def _uid(name: str) -> str:
    return f"model.shop.{name}"


def _orders(built: Built) -> int:
    return int(str(built.ctx.warehouse().read(["select count(*) from shop.orders"])[0].rows[0][0]))


def test_row_counts_count_every_built_model(built: Built) -> None:
    counts, uncounted = row_counts(built.ctx.warehouse(), built.manifest, [_uid(n) for n in BUILT])
    completed = sum(1 for _, _, status, _ in ORDERS if status == "completed")
    assert counts == {"completed_orders": completed, "odd": 1, "tiered": len(CUSTOMERS)}
    assert uncounted == []
    assert _orders(built) == len(ORDERS)  # the odd alias was quoted, not run


def test_a_model_that_cannot_be_counted_is_said_not_skipped(built: Built) -> None:
    counts, uncounted = row_counts(built.ctx.warehouse(), built.manifest, [_uid("never_built")])
    assert counts == {}
    [why] = uncounted
    assert why.startswith(f"rows of never_built not counted on {built.adapter}: ") and "not found" in why


def test_the_command_planners_view_reads_the_data_on_the_runs_adapter(built: Built) -> None:
    view = ProjectView(built.ctx, manifest=built.manifest)
    assert view.default_database == built.database
    assert "shop" in view.schemas()
    completed, never = (
        built.manifest.nodes[_uid("completed_orders")],
        built.manifest.nodes[_uid("never_built")],
    )
    assert view.is_built(completed) and not view.is_built(never)
    assert view.is_built(built.manifest.nodes[_uid("odd")])
    profile = view.profile(view.relation_of(completed))
    assert profile.key_candidates[0] == "order_id"
    columns = view.columns_of([view.relation_of(completed)])
    assert columns == {view.relation_of(completed): ["order_id", "customer_id", "amount"]}
    [fk] = view.suggest_foreign_keys(view.relation_of(completed), ["shop.customers"])
    assert fk.child_column == "customer_id" and fk.is_foreign_key


def test_documents_profiling_describes_columns_from_the_data(built: Built) -> None:
    """Before: on PostgreSQL the view refused (not a DuckDB file), so no column was profiled."""
    changeset = HeuristicDescriber().describe(built.manifest, [_uid("completed_orders")], built.ctx)
    diff = changeset.diff(built.ctx.paths)
    assert all(f"name: {column}" in diff for column in ("order_id", "customer_id", "amount")), diff


def test_a_unit_test_is_written_on_the_runs_adapter(built: Built) -> None:
    """Before: on PostgreSQL the expected rows were DuckDB's to compute, so no unit test was written."""
    view = ProjectView(built.ctx, manifest=built.manifest)
    note = add_unit_test(view, built.manifest.nodes[_uid("tiered")], "models/tiered.yml")
    assert note is not None
    assert note.written, note.text
    assert note.text.startswith("unit test tiered_logic_on_sample_rows in models/tiered.yml"), note.text
