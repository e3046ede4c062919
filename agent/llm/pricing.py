"""What a model call cost, from its token usage and the model's list price.

Prices are USD per million tokens from Anthropic's pricing page (platform.claude.com/docs/en/
about-claude/pricing), checked 2026-10. Cache writes are the 5-minute TTL rate (the only TTL ae
uses). Most models charge 1.25x input for a cache write and 0.1x for a cache read, but not all
(Sonnet/Opus 5.5 read at 0.05x, Fable 5.1 at 0.025x), so every rate is written out per model.
Models priced by prompt-length band (Haiku 5.5) are left out rather than priced wrongly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.llm.base import Usage

# The newest Sonnet documented at the time of writing (released 2026-09-28).
DEFAULT_MODEL = "claude-sonnet-5-5"

_PER_TOKEN = 1 / 1_000_000


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float


_FABLE_5_1 = ModelPrice(input=10.0, output=50.0, cache_write=12.5, cache_read=0.25)
_FABLE_5 = ModelPrice(input=10.0, output=50.0, cache_write=12.5, cache_read=1.0)
_OPUS_5_5 = ModelPrice(input=4.0, output=20.0, cache_write=5.0, cache_read=0.20)
_OPUS_4_5_TO_5 = ModelPrice(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50)
_SONNET_5_5 = ModelPrice(input=2.0, output=10.0, cache_write=2.5, cache_read=0.10)
_SONNET_5 = ModelPrice(input=2.0, output=10.0, cache_write=2.5, cache_read=0.20)
_SONNET_4 = ModelPrice(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)
_HAIKU_4_5 = ModelPrice(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10)

PRICES: dict[str, ModelPrice] = {
    "claude-fable-5-1": _FABLE_5_1,
    "claude-mythos-5-1": _FABLE_5_1,
    "claude-fable-5": _FABLE_5,
    "claude-mythos-5": _FABLE_5,
    "claude-opus-5-5": _OPUS_5_5,
    "claude-opus-5": _OPUS_4_5_TO_5,
    "claude-opus-4-8": _OPUS_4_5_TO_5,
    "claude-opus-4-7": _OPUS_4_5_TO_5,
    "claude-opus-4-6": _OPUS_4_5_TO_5,
    "claude-opus-4-5": _OPUS_4_5_TO_5,
    "claude-sonnet-5-5": _SONNET_5_5,
    "claude-sonnet-5": _SONNET_5,
    "claude-sonnet-4-6": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-haiku-4-5": _HAIKU_4_5,
}

# Pinned snapshots carry a date suffix (claude-sonnet-4-5-20250929); they cost what the alias costs.
_SNAPSHOT_SUFFIX = re.compile(r"-\d{8}$")


@dataclass(frozen=True)
class CallCost:
    """Cost in USD, or None with the reason it could not be computed."""

    usd: float | None
    reason: str = ""


def price_of(model: str) -> ModelPrice | None:
    return PRICES.get(_SNAPSHOT_SUFFIX.sub("", model))


def cost_of(usage: Usage, model: str) -> CallCost:
    price = price_of(model)
    if price is None:
        return CallCost(
            usd=None,
            reason=f"no price on file for model {model!r}; add it to agent/llm/pricing.py PRICES",
        )
    return CallCost(usd=cost_with(usage, price))


def cost_with(usage: Usage, price: ModelPrice) -> float:
    """USD of ``usage`` at ``price``."""
    return _PER_TOKEN * (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_write_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
    )
