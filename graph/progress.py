"""Progress events a run emits as it goes (one line each on a terminal, JSON for programs).

A phase writes them up LangGraph's stream (``RunContext.progress``); the runner hands each to the
caller's ``Emit``: the terminal, ``ae run --json``, MCP progress notifications, the worker's log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from tools.logs import redact

EventKind = Literal["phase", "tool", "info", "warning"]


@dataclass(frozen=True)
class ProgressEvent:
    kind: EventKind
    phase: str
    message: str
    ok: bool | None = None
    duration_s: float | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # Redacted where it is made, so every consumer (the terminal, chat, JSON, the model's
        # repair feedback built from the same text) gets the clean message.
        object.__setattr__(self, "message", redact(self.message))

    def line(self) -> str:
        mark = {True: "ok", False: "FAIL", None: ".."}[self.ok]
        took = f" ({self.duration_s:.2f}s)" if self.duration_s is not None else ""
        prefix = "==" if self.kind == "phase" else "  "
        return f"{prefix} [{self.phase:<8}] {mark:<4} {self.message}{took}"


#: where a caller wants a run's progress (agent/runner.py hands it each event of the stream)
Emit = Callable[[ProgressEvent], None]


def silent(_event: ProgressEvent) -> None:
    """An Emit that drops events (tests, library use)."""
