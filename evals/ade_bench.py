"""ADE-bench task folders run as they are, in the order of ADE-bench's harness (dbt-labs/ade-bench).

Their harness runs in a container with the project at ``/app`` and the task folder at ``/sage``;
here each trial gets its own folder, and those two paths in the task's scripts are rewritten to
the trial's project and the task folder. The rest follows ``shared/scripts/run-dbt-test.sh``:
setup.sh, the agent, test_setup, the task's tests filtered by their ``-- db:`` and
``-- project-type:`` header lines, the ``solution__*`` seeds, then
``dbt test --select test_type:singular``; the task passes only when every one of those tests
passes and none is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from agent.requests import is_command
from tools.errors import ConfigurationError

DB_TYPE = "duckdb"
PROJECT_TYPE = "dbt"
USAGE = "ae eval --suite ade-bench --tasks-dir PATH/tasks --projects-dir PATH/shared/projects --db-dir DIR"
SCRIPT_ARGS = (f"--db-type={DB_TYPE}", f"--project-type={PROJECT_TYPE}")
#: a trial's scripts (setup, solution, test_setup) each get this long
SCRIPT_TIMEOUT_S = 900

# The generated equality tests call dbt_utils.test_equality; with no network `dbt deps` cannot
# fetch dbt_utils, so a project without it gets this one macro under that package name.
_EQUALITY_SHIM = {
    "dbt_project.yml": "name: dbt_utils\nversion: '0.0.0'\nconfig-version: 2\nmacro-paths: ['macros']\n",
    "macros/test_equality.sql": """\
{% test equality(model, compare_model, compare_columns=None, exclude_columns=None, precision=None) %}
{%- set excluded = (exclude_columns or []) | map('lower') | list -%}
{%- if compare_columns -%}
  {%- set names = compare_columns -%}
{%- else -%}
  {%- set names = adapter.get_columns_in_relation(model) | map(attribute='name') | list -%}
{%- endif -%}
{%- set cols = [] -%}
{%- for name in names if name | lower not in excluded -%}
  {%- do cols.append(adapter.quote(name)) -%}
{%- endfor -%}
{%- set col_list = cols | join(', ') -%}
with a as (select {{ col_list }} from {{ model }}),
b as (select {{ col_list }} from {{ compare_model }}),
a_minus_b as (select * from a except select * from b),
b_minus_a as (select * from b except select * from a)
select * from a_minus_b union all select * from b_minus_a
{% endtest %}
""",
}


class _Loose(BaseModel):
    # their task.yaml carries fields we do not use (author, tags, notes...): ignore, do not reject
    model_config = ConfigDict(extra="ignore", frozen=True)


class AdePrompt(_Loose):
    key: str
    prompt: str


class AdeVariant(_Loose):
    db_type: str
    db_name: str
    project_type: str
    project_name: str


class AdeSolutionSeed(_Loose):
    table_name: str
    exclude_columns: list[str] = Field(default_factory=list)


class AdeTask(_Loose):
    task_id: str
    prompts: list[AdePrompt]
    variants: list[AdeVariant]
    test_setup: str | None = None
    solution_seeds: list[AdeSolutionSeed] = Field(default_factory=list)
    #: the task folder (set on load, not read from the YAML)
    folder: Path = Path()

    def prompt(self, variant: str) -> str:
        for prompt in self.prompts:
            if prompt.key == variant:
                return prompt.prompt
        keys = ", ".join(p.key for p in self.prompts)
        raise ConfigurationError(f"ADE-bench task {self.task_id} has no {variant!r} prompt (it has: {keys})")

    @property
    def duckdb_variant(self) -> AdeVariant | None:
        return next(
            (v for v in self.variants if v.db_type == DB_TYPE and v.project_type == PROJECT_TYPE), None
        )


class AdeResult(BaseModel):
    task_id: str
    agent: str
    passed: bool
    tests_passed: int = 0
    tests_expected: int = 0
    failed_tests: list[str] = Field(default_factory=list)
    #: why the trial could not be graded, or which step broke
    reason: str = ""
    duration_s: float = 0.0


def load_ade_tasks(tasks_dir: Path, task_ids: list[str] | None = None) -> list[AdeTask]:
    """The task folders under ``tasks_dir`` (those with a task.yaml), sorted by id."""
    if not tasks_dir.is_dir():
        raise ConfigurationError(
            f"--tasks-dir {tasks_dir} is not a folder",
            hint="point it at ADE-bench's tasks/ folder: ae eval --suite ade-bench --tasks-dir PATH/tasks",
        )
    tasks = []
    for path in sorted(tasks_dir.glob("*/task.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        task = AdeTask.model_validate({**data, "folder": path.parent})
        if task_ids is None or task.task_id in task_ids:
            tasks.append(task)
    if not tasks:
        raise ConfigurationError(f"no ADE-bench task folder (*/task.yaml) under {tasks_dir}")
    return tasks


def missing_inputs(tasks: list[AdeTask], projects_dir: Path, db_dir: Path) -> list[str]:
    """Every project folder and database file the tasks need that is not there (checked before any work)."""
    missing: set[str] = set()
    for task in tasks:
        variant = task.duckdb_variant
        if variant is None:
            missing.add(f"task {task.task_id}: no duckdb/dbt variant")
            continue
        if not (projects_dir / variant.project_name / "dbt_project.yml").is_file():
            missing.add(f"project {projects_dir / variant.project_name} (task {task.task_id})")
        if not (db_dir / f"{variant.db_name}.duckdb").is_file():
            missing.add(f"database {db_dir / f'{variant.db_name}.duckdb'}")
    return sorted(missing)


def check_inputs(tasks: list[AdeTask], projects_dir: Path, db_dir: Path) -> None:
    missing = missing_inputs(tasks, projects_dir, db_dir)
    if missing:
        raise ConfigurationError(
            "ADE-bench inputs are missing:\n  " + "\n  ".join(missing),
            hint=f"put each <db_name>.duckdb from ADE-bench's release in --db-dir, then run: {USAGE}",
        )


def sql_test_applies(sql: str) -> bool:
    """run-dbt-test.sh's filter: a ``-- db:`` / ``-- project-type:`` header must name ours when present."""
    for header, ours in (("db", DB_TYPE), ("project-type", PROJECT_TYPE)):
        lines = re.findall(rf"^-- *{header}:(.*)$", sql, flags=re.MULTILINE)
        if lines and not any(ours in line for line in lines):
            return False
    return True


