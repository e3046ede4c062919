"""Running requests through the graph: one Session per project and target, many runs per session.

``Session.handle`` is the one way in: ``ae run`` and ``ae resume``, the chat, the queue's worker,
MCP's ``ae_run``, the benchmark, the demo and replay all carry their requests through it. It checks
the request, decides protection (here and nowhere else), refuses what it must before planning,
carries the run through the phases reading LangGraph's stream (progress to the caller's ``emit``,
questions to the caller's ``ask``), and returns the outcome with its report in memory.

The session owns the warm dbt engine, the run store and the checkpointer, so consecutive requests
(a chat, the demo's sequence, a worker's queue) pay dbt's start-up once.
"""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.types import Command

from agent.approvals import NOTHING_APPROVED, Approvals, Ask, early_refusal, target_protection
from agent.ctrl_c import CtrlC, stopping_on_ctrl_c
from agent.memory.learn import learn_from_run
from agent.memory.project_memory import open_project_memory
from agent.memory.recall import recall
from agent.requests import check_request
from agent.runs import describe_interrupted, interrupted_runs
from agent.settings import Settings
from agent.store import RunStore, StoredRun, open_checkpointer
from graph.build import build_graph
from graph.context import RunContext
from graph.plan_spec import Describer, Planner
from graph.progress import Emit, ProgressEvent, silent
from graph.questions import Asking
from graph.report import RunReport
from tools.changeset import Changeset
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.errors import InvalidArguments
from tools.lint import LintConfig
from tools.manifest import Manifest
from tools.memory.store import ProjectMemory
from tools.paths import ProjectPaths, ensure_state_dir
from tools.protection import Protection
from tools.timings import span

