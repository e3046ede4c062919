"""The `ae` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tools.errors import AeError
from tools.logs import configure_logging, redact

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DESCRIPTION = """\
ae — an agent that does an analytics engineer's dbt work.

Every request goes Plan -> Validate -> Execute -> Verify -> Document against a real dbt project.
Structured /commands run with no API key; free-form requests use Claude when ANTHROPIC_API_KEY is set.
"""

EPILOG = """\
examples:
  ae demo --dir /tmp/ae-demo               build the bundled example end to end (no key needed)
  ae doctor --project examples/jaffle_shop check dbt, the profile, the warehouse, the store, the key
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


def _cmd_doctor(args: argparse.Namespace) -> int:
    from agent.doctor import run_doctor
    from agent.settings import load_settings

    return run_doctor(load_settings(args.project, target=args.target))


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
        description="Each check prints OK or FAIL with what to do; exits 1 when any check fails.",
    )
    _add_project(doctor)
    doctor.set_defaults(handler=_cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(json=True if args.log_json else None, level=args.log_level)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(args)
    except AeError as exc:
        print(f"ae: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE if exc.channel.value != "retry" else EXIT_FAILED
    except KeyboardInterrupt:
        print("ae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
