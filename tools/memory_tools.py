"""The project's memory (tools/memory) as a registered tool for Claude's loop: search it.

Search only. Decisions are written by the user (`/remember` in chat, `ae memory add`), and what a
run teaches is learned by ae from the run's outcome (agent/memory/learn.py): a model that could
write memory would turn one run's injected text into every later run's recalled "decision", and a
question-only run would change state. The tool refuses, as a model-fixable error, when the run has
no memory (``memory: false``)."""

from __future__ import annotations

from typing import Any, Literal

from tools.context import ToolContext
from tools.errors import InvalidArguments
from tools.memory.store import KINDS, MemoryKind
from tools.registry import tool

#: the most memories one search returns
MAX_FOUND = 20


@tool(read_only=True, family="memory")
def memory_search(
    ctx: ToolContext,
    query: str,
    kind: Literal["conventions", "models", "failures", "decisions"] | None = None,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """The project's memories closest to ``query`` (one kind, or all), best first."""
    if ctx.memory is None:
        raise InvalidArguments("memory is off for this project (memory: false); plan without it")
    kinds: tuple[MemoryKind, ...] = (kind,) if kind else KINDS
    found = ctx.memory.search(query, kinds, limit=max(1, min(limit, MAX_FOUND)))
    return [m.as_dict() for m in found]
