"""A core-format task on a project that is not the bundled example: named by path, graded as usual."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.execute import Job, run_task
from evals.task import ProjectSpec, load_task
from evals.workspace import create_project, warehouse_of
from tests.dbt_project_factory import write_tiny_project
from tools.errors import ConfigurationError

TASK = """\
id: adult_names
category: fact
request: Build adult_names, the names of the people aged 18 or more.
project: {name: tiny, path: tiny}
setup:
  - dbt: {command: run, select: [stg_people]}
models: [adult_names]
reference:
  files:
    models/adult_names.sql: |
      select name from {{ ref('stg_people') }} where age >= 18
    models/adult_names.yml: |
      version: 2
      models:
        - name: adult_names
          description: Names of the people aged 18 or more.
          columns:
            - {name: name, description: The person's name.}
checks:
  relations:
    - {name: adult_names, columns: [name]}
  gold:
    - relation: adult_names
      sql: select name from raw.people where age >= 18
  unchanged: [models/stg_people.sql]
"""


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    write_tiny_project(tmp_path / "tasks" / "tiny")
    path = tmp_path / "tasks" / "adult_names.yaml"
    path.write_text(TASK, encoding="utf-8")
    return path


def test_the_project_path_is_resolved_against_the_task_file(task_file: Path) -> None:
    task = load_task(task_file)
    assert task.project.path == str(task_file.parent / "tiny")
    assert not task.project.is_example


def test_a_missing_project_folder_is_named_at_load(task_file: Path) -> None:
    task_file.write_text(TASK.replace("path: tiny", "path: nowhere"), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"project\.path .*nowhere does not exist"):
        load_task(task_file)


@pytest.mark.slow
def test_oracle_passes_and_noop_fails_on_a_tiny_project(task_file: Path, tmp_path: Path) -> None:
    task = load_task(task_file)
    oracle = run_task(Job(task, "oracle", 0, tmp_path / "runs"))
    assert oracle.error is None, oracle.error
    assert oracle.passed, [c for c in oracle.checks if not c.passed]
    assert oracle.query_performance == 1.0  # the oracle's SQL is the reference's
    noop = run_task(Job(task, "noop", 0, tmp_path / "runs"))
    assert not noop.passed
    failed = {c.kind for c in noop.checks if not c.passed}
    assert {"relation", "gold"} <= failed
    # the project folder the task names is copied, never touched
    assert not (task_file.parent / "tiny" / "models" / "adult_names.sql").exists()


def test_a_warehouse_kept_apart_is_copied_to_where_the_profile_points(tmp_path: Path) -> None:
    source = write_tiny_project(tmp_path / "tiny")
    kept_apart = tmp_path / "dbs" / "tiny.duckdb"
    kept_apart.parent.mkdir()
    (source / "tiny.duckdb").rename(kept_apart)
    with pytest.raises(ConfigurationError, match=r"no warehouse at tiny\.duckdb"):
        create_project(tmp_path / "without", ProjectSpec(name="tiny", path=str(source)))
    copy = create_project(
        tmp_path / "with", ProjectSpec(name="tiny", path=str(source), warehouse=str(kept_apart))
    )
    assert warehouse_of(copy) == (copy / "tiny.duckdb").resolve()
    assert warehouse_of(copy).read_bytes() == kept_apart.read_bytes()


def test_example_only_settings_need_the_example() -> None:
    with pytest.raises(ValueError, match=r"scale and project\.seed apply to the bundled example only"):
        ProjectSpec(name="tiny", path="tiny", scale=3)
    with pytest.raises(ValueError, match=r"need project\.path"):
        ProjectSpec(name="other")
