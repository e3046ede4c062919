"""The `ae` command line: the contract scripts rely on.

- Exit codes mean the same on every command and project (agent/exit_codes.py, shown in `--help`).
- With ``--json`` stdout holds exactly one JSON document, errors included; logs and progress go to
  stderr (or ``--log-file``), one whole line at a time.
- Static text is fast: this module imports only argparse and what the help prints. The settings
  stack, dbt, LangGraph and the evals load in the handler that needs them, so `ae --help`,
  `ae run "/help"` and `ae run "/<cmd> --help"` print before any of them would have loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from agent.exit_codes import HELP as EXIT_CODES_HELP
from agent.exit_codes import ExitCode, for_error, status_for
from agent.lint_command import HELP as LINT_HELP
from agent.lint_command import configure_parser as configure_lint_parser
from agent.mcp.cli import configure_mcp_parser
from agent.memory.cli import HELP as MEMORY_HELP
from agent.memory.cli import configure_parser as configure_memory_parser
from agent.queue.cli import configure_queue_parser, configure_worker_parser
from agent.replay_cli import configure_replay_parser
from tools.errors import AeError, ConfigurationError, InvalidArguments
from tools.logs import redact
from tools.timings import span

if TYPE_CHECKING:
    from agent.settings import Settings

DESCRIPTION = """\
ae — an agent that does an analytics engineer's dbt work.

Every request goes Plan -> Validate -> Execute -> Verify -> Publish -> Document against a real dbt project.
Structured /commands run with no API key; free-form requests use Claude when ANTHROPIC_API_KEY is set.
"""

RUN_DESCRIPTION = """\
Carry one request through Plan -> Validate -> Execute -> Verify -> Publish -> Document.

dbt runs in a process that stays up for the next `ae run` on the project, and ae itself in a run
server that forks a copy per `ae run`, until idle for AE_ENGINE_KEEP_ALIVE_S seconds (default 300;
0 turns both off and runs everything in this process).
"""

EXAMPLES = """\
examples:
  ae run "/help"                           the structured commands, one line each
  ae run "/dbt-model --name stg_orders --type staging" --project demo/jaffle_shop
  ae run "/dbt-run --select fct_orders" --target prod --yes
  ae runs --project demo/jaffle_shop       the project's recent runs
  ae resume 20250101-120000-abc123         continue a run that was interrupted
  ae demo --dir /tmp/ae-demo               build the bundled example end to end (no key needed)
  ae doctor --project demo/jaffle_shop     check dbt, the profile, the warehouse, the store, the key
  ae undo 20250101-120000-abc123           roll back a run left half-applied
  ae queue add "/dbt-run --select x" --project P --key K   enqueue a task (ae worker runs it)
  ae worker --concurrency 1                                run queued tasks until Ctrl-C
  ae mcp --project demo/jaffle_shop                        serve ae's tools to Claude Code, Cursor (MCP)
