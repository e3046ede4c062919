"""`ae eval --suite ade-bench|spider2-dbt`: public benchmark folders through their adapters and rules."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evals.ade_bench import USAGE, AdeResult, check_inputs, load_ade_tasks, run_trial
from evals.spider2 import Spider2Result
from tools.errors import InvalidArguments

SUITE = "ade-bench"
SPIDER2_SUITE = "spider2-dbt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("public benchmarks (--suite ade-bench or spider2-dbt)")
    group.add_argument(
        "--tasks-dir", type=Path, help="ADE-bench's tasks/ folder, or Spider2's spider2-dbt/ folder"
    )
    group.add_argument("--projects-dir", type=Path, help="ADE-bench's shared/projects/ folder")
    group.add_argument(
        "--db-dir",
        type=Path,
        help="ADE-bench: each <db_name>.duckdb; Spider2-DBT: <instance_id>/*.duckdb per instance",
    )
    group.add_argument(
        "--variant", choices=("base", "hard"), default="base", help="which prompt to hand over"
    )


def run_ade(args: argparse.Namespace, out: Path) -> list[AdeResult]:
    """Check every input first (nothing runs when a database is missing), then run each trial."""
    if args.tasks_dir is None or args.projects_dir is None or args.db_dir is None:
        raise InvalidArguments(
            "--suite ade-bench needs --tasks-dir, --projects-dir and --db-dir",
            hint=USAGE,
        )
    wanted = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    tasks = load_ade_tasks(args.tasks_dir, wanted)
    check_inputs(tasks, args.projects_dir, args.db_dir)
    results = [
        run_trial(
            task,
            args.agent,
            projects_dir=args.projects_dir,
            db_dir=args.db_dir,
            work_dir=out / "work" / args.agent,
            variant=args.variant,
        )
        for task in tasks
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "ade-results.json").write_text(
        json.dumps([r.model_dump() for r in results], indent=2), encoding="utf-8"
    )
    return results


def render(results: list[AdeResult]) -> str:
    passed = sum(r.passed for r in results)
    lines = [f"{r.task_id}: {'pass' if r.passed else 'FAIL'} {r.reason}".rstrip() for r in results]
    return "\n".join([*lines, f"ade-bench: {passed}/{len(results)} resolved"])


def run_spider2_suite(args: argparse.Namespace, out: Path) -> list[Spider2Result]:
    from evals.spider2_run import run_spider2

    if args.tasks_dir is None or args.db_dir is None:
        raise InvalidArguments(
            "--suite spider2-dbt needs --tasks-dir (the spider2-dbt folder) and --db-dir",
            hint="ae eval --suite spider2-dbt --tasks-dir PATH/spider2-dbt --db-dir DIR",
        )
    wanted = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    results = run_spider2(args.tasks_dir, args.agent, args.db_dir, out / "work" / args.agent, wanted)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spider2-results.json").write_text(
        json.dumps([r.model_dump() for r in results], indent=2), encoding="utf-8"
    )
    return results


def render_spider2(results: list[Spider2Result]) -> str:
    lines = [f"{r.instance_id}: {r.score} {r.reason}".rstrip() for r in results]
    return "\n".join([*lines, f"spider2-dbt: {sum(r.score for r in results)}/{len(results)}"])
