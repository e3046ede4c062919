"""Verify's proof of incremental models (graph/incremental_proof.py) with real dbt and DuckDB: an
append-only model over a table edited in place fails it, a merge on the last-change time passes, and
the user's warehouse is left exactly as it was built."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from graph.context import RunContext
from graph.incremental_proof import IncrementalCheck, prove_incrementals
from tests.dbt_project_factory import SCHEMA, write_tiny_project
from tests.scripted_planner import ScriptedPlanner
from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine
from tools.manifest import Manifest
from tools.paths import ProjectPaths

INCREMENTAL = """\
{{{{ config(materialized='incremental', {config}) }}}}
select id, plan, updated_at from {{{{ source('raw', 'accounts') }}}}
{{% if is_incremental() %}}where updated_at > (select max(updated_at) from {{{{ this }}}}){{% endif %}}
"""
MODELS = {
    "accounts_append": "incremental_strategy='append'",
    "accounts_merge": "incremental_strategy='merge', unique_key='id'",
}


def _relations(db: Path) -> dict[str, tuple[int, int]]:
    with duckdb.connect(str(db), read_only=True) as con:
        names = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
        ).fetchall()
        counted = {}
        for (name,) in names:
            row = con.execute(f"select count(*), coalesce(sum(hash(t)), 0) from {name} t").fetchone()
            assert row is not None
            counted[str(name)] = (int(row[0]), int(row[1]))
    return counted


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_tiny_project(tmp_path / "tiny")
    (root / "models" / "schema.yml").write_text(
        SCHEMA.replace("      - name: people\n", "      - name: people\n      - name: accounts\n")
    )
    for name, config in MODELS.items():
        (root / "models" / f"{name}.sql").write_text(INCREMENTAL.format(config=config))
    with duckdb.connect(str(root / "tiny.duckdb")) as con:
        con.execute(
            "create table raw.accounts as select i as id, 'plan ' || i as plan, "
            "timestamp '2024-01-01' + to_days(i) as updated_at from range(1, 41) t(i)"
        )
    return root


@pytest.fixture
def checks(project: Path, tmp_path: Path) -> Iterator[dict[str, IncrementalCheck]]:
    with DbtEngine(project) as engine:
        built = engine.invoke(DbtCall(command="run", select=list(MODELS)))
        assert built.success
        tools = ToolContext(paths=ProjectPaths.for_project(project), target="dev", engine=engine)
        ctx = RunContext(run_id="r", run_dir=tmp_path / "run", tools=tools, planner=ScriptedPlanner([]))
        manifest = Manifest.load(project)
        db = project / "tiny.duckdb"
        before = _relations(db)
        proved = prove_incrementals(ctx, db, manifest, built.nodes)
        assert _relations(db) == before  # the user's warehouse: models as built, source as it was
        yield {c.model: c for c in proved}


@pytest.mark.slow
def test_append_over_rows_edited_in_place_fails_and_merge_passes(checks: dict[str, IncrementalCheck]) -> None:
    append, merge = checks["accounts_append"], checks["accounts_merge"]
    # on the data as it is, both equal their full refresh
    assert append.incremental == append.full_refresh and merge.incremental == merge.full_refresh
    # after the edits: append keeps the old versions of the edited rows as well
    assert append.edited == {'"tiny"."raw"."accounts"': 4}
    assert append.after_edits_incremental is not None and append.after_edits_full_refresh is not None
    assert append.after_edits_incremental[0] == append.after_edits_full_refresh[0] + 4
    assert not append.matches and "DIFFERS FROM" in append.describe()
    assert merge.matches, merge.describe()
    assert merge.after_edits_incremental == merge.after_edits_full_refresh is not None
