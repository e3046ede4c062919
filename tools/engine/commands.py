"""The dbt commands the engine exposes and validation of their arguments.

Arguments are built from typed options, never passed through from a caller, so a model cannot
smuggle flags (``--profiles-dir /etc``) in through a selector.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from tools.errors import InvalidArguments

Command = Literal[
    "parse",
    "compile",
    "run",
    "test",
    "build",
    "seed",
    "snapshot",
    "docs generate",
    "source freshness",
    "ls",
    "show",
    "debug",
    "retry",
    "run-operation",
    "deps",
]
COMMANDS: tuple[str, ...] = get_args(Command)

#: commands that create or replace relations in the warehouse (compile, show and test do not)
BUILDING = frozenset({"build", "run", "seed", "snapshot"})

#: commands that leave the warehouse and the project as they are: they write only dbt's target
#: folder (manifest, compiled SQL, run results, the docs site and its catalog) and logs. ``test``
#: only while it stores no failures (``only_reads``). The rest build (``BUILDING``), write the
#: project (``deps``: packages and their lock file) or run whatever they are given (``run-operation``,
#: ``retry``). Graph/read_only.py, the dbt tools' read-only marks and the MCP annotations all use it.
READING = frozenset({"parse", "compile", "ls", "show", "debug", "source freshness", "docs generate", "test"})

#: commands dbt gives no ``--target-path`` option (it refuses the flag): they write no target folder
NO_TARGET_PATH = frozenset({"debug", "deps"})

#: commands whose selection must match at least one node
SELECTING = frozenset(
    {"compile", "run", "test", "build", "seed", "snapshot", "ls", "show", "source freshness"}
)

_SELECTOR_TOKEN = re.compile(r"^[A-Za-z0-9_.*:+@/,\-]+$")
_MACRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class DbtCall(BaseModel):
    """A validated request for one dbt invocation."""

    command: Command
    select: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    resource_types: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    full_refresh: bool = False
    store_failures: bool = False
    limit: int | None = None
    inline: str | None = None
    macro: str | None = None
    macro_args: dict[str, Any] = Field(default_factory=dict)
    #: dbt docs generate: skip compiling (faster) — we keep it False by default
    no_compile: bool = False
    #: open the warehouse read-only, with no file access, for this call (Validate's parse and
    #: compile: code in a model cannot write while it is checked; tools/engine/child.py)
    read_only: bool = False

    def needs_nonempty_selection(self) -> bool:
        return self.command in SELECTING and bool(self.select) and self.inline is None


def only_reads(command: str, *, store_failures: bool = False) -> bool:
    """Whether dbt ``command`` leaves the warehouse and the project as they are (``READING``): a
    ``test`` that stores its failures writes tables, so it does not."""
    return command in READING and not store_failures


def _tokens(values: Sequence[str], what: str) -> list[str]:
    out: list[str] = []
    for value in values:
        for token in value.split():
            if token.startswith("-"):
                raise InvalidArguments(
                    f"{what} token {token!r} looks like a flag; only node selectors are accepted here",
                    hint="pass model names, paths or selector methods such as tag:daily or stg_orders+",
                )
            if not _SELECTOR_TOKEN.match(token):
                raise InvalidArguments(
                    f"{what} token {token!r} has characters a dbt selector cannot contain",
                    hint="use names, paths, globs and methods like tag:x, path:models/marts, +model+",
                )
            out.append(token)
    return out


def build_args(call: DbtCall) -> list[str]:
    """The dbt CLI arguments (after the project/profile flags) for a validated call."""
    args = call.command.split()
    select = _tokens(call.select, "--select")
    exclude = _tokens(call.exclude, "--exclude")
    if call.command in {"parse", "debug", "retry", "deps"} and (select or exclude):
        raise InvalidArguments(f"dbt {call.command} takes no selection")
    if call.command == "run-operation":
        if not call.macro or not _MACRO_NAME.match(call.macro):
            raise InvalidArguments("run-operation needs a macro name (letters, digits, _ and .)")
        args.append(call.macro)
        if call.macro_args:
            args += ["--args", json.dumps(call.macro_args)]
    elif call.macro is not None:
        raise InvalidArguments(f"a macro name only goes with run-operation, not {call.command}")
    if call.command == "show":
        if bool(select) == bool(call.inline):
            raise InvalidArguments("show takes exactly one of a selection or inline SQL")
        if call.inline is not None:
            args += ["--inline", call.inline]
        args += ["--limit", str(call.limit if call.limit is not None else 5)]
    elif call.inline is not None or call.limit is not None:
        raise InvalidArguments("inline SQL and limit only go with show")
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    for rtype in call.resource_types:
        if not re.fullmatch(r"[a-z_]+", rtype):
            raise InvalidArguments(f"resource type {rtype!r} is not a dbt resource type")
        args += ["--resource-type", rtype]
    if call.vars:
        args += ["--vars", json.dumps(call.vars)]
    if call.full_refresh:
        if call.command not in {"run", "build", "seed"}:
            raise InvalidArguments(f"--full-refresh does not apply to dbt {call.command}")
        args.append("--full-refresh")
    if call.store_failures:
        if call.command not in {"test", "build"}:
            raise InvalidArguments(f"--store-failures does not apply to dbt {call.command}")
        args.append("--store-failures")
    if call.no_compile:
        args.append("--no-compile")
    return args