"""

#: every parser's epilog: the exit codes are the same on every entry point, so each help shows them
EPILOG = f"{EXIT_CODES_HELP}\n{EXAMPLES}"

EVAL_HELP = "score an agent on the benchmark suite (data quality, query performance, reliability)"


class UsageError(InvalidArguments):
    """How ae was called is wrong (argparse's complaint, or a combination of flags)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting, so a --json caller still gets JSON."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"`{self.prog} --help` lists what it takes")


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


def _add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as one JSON document")


def _add_approvals(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="approve building on a protected target (prod)")
    parser.add_argument(
        "--allow-code",
        action="store_true",
        help="approve executable dbt code the plan writes (hooks, run_query, Python models, schema-name "
        "overrides, Jinja in --vars, changes to ae.yml/profiles.yml/dbt_project.yml/packages.yml); "
        "without it such a plan is refused (exit 3) with the code shown. --yes approves only a "
        "protected target",
    )


def _add_audit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-audit",
        action="store_true",
        help="build straight in the warehouse, as dbt does, instead of in an audit copy published only "
        "when every test passed: a failing test then leaves its data in the warehouse "
        "(AE_AUDIT_BUILDS=false sets it for every run)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    with span("settings"):
        from agent.settings import load_settings

        return load_settings(
            args.project, target=args.target, profile=args.profile, profiles_dir=args.profiles_dir
        )


def _cmd_doctor(args: argparse.Namespace) -> int:
    from agent.doctor import run_doctor

    return run_doctor(_settings(args))


def _run(args: argparse.Namespace, request: str | None, resume: str | None) -> int:
    with span("import run_command"):
        from agent.run_command import run_request

    return run_request(
        request,
        settings=_settings(args).model_copy(update={"audit_builds": False} if args.no_audit else {}),
        target=args.target,
        yes=args.yes,
        allow_code=args.allow_code,
        as_json=args.json,
        planner_choice=args.planner,
        resume=resume,
    )


def _cmd_run(args: argparse.Namespace) -> int:
    if args.request is not None and args.resume is not None:
        raise UsageError(
            "give a request or --resume RUN_ID, not both",
            hint=f"`ae resume {args.resume}` continues that run with its own request",
        )
    if args.request is None and args.resume is None:
        raise UsageError(
            "give a request or --resume RUN_ID",
            hint='`ae run "/help"` lists the structured commands',
        )
    return _run(args, args.request, args.resume)


def _cmd_resume(args: argparse.Namespace) -> int:
    return _run(args, None, args.run_id)


def _cmd_runs(args: argparse.Namespace) -> int:
    from agent.runs_command import list_runs

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, not {args.limit}", hint="e.g. `ae runs --limit 20`")
    return list_runs(_settings(args), as_json=args.json, limit=args.limit, out=sys.stdout)


def _cmd_show(args: argparse.Namespace) -> int:
    from agent.runs_command import show_run

    return show_run(_settings(args), args.run_id, as_json=args.json, out=sys.stdout)


def _cmd_undo(args: argparse.Namespace) -> int:
    from agent.undo import undo_run

    print(undo_run(_settings(args), args.run_id, notify=lambda m: print(f"ae: {m}", file=sys.stderr)))
    return ExitCode.OK


def _cmd_lint(args: argparse.Namespace) -> int:
    from agent.lint_command import run_lint

    return run_lint(_settings(args), accept=args.baseline)


def _cmd_memory(args: argparse.Namespace) -> int:
    from agent.memory.cli import run_memory

    return run_memory(_settings(args), args)


def _cmd_chat(args: argparse.Namespace) -> int:
    from agent.chat import chat

    return chat(
        _settings(args), target=args.target, conversation_id=args.conversation, out=sys.stdout, err=sys.stderr
    )


def _cmd_eval(args: argparse.Namespace) -> int:
    """The benchmark is a program of its own (evals/cli.py), run as one: it drives ae through
    Session like any caller, so ae does not import it back, and its flags and help are its own."""
    import subprocess

    with subprocess.Popen([sys.executable, "-m", "evals.cli", *args.eval_args]) as benchmark:
        try:
            return benchmark.wait()
        except KeyboardInterrupt:  # the terminal's Ctrl-C reached the benchmark too: it says how it ended
            return benchmark.wait()


def _cmd_demo(args: argparse.Namespace) -> int:
    from agent.demo import render_summary, run_demo
    from agent.run_command import progress_printer

    directory = args.dir.expanduser().resolve()
    summary = run_demo(
        directory,
        scale=args.scale,
        seed=args.seed,
        force=args.force,
        adapter=args.adapter,
        emit=progress_printer(sys.stderr),
    )
    print(render_summary(summary, directory))
    return ExitCode.OK if summary.status == "success" else ExitCode.FAILED


def _sub(sub: Any, name: str, help: str, description: str | None = None, **kwargs: Any) -> _Parser:
    parser: _Parser = sub.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs,
    )
    return parser


def _add_run_commands(sub: Any) -> None:
    """`run`, `resume`, and the run history: `runs`, `show`."""
    run = _sub(
        sub, "run", "carry one request through plan, validate, execute, verify, document", RUN_DESCRIPTION
    )
    run.epilog = EPILOG
    run.add_argument(
        "request",
        nargs="?",
        help='a /command (try "/help") or, with ANTHROPIC_API_KEY set, free text; omit it with --resume',
    )
    _add_project(run)
    _add_approvals(run)
    _add_audit(run)
    _add_json(run, "the run report (or the error)")
    run.add_argument(
        "--planner",
        choices=["auto", "command", "claude"],
        default="auto",
        help="auto (default): /commands use the command planner, free text uses Claude",
    )
    run.add_argument(
        "--resume", metavar="RUN_ID", help="continue an interrupted run from its checkpoint (as `ae resume`)"
    )
    run.set_defaults(handler=_cmd_run)

    resume = _sub(
        sub,
        "resume",
        "continue an interrupted or paused run from its checkpoint",
        "Continues the run with its own request, on its own target (pass --target when it is not the "
        "profile's default), without repeating what it already did.",
    )
    resume.add_argument("run_id", metavar="RUN_ID", help="the run's id (`ae runs` lists them)")
    _add_project(resume)
    _add_approvals(resume)
    _add_audit(resume)
    _add_json(resume, "the run report (or the error)")
    resume.set_defaults(handler=_cmd_resume, planner="auto")

    runs = _sub(sub, "runs", "list the project's recent runs, newest first")
    _add_project(runs)
    runs.add_argument("--limit", type=int, default=20, metavar="N", help="how many runs (default: 20)")
    _add_json(runs, "the list")
    runs.set_defaults(handler=_cmd_runs)

    show = _sub(sub, "show", "one run: its request, status, phases, changes and report")
    show.add_argument("run_id", metavar="RUN_ID", help="the run's id (`ae runs` lists them)")
    _add_project(show)
    _add_json(show, "the run")
    show.set_defaults(handler=_cmd_show)


