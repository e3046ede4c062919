"""The five-phase graph end to end on a real tiny dbt project, with a scripted planner."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.runner import Session
from agent.settings import load_settings
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes

GOOD_SQL = "select id as person_id, name from {{ source('raw', 'people') }}\n"
BROKEN_SQL = "select id as person_id, name from {{ source('raw', 'people' }}\n"
GOOD_YML = """\
version: 2
models:
  - name: stg_people_names
    description: People and their names.
    columns:
      - name: person_id
        description: Primary key of the person.
        data_tests: [unique, not_null]
      - name: name
        description: First name of the person.
"""
NEW_MODEL = {"models/stg_people_names.sql": GOOD_SQL, "models/stg_people_names.yml": GOOD_YML}
BROKEN_MODEL = {"models/stg_people_names.sql": BROKEN_SQL, "models/stg_people_names.yml": GOOD_YML}


def fingerprint(root: Path) -> dict[str, str]:
    """Hashes of the project's own files (not dbt's target/ or ae's .ae/ or the warehouse)."""
    skip = {"target", ".ae", "logs"}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not skip & set(p.relative_to(root).parts) and not p.name.startswith("tiny.duckdb")
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


@pytest.fixture
def session(project: Path) -> Iterator[Session]:
    settings = load_settings(project, max_repairs=2, retry_attempts=2, retry_initial_wait_s=0.05)
    with Session(settings) as sess:
        yield sess


def test_success_goes_through_all_phases_and_writes_a_report(session: Session, project: Path) -> None:
    outcome = session.run("add stg_people_names", planner=ScriptedPlanner([writes(NEW_MODEL)]))
    assert outcome.status == "success", outcome.reason
    assert (project / "models" / "stg_people_names.sql").read_text() == GOOD_SQL
    assert outcome.report_dir is not None
    report = json.loads((outcome.report_dir / "report.json").read_text())
    assert report["status"] == "success"
    assert "+select id as person_id" in report["diff"]
    figures = report["verification"]["figures"]
    assert figures["tests_passed"] == 2 and figures["tests_failed"] == 0
    assert figures["rows_per_model"]["stg_people_names"] == 3
    called = [c["name"] for c in report["tool_calls"]]
    assert called[:2] == ["dbt_parse", "dbt_compile"]
    assert "dbt_build" in called and "dbt_test" in called and "dbt_docs_generate" in called
    assert (outcome.report_dir / "report.md").read_text().startswith(f"# ae run {outcome.run_id}")


def test_repair_loop_fixes_a_compile_error_on_the_second_visit(session: Session) -> None:
    planner = ScriptedPlanner([writes(BROKEN_MODEL), writes(NEW_MODEL)])
    outcome = session.run("add stg_people_names", planner=planner)
    assert outcome.status == "success", outcome.reason
    assert len(planner.requests) == 2
    feedback = planner.requests[1].feedback
    assert feedback[0].phase == "validate"
    assert "stg_people_names" in feedback[0].render() or "source" in feedback[0].render()


def test_rollback_at_the_bound_leaves_the_project_byte_identical(session: Session, project: Path) -> None:
    before = fingerprint(project)
    planner = ScriptedPlanner([writes(BROKEN_MODEL)])
    outcome = session.run("add a broken model", planner=planner)
    assert outcome.status == "failed"
    assert len(planner.requests) == 3  # first visit + max_repairs=2
    assert "no repair attempts left" in outcome.reason
    assert fingerprint(project) == before
    report = outcome.report()
    assert report is not None and report.status == "failed" and len(report.feedback) == 3


def test_lint_errors_send_feedback(session: Session, project: Path) -> None:
    undocumented = {"models/stg_people_names.sql": GOOD_SQL}
    planner = ScriptedPlanner([writes(undocumented), writes(NEW_MODEL)])
    outcome = session.run("add stg_people_names", planner=planner)
    assert outcome.status == "success"
    rendered = planner.requests[1].feedback[0].render()
    assert "AE006" in rendered or "AE007" in rendered


def test_killed_run_resumes_after_validate_without_reapplying(project: Path) -> None:
    settings = load_settings(project)
    planner = ScriptedPlanner([writes(NEW_MODEL)])
    with Session(settings, interrupt_after=["validate"]) as first:
        paused = first.run("add stg_people_names", planner=planner)
    assert paused.status == "paused"
    written = project / "models" / "stg_people_names.sql"
    stamp = written.stat().st_mtime_ns
    # a new process would build a new session: same store, same checkpoints, fresh engine
    with Session(settings) as second:
        outcome = second.resume(paused.run_id, planner=planner)
    assert outcome.status == "success", outcome.reason
    assert len(planner.requests) == 1  # Plan did not run again
    assert written.stat().st_mtime_ns == stamp  # the changeset was not applied twice
    report = outcome.report()
    assert report is not None
    assert [c.name for c in report.tool_calls].count("dbt_parse") >= 1
    assert [c.name for c in report.tool_calls][:2] == ["dbt_parse", "dbt_compile"]


def test_protected_target_waits_for_approval(project: Path) -> None:
    settings = load_settings(project)
    before = fingerprint(project)
    with Session(settings, target="prod") as session:
        asked = session.run("add stg_people_names", planner=ScriptedPlanner([writes(NEW_MODEL)]))
        assert asked.status == "awaiting_approval"
        assert asked.question is not None and "prod" in asked.question["question"]
        refused = session.resume(asked.run_id, planner=ScriptedPlanner([]), approval=False)
        assert refused.status == "refused"
        assert fingerprint(project) == before
        asked_again = session.run("add stg_people_names", planner=ScriptedPlanner([writes(NEW_MODEL)]))
        approved = session.resume(asked_again.run_id, planner=ScriptedPlanner([]), approval=True)
    assert approved.status == "success", approved.reason
    assert (project / "models" / "stg_people_names.sql").exists()
