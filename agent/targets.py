"""Which dbt target a request runs on: one decision for every entry point (run, chat, the queue).

Two things can name it: the entry point's ``--target`` and a /command's own ``--target``. How they
combine depends on what the entry point's target is:

- a *pin* (``ae run --target T``, a queued task's target): it was given for this one request, so a
  /command naming another target is a contradiction, refused;
- a *default* (``ae chat --target T``, the session's): the /command's ``--target`` wins for its line.

``None`` means the profile's default target. Whether it is protected is not decided here: whichever
target wins, agent/approvals.py decides (and Execute asks before a plan writes there).
"""

from __future__ import annotations

from agent.requests import is_command
from tools.errors import InvalidArguments


def request_target(request: str, given: str | None, *, pinned: bool = True) -> str | None:
    """The target for ``request``: the /command's ``--target`` or ``given`` (see the module doc)."""
    if not is_command(request):
        return given
    from agent.commands.parser import HelpRequested, parse_command

    try:
        named = parse_command(request).target
    except HelpRequested:
        return given
    if pinned and given is not None and named is not None and given != named:
        raise InvalidArguments(
            f"two targets: --target {given} for ae and --target {named} in the command",
            hint="name the target once",
        )
    return named or given
