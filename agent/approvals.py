"""Approvals: what a caller approved up front, who answers the rest, and the one refusal made before
planning. ``Session.handle`` (agent/runner.py) applies them; every way in passes its own.

Whether a target is protected is decided here and only here (``target_protection``): where it
writes, not its name, read from the profile as dbt renders it now (tools/protection.py).

Light on purpose (no LangGraph, no dbt): ``ae run`` decides the early refusal before it starts dbt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.requests import command_builds
from tools.errors import ApprovalRequired

if TYPE_CHECKING:
    from agent.settings import Settings
    from tools.protection import Protection

#: the caller's answer to a question a run asks (graph/questions.py): yes or no
Ask = Callable[[dict[str, Any]], bool]


def nobody_approves(_question: dict[str, Any]) -> bool:
    """The ``ask`` of a caller with nobody to ask (the queue, MCP, the benchmark, the demo): what was
    not approved up front is refused, in the same pass."""
    return False


@dataclass(frozen=True)
class Approvals:
    """What the caller approved before the run: ``ae run --yes``/``--allow-code``, what a queued task
    recorded at enqueue, MCP's approve_protected on a server that allows it, an eval task's own."""

    #: building on a protected target
    target: bool = False
    #: executable dbt code in the plan (graph/phases/approve.py)
    code: bool = False
    #: set by a caller that would only say no later (``ae run``, the queue, MCP): a /command that
    #: builds on a protected target without ``target`` is refused before planning, with this hint
    #: saying how to approve it. Unset (the chat asks a person; the benchmark grades the plan): the
    #: plan is made and Execute asks, if it builds.
    refusal_hint: str | None = None


#: nothing approved up front
NOTHING_APPROVED = Approvals()


def target_protection(settings: Settings, target: str | None) -> Protection:
    """Whether ``target`` is protected, and why."""
    return settings.protection(target)


def early_refusal(protection: Protection, request: str, approvals: Approvals) -> ApprovalRequired | None:
    """The refusal of a /command that builds on a protected target (``protection``) nobody approved,
    when the caller wants it before planning (``Approvals.refusal_hint``); None when the request may
    go on. A read-only /command needs no approval; free text is judged by its plan, at Execute."""
    if not protection.protected or approvals.target or approvals.refusal_hint is None:
        return None
    if not command_builds(request):
        return None
    return ApprovalRequired(f"{protection.reason}; nothing was changed", hint=approvals.refusal_hint)