def _add_checks(sub: Any) -> None:
    """`doctor` and `lint`: what is wrong with the setup or the project."""
    doctor = _sub(
        sub,
        "doctor",
        "check the dbt install, profile, warehouse lock, store and LLM key",
        "Each check prints OK or FAIL with what to do; exits 1 when any check fails. It runs "
        "`dbt parse` and reports the first error, and says which profiles.yml, profile and target dbt "
        "will use. It creates nothing: a store or warehouse that does not exist yet is reported as such.",
    )
    _add_project(doctor)
    doctor.set_defaults(handler=_cmd_doctor)

    lint = _sub(sub, "lint", LINT_HELP)
    configure_lint_parser(lint)
    lint.epilog = EXIT_CODES_HELP
    _add_project(lint)
    lint.set_defaults(handler=_cmd_lint)


def _add_memory_and_undo(sub: Any) -> None:
    memory = _sub(sub, "memory", MEMORY_HELP)
    configure_memory_parser(memory, _add_project)
    memory.set_defaults(handler=_cmd_memory)

    undo = _sub(
        sub,
        "undo",
        "roll back a run that was left half-applied (killed, or stopped by a damaged file)",
        "Restores the files the run changed from its journal (or, if that is damaged, its "
        "checkpoint) and drops the relations it created. A file changed since the run wrote it is "
        "kept and reported. Waits for the project's lock, so it never races a live run.",
    )
    undo.add_argument("run_id", metavar="RUN_ID", help="the run's id (a folder name under .ae/runs/)")
    _add_project(undo)
    undo.set_defaults(handler=_cmd_undo)


