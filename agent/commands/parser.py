"""Parsing ``/command --flag value ...`` lines against the command catalog, and their help text.

The grammar is a shell line (``shlex``): ``--flag value``, ``--flag=value``, and boolean flags that
stand alone or take ``true``/``false``. Every refusal says what was wrong, the command's usage line
and an example, so a person (or the runner printing it) can fix the line without reading docs.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml
from pydantic import BaseModel, Field

from agent.commands.help import close_matches, command_help, find_spec, requested_help
from agent.commands.spec import CommandSpec, OptionSpec
from agent.requests import is_command
from tools.engine.commands import DbtCall, build_args
from tools.errors import InvalidArguments

#: the help lives in agent/commands/help.py; agent/commands/__init__.py still imports it from here
__all__ = ["HelpRequested", "ParsedCommand", "command_help", "parse_command", "usage_error"]

_TRUE = frozenset({"true", "yes", "on", "1"})
#: what opens or closes Jinja: a value holding one would run (or hide) code where it lands — in a
#: macro's comment, a YAML description dbt renders, a --vars value. A /command never writes code.
_JINJA_DELIMITERS = ("{{", "{%", "{#", "%}", "#}")
_FALSE = frozenset({"false", "no", "off", "0"})


class ParsedCommand(BaseModel):
    """A command line after parsing: typed option values keyed by flag name (without ``--``)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    target: str | None = None

    def text(self, flag: str) -> str | None:
        value = self.options.get(flag)
        return None if value is None else str(value)

    def required_text(self, flag: str) -> str:
        value = self.text(flag)
        if value is None:  # the parser enforces required flags; this guards handler/catalog drift
            raise InvalidArguments(f"/{self.name} needs --{flag}")
        return value

    def boolean(self, flag: str) -> bool:
        return bool(self.options.get(flag, False))

    def integer(self, flag: str) -> int | None:
        value = self.options.get(flag)
        return None if value is None else int(value)

    def items(self, flag: str) -> list[str]:
        return list(self.options.get(flag) or [])

    def mapping(self, flag: str) -> dict[str, Any]:
        return dict(self.options.get(flag) or {})

    def as_line(self) -> str:
        """The command as a line that parses back to it (for an answer that says what to run next)."""
        words = [f"/{self.name}"]
        for flag, value in self.options.items():
            if value is True:
                words.append(f"--{flag}")
            elif value is not False and value is not None:
                shown = (
                    ",".join(map(str, value))
                    if isinstance(value, list)
                    else json.dumps(value)
                    if isinstance(value, dict)
                    else str(value)
                )
                words += [f"--{flag}", shlex.quote(shown)]
        return " ".join(words + ([f"--target {shlex.quote(self.target)}"] if self.target else []))


