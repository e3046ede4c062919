"""The core suite written as ADE-bench task folders, so the ADE-bench adapter is proven on data we have.

Layout, as in dbt-labs/ade-bench: ``tasks/<id>/{task.yaml, setup.sh, setup/, solution.sh,
solutions/, tests/AUTO_<model>_equality.sql, tests/<model>_row_count.sql,
seeds/solution__<model>.csv}``,
``shared/projects/jaffle_shop`` (the bundled example) and ``databases/jaffle_shop.duckdb`` (its
generated warehouse). The gold seeds come from running each exported solution.sh once, so they are
what the reference produces on that database.

A core task is exported when ADE-bench can express it: its reference is files (not a /command or a
refusal), its setup is files and dbt steps, it has no ``after`` steps, and it names the models it
builds (those become the equality tests).
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import duckdb
import yaml

from evals.ade_bench import AdeResult, AdeTask, load_ade_tasks, run_script, run_trial
from evals.agents import fixture_files
from evals.task import ProjectSpec, Task
from tools.example_project import WAREHOUSE_FILE, create_example_project

PROJECT = "jaffle_shop"
DB_NAME = WAREHOUSE_FILE.removesuffix(".duckdb")

#: ADE-bench's generated equality test (ade_bench/utils/test_generator.py), table name filled in
EQUALITY_TEST = """\
-- Define columns to compare
{{% set table_name = '{table}' %}}

{{% set cols_to_include = [] %}}

{{% set cols_to_exclude = [] %}}

-------------------------------------
---- DO NOT EDIT BELOW THIS LINE ----
{{% set answer_key = 'solution__' + table_name %}}

-- depends_on: {{{{ ref(answer_key) }}}}
-- depends_on: {{{{ ref(table_name) }}}}

{{% set table_a = adapter.get_relation(
    database=target.database, schema=target.schema, identifier=answer_key) %}}
{{% set table_b = adapter.get_relation(
    database=target.database, schema=target.schema, identifier=table_name) %}}

{{% if table_a is none or table_b is none %}}
    select 1
{{% else %}}
    {{{{ dbt_utils.test_equality(
        model=ref(answer_key),
        compare_model=ref(table_name),
        compare_columns=cols_to_include,
        exclude_columns=cols_to_exclude
    ) }}}}
{{% endif %}}
"""


#: ADE-bench's equality test compares with EXCEPT, so duplicated rows pass it; this manual test
#: (ADE tasks carry such hand-written singular tests beside the generated ones) checks row counts
ROW_COUNT_TEST = """\
select 1
where (select count(*) from {{{{ ref('{table}') }}}})
   != (select count(*) from {{{{ ref('solution__{table}') }}}})
"""


def exportable(task: Task) -> bool:
    ref = task.reference
    setup_ok = all(s.advance_time is None and s.command is None for s in task.setup)
    return (
        ref.command is None
        and ref.refuse is None
        and not task.after
        and bool(task.models)
        and setup_ok
        and task.project == ProjectSpec()
        and task.target is None
        and "success" in task.checks.expect_status
    )


def _write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def _setup_script(task: Task, folder: Path) -> str:
    lines = ["set -e"]
    for index, step in enumerate(task.setup):
        files = {**(fixture_files(step.fixture) if step.fixture else {}), **(step.files or {})}
        if files:
            _write_files(folder / "setup" / f"step{index}", files)
            lines.append(f"cp -r /app/setup/step{index}/. .")
        lines.extend(f"rm -f {shlex.quote(rel)}" for rel in step.delete or [])
        if step.dbt is not None:
            select = f" --select {shlex.quote(' '.join(step.dbt.select))}" if step.dbt.select else ""
            refresh = " --full-refresh" if step.dbt.full_refresh else ""
            lines.append(f"dbt {step.dbt.command}{select}{refresh}")
    return "\n".join(lines) + "\n"


def _solution_script(task: Task, folder: Path) -> str:
    ref = task.reference
    files = {**(fixture_files(ref.fixture) if ref.fixture else {}), **ref.files}
    _write_files(folder / "solutions" / "files", files)
    deletes = [f"rm -f {shlex.quote(rel)}" for rel in ref.delete]
    return "\n".join(["set -e", "cp -r /sage/solutions/files/. .", *deletes, "dbt build"]) + "\n"


def _task_yaml(task: Task) -> str:
    return yaml.safe_dump(
        {
            "task_id": task.id,
            "status": "ready",
            "description": task.description,
            "prompts": [{"key": "base", "prompt": task.request}],
            "difficulty": "medium",
            "tags": ["ae-core", task.category],
            "solution_seeds": [{"table_name": m} for m in task.models],
            "variants": [
                {"db_type": "duckdb", "db_name": DB_NAME, "project_type": "dbt", "project_name": PROJECT}
            ],
        },
        sort_keys=False,
    )


def _model_rows(db: Path, models: list[str]) -> list[list[str] | None]:
    """Each model's rows as a sorted multiset (None when the relation does not exist)."""
    found: list[list[str] | None] = []
    with duckdb.connect(str(db), read_only=True) as con:
        for model in models:
            try:
                found.append(sorted(map(repr, con.execute(f'select * from main."{model}"').fetchall())))
            except duckdb.Error:
                found.append(None)
    return found


