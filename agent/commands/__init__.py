"""The structured /commands: parsing, help, the deterministic planner and the heuristic describer."""

from agent.commands.describer import HeuristicDescriber
from agent.commands.parser import HelpRequested, ParsedCommand, command_help, parse_command
from agent.commands.planner import CommandPlanner

__all__ = [
    "CommandPlanner",
    "HelpRequested",
    "HeuristicDescriber",
    "ParsedCommand",
    "command_help",
    "parse_command",
]
