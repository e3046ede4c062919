"""The main job end to end: `ae demo` on the generated example, offline, through every phase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.commands.describer import HeuristicDescriber
from agent.commands.planner import CommandPlanner
from agent.runner import Session
from agent.settings import load_settings
from tools.example_project import create_example_project

pytestmark = pytest.mark.slow


def test_demo_builds_a_tested_documented_project_and_survives_a_time_advance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--dir", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "demo" / "demo-summary.json").read_text())
    assert summary["status"] == "success"
    assert summary["tests_failed"] == 0 and summary["tests_passed"] > 30
    assert summary["data_quality"] == 1.0
    assert summary["documentation_coverage"] == 1.0
    assert summary["schema_compliance"] == 1.0
    assert summary["incremental_matches_full_refresh"] is True
    assert summary["snapshot_history_rows"] > 0
    assert summary["lint_errors"] == 0
    assert summary["models_built"] >= 10
    assert (tmp_path / "demo" / "jaffle_shop" / "target" / "index.html").exists()
    assert "demo summary" in out
    # a second demo into the same folder needs --force
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 2


def test_local_package_is_installed_by_validate(tmp_path: Path) -> None:
    package = tmp_path / "my_pkg"
    (package / "macros").mkdir(parents=True)
    (package / "dbt_project.yml").write_text("name: my_pkg\nversion: '1.0.0'\nconfig-version: 2\n")
    (package / "macros" / "double.sql").write_text("{% macro double(x) %}({{ x }} * 2){% endmacro %}\n")
    project = create_example_project(tmp_path / "shop")
    with Session(load_settings(project)) as session:
        outcome = session.run(
            f"/dbt-package --name my_pkg --version 1.0.0 --local {package}",
            planner=CommandPlanner(),
            describer=HeuristicDescriber(),
        )
        # packages.yml decides what code dbt runs: changing it needs the person's approval
        assert outcome.status == "awaiting_approval", outcome.reason
        outcome = session.resume(
            outcome.run_id, planner=CommandPlanner(), describer=HeuristicDescriber(), allow_code=True
        )
    assert outcome.status == "success", outcome.reason
    assert "my_pkg" in (project / "packages.yml").read_text()
    assert (project / "dbt_packages" / "my_pkg" / "macros" / "double.sql").exists()
