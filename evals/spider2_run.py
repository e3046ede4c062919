"""Spider2-DBT instances run through an agent and graded by Spider2's rule; the core suite exported to it.

Layout read (as in xlang-ai/Spider2 spider2-dbt): ``examples/<id>/`` (a dbt project),
``examples/spider2-dbt.jsonl`` (instance_id, instruction),
``evaluation_suite/gold/spider2_eval.jsonl`` and ``evaluation_suite/gold/<id>/<gold>.duckdb``.
The start databases come from ``--db-dir/<id>/*.duckdb`` (Spider2 ships them as a separate
download) and are copied into the instance's copy. Spider2 has no reference solutions; the export
adds ``solutions/<id>/`` (files copied over the project, then ``dbt build``) for the oracle.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from evals.ade_bench import run_ae, run_script
from evals.ade_export import DB_NAME, export_core
from evals.spider2 import Spider2Result, duckdb_match, load_evals, load_jsonl
from evals.task import Task
from tools.errors import ConfigurationError
from tools.example_project import WAREHOUSE_FILE


def missing_databases(db_dir: Path, ids: list[str]) -> list[str]:
    return [f"{db_dir / i}/*.duckdb" for i in ids if not list((db_dir / i).glob("*.duckdb"))]


def instructions(root: Path) -> dict[str, str]:
    """examples/spider2-dbt.jsonl: instance id -> the instruction handed to the agent."""
    return {
        row["instance_id"]: row["instruction"] for row in load_jsonl(root / "examples" / "spider2-dbt.jsonl")
    }


def run_instance(root: Path, instance_id: str, agent: str, db_dir: Path, work: Path) -> Spider2Result:
    evals = load_evals(root / "evaluation_suite" / "gold" / "spider2_eval.jsonl")
    spec = evals[instance_id]
    project = work / instance_id / "app"
    shutil.rmtree(project.parent, ignore_errors=True)
    shutil.copytree(root / "examples" / instance_id, project)
    for db in (db_dir / instance_id).glob("*.duckdb"):
        shutil.copy2(db, project / db.name)
    log = project.parent / "trial.log"
    if agent == "oracle":
        solution = root / "solutions" / instance_id
        if not solution.is_dir():
            return Spider2Result(
                instance_id=instance_id, agent=agent, score=0, reason="no reference solution"
            )
        shutil.copytree(solution, project, dirs_exist_ok=True)
        run_script("dbt build", "solution.sh", project, solution, log)
    elif agent != "noop":
        problem = run_ae(agent, instructions(root)[instance_id], project)
        if problem:
            return Spider2Result(instance_id=instance_id, agent=agent, score=0, reason=problem)
    gold = root / "evaluation_suite" / "gold" / instance_id / spec.parameters.gold
    result_db = project / spec.parameters.gold
    score = duckdb_match(result_db, gold, spec.parameters)
    return Spider2Result(
        instance_id=instance_id,
        agent=agent,
        score=score,
        tables=spec.parameters.condition_tabs or [],
        reason=""
        if score
        else "0 by Spider2's rule: a gold table is missing or a gold column has no equal column",
    )


def _copy_tables(source: Path, dest: Path, tables: list[str]) -> None:
    with duckdb.connect(str(dest)) as con:
        con.execute(f"attach '{source}' as src (read_only)")
        for table in tables:
            con.execute(f'create table "{table}" as select * from src.main."{table}"')


def export_spider2(tasks: list[Task], dest: Path) -> list[str]:
    """The core tasks ADE-bench can express, in Spider2-DBT's layout, with gold databases."""
    ade = dest / "ade"
    ids = export_core(tasks, ade)
    models = {t.id: t.models for t in tasks}
    requests = {t.id: t.request for t in tasks}
    examples, gold_root = dest / "examples", dest / "evaluation_suite" / "gold"
    gold_root.mkdir(parents=True)
    lines, evals = [], []
    for task_id in ids:
        folder = ade / "tasks" / task_id
        start = dest / "work" / task_id
        shutil.copytree(ade / "shared" / "projects" / "jaffle_shop", start)
        shutil.copy2(ade / "databases" / WAREHOUSE_FILE, start / WAREHOUSE_FILE)
        shutil.copytree(folder / "setup", start / "setup")
        run_script(
            (folder / "setup.sh").read_text(encoding="utf-8"), "setup.sh", start, folder, dest / "export.log"
        )
        shutil.rmtree(start / "setup")
        (dest / "dbs" / task_id).mkdir(parents=True)
        shutil.move(start / WAREHOUSE_FILE, dest / "dbs" / task_id / WAREHOUSE_FILE)
        shutil.copytree(start, examples / task_id, ignore=shutil.ignore_patterns("target", "logs"))
        shutil.copytree(folder / "solutions" / "files", dest / "solutions" / task_id)
        gold_project = dest / "work" / f"{task_id}-gold"
        shutil.copytree(start, gold_project)
        shutil.copy2(dest / "dbs" / task_id / WAREHOUSE_FILE, gold_project / WAREHOUSE_FILE)
        shutil.copytree(folder / "solutions" / "files", gold_project, dirs_exist_ok=True)
        run_script("dbt build", "solution.sh", gold_project, folder, dest / "export.log")
        (gold_root / task_id).mkdir()
        _copy_tables(gold_project / WAREHOUSE_FILE, gold_root / task_id / WAREHOUSE_FILE, models[task_id])
        lines.append({"instance_id": task_id, "instruction": requests[task_id]})
        evals.append(
            {
                "instance_id": task_id,
                "evaluation": {
                    "func": "duckdb_match",
                    "parameters": {
                        "gold": f"{DB_NAME}.duckdb",
                        "condition_tabs": models[task_id],
                        "ignore_orders": [True for _ in models[task_id]],
                    },
                },
            }
        )
    shutil.rmtree(dest / "work")
    (examples / "spider2-dbt.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (gold_root / "spider2_eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    return ids


def run_spider2(
    root: Path, agent: str, db_dir: Path, work: Path, ids: list[str] | None
) -> list[Spider2Result]:
    """Every instance (or those named), after checking each has its start database (before any work)."""
    chosen = ids or sorted(instructions(root))
    missing = missing_databases(db_dir, chosen)
    if missing:
        raise ConfigurationError(
            "Spider2-DBT start databases are missing:\n  " + "\n  ".join(missing),
            hint="put each instance's .duckdb in --db-dir/<instance_id>/ (Spider2-DBT's database download)",
        )
    return [run_instance(root, i, agent, db_dir, work) for i in chosen]


def spider2_round_trip(dest: Path, tasks: list[Task]) -> dict[str, list[Spider2Result]]:
    ids = export_spider2(tasks, dest)
    return {
        agent: run_spider2(dest, agent, dest / "dbs", dest / "run" / agent, ids)
        for agent in ("oracle", "noop")
    }
