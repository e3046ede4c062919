"""The ``memory_search`` and ``memory_store`` tools of Claude's loop (tools/registry.py registers them)."""

from __future__ import annotations

from typing import Any

from tools.memory.store import KINDS, MemoryKind, ProjectMemory, checked_kind


def memory_search(
    memory: ProjectMemory, query: str, kind: str | None = None, limit: int = 5
) -> list[dict[str, Any]]:
    """The project's memories closest to ``query`` (one kind, or all), best first."""
    kinds: tuple[MemoryKind, ...] = (checked_kind(kind),) if kind else KINDS
    return [m.as_dict() for m in memory.search(query, kinds, limit=max(1, min(limit, 20)))]


def memory_store(memory: ProjectMemory, text: str, key: str) -> dict[str, Any]:
    """Remember a decision Claude was told or found (always as a ``decisions`` memory, never a
    convention or model: those are learned from the project itself at the end of the run)."""
    return memory.remember("decisions", key, text, {"source": "claude"}).as_dict()
