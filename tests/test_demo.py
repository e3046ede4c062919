"""Installing a local package end to end (the demo itself is checked by tests/test_readme_examples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.commands.describer import HeuristicDescriber
from agent.commands.planner import CommandPlanner
from agent.runner import Session
from agent.settings import load_settings
from tools.example_project import create_example_project

pytestmark = pytest.mark.slow


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
