"""The texts the model reads, kept as Markdown under ``prompts/``, and the loader for them.

``system.md`` is the system prompt, ``repair.md`` the message of a repair visit (a ``str.format``
template with one ``{feedback}`` field), ``submit_plan.md`` the description of the tool that ends
planning, and ``tools/<name>.md`` the text of one registered tool: its description, then an
``Arguments:`` section with one ``- name: description`` line per parameter (indented lines continue
it). These files are the only source of what the model reads about a tool; tools/registry.py takes
the schema from the function's signature and refuses a tool whose parameters and described
arguments differ. The texts are read once per process: the system prompt and tool descriptions are a
cached prefix of every request, so they must stay byte-stable.

The loader lives in ``tools``, beside the registry that needs a tool's text, so that ``prompts`` is
data that imports nothing above it and ``tools`` imports no package above itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tools.errors import ConfigurationError

#: shipped beside ``tools`` (pyproject.toml packages both)
PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"

# a prompt name is a relative path without a suffix: "system", "tools/read_file"
_PROMPT_NAME = re.compile(r"[a-z0-9_]+(?:/[a-z0-9_]+)*")


@cache
def load(name: str) -> str:
    """The text of ``prompts/<name>.md``; a missing or unnamed prompt is a ConfigurationError."""
    if not _PROMPT_NAME.fullmatch(name):
        raise ConfigurationError(
            f"{name!r} is not a prompt name",
            hint="use lowercase words and slashes without a suffix, e.g. 'system' or 'tools/read_file'",
        )
    path = PROMPTS_DIR / f"{name}.md"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"prompt file {path} is missing", hint=f"add {path.name} under {path.parent}"
        ) from None


ARGUMENTS_HEADER = "Arguments:"
_ARGUMENT_LINE = re.compile(r"^- (?P<name>\w+): (?P<text>.+)$")


@dataclass(frozen=True)
class ToolText:
    """What the model reads about one tool."""

    description: str
    #: parameter name -> its description
    arguments: dict[str, str]


@cache
def tool_text(name: str) -> ToolText:
    """The description and argument descriptions of tool ``name`` (``prompts/tools/<name>.md``)."""
    text = load(f"tools/{name}")
    description, _, section = text.partition(f"\n{ARGUMENTS_HEADER}\n")
    arguments: dict[str, str] = {}
    current = ""
    for line in section.splitlines():
        if match := _ARGUMENT_LINE.match(line):
            current = match["name"]
            arguments[current] = match["text"].strip()
        elif line.startswith(" ") and current:
            arguments[current] += " " + line.strip()
        elif line.strip():
            raise ConfigurationError(
                f"prompts/tools/{name}.md: {line!r} in its {ARGUMENTS_HEADER} section is not "
                "'- name: description' or an indented continuation",
            )
    return ToolText(description=description.strip(), arguments=arguments)


def render_repair(feedback: str) -> str:
    """The repair-visit message with the failed phase's feedback in place."""
    return load("repair").format(feedback=feedback)
