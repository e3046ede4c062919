"""The source document's metrics in a run's figures, from real runs on a tiny project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent.runner import Session
from agent.settings import load_settings
from graph.figures import impact_and_size
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import GOOD_YML, NEW_MODEL
from tools.engine import DbtResult
from tools.engine.results import NodeResult

# the test on name fails (bob and cy are not ann) until the repair drops it
FAILING_MODEL = {
    **NEW_MODEL,
    "models/stg_people_names.yml": GOOD_YML.replace(
        "description: First name of the person.",
        "description: First name of the person.\n"
        "        data_tests: [{accepted_values: {arguments: {values: [ann]}}}]",
    ),
}
FRESHNESS = """\
    tables:
      - name: people
        loaded_at_field: loaded_at
        freshness:
          warn_after: {count: 1, period: day}
          error_after: {count: 2, period: day}
"""


def _figures(project: Path, planner: ScriptedPlanner) -> dict[str, Any]:
    settings = load_settings(project, max_repairs=2, retry_attempts=1)
    with Session(settings) as session:
        outcome = session.run("add stg_people_names", planner=planner)
    assert outcome.status == "success", outcome.reason
    assert outcome.report_dir is not None
    report = json.loads((outcome.report_dir / "report.json").read_text())
    figures: dict[str, Any] = report["verification"]["figures"]
    return figures


def test_repair_loop_reports_time_to_repair_and_compiled_size(tmp_path: Path) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    figures = _figures(project, ScriptedPlanner([writes(FAILING_MODEL), writes(NEW_MODEL)]))
    assert figures["mttr_test_failures"] is not None and figures["mttr_test_failures"] > 0
    # GOOD_SQL compiles to one line
    assert figures["query_efficiency"] == 1.0
    assert figures["downstream_impact"] == 0
    assert figures["data_freshness_sla"] is None  # no source declares freshness


@pytest.mark.parametrize(("age_days", "sla"), [(0, 1.0), (10, 0.0)])
def test_freshness_sla_is_sources_meeting_their_rule(tmp_path: Path, age_days: int, sla: float) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("    tables:\n      - name: people\n", FRESHNESS))
    with duckdb.connect(str(project / "tiny.duckdb")) as con:
        con.execute("alter table raw.people add column loaded_at timestamp")
        con.execute(f"update raw.people set loaded_at = now()::timestamp - interval {age_days} day")
    figures = _figures(project, ScriptedPlanner([writes(NEW_MODEL)]))
    assert figures["data_freshness_sla"] == sla
    assert figures["mttr_test_failures"] is None  # nothing failed, so there was nothing to repair


def _node(name: str, status: str, sql: str | None = None) -> NodeResult:
    return NodeResult(
        unique_id=f"model.p.{name}", name=name, resource_type="model", status=status, compiled_sql=sql
    )


def test_downstream_impact_counts_failed_and_skipped_models() -> None:
    built = DbtResult(
        command="build",
        args=[],
        success=False,
        nodes=[_node("a", "success", "select 1\nfrom x\n"), _node("b", "error"), _node("c", "skipped")],
    )
    assert impact_and_size([built]) == {"downstream_impact": 2, "query_efficiency": 2.0}