def _rewrite_paths(script: str, project: Path, task_dir: Path) -> str:
    return script.replace("/app/", f"{project}/").replace("/sage/", f"{task_dir}/")


def _env(project: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "DBT_PROFILES_DIR": str(project),
        "DBT_STATIC_ANALYSIS": "off",
        "DBT_PARTIAL_PARSE": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }


def run_script(script: str, name: str, project: Path, task_dir: Path, log: Path) -> int:
    path = project.parent / name
    path.write_text("#!/bin/bash\n" + _rewrite_paths(script, project, task_dir) + "\n", encoding="utf-8")
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n=== {name} ===\n")
        out.flush()
        done = subprocess.run(
            ["bash", str(path), *SCRIPT_ARGS],
            cwd=project,
            env=_env(project),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
    return done.returncode


def _missing_packages(project: Path) -> list[str]:
    packages_file = project / "packages.yml"
    if not packages_file.is_file():
        return []
    declared = (yaml.safe_load(packages_file.read_text(encoding="utf-8")) or {}).get("packages") or []
    names = [str(p.get("package") or p.get("git") or p.get("local") or "").rstrip("/") for p in declared]
    installed = {p.name for p in (project / "dbt_packages").glob("*") if p.is_dir()}
    return [n for n in names if n.split("/")[-1].removesuffix(".git") not in installed]


def _install_equality_macro(project: Path) -> None:
    shim = project / "dbt_packages" / "dbt_utils"
    if shim.exists():
        return
    for rel, text in _EQUALITY_SHIM.items():
        (shim / rel).parent.mkdir(parents=True, exist_ok=True)
        (shim / rel).write_text(text, encoding="utf-8")


def _place_tests(task: AdeTask, project: Path) -> int:
    tests = project / "tests"
    shutil.rmtree(tests, ignore_errors=True)
    tests.mkdir()
    included = 0
    for path in sorted((task.folder / "tests").glob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".sql":
            if not sql_test_applies(path.read_text(encoding="utf-8")):
                continue
            included += 1
        shutil.copy2(path, tests / path.name)
    return included


def _place_seeds(task: AdeTask, project: Path) -> bool:
    seeds = task.folder / "seeds"
    if not seeds.is_dir():
        return False
    (project / "seeds").mkdir(exist_ok=True)
    for path in seeds.glob("*"):
        if path.is_file():
            shutil.copy2(path, project / "seeds" / path.name)
    return True


def _singular_results(project: Path) -> tuple[int, list[str]]:
    run_results = project / "target" / "run_results.json"
    if not run_results.is_file():
        return 0, []
    results = json.loads(run_results.read_text(encoding="utf-8")).get("results", [])
    passed = [r for r in results if r.get("status") == "pass"]
    failed = [r["unique_id"].split(".")[-1] for r in results if r.get("status") != "pass"]
    return len(passed), failed


def _run_agent(agent: str, prompt: str, task: AdeTask, project: Path, log: Path) -> str:
    """What the agent did wrong, or "" (oracle: solution.sh; noop: nothing; command/claude: ae)."""
    if agent == "noop":
        return ""
    if agent == "oracle":
        solution = task.folder / "solution.sh"
        if not solution.is_file():
            return f"task {task.task_id} has no solution.sh"
        code = run_script(solution.read_text(encoding="utf-8"), "solution.sh", project, task.folder, log)
        return "" if code == 0 else f"solution.sh exited {code} (see {log})"
    return run_ae(agent, prompt, project)


def run_ae(agent: str, prompt: str, project: Path) -> str:
    """ae on a benchmark prompt with the command or claude planner; what went wrong, or ""."""
    if agent == "command" and not is_command(prompt):
        return "the command agent runs /commands only; this prompt is free text"
    from agent.planners import choose_planner
    from agent.runner import Session
    from agent.settings import load_settings

    settings = load_settings(project)
    planner, describer = choose_planner(settings, prompt, "claude" if agent == "claude" else "command")
    with Session(settings) as session:
        outcome = session.run(prompt, planner=planner, describer=describer, approved=True)
    return "" if outcome.status == "success" else f"ae ended {outcome.status}: {outcome.reason}"


def run_trial(
    task: AdeTask, agent: str, *, projects_dir: Path, db_dir: Path, work_dir: Path, variant: str = "base"
) -> AdeResult:
    """One ADE-bench trial in ``work_dir/<task_id>``; never raises for what the task or agent did."""
    started = time.perf_counter()
    chosen = task.duckdb_variant
    if chosen is None:
        return AdeResult(task_id=task.task_id, agent=agent, passed=False, reason="no duckdb/dbt variant")
    trial = work_dir / task.task_id
    shutil.rmtree(trial, ignore_errors=True)
    project = trial / "app"
    shutil.copytree(projects_dir / chosen.project_name, project)
    shutil.copy2(db_dir / f"{chosen.db_name}.duckdb", project / f"{chosen.db_name}.duckdb")
    if (task.folder / "setup").is_dir():
        shutil.copytree(task.folder / "setup", project / "setup", dirs_exist_ok=True)
    log = trial / "trial.log"

    def result(**fields: object) -> AdeResult:
        return AdeResult.model_validate(
            {"task_id": task.task_id, "agent": agent, "duration_s": time.perf_counter() - started, **fields}
        )

    missing = _missing_packages(project)
    if missing:
        return result(passed=False, reason=f"needs packages not installed here: {missing}")
    setup = task.folder / "setup.sh"
    if setup.is_file():
        run_script(setup.read_text(encoding="utf-8"), "setup.sh", project, task.folder, log)
    agent_problem = _run_agent(agent, task.prompt(variant), task, project, log)
    if task.test_setup:
        run_script(task.test_setup, "test-setup.sh", project, task.folder, log)
    expected = _place_tests(task, project)
    if _place_seeds(task, project):
        _install_equality_macro(project)
        run_script("dbt seed", "seed.sh", project, task.folder, log)
    run_script('dbt test --select "test_type:singular"', "run-tests.sh", project, task.folder, log)
    passed, failed = _singular_results(project)
    ok = expected > 0 and passed >= expected and not failed
    shortfall = (
        f"{passed} of {expected} singular tests passed; failing: {failed or 'none ran (compile error?)'}"
    )
    reason = "" if ok else "; ".join(filter(None, [agent_problem, shortfall]))
    return result(passed=ok, tests_passed=passed, tests_expected=expected, failed_tests=failed, reason=reason)
