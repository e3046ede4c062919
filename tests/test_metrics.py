"""The source document's metrics in a run's figures, from real runs on a tiny project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent.commands.planner import CommandPlanner
from agent.run_command import render_summary
from agent.runner import Session
from agent.settings import load_settings
from graph.figures import impact_and_size
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import GOOD_YML, NEW_MODEL
from tools.engine import DbtCall, DbtEngine, DbtResult
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


# --- issue 25 item 2: freshness of what the run read or was asked about, nothing more ---------------

#: raw.pets is late by ten days and has a rule; no model reads it
PETS = """\
      - name: pets
        loaded_at_field: loaded_at
        freshness:
          error_after: {count: 1, period: day}
"""


def _with_loaded_at(project: Path, people_age_days: int) -> None:
    with duckdb.connect(str(project / "tiny.duckdb")) as con:
        con.execute("alter table raw.people add column loaded_at timestamp")
        con.execute(f"update raw.people set loaded_at = now()::timestamp - interval {people_age_days} day")
        con.execute(
            "create table raw.pets as select 1 as pet_id, now()::timestamp - interval 10 day as loaded_at"
        )


def _report(project: Path, request: str, planner: Any) -> dict[str, Any]:
    with Session(load_settings(project, max_repairs=0, retry_attempts=1)) as session:
        outcome = session.run(request, planner=planner)
    assert outcome.status == "success", outcome.reason
    assert outcome.report_dir is not None
    report: dict[str, Any] = json.loads((outcome.report_dir / "report.json").read_text())
    return report


def test_a_build_checks_the_freshness_of_the_sources_its_models_read_only(tmp_path: Path) -> None:
    """Before: every source with a rule was checked, so the stale raw.pets, which nothing built
    reads, made the figure 0.5."""
    project = write_tiny_project(tmp_path / "tiny")
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("    tables:\n      - name: people\n", FRESHNESS + PETS))
    _with_loaded_at(project, people_age_days=0)
    report = _report(project, "add stg_people_names", ScriptedPlanner([writes(NEW_MODEL)]))
    assert report["verification"]["figures"]["data_freshness_sla"] == 1.0
    assert report["dbt_calls"]["by_phase"]["verify"] == {"test": 1, "source freshness": 1}


def test_asked_freshness_is_checked_once_and_gives_the_figure(tmp_path: Path) -> None:
    """/dbt-source --freshness checks in Execute; before, Verify checked the same sources again."""
    project = write_tiny_project(tmp_path / "tiny")
    _with_loaded_at(project, people_age_days=10)
    request = '/dbt-source --schema raw --table people --freshness "error_after: {count: 1, period: day}"'
    report = _report(project, request, CommandPlanner())
    calls = report["dbt_calls"]["by_phase"]
    assert calls["execute"] == {"source freshness": 1}
    assert "verify" not in calls
    assert report["verification"]["figures"]["data_freshness_sla"] == 0.0  # people is ten days late


# --- issue 25 item 10: unit tests are tests dbt ran -----------------------------------------------

UNIT_TEST = """\
unit_tests:
  - name: stg_people_keeps_the_id
    model: stg_people
    given:
      - input: source('raw', 'people')
        rows: [{id: 7, name: dee, age: 50}]
    expect:
      rows: [{person_id: 7, name: dee, age: 50}]
"""


def test_unit_tests_count_in_the_test_figures_and_the_summary(tmp_path: Path) -> None:
    """Before: the figures counted data tests only (2 here), while dbt ran 3."""
    project = write_tiny_project(tmp_path / "tiny")
    (project / "models" / "unit_tests.yml").write_text(UNIT_TEST)
    with DbtEngine(project) as engine:
        assert engine.invoke(DbtCall(command="run", select=["stg_people"])).success
    with Session(load_settings(project, max_repairs=0)) as session:
        outcome = session.run("/dbt-test --select stg_people", planner=CommandPlanner())
    assert outcome.status == "success", outcome.reason
    report = outcome.report()
    assert report is not None
    ran = {(t["name"], t["status"]) for t in report.verification["tests"]}
    assert ("stg_people_keeps_the_id", "pass") in ran and len(ran) == 3
    assert report.figures["tests_passed"] == 3
    assert "tests: 3 passed, 0 failed" in render_summary(outcome)