if TYPE_CHECKING:
    from agent.planners import PlannerChoice


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass
class RunOutcome:
    run_id: str
    status: str  # success | failed | refused | invalid | awaiting_approval | paused
    reason: str
    report_dir: Path | None
    #: what the question asks, when status is awaiting_approval
    question: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    #: the report Finish made in this process (None when the run stopped before Finish)
    _report: RunReport | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def report(self) -> RunReport | None:
        return self._report


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
        """``emit`` gets every progress event of the session's runs, as they happen.
        ``interrupt_after`` stops runs after those phases (resumable with ``resume``).

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
        with span("store open"):
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
        with span("checkpointer open"):
            self._checkpointer = self._stack.enter_context(
                open_checkpointer(self.settings.store_url, self.settings.state_dir)
            )
        with span("graph build"):
            self._graph = build_graph(self._checkpointer, interrupt_after=self._interrupt_after)
        if self.settings.memory:
            with span("memory open"):
                self.memory = self._stack.enter_context(open_project_memory(self.settings))
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stack.close()

    def protection(self) -> Protection:
        return target_protection(self.settings, self.target)

    # --- the way in -------------------------------------------------------------------------------

    def handle(
        self,
        request: str | None,
        *,
        planner: Planner | None = None,
        describer: Describer | None = None,
        planner_choice: PlannerChoice = "auto",
        approvals: Approvals = NOTHING_APPROVED,
        ask: Ask | None = None,
        run_id: str | None = None,
        answer: bool | None = None,
    ) -> RunOutcome:
        """Carry ``request`` through a new run, or continue the run ``run_id`` (its own request when
        ``request`` is None), as far as it goes.

        ``planner``/``describer``: None chooses them for the request (agent/planners.py, with
        ``planner_choice``). ``approvals`` are given up front; a question they do not answer goes to
        ``ask``, in this thread, while the run waits, and a "no" is recorded in the same pass. With no
        ``ask`` the run pauses at the question instead (``awaiting_approval``); ``answer`` is then
        the answer a later call resumes it with.

        Raises ApprovalRequired when ``approvals.refusal_hint`` says to refuse before planning."""
        check_request(request)
        record = self._record(run_id, request)
        request = request if request is not None else record.request if record else ""
        # read now for every request: an unknown target is a usage error before anything runs
        refused = early_refusal(self.protection(), request, approvals)
        if refused is not None:
            raise refused
        if planner is None:
            from agent.planners import choose_planner

            planner, describer = choose_planner(self.settings, request, planner_choice)
        self._warn_interrupted()
        run_id = run_id or new_run_id()
        with span("memory recall"):
            planner = self._recalling(planner, request)
        ctx = self._context(run_id, planner, describer, approvals, answers=ask is not None)
        payload: Any
        # from the moment the run is recorded it never stays "running": failed, or interrupted on Ctrl-C
        with self.store.marks_failure(run_id):
            if record is None:
                self.store.create(
                    run_id=run_id,
                    request=request,
                    project_dir=self.settings.project_dir,
                    target=self.target,
                    planner=planner.name,
                )
                payload = {"request": request, "run_id": run_id, "status": "running"}
            else:
                self.store.reopen(record)
                payload = Command(resume=answer) if answer is not None else None  # its last checkpoint
            self._announce(run_id, "started" if record is None else "resumed")
            return self._drive(run_id, payload, ctx, ask)

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
        """``handle`` for a library caller with nobody to ask: a question pauses the run."""
        approvals = Approvals(target=approved, code=allow_code)
        return self.handle(request, planner=planner, describer=describer, approvals=approvals, run_id=run_id)

    def resume(
        self,
        run_id: str,
        *,
        planner: Planner,
        describer: Describer | None = None,
        approval: bool | None = None,
        allow_code: bool = False,
    ) -> RunOutcome:
        """Continue a paused run (``approval`` answers its question, approving a protected target;
        ``allow_code`` approves the plan's code without approving a protected target)."""
        approvals = Approvals(target=bool(approval), code=allow_code)
        return self.handle(
            None, planner=planner, describer=describer, approvals=approvals, run_id=run_id, answer=approval
        )

    # --- before the run ---------------------------------------------------------------------------

    def _record(self, run_id: str | None, request: str | None) -> StoredRun | None:
        """The stored run ``run_id`` continues (None for a new run); a resume must name one that
        exists, on this session's target."""
        record = self.store.get(run_id) if run_id else None
        if request is None and record is None:
            raise InvalidArguments(
                f"no run {run_id!r} in the store of {self.settings.project_dir}",
                hint=f"`ae runs --project {self.settings.project_dir}` lists the project's runs",
            )
        if record is not None and record.target != self.target:
            # the files are the run's, but building them elsewhere would be a different run
            raise InvalidArguments(
                f"run {record.run_id} runs on target {record.target}, not {self.target}",
                hint=f"resume it with `ae resume {record.run_id} --target {record.target} --project "
                f"{self.settings.project_dir}`",
            )
        return record

    def _recalling(self, planner: Planner, request: str) -> Planner:
        """``planner`` told what memory recalls for ``request``, when it can take it (with_recall)."""
        with_recall = getattr(planner, "with_recall", None)
        if self.memory is None or with_recall is None:
            return planner
        recalled: Planner = with_recall(recall(self.memory, request))
        return recalled

    def _context(
        self,
        run_id: str,
        planner: Planner,
        describer: Describer | None,
        approvals: Approvals,
        *,
        answers: bool,
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
            # read when Execute asks, so a profile edited since the run or session began counts
            protection=self.protection,
            approved=approvals.target,
            code_approved=approvals.code,
            answers=answers,
            max_repairs=self.settings.max_repairs,
            phase_restarts=self.settings.phase_restarts,
            lint=self.lint,
            audit_builds=self.settings.audit_builds,
            history_runs=self.settings.warehouse_history_runs,
        )

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

    # --- the run ----------------------------------------------------------------------------------

    def _drive(self, run_id: str, payload: Any, ctx: RunContext, ask: Ask | None) -> RunOutcome:
        """Carry the run as far as it goes, holding the project's lock (one run per project at a
        time: another run's rollback must not undo this one's files)."""

        def waiting(message: str) -> None:
            self.emit(ProgressEvent(kind="warning", phase="lock", message=message))

        config = {"configurable": {"thread_id": run_id}}
        try:
            with self.store.project_lock(self.paths.root, run_id, notify=waiting):
                with stopping_on_ctrl_c(self.engine, ctx.stop) as ctrl_c:
                    self._stream(payload, config, ctx, ask, ctrl_c)
                return self._outcome(run_id, config, ctx)
        finally:
            # the run's context counts dbt calls into its folder; calls after the run are not its own
            self.engine.watcher = None

    def _stream(
        self, payload: Any, config: dict[str, Any], ctx: RunContext, ask: Ask | None, ctrl_c: CtrlC
    ) -> None:
        """Run the graph, handing each progress event to ``emit`` and each question to ``ask``."""
        stream = self._graph.stream(payload, config, context=ctx, durability="sync", stream_mode="custom")
        try:
            for item in stream:
                if isinstance(item, Asking):
                    with ctrl_c.waiting_for_the_caller():
                        item.answer(ask is not None and ask(item.question))
                else:
                    self.emit(item)
        except BaseException:
            # the phase still running stops at its next step; closing the stream waits for it
            ctx.cancelled.set()
            stream.close()
            raise

    def _outcome(self, run_id: str, config: dict[str, Any], ctx: RunContext) -> RunOutcome:
        snapshot = self._graph.get_state(config)
        state = dict(snapshot.values)
        interrupts = [i for task in snapshot.tasks for i in task.interrupts]
        if interrupts:
            question = interrupts[0].value
            asked = str(question.get("question", ""))
            self.store.finish(run_id, status="awaiting_approval", reason=asked, report_dir=None)
            return RunOutcome(run_id, "awaiting_approval", asked, None, question, state)
        if snapshot.next:  # stopped by interrupt_after (tests) or a budget: resumable
            return RunOutcome(
                run_id, "paused", f"paused before {', '.join(snapshot.next)}", None, None, state
            )
        status = state.get("status", "failed")
        report_dir = Path(state["report_dir"]) if state.get("report_dir") else None
        reason = state.get("reason", "")
        self.store.finish(
            run_id, status=status, reason=reason, report_dir=str(report_dir) if report_dir else None
        )
        with span("memory learn"):
            self._learn(run_id, state)
        return RunOutcome(run_id, status, reason, report_dir, None, state, ctx.report)

    def _learn(self, run_id: str, state: dict[str, Any]) -> None:
        """Remember what the ended run teaches (agent/memory/learn.py), from the manifest as it is now.
        Only a successful run's models are read from it, and only when it created or built some: a
        read-only command teaches no model, and a run that ended before any dbt call of its own may
        find the manifest half-written by the engine's warm-up parse."""
        if self.memory is None:
            return
        succeeded = state.get("status") == "success"
        changed = succeeded and bool(state.get("created_nodes") or state.get("build_nodes"))
        manifest = Manifest.for_engine(self.engine, missing_ok=True) if changed else Manifest({})
        learn_from_run(self.memory, state, manifest, run_id)
