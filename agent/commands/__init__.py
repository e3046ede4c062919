"""The structured /commands: parsing, help, the deterministic planner and the heuristic describer.

Names are loaded on first use (PEP 562): `ae run "/help"` imports agent.commands.help through this
package and must not pay for the planner and describer (sqlglot, DuckDB, profiling)."""

from importlib import import_module
from typing import Any

_HOME = {
    "CommandPlanner": "agent.commands.planner",
    "HeuristicDescriber": "agent.commands.describer",
    "HelpRequested": "agent.commands.parser",
    "ParsedCommand": "agent.commands.parser",
    "parse_command": "agent.commands.parser",
    "command_help": "agent.commands.help",
}
__all__ = [
    "CommandPlanner",
    "HelpRequested",
    "HeuristicDescriber",
    "ParsedCommand",
    "command_help",
    "parse_command",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'agent.commands' has no attribute {name!r}")
    return getattr(import_module(_HOME[name]), name)
