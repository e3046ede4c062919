"""LLM usage totals as plain dicts (they live in checkpointed state and reports)."""

from __future__ import annotations

from collections.abc import Mapping


def add_usage(total: Mapping[str, float], more: Mapping[str, float]) -> dict[str, float]:
    """Sum two usage dicts key by key (calls, tokens of each kind, cost_usd, seconds)."""
    merged = dict(total)
    for key, value in more.items():
        merged[key] = round(merged.get(key, 0) + value, 6)
    return merged
