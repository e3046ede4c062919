"""LLM usage totals as plain dicts (they live in checkpointed state and reports)."""

from __future__ import annotations

from collections.abc import Mapping

#: keys that hold a run's limits, not its spend: the latest value stands, nothing is summed
BUDGET_PREFIX = "budget_"

#: spend key -> budget key, in the order a report shows them
SPEND_VS_BUDGET = {
    "llm_calls": "budget_steps",
    "tokens": "budget_tokens",
    "cost_usd": "budget_cost_usd",
    "plan_seconds": "budget_wall_s",
}


def add_usage(total: Mapping[str, float], more: Mapping[str, float]) -> dict[str, float]:
    """Sum two usage dicts key by key (calls, tokens of each kind, cost_usd, seconds)."""
    merged = dict(total)
    for key, value in more.items():
        if key.startswith(BUDGET_PREFIX):
            merged[key] = value
        else:
            merged[key] = round(merged.get(key, 0) + value, 6)
    return merged


def total_tokens(usage: Mapping[str, float]) -> int:
    return int(
        sum(
            usage.get(k, 0)
            for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
        )
    )