def _add_chat_eval_demo(sub: Any) -> None:
    chat = _sub(
        sub,
        "chat",
        "a REPL: each line is a request; asks before protected targets; /undo the last change",
        "Each line goes through the five phases with progress shown. /undo reverts the "
        "files of the last successful request, /history lists them, /quit leaves.",
    )
    _add_project(chat)
    chat.add_argument("--conversation", metavar="ID", help="continue an earlier conversation")
    chat.set_defaults(handler=_cmd_chat)

    # `ae eval --help` is answered by the benchmark's own parser, with the flags and thresholds
    evaluate = sub.add_parser("eval", help=EVAL_HELP, add_help=False)
    evaluate.set_defaults(handler=_cmd_eval)

    demo = _sub(
        sub,
        "demo",
        "generate the example warehouse and build a complete project on it (no API key)",
        "Generates the bundled Jaffle Shop example, builds sources, staging, marts, an "
        "incremental model, a snapshot, tests, an exposure and docs, advances time, runs again, "
        "and writes <dir>/demo-summary.json.",
    )
    demo.add_argument("--dir", type=Path, default=Path("demo"), help="working directory (default ./demo)")
    demo.add_argument("--scale", type=int, default=1, help="warehouse size: 1 = 200 customers, 2,000 orders")
    demo.add_argument("--seed", type=int, default=42, help="random seed of the generated data (default 42)")
    demo.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier demo in --dir (on postgres: and its schemas in the database)",
    )
    demo.add_argument(
        "--adapter",
        choices=("duckdb", "postgres"),  # agent/demo.py ADAPTERS, not imported: `ae --help` stays fast
        default="duckdb",
        help="the warehouse (default duckdb: a file in --dir). postgres: the server PGHOST, PGPORT, "
        "PGUSER, PGPASSWORD name (defaults 127.0.0.1, 5432, the current user, none), database "
        "PGDATABASE (default ae_demo, created when missing); the profile reads them with env_var",
    )
    demo.set_defaults(handler=_cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ae",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default) or ERROR")
    parser.add_argument("--log-json", action="store_true", help="JSON log lines even on a terminal")
    parser.add_argument(
        "--log-file",
        type=Path,
        metavar="PATH",
        help="append log lines (JSON) to this file instead of stderr",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # in the order `ae --help` lists them
    configure_queue_parser(sub)
    configure_worker_parser(sub)
    configure_mcp_parser(sub)
    configure_replay_parser(sub)
    _add_checks(sub)
    _add_run_commands(sub)
    _add_memory_and_undo(sub)
    _add_chat_eval_demo(sub)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The arguments; everything after `eval` is left to evals/cli.py, anything else unknown is an error."""
    args, rest = parser.parse_known_args(argv)
    if args.command == "eval":
        args.eval_args = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args


def _static_text(args: argparse.Namespace) -> str | None:
    """The help a run request asks for (`/help`, `/<cmd> --help`): printed with nothing else loaded."""
    if args.command != "run" or args.request is None or args.resume is not None:
        return None
    from agent.commands.help import requested_help

    return requested_help(args.request)


def _configure_logging(args: argparse.Namespace) -> None:
    from tools.logs import configure_logging

    as_json = args.log_json or bool(getattr(args, "json", False)) or args.log_file is not None
    stream: TextIO | None = None
    if args.log_file is not None:
        stream = args.log_file.expanduser().open("a", encoding="utf-8", buffering=1)
    configure_logging(json=True if as_json else None, level=args.log_level, stream=stream)


def print_error(exc: AeError, code: ExitCode, *, as_json: bool, out: TextIO, err: TextIO) -> int:
    """An error as the caller asked for it: one JSON document on ``out``, else a line on ``err``."""
    if as_json:
        error = {"message": redact(exc.message), "hint": redact(exc.hint), "exit_code": int(code)}
        print(json.dumps({"status": status_for(code), "error": error}, indent=2), file=out, flush=True)
    else:
        print(f"ae: error: {redact(str(exc))}", file=err, flush=True)
    return code


def _register_secrets() -> None:
    """Every secret-named environment variable's value is redacted wherever ae writes, from now on."""
    from tools.secrets import register_environment_secrets

    register_environment_secrets(os.environ)


def _file_in(exc: BaseException) -> Path | None:
    """The file that was being read where ``exc`` was raised: the innermost frame holding a path
    or an open file (``Path.read_text``'s own ``self``, a reader's ``handle``)."""
    traceback = exc.__traceback__
    frames = []
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            name = getattr(value, "name", None) if hasattr(value, "read") else value
            if isinstance(name, str | Path) and os.path.isfile(name):
                return Path(name)
    return None


def _undecodable(exc: UnicodeDecodeError) -> ConfigurationError:
    """A file that is not UTF-8 text (binary, or another encoding), named with what to do."""
    file = _file_in(exc)
    where = f"{file}" if file is not None else "a file ae read"
    return ConfigurationError(
        f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start}): dbt and ae read project "
        "files as UTF-8",
        hint="save it as UTF-8, or restore it from version control (`git diff` shows what changed)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments
    try:
        parser = build_parser()
        args = _parse(parser, arguments)
        handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
        if handler is None:
            parser.print_help(sys.stderr)
            raise UsageError("give a command", hint="`ae --help` lists them")
        text = _static_text(args)
        if text is not None:
            print(json.dumps({"status": "help", "text": text}, indent=2) if as_json else text)
            return ExitCode.OK
        _configure_logging(args)
        _register_secrets()
        return handler(args)
    except AeError as exc:
        return print_error(exc, for_error(exc), as_json=as_json, out=sys.stdout, err=sys.stderr)
    except BrokenPipeError:
        # the reader went away (`ae ... | head`): what it did not read is not an error of ae's
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except OSError as exc:
        # a full disk, a read-only or immutable .ae/: the environment, named, not a traceback
        from tools.journal import environment_error

        error = environment_error(exc, _file_in(exc))
        return print_error(error, ExitCode.ENVIRONMENT, as_json=as_json, out=sys.stdout, err=sys.stderr)
    except UnicodeDecodeError as exc:
        # the last resort for a project file that is not text: its reader should have said so
        error = _undecodable(exc)
        return print_error(error, ExitCode.ENVIRONMENT, as_json=as_json, out=sys.stdout, err=sys.stderr)
    except KeyboardInterrupt:
        # a run catches its own interrupt to name the run (agent/run_command.py); this is the rest
        stopped = AeError("interrupted", hint="run the same command again to finish what it was doing")
        return print_error(stopped, ExitCode.INTERRUPTED, as_json=as_json, out=sys.stdout, err=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
