"""The /commands' help text, and whether a request asks for it.

Kept apart from the parser (pydantic, YAML, dbt's selector rules) and from everything that runs a
request: `ae run "/help"` and `ae run "/<cmd> --help"` import this module, the catalog and nothing
heavy, so they answer at once.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Sequence

from agent.commands.catalog import COMMANDS
from agent.commands.spec import CommandSpec
from agent.requests import is_command
from tools.errors import InvalidArguments


def close_matches(word: str, candidates: Sequence[str], prefix: str = "") -> str:
    """`` Did you mean /dbt-run?`` for a near miss, else an empty string."""
    matches = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.7)
    return f" Did you mean {' or '.join(prefix + m for m in matches)}?" if matches else ""


def find_spec(name: str) -> CommandSpec:
    if name in COMMANDS:
        return COMMANDS[name]
    known = ", ".join(f"/{n}" for n in COMMANDS)
    raise InvalidArguments(
        f"unknown command /{name}.{close_matches(name, list(COMMANDS), '/')}\n"
        f"commands: {known}\n(/help lists them with one line each)"
    )


def requested_help(request: str) -> str | None:
    """The text ``request`` asks for — ``/help``, ``/help CMD``, ``/CMD ... --help`` — or None.

    Raises ``InvalidArguments`` for help on a command that does not exist."""
    if not is_command(request):
        return None
    try:
        tokens = shlex.split(request.strip())
    except ValueError:  # the parser says what is wrong with the quotes
        return None
    name, rest = tokens[0][1:], tokens[1:]
    if name == "help":
        if len(rest) > 1:
            raise InvalidArguments("/help takes at most one command name, e.g. /help dbt-model")
        return command_help(rest[0].lstrip("/") if rest else None)
    if "--help" in rest or "-h" in rest:
        return command_help(name)
    return None


def command_help(name: str | None = None) -> str:
    """Help for one command (flags, example, notes), or one line per command when ``name`` is None."""
    if name is None:
        width = max(len(n) for n in COMMANDS) + 2
        lines = ["Structured commands (no LLM needed):"]
        lines += [f"  /{n.ljust(width)}{spec.summary}" for n, spec in COMMANDS.items()]
        lines.append("Every command takes --target TARGET. /<command> --help shows its flags and an example.")
        return "\n".join(lines)
    spec = find_spec(name.lstrip("/"))
    width = max(len(o.usage().strip("[]")) for o in spec.options) + 2
    lines = [f"/{spec.name}: {spec.summary}", "", f"usage: {spec.usage()}", "", "flags:"]
    for option in spec.options:
        required = "required. " if option.required else ""
        # a help text that already says its default in words ("every test") is not followed by the
        # raw value as well
        shown = option.default not in (None, False) and "(default:" not in option.help
        default = f" (default: {option.default})" if shown else ""
        lines.append(f"  {option.usage().strip('[]').ljust(width)}{required}{option.help}{default}")
    lines += ["", f"example: {spec.example}"]
    if spec.notes:
        lines += ["", spec.notes]
    return "\n".join(lines)