def _write_gold(ade_task: AdeTask, models: list[str], dest: Path, work: Path) -> bool:
    """Run the task's setup.sh and solution.sh on a scratch copy; its model tables become the seeds.

    False when the solution leaves the models' data as setup made it (adding tests or descriptions,
    a refactor): ADE-bench's equality tests could not tell the work was done, so noop would pass.
    """
    project = work / ade_task.task_id / "app"
    shutil.copytree(dest / "shared" / "projects" / PROJECT, project)
    shutil.copy2(dest / "databases" / WAREHOUSE_FILE, project / WAREHOUSE_FILE)
    shutil.copytree(ade_task.folder / "setup", project / "setup", dirs_exist_ok=True)
    log = work / ade_task.task_id / "gold.log"

    def run(script: str) -> None:
        text = (ade_task.folder / script).read_text(encoding="utf-8")
        code = run_script(text, script, project, ade_task.folder, log)
        if code != 0:
            raise RuntimeError(f"{ade_task.task_id}: {script} exited {code}; see {log}")

    run("setup.sh")
    before = _model_rows(project / WAREHOUSE_FILE, models)
    run("solution.sh")
    if _model_rows(project / WAREHOUSE_FILE, models) == before:
        return False
    seeds = ade_task.folder / "seeds"
    seeds.mkdir(exist_ok=True)
    with duckdb.connect(str(project / WAREHOUSE_FILE), read_only=True) as con:
        for model in models:
            con.execute(
                f"copy (select * from main.\"{model}\") to '{seeds / f'solution__{model}.csv'}' (header)"
            )
    return True


def export_core(tasks: list[Task], dest: Path) -> list[str]:
    """Write the exportable tasks in ADE-bench format under ``dest``; returns the exported ids.

    A task whose solution does not change its models' data is dropped again (see _write_gold).
    """
    chosen = [t for t in tasks if exportable(t)]
    project = dest / "shared" / "projects" / PROJECT
    create_example_project(project)
    (dest / "databases").mkdir(parents=True, exist_ok=True)
    shutil.move(project / WAREHOUSE_FILE, dest / "databases" / WAREHOUSE_FILE)
    for task in chosen:
        folder = dest / "tasks" / task.id
        (folder / "setup").mkdir(parents=True)
        (folder / "tests").mkdir()
        (folder / "task.yaml").write_text(_task_yaml(task), encoding="utf-8")
        (folder / "setup.sh").write_text(_setup_script(task, folder), encoding="utf-8")
        (folder / "solution.sh").write_text(_solution_script(task, folder), encoding="utf-8")
        for model in task.models:
            (folder / "tests" / f"AUTO_{model}_equality.sql").write_text(
                EQUALITY_TEST.format(table=model), encoding="utf-8"
            )
            (folder / "tests" / f"{model}_row_count.sql").write_text(
                ROW_COUNT_TEST.format(table=model), encoding="utf-8"
            )
    by_id = {t.id: t for t in chosen}
    for ade_task in load_ade_tasks(dest / "tasks"):
        if not _write_gold(ade_task, by_id[ade_task.task_id].models, dest, dest / "gold-work"):
            shutil.rmtree(ade_task.folder)
    shutil.rmtree(dest / "gold-work")
    return sorted(p.name for p in (dest / "tasks").iterdir())


def round_trip(dest: Path, task_ids: list[str] | None = None) -> dict[str, list[AdeResult]]:
    """Export the core suite to ``dest`` and run it back: oracle and noop results per agent."""
    from evals.task import load_suite

    tasks = [t for t in load_suite() if task_ids is None or t.id in task_ids]
    export_core(tasks, dest)
    ade_tasks = load_ade_tasks(dest / "tasks")
    projects, databases = dest / "shared" / "projects", dest / "databases"
    return {
        agent: [
            run_trial(t, agent, projects_dir=projects, db_dir=databases, work_dir=dest / "work" / agent)
            for t in ade_tasks
        ]
        for agent in ("oracle", "noop")
    }
