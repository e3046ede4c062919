"""Which dbt target a request runs on: one decision for every entry point (run, chat, the queue).

The entry point's own ``--target`` and a /command's ``--target`` both name it; when both are given
they must agree. ``None`` means the profile's default target.
"""

from __future__ import annotations

from agent.planners import is_command
from tools.errors import InvalidArguments


def request_target(request: str, given: str | None) -> str | None:
    """The target for ``request``: ``given`` (the entry point's --target), else the /command's."""
    if not is_command(request):
        return given
    from agent.commands.parser import HelpRequested, parse_command

    try:
        named = parse_command(request).target
    except HelpRequested:
        return given
    if given is not None and named is not None and given != named:
        raise InvalidArguments(
            f"two targets: --target {given} for the session and --target {named} in the command",
            hint="name the target once",
        )
    return named or given