class HelpRequested(InvalidArguments):
    """``/help`` or ``--help``: not a failure, the text is what to show."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# --- errors ---------------------------------------------------------------------------------------------


def usage_error(spec: CommandSpec, problem: str) -> InvalidArguments:
    """A refusal that carries the usage line and an example."""
    return InvalidArguments(
        f"/{spec.name}: {problem}\nusage: {spec.usage()}\nexample: {spec.example}\n"
        f"(/{spec.name} --help explains every flag)"
    )


# --- parsing --------------------------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise InvalidArguments(f"cannot read the command line: {exc} (check the quotes)") from exc


def _refuse_jinja(spec: CommandSpec, flag: str, value: Any) -> None:
    texts = [value] if isinstance(value, str) else []
    if isinstance(value, dict | list):
        texts = [json.dumps(value)]
    for text in texts:
        if any(d in text for d in _JINJA_DELIMITERS):
            raise usage_error(
                spec,
                f"{flag} holds Jinja ({', '.join(_JINJA_DELIMITERS)}), which dbt would run; give plain text",
            )


def _convert(spec: CommandSpec, option: OptionSpec, raw: str) -> Any:
    value = _convert_kind(spec, option, raw)
    _refuse_jinja(spec, f"--{option.flag}", value)
    return value


def _convert_kind(spec: CommandSpec, option: OptionSpec, raw: str) -> Any:
    flag = f"--{option.flag}"
    if option.kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise usage_error(spec, f"{flag} takes a whole number, not {raw!r}") from None
    if option.kind == "bool":
        word = raw.lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise usage_error(spec, f"{flag} takes true or false, not {raw!r}")
    if option.kind == "choice":
        if raw not in option.choices:
            raise usage_error(
                spec,
                f"{flag} must be one of {', '.join(option.choices)}, "
                f"not {raw!r}.{close_matches(raw, option.choices)}",
            )
        return raw
    if option.kind == "list":
        items = [item.strip() for item in raw.split(",")]
        if not raw.strip() or any(not item for item in items):
            raise usage_error(spec, f"{flag} takes a comma-separated list with no empty items, got {raw!r}")
        return items
    if option.kind == "mapping":
        return _mapping(spec, flag, raw)
    if option.kind == "selector":
        try:
            build_args(DbtCall(command="ls", select=[raw]))
        except InvalidArguments as exc:
            raise usage_error(spec, f"{flag} {raw!r} is not a dbt selection: {exc.message}") from None
        if not raw.split():
            raise usage_error(spec, f"{flag} needs at least one selector")
        return raw
    if not raw.strip():
        raise usage_error(spec, f"{flag} needs a non-empty value")
    return raw


def _mapping(spec: CommandSpec, flag: str, raw: str) -> dict[str, Any]:
    # dbt's --vars takes YAML (of which JSON is a subset); so do we
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = None
    if not isinstance(value, dict):
        raise usage_error(
            spec, f'{flag} takes a JSON or YAML mapping such as \'{{"start_date": "2024-01-01"}}\''
        )
    # YAML reads 2024-01-01 as a date; dbt gets vars as JSON text, so dates travel as strings
    converted: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return converted


def _looks_like_flag(token: str) -> bool:
    return token.startswith("-") and len(token) > 1


def parse_command(text: str) -> ParsedCommand:
    """Parse a ``/command`` line; raises ``HelpRequested`` for help and ``InvalidArguments`` for bad input."""
    if not is_command(text):
        raise InvalidArguments(
            f"{text.strip()[:60]!r} is not a /command; structured commands start with '/', e.g. "
            "/dbt-run --select stg_orders (/help lists them)"
        )
    tokens = _split(text.strip())
    shown = requested_help(text)
    if shown is not None:
        raise HelpRequested(shown)
    name, rest = tokens[0][1:], tokens[1:]
    spec = find_spec(name)
    options: dict[str, Any] = {}
    index = 0
    while index < len(rest):
        token = rest[index]
        index += 1
        if not token.startswith("--"):
            raise usage_error(spec, f"unexpected argument {token!r}; every value follows a --flag")
        flag, has_inline, inline = token[2:].partition("=")
        option = spec.option(flag)
        if option is None:
            flags = [o.flag for o in spec.options]
            raise usage_error(spec, f"unknown flag --{flag}.{close_matches(flag, flags, '--')}")
        if option.flag in options:
            raise usage_error(spec, f"--{flag} is given twice; give it once")
        if has_inline:
            raw = inline
        elif option.kind == "bool":
            following = rest[index].lower() if index < len(rest) else ""
            raw = rest[index] if following in _TRUE | _FALSE else "true"
            index += 1 if following in _TRUE | _FALSE else 0
        elif index < len(rest) and not _looks_like_flag(rest[index]):
            raw = rest[index]
            index += 1
        else:
            shown = f", but got {rest[index]!r}, which looks like a flag" if index < len(rest) else ""
            raise usage_error(spec, f"--{flag} needs a value{shown}")
        options[option.flag] = _convert(spec, option, raw)
    missing = [o for o in spec.options if o.required and o.flag not in options]
    if missing:
        names = ", ".join(f"--{o.flag}" for o in missing)
        raise usage_error(spec, f"missing required flag{'s' if len(missing) > 1 else ''} {names}")
    for option in spec.options:
        if option.flag not in options and option.default is not None:
            options[option.flag] = option.default
    target = options.pop("target", None)
    return ParsedCommand(name=name, options=options, target=target)
