"""The `ae` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.exit_codes import HELP as EXIT_CODES_HELP
from agent.exit_codes import ExitCode, for_error
from agent.lint_command import HELP as LINT_HELP
from agent.lint_command import configure_parser as configure_lint_parser
from agent.settings import Settings, load_settings
from evals.cli import configure_parser as configure_eval_parser
from tools.errors import AeError
from tools.journal import environment_error
from tools.logs import configure_logging, redact

DESCRIPTION = """\
ae — an agent that does an analytics engineer's dbt work.

Every request goes Plan -> Validate -> Execute -> Verify -> Document against a real dbt project.
Structured /commands run with no API key; free-form requests use Claude when ANTHROPIC_API_KEY is set.
"""

RUN_DESCRIPTION = f"""\
Carry one request through Plan -> Validate -> Execute -> Verify -> Document.

dbt runs in a process that stays up for the next `ae run` on the project until it has been idle
for AE_ENGINE_KEEP_ALIVE_S seconds (default 300; 0 turns this off).

{EXIT_CODES_HELP}
examples:
  ae run "/help"
  ae run "/dbt-model --name stg_orders --type staging" --project demo/jaffle_shop
  ae run "/dbt-run --select fct_orders" --target prod --yes
"""

EPILOG = """\
examples:
  ae run "/dbt-model --name stg_orders --type staging" --project demo/jaffle_shop
  ae demo --dir /tmp/ae-demo               build the bundled example end to end (no key needed)
  ae doctor --project demo/jaffle_shop     check dbt, the profile, the warehouse, the store, the key
  ae undo 20250101-120000-abc123           roll back a run left half-applied
