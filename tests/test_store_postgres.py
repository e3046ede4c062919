"""Runs and checkpoints on a real PostgreSQL server (mandatory in CI)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from agent.runner import Session
from agent.settings import load_settings
from agent.store import RunStore
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import NEW_MODEL

pytestmark = pytest.mark.postgres


def test_run_store_records_runs_in_postgres(postgres_dsn: str, tmp_path: Path) -> None:
    store = RunStore(postgres_dsn, tmp_path / ".ae")
    store.create(run_id="r1", request="/dbt-debug", project_dir=tmp_path, target="dev", planner="command")
    store.finish("r1", status="success", reason="", report_dir="/x")
    record = store.get("r1")
    assert record is not None and record.status == "success" and record.report_dir == "/x"
    # the session's database holds other tests' runs too: this one is the newest, and there once
    recent = [r.run_id for r in store.recent()]
    assert recent[0] == "r1" and recent.count("r1") == 1
    store.close()
    assert not (tmp_path / ".ae" / "ae.sqlite").exists()  # nothing went to SQLite


def test_killed_run_resumes_from_postgres_checkpoints(postgres_dsn: str, tmp_path: Path) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    settings = load_settings(project, store_url=postgres_dsn)
    planner = ScriptedPlanner([writes(NEW_MODEL)])
    with Session(settings, interrupt_after=["validate"]) as first:
        paused = first.run("add stg_people_names", planner=planner)
    assert paused.status == "paused"
    with psycopg.connect(postgres_dsn) as conn:
        threads = conn.execute(
            "select count(*) from checkpoints where thread_id = %s", (paused.run_id,)
        ).fetchone()
    assert threads is not None and threads[0] > 0
    with Session(settings) as second:
        done = second.resume(paused.run_id, planner=planner)
    assert done.status == "success", done.reason
    assert len(planner.requests) == 1
    assert not (project / ".ae" / "checkpoints.sqlite").exists()
