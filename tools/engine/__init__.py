"""The dbt engine: dbt in-process in a long-lived child process, with typed results."""

from tools.engine.commands import BUILDING, COMMANDS, DbtCall
from tools.engine.engine import DbtEngine
from tools.engine.results import DbtError, DbtResult, NodeResult, Preview

__all__ = ["BUILDING", "COMMANDS", "DbtCall", "DbtEngine", "DbtError", "DbtResult", "NodeResult", "Preview"]
