"""`ae replay`: the command line of agent/replay.py, light to import (`ae --help` builds it)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

DESCRIPTION = (
    "Drive a recorded Claude run's model responses through the scripted client against the current "
    "code, on a throwaway copy of the project, and report where the new run diverges: a tool result "
    "that differs, or a prompt or tool definition the model would have seen differently."
)


def configure_replay_parser(sub: Any) -> None:
    """``ae replay RUN_ID|FILE [--project DIR]``; the caller wires the subparsers in agent/cli.py."""
    parser = sub.add_parser(
        "replay",
        help="run a recorded Claude run again offline and report where it diverges",
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
    parser.set_defaults(handler=replay_command)


def replay_command(args: argparse.Namespace) -> int:
    """Replay on a throwaway copy of the project, so the real one is never touched."""
    import sys

    from agent.exit_codes import ExitCode
    from agent.replay import replay, transcript_of
    from agent.run_command import progress_printer
    from agent.settings import load_settings

    settings = load_settings(args.project)
    transcript = transcript_of(settings, args.run)
    with tempfile.TemporaryDirectory(prefix="ae-replay-") as scratch:
        copy = Path(scratch) / settings.project_dir.name
        shutil.copytree(settings.project_dir, copy, ignore=shutil.ignore_patterns(".ae", "target", "logs"))
        result = replay(load_settings(copy), transcript, emit=progress_printer(sys.stderr))
    print(result.render())
    return ExitCode.OK if result.reproduced else ExitCode.FAILED
