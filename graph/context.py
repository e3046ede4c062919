"""Per-run context: the live objects a run needs, kept outside the checkpointed state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graph.plan_spec import Describer, Planner
from graph.progress import Emit, EventKind, ProgressEvent, silent
from tools.context import ToolCallRecord, ToolContext
from tools.engine import DbtCall, DbtEngine, DbtResult
from tools.errors import AeError, ConfigurationError
from tools.lint import LintConfig
from tools.logs import redact_value


@dataclass
class RunContext:
    run_id: str
    run_dir: Path
    tools: ToolContext
    planner: Planner
    #: the target needs approval before Execute (prod, production, or as configured)
    protected: bool = False
    #: approval given up front (``ae run --yes``, a queue task's setting)
    approved: bool = False
    #: writes missing model/column descriptions in Document; None leaves them missing
    describer: Describer | None = None
    max_repairs: int = 3
    lint: LintConfig = field(default_factory=LintConfig)
    emit: Emit = silent

    @property
    def project_dir(self) -> Path:
        return self.tools.paths.root

    @property
    def target(self) -> str:
        return self.tools.target

    @property
    def engine(self) -> DbtEngine:
        if self.tools.engine is None:
            raise ConfigurationError("a run needs a dbt engine in its tool context")
        return self.tools.engine

    def progress(
        self,
        phase: str,
        message: str,
        *,
        ok: bool | None = None,
        kind: EventKind = "info",
        duration_s: float | None = None,
    ) -> None:
        self.emit(ProgressEvent(kind=kind, phase=phase, message=message, ok=ok, duration_s=duration_s))

    def dbt(self, phase: str, call: DbtCall) -> DbtResult:
        """One dbt invocation through the policy layer, timed, recorded and shown as progress."""
        label = f"dbt {call.command}" + (f" --select {' '.join(call.select)}" if call.select else "")
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        retries_before = self.tools.policy.stats.retries
        self.progress(phase, label, kind="tool")
        try:
            result = self.tools.policy.call(
                "dbt", self.target, lambda: self.engine.invoke(call), op=call.command
            )
        except AeError as exc:
            self._record_dbt(
                call, started_at, started, retries_before, ok=False, error=str(exc), channel=exc.channel
            )
            self.progress(
                phase, f"{label}: {exc}", ok=False, kind="tool", duration_s=time.perf_counter() - started
            )
            raise
        error = None if result.success else result.summary()
        self._record_dbt(
            call, started_at, started, retries_before, ok=result.success, error=error, channel=None
        )
        self.progress(
            phase, result.summary(), ok=result.success, kind="tool", duration_s=time.perf_counter() - started
        )
        return result

    def _record_dbt(
        self,
        call: DbtCall,
        started_at: datetime,
        started: float,
        retries_before: int,
        *,
        ok: bool,
        error: str | None,
        channel: str | None,
    ) -> None:
        arguments: dict[str, Any] = redact_value(call.model_dump(exclude_defaults=True))
        self.tools.record(
            ToolCallRecord(
                name=f"dbt_{call.command.replace(' ', '_').replace('-', '_')}",
                arguments=arguments,
                ok=ok,
                error=error,
                channel=channel,
                duration_s=round(time.perf_counter() - started, 4),
                retries=self.tools.policy.stats.retries - retries_before,
                started_at=started_at,
            )
        )
