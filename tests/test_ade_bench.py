"""The ADE-bench adapter: its test filter, its up-front input check, and the core-suite round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.ade_bench import load_ade_tasks, missing_inputs, sql_test_applies
from evals.ade_export import round_trip
from evals.cli import main as eval_main

TASK_YAML = """\
task_id: {id}
prompts: [{{key: base, prompt: do it}}]
variants: [{{db_type: duckdb, db_name: {db}, project_type: dbt, project_name: proj}}]
"""


def _tasks_dir(root: Path, dbs: dict[str, str]) -> Path:
    for task_id, db in dbs.items():
        (root / "tasks" / task_id).mkdir(parents=True)
        (root / "tasks" / task_id / "task.yaml").write_text(TASK_YAML.format(id=task_id, db=db))
    (root / "projects" / "proj").mkdir(parents=True)
    (root / "projects" / "proj" / "dbt_project.yml").write_text("name: proj\n")
    return root / "tasks"


def test_header_lines_filter_tests_like_run_dbt_test_sh() -> None:
    assert sql_test_applies("select 1")
    assert sql_test_applies("-- db: snowflake, duckdb\nselect 1")
    assert not sql_test_applies("-- db: snowflake\nselect 1")
    assert not sql_test_applies("-- project-type: other\n-- db: duckdb\nselect 1")


def test_missing_databases_are_each_named(tmp_path: Path) -> None:
    tasks_dir = _tasks_dir(tmp_path, {"a001": "airbnb", "b001": "asana", "b002": "asana"})
    (tmp_path / "dbs").mkdir()
    (tmp_path / "dbs" / "asana.duckdb").write_bytes(b"")
    missing = missing_inputs(load_ade_tasks(tasks_dir), tmp_path / "projects", tmp_path / "dbs")
    assert missing == [f"database {tmp_path / 'dbs' / 'airbnb.duckdb'}"]


def test_empty_db_dir_fails_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks_dir = _tasks_dir(tmp_path, {"a001": "airbnb", "b001": "asana"})
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    code = eval_main(
        ["--suite", "ade-bench", "--agent", "noop", "--tasks-dir", str(tasks_dir),
         "--projects-dir", str(tmp_path / "projects"), "--db-dir", str(tmp_path / "empty"), "--out", str(out)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 5  # the environment is not usable: the warehouses are missing
    assert "airbnb.duckdb" in err and "asana.duckdb" in err
    assert not out.exists()


@pytest.mark.slow
def test_core_tasks_round_trip_through_ade_format(tmp_path: Path) -> None:
    results = round_trip(tmp_path, ["staging_orders", "bugfix_fanout_join"])
    assert [r.task_id for r in results["oracle"]] == ["bugfix_fanout_join", "staging_orders"]
    assert all(r.passed for r in results["oracle"]), results["oracle"]
    assert not any(r.passed for r in results["noop"]), results["noop"]
    # equality and row count per model: the fan-out's duplicated rows pass EXCEPT, not the count
    assert all(r.tests_expected == 2 for r in results["noop"])


def test_a_task_needing_a_package_not_installed_says_which(tmp_path: Path) -> None:
    from evals.ade_bench import run_trial

    tasks_dir = _tasks_dir(tmp_path, {"a001": "airbnb"})
    (tmp_path / "projects" / "proj" / "packages.yml").write_text(
        "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n"
    )
    (tmp_path / "dbs").mkdir()
    (tmp_path / "dbs" / "airbnb.duckdb").write_bytes(b"")
    [task] = load_ade_tasks(tasks_dir)
    result = run_trial(
        task, "noop", projects_dir=tmp_path / "projects", db_dir=tmp_path / "dbs", work_dir=tmp_path / "w"
    )
    assert not result.passed
    assert "dbt-labs/dbt_utils" in result.reason
