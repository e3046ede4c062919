"""Incremental models that cannot silently diverge (issue 13, item 2), with real dbt and DuckDB.

The example's customers are "edited in place": appending new versions of changed rows would keep the
old ones too, so append is refused there; merge re-reads a lookback window and replaces rows by key,
so after in-place edits (one of them landing late) the incremental table still equals a full refresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from agent.commands.model_files import DEFAULT_LOOKBACK, LOOKBACK_VAR
from agent.commands.planner import CommandPlanner
from graph.plan_spec import PlanRequest, PlanSpec
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.errors import InvalidArguments
from tools.example_project import create_example_project, warehouse_path
from tools.paths import ProjectPaths


class _Shop:
    def __init__(self, project: Path, engine: DbtEngine) -> None:
        self.project = project
        self.engine = engine

    def plan(self, line: str) -> PlanSpec:
        tools = ToolContext(paths=ProjectPaths.for_project(self.project), target="dev", engine=self.engine)
        spec = CommandPlanner().plan(PlanRequest(request=line), tools)
        spec.changeset.apply(ProjectPaths.for_project(self.project))
        return spec

    def build(self, *select: str, full_refresh: bool = False) -> None:
        result = self.engine.run("build", select=list(select), full_refresh=full_refresh)
        assert result.success, [f"{n.name}: {n.status} {n.message}" for n in result.nodes]

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with duckdb.connect(str(warehouse_path(self.project)), read_only=True) as con:
            return sorted(con.execute(sql).fetchall(), key=repr)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Shop]:
    project = create_example_project(tmp_path_factory.mktemp("incremental") / "shop", scale=1, seed=42)
    with DbtEngine(project) as engine:
        shop = _Shop(project, engine)
        shop.plan("/dbt-model --name stg_customers --type staging")
        shop.build("stg_customers")
        yield shop


def test_append_on_a_source_edited_in_place_is_refused_with_merge_suggested(shop: _Shop) -> None:
    with pytest.raises(InvalidArguments) as refused:
        shop.plan(
            "/incremental-model --name fct_customer_changes --strategy append --from stg_customers "
            "--unique-key customer_id"
        )
    assert "second copy" in str(refused.value)
    assert "use --strategy merge --unique-key" in str(refused.value.hint)


def test_append_on_a_staging_model_of_a_source_documented_as_edited_in_place_is_refused(shop: _Shop) -> None:
    with pytest.raises(InvalidArguments) as refused:
        shop.plan(
            "/incremental-model --name stg_customers_log --strategy append --from raw.customers "
            "--unique-key id"
        )
    assert "edited in place" in str(refused.value)
    assert "--strategy merge --unique-key customer_id" in str(refused.value.hint)


def test_merge_stays_equal_to_its_full_refresh_after_in_place_and_late_edits(shop: _Shop) -> None:
    spec = shop.plan(
        "/incremental-model --name stg_customer_versions --strategy merge --from raw.customers "
        "--unique-key id"
    )
    sql = (shop.project / "models" / "staging" / "raw" / "stg_customer_versions.sql").read_text()
    assert f"var('{LOOKBACK_VAR}', '{DEFAULT_LOOKBACK}')" in sql
    assert LOOKBACK_VAR in str(spec.answer)
    shop.build("stg_customer_versions")
    with duckdb.connect(str(warehouse_path(shop.project))) as con:
        newest = con.execute("select max(updated_at) from raw.customers").fetchone()
        assert newest is not None
        # an ordinary edit, newer than anything loaded
        con.execute(
            "update raw.customers set name = 'Renamed Once', updated_at = ? + interval 1 hour "
            "where id = (select min(id) from raw.customers)",
            [newest[0]],
        )
        # an edit that lands late: stamped two hours before the newest row already loaded
        con.execute(
            "update raw.customers set email = 'late@example.com', updated_at = ? - interval 2 hour "
            "where id = (select max(id) from raw.customers)",
            [newest[0]],
        )
    query = "select customer_id, customer_name, email, updated_at from stg_customer_versions"
    shop.build("stg_customer_versions")
    incremental = shop.rows(query)
    shop.build("stg_customer_versions", full_refresh=True)
    assert incremental == shop.rows(query)
    assert ("late@example.com",) in {(row[2],) for row in incremental}
