"""What every tool call receives besides its arguments: the project, the target, the run's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from tools.changeset import Changeset
from tools.paths import ProjectPaths
from tools.resilience import Resilience


class ToolCallRecord(BaseModel):
    """One tool call as the run report shows it (arguments already redacted)."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    error: str | None = None
    channel: str | None = None
    duration_s: float
    retries: int = 0
    started_at: datetime


@dataclass
class ToolContext:
    paths: ProjectPaths
    target: str
    changeset: Changeset = field(default_factory=Changeset)
    policy: Resilience = field(default_factory=Resilience)
    # a tools.engine.DbtEngine; typed loosely until the engine lands
    engine: Any = None
    #: every tool call of the run, in order, for the run report
    calls: list[ToolCallRecord] = field(default_factory=list)
