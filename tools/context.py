"""What every tool call receives besides its arguments: the project, the target, the run's state."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tools.changeset import Changeset
from tools.engine import DbtEngine
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
    engine: DbtEngine | None = None
    #: every tool call of the run, in order, for the run report
    calls: list[ToolCallRecord] = field(default_factory=list)
    #: a JSON-lines file that also receives every call, so a resumed run's report has them all
    journal: Path | None = None

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, call: ToolCallRecord) -> None:
        """Keep a call for the report; safe from the threads that run read-only tools concurrently."""
        with self._lock:
            self.calls.append(call)
            if self.journal is None:
                return
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            with open(self.journal, "a", encoding="utf-8") as out:
                out.write(call.model_dump_json() + "\n")

    def journaled_calls(self) -> list[ToolCallRecord]:
        """Every call of the run, including those recorded by an earlier process."""
        if self.journal is None or not self.journal.exists():
            return list(self.calls)
        lines = self.journal.read_text(encoding="utf-8").splitlines()
        return [ToolCallRecord.model_validate_json(line) for line in lines if line]