"""


def _add_project(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        metavar="DIR",
        help="the dbt project (default: current directory)",
    )
    parser.add_argument("--target", default=None, metavar="T", help="dbt target (default: the profile's)")
    parser.add_argument(
        "--profile",
        default=None,
        metavar="NAME",
        help="dbt profile (default: DBT_PROFILE, then dbt_project.yml's)",
    )
    parser.add_argument(
        "--profiles-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of profiles.yml (default as dbt: DBT_PROFILES_DIR, then the project, then ~/.dbt)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        args.project, target=args.target, profile=args.profile, profiles_dir=args.profiles_dir
    )


def _cmd_doctor(args: argparse.Namespace) -> int:
    from agent.doctor import run_doctor

    return run_doctor(_settings(args))


def _cmd_run(args: argparse.Namespace) -> int:
    from agent.run_command import run_request

    return run_request(
        args.request,
        settings=_settings(args),
        target=args.target,
        yes=args.yes,
        allow_code=args.allow_code,
        as_json=args.json,
        planner_choice=args.planner,
        resume=args.resume,
    )


def _cmd_undo(args: argparse.Namespace) -> int:
    from agent.undo import undo_run

    print(undo_run(_settings(args), args.run_id, notify=lambda m: print(f"ae: {m}", file=sys.stderr)))
    return ExitCode.OK


def _cmd_lint(args: argparse.Namespace) -> int:
    from agent.lint_command import run_lint

    return run_lint(_settings(args), accept=args.baseline)


def _cmd_chat(args: argparse.Namespace) -> int:
    from agent.chat import chat

    return chat(
        _settings(args), target=args.target, conversation_id=args.conversation, out=sys.stdout, err=sys.stderr
    )


def _cmd_eval(args: argparse.Namespace) -> int:
    from evals.cli import run_eval

    return run_eval(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from agent.demo import render_summary, run_demo
    from agent.run_command import progress_printer

    directory = args.dir.expanduser().resolve()
    summary = run_demo(
        directory, scale=args.scale, seed=args.seed, force=args.force, emit=progress_printer(sys.stderr)
    )
    print(render_summary(summary, directory))
    return ExitCode.OK if summary.status == "success" else ExitCode.FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ae",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default) or ERROR")
    parser.add_argument("--log-json", action="store_true", help="JSON log lines even on a terminal")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    doctor = sub.add_parser(
        "doctor",
        help="check the dbt install, profile, warehouse lock, store and LLM key",
        description="Each check prints OK or FAIL with what to do; exits 1 when any check fails. "
        "It runs `dbt parse` and reports the first error, and says which profiles.yml, profile and "
        "target dbt will use.",
    )
    _add_project(doctor)
    doctor.set_defaults(handler=_cmd_doctor)

    lint = sub.add_parser("lint", help=LINT_HELP)
    configure_lint_parser(lint)
    _add_project(lint)
    lint.set_defaults(handler=_cmd_lint)

    run = sub.add_parser(
        "run",
        help="carry one request through plan, validate, execute, verify, document",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=RUN_DESCRIPTION,
    )
    run.add_argument("request", help='a /command (try "/help") or, with ANTHROPIC_API_KEY set, free text')
    _add_project(run)
    run.add_argument("--yes", action="store_true", help="approve building on a protected target (prod)")
    run.add_argument(
        "--allow-code",
        action="store_true",
        help="approve executable dbt code the plan writes (hooks, run_query, Python models, schema-name "
        "overrides, Jinja in --vars, changes to ae.yml/profiles.yml/dbt_project.yml/packages.yml); "
        "without it such a plan is refused (exit 3) with the code shown. --yes approves only a "
        "protected target",
    )
    run.add_argument("--json", action="store_true", help="print the run report as JSON instead of a summary")
    run.add_argument(
        "--planner",
        choices=["auto", "command", "claude"],
        default="auto",
        help="auto (default): /commands use the command planner, free text uses Claude",
    )
    run.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run from its checkpoint")
    run.set_defaults(handler=_cmd_run)

    undo = sub.add_parser(
        "undo",
        help="roll back a run that was left half-applied (killed, or stopped by a damaged file)",
        description="Restores the files the run changed from its journal (or, if that is damaged, its "
        "checkpoint) and drops the relations it created. A file changed since the run wrote it is "
        "kept and reported. Waits for the project's lock, so it never races a live run.",
    )
    undo.add_argument("run_id", metavar="RUN_ID", help="the run's id (a folder name under .ae/runs/)")
    _add_project(undo)
    undo.set_defaults(handler=_cmd_undo)

    chat = sub.add_parser(
        "chat",
        help="a REPL: each line is a request; asks before protected targets; /undo the last change",
        description="Each line goes through the five phases with progress shown. /undo reverts the "
        "files of the last successful request, /history lists them, /quit leaves.",
    )
    _add_project(chat)
    chat.add_argument("--conversation", metavar="ID", help="continue an earlier conversation")
    chat.set_defaults(handler=_cmd_chat)

    evaluate = sub.add_parser(
        "eval",
        help="score an agent on the benchmark suite (data quality, query performance, reliability)",
        description="Runs each task in an isolated copy of the example project, in parallel processes, "
        "and writes results.json, report.md and report.html. Exits 1 when a threshold is missed "
        "(data quality 0.98, query performance 0.95, reliability 0.99, success 0.95).",
    )
    configure_eval_parser(evaluate)
    evaluate.set_defaults(handler=_cmd_eval)

    demo = sub.add_parser(
        "demo",
        help="generate the example warehouse and build a complete project on it (no API key)",
        description="Generates the bundled Jaffle Shop example, builds sources, staging, marts, an "
        "incremental model, a snapshot, tests, an exposure and docs, advances time, runs again, "
        "and writes <dir>/demo-summary.json.",
    )
    demo.add_argument("--dir", type=Path, default=Path("demo"), help="working directory (default ./demo)")
    demo.add_argument("--scale", type=int, default=1, help="warehouse size: 1 = 200 customers, 2,000 orders")
    demo.add_argument("--seed", type=int, default=42, help="random seed of the generated data (default 42)")
    demo.add_argument("--force", action="store_true", help="replace an earlier demo in --dir")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(json=True if args.log_json else None, level=args.log_level)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return ExitCode.USAGE
    try:
        return handler(args)
    except AeError as exc:
        print(f"ae: error: {redact(str(exc))}", file=sys.stderr)
        return for_error(exc)
    except OSError as exc:
        # a full disk, a read-only or immutable .ae/: the environment, named, not a traceback
        print(f"ae: error: {redact(str(environment_error(exc)))}", file=sys.stderr)
        return ExitCode.ENVIRONMENT
    except KeyboardInterrupt:
        print("ae: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
