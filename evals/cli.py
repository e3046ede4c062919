"""`ae eval`: the benchmark's own program (``python -m evals.cli``; ``ae eval`` runs it), its flags,
and what it prints and returns.

Exit codes are ae's (agent/exit_codes.py): 0 every threshold met (or no regression in compare mode),
1 a threshold missed (or a regression), and for an error the code its kind has everywhere (2 bad
usage, 5 an unusable environment such as a missing database, ...). The thresholds are
evals/graders.py's ``THRESHOLDS``.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from agent.exit_codes import HELP as EXIT_CODES_HELP
from agent.exit_codes import ExitCode, for_error
from evals.agents import AGENTS
from evals.graders import THRESHOLDS
from evals.postgres_copies import ADAPTERS
from tools.errors import AeError
from tools.logs import redact

if TYPE_CHECKING:
    from evals.task import Task

DEFAULT_OUT = Path("eval-out")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", default="core", help="task suite under evals/tasks/ (default: core)")
    parser.add_argument("--agent", choices=AGENTS, default="command", help="who plans (default: command)")
    parser.add_argument(
        "--tasks", help="task ids to run: fnmatch patterns, comma-separated (e.g. 'staging_*,dq_*')"
    )
    parser.add_argument(
        "--commands-only",
        action="store_true",
        help="only the tasks whose request is a /command (what the command planner can express)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per task (default: 1)")
    parser.add_argument(
        "--faults", type=float, default=0.0, help="fraction of tool/LLM calls failed on purpose (0-1)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for fault injection (per task derived from it)"
    )
    parser.add_argument("--workers", type=int, default=2, help="parallel worker processes (default: 2)")
    parser.add_argument(
        "--adapter",
        choices=ADAPTERS,
        default="duckdb",
        help="the warehouse of the bundled example's copies (default duckdb: a file each). postgres: "
        "a database each, made and dropped on the server PGHOST, PGPORT, PGUSER, PGPASSWORD name "
        "(defaults 127.0.0.1, 5432, the current user, none); a task with its own project keeps its own",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("OLD.json", "NEW.json"),
        help="compare two results files instead of running; exits 1 on regressions",
    )
    from evals.public_bench_cli import add_arguments

    add_arguments(parser)


def _compare(old: Path, new: Path) -> int:
    from evals.compare import compare
    from evals.report import load_results

    comparison = compare(load_results(old), load_results(new))
    print(comparison.render())
    return ExitCode.FAILED if comparison.regressions else ExitCode.OK


def _validate(args: argparse.Namespace) -> None:
    from tools.errors import InvalidArguments

    if not 0.0 <= args.faults <= 1.0:
        raise InvalidArguments(f"--faults must be within [0, 1], got {args.faults}")
    if args.repeat < 1 or args.workers < 1:
        raise InvalidArguments("--repeat and --workers must be at least 1")
    if args.adapter == "postgres":
        from tools.postgres_server import PostgresServer

        PostgresServer.from_environment().check()  # before any worker starts: exit 5 saying where
    if args.agent == "claude":
        from agent.settings import load_settings
        from evals.agents import require_claude

        require_claude(load_settings())


def run_eval(args: argparse.Namespace) -> int:
    """Run the suite (or compare two results files); print the totals and which thresholds were missed."""
    try:
        if args.compare:
            return _compare(*args.compare)
        _validate(args)
        from evals.public_bench_cli import SPIDER2_SUITE
        from evals.public_bench_cli import SUITE as ADE_SUITE

        if args.suite == ADE_SUITE:
            return _ade(args)
        if args.suite == SPIDER2_SUITE:
            return _spider2(args)
        from evals.graders import missed_thresholds
        from evals.report import write_results
        from evals.runner import RunConfig, run_suite, select_tasks
        from evals.task import load_suite

        tasks = select_tasks(load_suite(args.suite), args.tasks)
        if args.commands_only:
            tasks = [task for task in tasks if task.is_command]
        tasks = _on_adapter(tasks, args.adapter)
        config = RunConfig(
            suite=args.suite,
            agent=args.agent,
            tasks=args.tasks,
            repeat=args.repeat,
            faults=args.faults,
            seed=args.seed,
            workers=args.workers,
            adapter=args.adapter,
        )
        out = args.out.expanduser().resolve()
        results = run_suite(tasks, config, out)
        paths = write_results(results, out)
    except AeError as exc:
        print(f"ae eval: error: {redact(str(exc))}", file=sys.stderr)
        return for_error(exc)
    t = results.totals
    print(
        f"{t.passed}/{t.runs} passed  success {_fmt(t.success)}  data_quality {_fmt(t.data_quality)}  "
        f"query_performance {_fmt(t.query_performance)}  reliability {_fmt(t.reliability)}"
    )
    print(f"report: {paths['markdown']}  {paths['html']}  {paths['json']}")
    missed = missed_thresholds(t)
    for line in missed:
        print(f"threshold missed: {line}", file=sys.stderr)
    return ExitCode.FAILED if missed else ExitCode.OK


def _on_adapter(tasks: list[Task], adapter: str) -> list[Task]:
    """The tasks that mean something on ``adapter``; the others named on stderr, none left an error."""
    from tools.errors import InvalidArguments

    skipped = [task.id for task in tasks if not task.runs_on(adapter)]
    if skipped:
        print(f"skipped on {adapter} (tasks about another adapter): {', '.join(skipped)}", file=sys.stderr)
    kept = [task for task in tasks if task.runs_on(adapter)]
    if not kept:
        raise InvalidArguments(f"no task selected runs on {adapter}", hint="choose other --tasks")
    return kept


def _ade(args: argparse.Namespace) -> int:
    """ADE-bench's own score: a task resolves only when all its singular tests pass; 1 if any fails."""
    from evals.public_bench_cli import render, run_ade

    results = run_ade(args, args.out.expanduser().resolve())
    print(render(results))
    return ExitCode.OK if all(r.passed for r in results) else ExitCode.FAILED


def _spider2(args: argparse.Namespace) -> int:
    """Spider2-DBT's own score: 0/1 per instance by its column-matching rule; 1 if any scores 0."""
    from evals.public_bench_cli import render_spider2, run_spider2_suite

    results = run_spider2_suite(args, args.out.expanduser().resolve())
    print(render_spider2(results))
    return ExitCode.OK if all(r.score for r in results) else ExitCode.FAILED


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def description() -> str:
    thresholds = ", ".join(f"{figure.replace('_', ' ')} {value}" for figure, value in THRESHOLDS.items())
    return textwrap.fill(
        "Score an agent on a benchmark suite. Runs each task in an isolated copy of its project (the "
        "bundled example unless the task names another), in parallel processes, and writes "
        f"results.json, report.md and report.html. Exits 1 when a threshold is missed ({thresholds}).",
        width=100,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ae eval",
        description=description(),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    from tools.secrets import register_environment_secrets

    register_environment_secrets(os.environ)  # as ae does: secrets are redacted wherever ae writes
    return run_eval(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
