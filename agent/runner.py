"""Running requests through the graph: one Session per project and target, many runs per session.

The session owns the warm dbt engine, the run store and the checkpointer, so consecutive requests
(a chat, the demo's sequence, a worker's queue) pay dbt's start-up once.
"""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langgraph.types import Command

from agent.memory.learn import learn_from_run
from agent.memory.project_memory import open_project_memory
from agent.memory.recall import recall
from agent.runs import describe_interrupted, interrupted_runs
from agent.settings import Settings
from agent.store import RunStore, open_checkpointer
from graph.build import build_graph
from graph.context import RunContext
from graph.plan_spec import Describer, Planner
from graph.progress import Emit, ProgressEvent, silent
from graph.report import RunReport
from tools.changeset import Changeset
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.errors import InvalidArguments
from tools.lineage import load_manifest
from tools.lint import LintConfig
from tools.memory.store import ProjectMemory
from tools.paths import ProjectPaths, ensure_state_dir


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass
class RunOutcome:
    run_id: str
    status: str  # success | failed | refused | invalid | awaiting_approval
    reason: str
    report_dir: Path | None
    #: what the interrupt asks, when status is awaiting_approval
    question: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def report(self) -> RunReport | None:
        if self.report_dir is None or not (self.report_dir / "report.json").exists():
            return None
        return RunReport.model_validate_json((self.report_dir / "report.json").read_text(encoding="utf-8"))


