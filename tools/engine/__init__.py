"""The dbt engine: dbt in-process in a long-lived child process, with typed results.

The names below load on first use (PEP 562): the engine's child process imports its own modules
from this package, and pays for none of the parent's (the engine, the warehouse port, DuckDB).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.engine.commands import BUILDING, COMMANDS, DbtCall
    from tools.engine.engine import DbtEngine
    from tools.engine.results import DbtError, DbtResult, NodeResult, Preview

#: each public name and the module that defines it
_HOMES = {
    "BUILDING": "tools.engine.commands",
    "COMMANDS": "tools.engine.commands",
    "DbtCall": "tools.engine.commands",
    "DbtEngine": "tools.engine.engine",
    "DbtError": "tools.engine.results",
    "DbtResult": "tools.engine.results",
    "NodeResult": "tools.engine.results",
    "Preview": "tools.engine.results",
}

__all__ = ["BUILDING", "COMMANDS", "DbtCall", "DbtEngine", "DbtError", "DbtResult", "NodeResult", "Preview"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tools.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
