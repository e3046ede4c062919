"""What a request is, checked the same way by every way in (``ae run``, chat, the queue, MCP, evals):
``Session.handle`` checks it.

Imports nothing heavy: ``ae --help`` and ``/help`` pass through here.
"""

from __future__ import annotations

import re

from tools.errors import InvalidArguments

#: a request larger than this is refused before it goes anywhere: a 200 KB request once kept a
#: worker busy for two minutes planning nothing useful
MAX_REQUEST_BYTES = 32 * 1024

_COMMAND = re.compile(r"\s*/\S")

#: /commands whose plans only read (graph/read_only.is_read_only: compile, docs, lineage, debug, tests
#: that store no failures): known before planning, so a protected target refuses only the others
#: early (agent/runner.py). tests/test_oneway.py checks each against its plan
#: (test_the_reading_commands_are_exactly_those_whose_plans_read).
READING_COMMANDS = frozenset({"dbt-compile", "dbt-docs", "dbt-debug", "model-lineage", "dbt-test"})


def is_command(request: str) -> bool:
    """A structured ``/command`` (planned without an LLM), not free text: a slash and a name."""
    return bool(_COMMAND.match(request))


def command_builds(request: str) -> bool:
    """Whether ``request`` is a /command that writes to the warehouse (False for free text, which is
    judged by its plan, and for a line that does not parse, which the planner reports)."""
    if not is_command(request):
        return False
    from agent.commands.parser import parse_command

    try:
        command = parse_command(request)
    except InvalidArguments:  # help, a bad flag: nothing is built either way
        return False
    return command.name not in READING_COMMANDS or bool(command.options.get("store-failures"))


def check_request(request: str | None) -> None:
    """What every way in checks before a request goes anywhere: it is not empty (a usage error, said
    as such, not as "free text needs Claude") and not larger than MAX_REQUEST_BYTES."""
    if request is None:
        return
    if not request.strip():
        raise InvalidArguments(
            "the request is empty",
            hint='give a /command (`ae run "/help"` lists them), or a task in words with a Claude key',
        )
    size = len(request.encode("utf-8", "surrogatepass"))
    if size > MAX_REQUEST_BYTES:
        raise InvalidArguments(
            f"the request is {size:,} bytes; a request may hold at most {MAX_REQUEST_BYTES:,} "
            f"({MAX_REQUEST_BYTES // 1024} KiB)",
            hint="put long material (a spec, SQL, data) in a file in the project and name the file in "
            "the request",
        )
