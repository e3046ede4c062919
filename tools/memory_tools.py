"""The project's memory (tools/memory) as registered tools for Claude's loop: search it, and keep a
decision. Both refuse, as a model-fixable error, when the run has no memory (``memory: false``)."""

from __future__ import annotations

from typing import Any, Literal

from tools.context import ToolContext
from tools.errors import InvalidArguments
from tools.memory.claude_tools import memory_search as search_memory
from tools.memory.claude_tools import memory_store as store_memory
from tools.memory.store import ProjectMemory
from tools.registry import tool


def _memory(ctx: ToolContext) -> ProjectMemory:
    if ctx.memory is None:
        raise InvalidArguments("memory is off for this project (memory: false); plan without it")
    return ctx.memory


@tool(read_only=True, family="memory")
def memory_search(
    ctx: ToolContext,
    query: str,
    kind: Literal["conventions", "models", "failures", "decisions"] | None = None,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """The project's memories closest to ``query``."""
    return search_memory(_memory(ctx), query, kind, limit)


@tool(read_only=False, family="memory")
def memory_store(ctx: ToolContext, text: str, key: str) -> dict[str, Any]:
    """Keep a decision for later runs."""
    return store_memory(_memory(ctx), text, key)
