"""`ae replay`: the command line of agent/replay.py, light to import (`ae --help` builds it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DESCRIPTION = (
    "Drive a recorded Claude run's model responses through the scripted client against the current "
    "code, on a throwaway copy of the project and of its warehouse (wherever the profile keeps it), "
    "and report where the new run diverges: a tool result that differs, or a prompt or tool "
    "definition the model would have seen differently. A protected target, or a warehouse that "
    "cannot be copied (not a local DuckDB file), is refused."
)


def configure_replay_parser(sub: Any) -> None:
    """``ae replay RUN_ID|FILE [--project DIR] [--target T] [--keep]``; agent/cli.py wires it in."""
    parser = sub.add_parser(
        "replay",
        help="run a recorded Claude run again offline, on a copy, and report where it diverges",
        description=DESCRIPTION,
    )
    parser.add_argument("run", help="a run id of the project, or a transcript.jsonl file")
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="the dbt project to replay against, as it was before the run (a copy is used; "
        "default: the current project)",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="T",
        help="the target whose warehouse is copied (default: the profile's; never a protected one)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the copy afterwards, to look at it")
    parser.set_defaults(handler=replay_command)


def replay_command(args: argparse.Namespace) -> int:
    """Replay on a throwaway copy of the project and warehouse, so the real ones are never touched."""
    import sys

    from agent.exit_codes import ExitCode
    from agent.replay import replay, transcript_of
    from agent.run_command import progress_printer
    from agent.settings import load_settings

    settings = load_settings(args.project)
    transcript = transcript_of(settings, args.run)
    result = replay(
        settings, transcript, emit=progress_printer(sys.stderr), target=args.target, keep=args.keep
    )
    print(result.render())
    return ExitCode.OK if result.reproduced else ExitCode.FAILED
