"""Per-run context: the live objects a run needs, kept outside the checkpointed state."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from graph.dbt_calls import DbtInvocation, journal_invocation
from graph.plan_spec import Describer, Planner
from graph.progress import Emit, EventKind, ProgressEvent, silent
from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine, DbtResult
from tools.errors import AeError, ConfigurationError
from tools.lint import LintConfig
from tools.protection import Protection


def _unprotected() -> Protection | None:
    return None


@dataclass
class RunContext:
    run_id: str
    run_dir: Path
    tools: ToolContext
    planner: Planner
    #: whether the target needs approval before Execute, and why. A function, read when Execute
    #: asks: a plan that rewrote profiles.yml (approved as code) may have moved the target onto
    #: a protected location since the run began (tools/protection.py)
    protection: Callable[[], Protection | None] = _unprotected
    #: approval given up front (``ae run --yes``, a queue task's setting)
    approved: bool = False
    #: executable dbt code in the plan approved up front (``ae run --allow-code``): graph/phases/approve.py
    code_approved: bool = False
    #: writes missing model/column descriptions in Document; None leaves them missing
    describer: Describer | None = None
    max_repairs: int = 3
    #: times a phase is repeated from its start when a transient fault outlasts the per-call retries
    phase_restarts: int = 1
    lint: LintConfig = field(default_factory=LintConfig)
    emit: Emit = silent
    #: the phase running now (the last one announced), which a dbt call is counted under
    _phase: str = field(default="plan", init=False)

    def __post_init__(self) -> None:
        # the engine reports each invocation, including the planner's and retries, to the run
        if self.tools.engine is not None:
            self.tools.engine.watcher = self

    def calling(self, call: DbtCall) -> None:
        journal_invocation(self.run_dir, DbtInvocation(phase=self._phase, command=call.command))

    def still_running(self, call: DbtCall, waited_s: float) -> None:
        self.progress(self._phase, f"waiting for dbt {call.command} ({waited_s:.0f} s)…", kind="tool")

    @property
    def project_dir(self) -> Path:
        return self.tools.paths.root

    @property
    def target(self) -> str:
        return self.tools.target

    def warehouse_path(self) -> Path | None:
        """The target's DuckDB file as dbt resolves the profile; None for a warehouse that is no file."""
        return self.tools.warehouse_file()

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
        if kind == "phase":
            self._phase = phase
        self.emit(ProgressEvent(kind=kind, phase=phase, message=message, ok=ok, duration_s=duration_s))

    def dbt(self, phase: str, call: DbtCall) -> DbtResult:
        """One dbt invocation through the policy layer, recorded, and shown as progress."""
        label = f"dbt {call.command}" + (f" --select {' '.join(call.select)}" if call.select else "")
        started = time.perf_counter()
        self.progress(phase, label, kind="tool")
        try:
            result = self.tools.dbt(call)
        except AeError as exc:
            self.progress(
                phase, f"{label}: {exc}", ok=False, kind="tool", duration_s=time.perf_counter() - started
            )
            raise
        self.progress(
            phase, result.summary(), ok=result.success, kind="tool", duration_s=time.perf_counter() - started
        )
        return result
