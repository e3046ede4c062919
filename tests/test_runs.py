"""Runs you can find, read and resume: `ae runs`, `ae show RUN_ID`, and a killed run flagged (issue 12)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.runner import Session
from agent.runs import interrupted_runs, read_record, record_path
from agent.runs_command import list_runs, show_run
from agent.settings import load_settings
from graph.progress import ProgressEvent
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import BROKEN_MODEL, NEW_MODEL
from tools.errors import InvalidArguments
from tools.journal import save


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped), as a killed run's would be."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_runs_lists_two_runs_and_show_prints_each_report(project: Path) -> None:
    settings = load_settings(project, max_repairs=0)
    events: list[ProgressEvent] = []
    with Session(settings, emit=events.append) as session:
        good = session.run("add stg_people_names", planner=ScriptedPlanner([writes(NEW_MODEL)]))
        bad = session.run("add a broken model", planner=ScriptedPlanner([writes(BROKEN_MODEL)]))
    assert (good.status, bad.status) == ("success", "failed")
    # the id is printed as each run begins, not only when it ends
    started = [e.message for e in events if e.phase == "run"]
    assert started == [f"run {good.run_id} started — target dev", f"run {bad.run_id} started — target dev"]

    listed = io.StringIO()
    assert list_runs(settings, as_json=True, limit=10, out=listed) == 0
    runs = json.loads(listed.getvalue())
    assert [(r["run_id"], r["status"], r["target"]) for r in runs] == [
        (bad.run_id, "failed", "dev"),
        (good.run_id, "success", "dev"),
    ]
    assert runs[1]["request"] == "add stg_people_names"
    assert runs[1]["duration_s"] > 0 and not runs[1]["interrupted"]

    text = io.StringIO()
    assert list_runs(settings, as_json=False, limit=1, out=text) == 0
    lines = text.getvalue().splitlines()
    assert lines[0].split() == ["RUN", "ID", "STARTED", "(UTC)", "STATUS", "TARGET", "DURATION", "REQUEST"]
    assert len(lines) == 2 and lines[1].startswith(bad.run_id) and "failed" in lines[1]

    report = io.StringIO()
    assert show_run(settings, good.run_id, as_json=False, out=report) == 0
    assert good.report_dir is not None
    assert report.getvalue() == (good.report_dir / "report.md").read_text().rstrip("\n") + "\n"
    as_json = io.StringIO()
    assert show_run(settings, bad.run_id, as_json=True, out=as_json) == 0
    assert json.loads(as_json.getvalue())["status"] == "failed"


def test_show_of_an_unknown_run_names_the_list_command(project: Path) -> None:
    settings = load_settings(project)
    for run_id in ("20990101-000000-nope", "../tiny", ""):
        with pytest.raises(InvalidArguments, match=r"no run .*`ae runs --project .*tiny` lists"):
            show_run(settings, run_id, as_json=False, out=io.StringIO())


def test_a_killed_run_is_flagged_by_the_next_run_and_resumes(project: Path) -> None:
    settings = load_settings(project)
    planner = ScriptedPlanner([writes(NEW_MODEL)])
    with Session(settings, interrupt_after=["validate"]) as first:
        paused = first.run("add stg_people_names", planner=planner)
    assert paused.status == "paused"  # its changeset is applied and journaled, Execute never ran
    # the process that carried it dies: its record still says running, under a pid now gone
    record = read_record(settings.state_dir, paused.run_id)
    assert record is not None and record.status == "running"
    save(record_path(settings.state_dir, paused.run_id), record.model_copy(update={"pid": dead_pid()}))
    assert [r.run_id for r in interrupted_runs(settings.state_dir)] == [paused.run_id]

    warnings: list[ProgressEvent] = []
    with Session(settings, emit=warnings.append) as second:
        other = second.run("a later request", planner=ScriptedPlanner([writes({})]))
        flagged = [e.message for e in warnings if e.kind == "warning" and e.phase == "runs"]
        assert flagged == [
            f"run {paused.run_id} ('add stg_people_names' on target dev, started "
            f"{record.started_at:%Y-%m-%d %H:%M:%S} UTC) was interrupted with its changes still applied: "
            f"resume it with `ae resume {paused.run_id} --project {project}` or restore its files with "
            f"`ae undo {paused.run_id} --project {project}`"
        ]
        assert other.run_id not in {r.run_id for r in interrupted_runs(settings.state_dir)}
        done = second.resume(paused.run_id, planner=planner)
    assert done.status == "success", done.reason
    assert len(planner.requests) == 1  # resumed from its checkpoint, not planned again
    assert interrupted_runs(settings.state_dir) == []
    listed = io.StringIO()
    list_runs(settings, as_json=True, limit=10, out=listed)
    assert {r["run_id"]: r["status"] for r in json.loads(listed.getvalue())}[paused.run_id] == "success"


def test_the_run_commands_load_no_dbt_langgraph_or_store() -> None:
    """`ae runs` and `ae show` answer at once: importing them loads none of the heavy modules."""
    heavy = ("dbt", "langgraph", "sqlalchemy", "graph.transaction")
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, agent.runs_command; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "agent.runs" in loaded
    assert [m for m in loaded if m.split(".")[0] in heavy or m in heavy] == []
