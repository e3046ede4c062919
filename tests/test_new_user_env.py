"""Issue 25 item 7: what a new user's machine lacks is an unusable environment (exit 5), said with
what to do, and ``ae doctor`` only looks. Real dbt and DuckDB on a tiny project; no model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.exit_codes import ExitCode, for_status, status_for
from tests.dbt_project_factory import write_tiny_project

STAGING = "/dbt-model --name stg_people_again --type staging --source raw.people"


@pytest.fixture
def unloaded(tmp_path: Path) -> Path:
    """The tiny project before its data is loaded: raw.people is declared, the DuckDB file is not there."""
    project = write_tiny_project(tmp_path / "tiny")
    (project / "tiny.duckdb").unlink()
    return project


def _files(project: Path) -> set[str]:
    """The project's files and folders, without ae's own state folder."""
    return {str(p.relative_to(project)) for p in project.rglob("*") if ".ae" not in p.parts}


def test_a_model_before_the_data_is_loaded_is_an_unusable_environment(
    unloaded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: exit 1 (status failed), as if the request or the project were wrong."""
    assert main(["run", STAGING, "--project", str(unloaded)]) == ExitCode.ENVIRONMENT
    out = capsys.readouterr().out
    assert f"status: environment — warehouse file {unloaded / 'tiny.duckdb'} does not exist" in out
    assert "dbt run/seed" in out  # what to do
    assert not (unloaded / "models" / "stg_people_again.sql").exists()
    assert not (unloaded / "tiny.duckdb").exists()  # looking for the data made no empty warehouse

    assert main(["run", STAGING, "--project", str(unloaded), "--json"]) == ExitCode.ENVIRONMENT
    assert json.loads(capsys.readouterr().out)["status"] == "environment"


@pytest.mark.parametrize(
    ("packages", "says"),
    [
        # dbt's own refusal ("Run dbt deps"), which it raises as a compilation error
        ("packages:\n  - local: ../a_package\n", 'Run "dbt deps"'),
        # ae's, before dbt: a hub package cannot be downloaded offline
        ("packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n", "dbt_utils"),
    ],
)
def test_packages_not_installed_are_an_unusable_environment_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], packages: str, says: str
) -> None:
    """Before: exit 1, the same as a project whose own files do not parse."""
    project = write_tiny_project(tmp_path / "tiny")
    package = tmp_path / "a_package"
    package.mkdir()
    (package / "dbt_project.yml").write_text("name: a_package\nversion: '1.0'\nconfig-version: 2\n")
    (project / "packages.yml").write_text(packages)
    assert main(["run", "/dbt-run --select stg_people", "--project", str(project)]) == ExitCode.ENVIRONMENT
    out = capsys.readouterr().out
    assert out.startswith("status: environment — ") and says in out
    assert "/dbt-package --name" in out  # the offline way, named either way
    assert not (project / "target" / "run_results.json").exists()  # nothing was built


def test_a_hostile_error_text_cannot_turn_a_project_error_into_an_environment_one(tmp_path: Path) -> None:
    """A model that fails to compile stays a failed run (exit 1), whatever it says."""
    project = write_tiny_project(tmp_path / "tiny")
    (project / "models" / "adults.sql").write_text("select {{ ref('no_such_model') }}\n")
    assert main(["run", "/dbt-run --select adults", "--project", str(project)]) == ExitCode.FAILED


def test_every_exit_code_a_run_can_end_with_has_its_status() -> None:
    for code in ExitCode:
        assert for_status(status_for(code)) == code


def test_doctor_warns_of_declared_sources_without_a_warehouse_and_writes_nothing(
    unloaded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: "all checks passed" although raw.people cannot exist, and dbt's parse left target/ and
    logs/ in the project."""
    before = _files(unloaded)
    assert main(["doctor", "--project", str(unloaded)]) == ExitCode.OK
    lines = capsys.readouterr().out.splitlines()
    sources = next(line for line in lines if " sources " in line)
    assert sources.startswith("WARN") and "raw.people" in sources
    assert f"{unloaded / 'tiny.duckdb'} does not exist" in sources and "load the data" in sources
    assert lines[-1] == "no check failed; 1 warning(s) (above)"
    assert _files(unloaded) == before


def test_doctor_lists_declared_sources_when_the_warehouse_is_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    before = _files(project)
    assert main(["doctor", "--project", str(project)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "OK   sources      1 declared: raw.people" in out and out.rstrip().endswith("all checks passed")
    assert _files(project) == before
