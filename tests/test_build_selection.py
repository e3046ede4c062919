"""Execute builds exactly what a change redefined (and what depends on it); Verify runs the tests
the change added. A real tiny project and dbt; the runs share one built project and session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.runner import Session
from agent.settings import load_settings
from graph.plan_spec import Operation, PlanRequest, PlanSpec
from tests.dbt_project_factory import SCHEMA, write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tools.context import ToolContext

KIDS_SQL = "select person_id, name from {{ ref('stg_people') }} where age < 18\n"
#: the new view documented in the YAML file the project already uses, with a relationships test
#: to its parent: the test must not make the parent count as changed
KIDS_ENTRY = """\
  - name: kids
    description: People under 18.
    columns:
      - name: person_id
        description: The person.
        data_tests:
          - not_null
          - relationships:
              arguments:
                to: ref('stg_people')
                field: person_id
      - name: name
        description: The name.
"""


def _build_everything(_request: PlanRequest, _tools: ToolContext) -> PlanSpec:
    return PlanSpec(
        summary="dbt run", operations=[Operation(command="run")], verify_select=[], document=False
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, Path]]:
    project = write_tiny_project(tmp_path_factory.mktemp("build_selection") / "tiny")
    # the factory's adults test fails on purpose; here every test passes, so a rebuild can succeed
    schema = project / "models" / "schema.yml"
    schema.write_text(SCHEMA.replace("values: [1]", "values: [1, 2]"))
    with Session(load_settings(project, max_repairs=0)) as session:
        outcome = session.run("build everything", planner=ScriptedPlanner([_build_everything]))
        assert outcome.status == "success", outcome.reason
        yield session, project


def _run(session: Session, files: dict[str, str]) -> dict[str, Any]:
    outcome = session.run("a change", planner=ScriptedPlanner([writes(files)]))
    assert outcome.status == "success", outcome.reason
    assert outcome.report_dir is not None
    report: dict[str, Any] = json.loads((outcome.report_dir / "report.json").read_text())
    return report


def _built(report: dict[str, Any]) -> list[str]:
    return sorted(n["name"] for r in report["execution"].get("results", []) for n in r["nodes"])


def _tested(report: dict[str, Any]) -> list[str]:
    return sorted(t["name"] for t in report["verification"].get("tests", []))


def test_a_new_view_builds_only_itself_and_runs_its_tests(built: tuple[Session, Path]) -> None:
    session, project = built
    schema = (project / "models" / "schema.yml").read_text() + KIDS_ENTRY
    report = _run(session, {"models/kids.sql": KIDS_SQL, "models/schema.yml": schema})
    assert _built(report) == ["kids"]
    assert report["execution"]["results"][0]["args"][:3] == ["build", "--select", "kids+"]
    tested = _tested(report)
    assert len(tested) == 2 and all("kids" in name for name in tested)


def test_a_test_added_to_an_existing_model_builds_nothing_and_runs_that_test(
    built: tuple[Session, Path],
) -> None:
    session, project = built
    schema = (project / "models" / "schema.yml").read_text()
    with_test = schema.replace(
        "data_tests: [unique, not_null]",
        "data_tests: [unique, not_null]\n      - name: name\n        description: The name.\n"
        "        data_tests: [not_null]",
        1,
    )
    assert with_test != schema
    report = _run(session, {"models/schema.yml": with_test})
    assert _built(report) == []
    assert _tested(report) == ["not_null_stg_people_name"]


def test_a_description_change_builds_nothing_and_runs_no_test(built: tuple[Session, Path]) -> None:
    session, project = built
    schema = (project / "models" / "schema.yml").read_text()
    described = schema.replace("  - name: adults\n", "  - name: adults\n    description: Grown-ups.\n", 1)
    assert described != schema
    report = _run(session, {"models/schema.yml": described})
    assert _built(report) == []
    assert _tested(report) == []


def test_a_config_change_in_yaml_rebuilds_the_model_and_its_children(built: tuple[Session, Path]) -> None:
    session, project = built
    schema = (project / "models" / "schema.yml").read_text()
    as_table = schema.replace(
        "  - name: stg_people\n", "  - name: stg_people\n    config:\n      materialized: table\n", 1
    )
    assert as_table != schema
    report = _run(session, {"models/schema.yml": as_table})
    assert {"stg_people", "adults"} <= set(_built(report))
