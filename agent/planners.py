"""Choosing the planner for a request: explicit flag, else Claude for free text with a key, else commands."""

from __future__ import annotations

from typing import Literal

from agent.requests import is_command
from agent.settings import Settings
from graph.plan_spec import Describer, Planner
from tools.errors import InvalidArguments

PlannerChoice = Literal["auto", "command", "claude"]


def choose_planner(
    settings: Settings, request: str, choice: PlannerChoice = "auto"
) -> tuple[Planner, Describer]:
    from agent.commands.describer import HeuristicDescriber
    from agent.commands.planner import CommandPlanner

    if choice == "command" or (choice == "auto" and is_command(request)):
        return CommandPlanner(), HeuristicDescriber()
    from agent.commands.help import command_help

    if not settings.api_key:
        raise InvalidArguments(
            "free-form requests need Claude, and no ANTHROPIC_API_KEY is set. "
            "These structured commands work offline:\n" + command_help(None),
            hint="set ANTHROPIC_API_KEY to plan free text with Claude",
        )
    from agent.claude_planner import ClaudePlanner

    planner = ClaudePlanner.from_settings(settings)
    # Document asks the same model, on the same client, within the same run budget
    return planner, planner.describer()