class Session:
    """Runs requests against one project and target. Use as a context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        target: str | None = None,
        emit: Emit = silent,
        interrupt_after: list[str] | None = None,
        engine: DbtEngine | None = None,
    ) -> None:
        """``interrupt_after`` stops runs after those phases (resumable with ``resume``).

        ``engine``: one the caller opened (``settings.open_engine``, its target already chosen) and
        closes itself; by default the session opens its own for ``target`` and closes it on exit.
        """
        self.settings = settings
        self._owns_engine = engine is None
        self.engine = engine or settings.open_engine(target)
        self.target = self.engine.target_name()
        self.emit = emit
        self.paths = ProjectPaths.for_project(settings.project_dir)
        self.lint = LintConfig.from_mapping(settings.lint)
        self._stack = ExitStack()
        self.store = RunStore(settings.store_url, ensure_state_dir(settings.project_dir))
        self.policy = settings.resilience()
        self._checkpointer: Any = None
        #: the project's memory across runs (agent/memory); None when settings.memory is off
        self.memory: ProjectMemory | None = None
        self._graph: Any = None
        self._interrupt_after = interrupt_after
        #: interrupted runs are reported once per session, at its first run, not at every chat line
        self._checked_interrupted = False

    def __enter__(self) -> Session:
        if self._owns_engine:
            self._stack.callback(self.engine.close)
        self._stack.callback(self.store.close)
        self._checkpointer = self._stack.enter_context(
            open_checkpointer(self.settings.store_url, self.settings.state_dir)
        )
        self._graph = build_graph(self._checkpointer, interrupt_after=self._interrupt_after)
        if self.settings.memory:
            self.memory = self._stack.enter_context(open_project_memory(self.settings))
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stack.close()

    def _context(
        self, run_id: str, planner: Planner, describer: Describer | None, approved: bool, allow_code: bool
    ) -> RunContext:
        run_dir = self.settings.state_dir / "runs" / run_id
        tools = ToolContext(
            paths=self.paths,
            target=self.target,
            changeset=Changeset(),
            policy=self.policy,
            engine=self.engine,
            journal=run_dir / "calls.jsonl",
            memory=self.memory,
        )
        return RunContext(
            run_id=run_id,
            run_dir=run_dir,
            tools=tools,
            planner=planner,
            describer=describer,
            # where the target writes decides protection, not its name (tools/protection.py); read
            # when Execute asks, so a profile edited since the run or session began counts
            protection=lambda: self.settings.protection(self.target),
            approved=approved,
            code_approved=allow_code,
            max_repairs=self.settings.max_repairs,
            phase_restarts=self.settings.phase_restarts,
            lint=self.lint,
            emit=self.emit,
        )

    def run(
        self,
        request: str,
        *,
        planner: Planner,
        describer: Describer | None = None,
        approved: bool = False,
        allow_code: bool = False,
        run_id: str | None = None,
    ) -> RunOutcome:
        """Start a new run (or continue ``run_id`` if it was interrupted) and carry it as far as it goes.

        ``approved`` approves building on a protected target, ``allow_code`` the executable dbt code
        a plan may hold (graph/phases/approve.py); without them the run stops at the question."""
        self._warn_interrupted()
        run_id = run_id or new_run_id()
        planner = self._recalling(planner, request)
        record = self.store.get(run_id)
        config = {"configurable": {"thread_id": run_id}}
        ctx = self._context(run_id, planner, describer, approved, allow_code)
        if record is None:
            self.store.create(
                run_id=run_id,
                request=request,
                project_dir=self.settings.project_dir,
                target=self.target,
                planner=planner.name,
            )
            payload: Any = {"request": request, "run_id": run_id, "status": "running"}
        else:
            self.store.reopen(record)
            payload = None  # resume from the last checkpoint
        self._announce(run_id, "started" if record is None else "resumed")
        return self._drive(run_id, payload, config, ctx)

    def _recalling(self, planner: Planner, request: str) -> Planner:
        """``planner`` told what memory recalls for ``request``, when it can take it (with_recall)."""
        with_recall = getattr(planner, "with_recall", None)
        if self.memory is None or with_recall is None:
            return planner
        recalled: Planner = with_recall(recall(self.memory, request))
        return recalled

    def _learn(self, run_id: str, state: dict[str, Any]) -> None:
        """Remember what the ended run teaches (agent/memory/learn.py), from the manifest as it is now."""
        if self.memory is None:
            return
        target_path = getattr(self.engine, "target_path", None) or "target"
        manifest_file = self.paths.root / target_path / "manifest.json"
        manifest = load_manifest(manifest_file) if manifest_file.is_file() else {}
        learn_from_run(self.memory, state, manifest, run_id)

    def _warn_interrupted(self) -> None:
        """Name the runs a crash left behind (before this one starts) and how to settle each."""
        if self._checked_interrupted:
            return
        self._checked_interrupted = True
        for record in interrupted_runs(self.settings.state_dir):
            message = describe_interrupted(record, self.settings.project_dir)
            self.emit(ProgressEvent(kind="warning", phase="runs", message=message))

    def _announce(self, run_id: str, how: str) -> None:
        """The run id as the run begins, so a run that never ends can still be found and resumed."""
        self.emit(
            ProgressEvent(kind="info", phase="run", message=f"run {run_id} {how} — target {self.target}")
        )

    def resume(
        self,
        run_id: str,
        *,
        planner: Planner,
        describer: Describer | None = None,
        approval: bool | None = None,
        allow_code: bool = False,
    ) -> RunOutcome:
        """Continue a stopped or interrupted run from its checkpoint (``approval`` answers an interrupt;
        ``allow_code`` approves the plan's executable code without approving a protected target)."""
        record = self.store.get(run_id)
        if record is None:
            raise InvalidArguments(
                f"no run {run_id!r} in the store",
                hint=f"`ae runs --project {self.settings.project_dir}` lists the project's runs",
            )
        if record.target != self.target:
            # the files are the run's, but building them elsewhere would be a different run
            raise InvalidArguments(
                f"run {run_id} runs on target {record.target}, not {self.target}",
                hint=f"resume it with `ae resume {run_id} --target {record.target} --project "
                f"{self.settings.project_dir}`",
            )
        config = {"configurable": {"thread_id": run_id}}
        planner = self._recalling(planner, record.request)
        ctx = self._context(run_id, planner, describer, approved=bool(approval), allow_code=allow_code)
        payload: Any = Command(resume=approval) if approval is not None else None
        self.store.reopen(record)
        self._announce(run_id, "resumed")
        return self._drive(run_id, payload, config, ctx)

    def _drive(self, run_id: str, payload: Any, config: dict[str, Any], ctx: RunContext) -> RunOutcome:
        """Carry the run as far as it goes, holding the project's lock (one run per project at a
        time: another run's rollback must not undo this one's files) and never leaving it "running"."""

        def waiting(message: str) -> None:
            self.emit(ProgressEvent(kind="warning", phase="lock", message=message))

        try:
            with (
                self.store.project_lock(self.paths.root, run_id, notify=waiting),
                self.store.marks_failure(run_id),
            ):
                return self._invoke(run_id, payload, config, ctx)
        finally:
            # the run's context counts dbt calls into its folder; calls after the run are not its own
            self.engine.watcher = None

    def _invoke(self, run_id: str, payload: Any, config: dict[str, Any], ctx: RunContext) -> RunOutcome:
        result = self._graph.invoke(payload, config, context=ctx, durability="sync")
        snapshot = self._graph.get_state(config)
        interrupts = [i for task in snapshot.tasks for i in task.interrupts]
        if interrupts:
            question = interrupts[0].value
            self.store.finish(
                run_id, status="awaiting_approval", reason=str(question.get("question", "")), report_dir=None
            )
            return RunOutcome(
                run_id, "awaiting_approval", str(question.get("question", "")), None, question, dict(result)
            )
        if snapshot.next:  # stopped by interrupt_after (tests) or a budget: resumable
            return RunOutcome(
                run_id, "paused", f"paused before {', '.join(snapshot.next)}", None, None, dict(result)
            )
        status = result.get("status", "failed")
        report_dir = Path(result["report_dir"]) if result.get("report_dir") else None
        self.store.finish(
            run_id,
            status=status,
            reason=result.get("reason", ""),
            report_dir=str(report_dir) if report_dir else None,
        )
        self._learn(run_id, dict(result))
        return RunOutcome(run_id, status, result.get("reason", ""), report_dir, None, dict(result))
