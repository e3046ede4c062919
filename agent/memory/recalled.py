"""What Plan is told from memory before it plans (plain data: no store, cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools.layers import Layer


@dataclass(frozen=True)
class Recall:
    #: layer -> folder where the project kept that layer's new models
    folders: dict[Layer, str] = field(default_factory=dict)
    #: /dbt-model type -> name prefix (fact -> fct_)
    prefixes: dict[str, str] = field(default_factory=dict)
    #: texts of the closest past models, failures with their fix, and the user's decisions
    models: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Recall:
        return cls(**data)

    def lessons(self) -> list[str]:
        """Lines for a plan's answer: past failures with their fix, and the user's decisions."""
        return [f"Remembered failure: {f}" for f in self.failures] + [
            f"Remembered decision: {d}" for d in self.decisions
        ]

    def render(self) -> str:
        """A Markdown section for Claude's first message (empty when nothing was recalled)."""
        lines = [f"- New {layer} models go in `{folder}/`." for layer, folder in sorted(self.folders.items())]
        lines += [
            f"- {kind} models are named `{prefix}<name>`." for kind, prefix in sorted(self.prefixes.items())
        ]
        lines += [f"- The user decided: {d}" for d in self.decisions]
        lines += [f"- Similar past model: {m}" for m in self.models]
        lines += [f"- A past failure and its fix: {f}" for f in self.failures]
        return "# Remembered from earlier runs\n\n" + "\n".join(lines) if lines else ""
