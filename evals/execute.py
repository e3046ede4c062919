"""One task run, start to finish, in one process: set up, run the agent, run the checks, time builds.

Order: create the project and run setup; copy it for the reference solution (when the task needs
one) and apply the reference there; fingerprint; run the agent (with fault injection); fingerprint
again; run the ``after`` steps in both copies; check; then time the task's model builds in both.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.approvals import Approvals, nobody_approves
from agent.requests import is_command
from agent.runner import Session
from agent.settings import load_settings
from evals import postgres_copies
from evals.agents import make_agent
from evals.checks import Copy, RunFacts, run_checks
from evals.graders import (
    TaskResult,
    build_ratios,
    clean_terminal,
    data_quality,
    median_build,
    median_interval,
    query_performance,
)
from evals.task import Task
from evals.workspace import (
    copy_project,
    create_project,
    file_digests,
    grading_engine,
    on_postgres,
    raw_fingerprint,
    run_steps,
)
from tools.engine import DbtCall
from tools.errors import AeError
from tools.warehouse_port import warehouse_for

#: interleaved build pairs for query_performance: the median paired ratio is the figure; with five
#: pairs the smallest to the largest ratio covers the true median with probability 1 - 2/32 = 93.75%
BUILDS = 5


@dataclass(frozen=True)
class Job:
    task: Task
    agent: str
    repeat: int
    work_dir: Path
    fault_rate: float = 0.0
    seed: int = 0
    #: the warehouse of the generated example's copies: duckdb, or postgres (a database per copy)
    adapter: str = "duckdb"

    @property
    def postgres(self) -> bool:
        return on_postgres(self.task.project, self.adapter)

    @property
    def fault_seed(self) -> int:
        """Per task and repeat, derived from the run's seed: the same seed replays the same faults."""
        digest = hashlib.sha256(f"{self.seed}:{self.task.id}:{self.repeat}".encode()).hexdigest()
        return int(digest[:8], 16)

    @property
    def root(self) -> Path:
        return self.work_dir / self.agent / f"{self.task.id}-r{self.repeat}"


def command_target(request: str) -> str | None:
    """The --target a /command names (None for free text or a line that does not parse)."""
    if not is_command(request):
        return None
    from agent.commands.parser import parse_command

    try:
        return parse_command(request).target
    except AeError:
        return None


@dataclass
class AgentRun:
    status: str
    reason: str
    answer: str
    has_report: bool
    report_dir: str | None
    retries: int
    faults_injected: int
    seconds: float
    figures: dict[str, Any] = field(default_factory=dict)


def run_agent(job: Job, project_dir: Path, *, agent: str, fault_rate: float) -> AgentRun:
    task = job.task
    started = time.perf_counter()
    settings = load_settings(project_dir, fault_rate=fault_rate or None, fault_seed=job.fault_seed)
    planner, describer = make_agent(agent, task, settings)
    # the task approves a protected target or not, as a person would; the plan decides whether it
    # builds there (no refusal before planning: the benchmark grades what the agent plans)
    approvals = Approvals(target=task.approve)
    with Session(settings, target=task.target or command_target(task.request)) as session:
        outcome = session.handle(
            task.request, planner=planner, describer=describer, approvals=approvals, ask=nobody_approves
        )
        injected = session.policy.faults.injected if session.policy.faults is not None else 0
    report = outcome.report()
    return AgentRun(
        status=outcome.status,
        reason=outcome.reason,
        answer=(report.answer or "") if report else "",
        has_report=report is not None,
        report_dir=str(outcome.report_dir) if outcome.report_dir else None,
        retries=int(report.resilience.get("retries", 0)) if report else 0,
        faults_injected=injected,
        seconds=time.perf_counter() - started,
        figures=dict(report.verification.get("figures") or {}) if report else {},
    )


def _build_seconds(copy: Copy, models: list[str]) -> float | None:
    """Seconds dbt spent building the task's models (sum of node times), None when a build failed."""
    try:
        result = copy.engine.invoke(DbtCall(command="run", select=models))
    except AeError:
        return None
    if not result.success:
        return None
    return sum(n.execution_time for n in result.nodes if n.name in models)


def _raw_code(copy: Copy, model: str) -> str | None:
    node = next((n for n in copy.manifest.of_type("model") if n.name == model), None)
    return node.raw_code if node else None


@dataclass(frozen=True)
class Performance:
    """The query_performance figure and the median build seconds it was computed from."""

    figure: float | None
    reference_s: float | None = None
    agent_s: float | None = None
    #: order-statistic interval around the median paired ratio, and its coverage
    interval: tuple[float, float] | None = None
    coverage: float | None = None


def measure_performance(task: Task, agent: Copy, reference: Copy) -> Performance:
    """min(1, reference/agent build time): 1.0 outright when the agent's SQL is the reference's."""
    models = task.models
    if not models:
        return Performance(None)
    codes = [(_raw_code(agent, m), _raw_code(reference, m)) for m in models]
    if any(a is None for a, _ in codes):
        return Performance(0.0)
    if all(a == r for a, r in codes):
        # the same SQL on the same data builds the same plan: timing it would only add noise
        return Performance(1.0)
    # one untimed build per side first: the first build after the run pays for cold file caches
    # and a fresh catalog, which would land on whichever side happens to go first
    if _build_seconds(reference, models) is None:
        return Performance(None)
    if _build_seconds(agent, models) is None:
        return Performance(0.0)
    timings: dict[str, list[float]] = {"reference": [], "agent": []}
    sides = {"reference": reference, "agent": agent}
    for build in range(BUILDS):
        # interleaved so a slow moment of the machine hits both sides, and the order alternates
        # so neither side is always the one built right after the other
        order = ("reference", "agent") if build % 2 == 0 else ("agent", "reference")
        for side in order:
            seconds = _build_seconds(sides[side], models)
            if seconds is None:
                return Performance(0.0 if side == "agent" else None)
            timings[side].append(seconds)
    low, high, coverage = median_interval(build_ratios(timings["reference"], timings["agent"]))
    return Performance(
        query_performance(timings["reference"], timings["agent"]),
        reference_s=median_build(timings["reference"]),
        agent_s=median_build(timings["agent"]),
        interval=(low, high),
        coverage=coverage,
    )


def _needs_reference(task: Task) -> bool:
    return bool(task.models) or any(g.reference for g in task.checks.gold)


def run_task(job: Job) -> TaskResult:
    """Run one task for one agent; never raises (a harness error is a failed, unclean result)."""
    started = time.perf_counter()
    task = job.task
    base = TaskResult(
        task_id=task.id,
        category=task.category,
        agent=job.agent,
        repeat=job.repeat,
        is_command=task.is_command,
        status="error",
        passed=False,
        reliability=0.0,
        duration_s=0.0,
        fault_seed=job.fault_seed if job.fault_rate else None,
    )
    try:
        return _run(job, base, started)
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return base.model_copy(update={"error": detail, "duration_s": time.perf_counter() - started})
    finally:
        if job.postgres:  # after _run closed every engine on them
            for copy in ("agent", "reference"):
                # a server gone by now fails the task above already; the next run in this
                # folder drops what is left (postgres_copies: the name follows the folder)
                with contextlib.suppress(AeError):
                    postgres_copies.drop(job.root / copy / task.project.name)


# Over 60 lines on purpose: one task's run inside one ExitStack (setup engine, agent, grading),
# so everything it opened closes on any failure.
def _run(job: Job, base: TaskResult, started: float) -> TaskResult:
    task = job.task
    agent_dir = create_project(job.root / "agent" / task.project.name, task.project, job.adapter)
    target = task.target or command_target(task.request)
    with contextlib.ExitStack() as stack:
        # The profile sets keep_open: false, so an idle engine holds no lock on the warehouse: the
        # setup engine stays up through the agent's run and grades afterwards (one dbt start saved).
        setup_engine = stack.enter_context(grading_engine(agent_dir))
        run_steps(task.setup, agent_dir, setup_engine)
        reference: Copy | None = None
        reference_error = None
        if _needs_reference(task):
            ref_dir = copy_project(
                agent_dir, job.root / "reference" / task.project.name, postgres=job.postgres
            )
            ref_run = run_agent(job, ref_dir, agent="oracle", fault_rate=0.0)
            if ref_run.status not in task.checks.expect_status:
                reference_error = f"the reference solution ended {ref_run.status}: {ref_run.reason}"
            reference = Copy(ref_dir, stack.enter_context(grading_engine(ref_dir, target)))
        # the setup engine's target is the copy's warehouse whatever the task's target
        raw_warehouse = warehouse_for(setup_engine)
        files_before, raw_before = file_digests(agent_dir), raw_fingerprint(raw_warehouse)
        try:
            run = run_agent(job, agent_dir, agent=job.agent, fault_rate=job.fault_rate)
        except Exception as exc:
            run = AgentRun("crashed", f"{type(exc).__name__}: {exc}", "", False, None, 0, 0, 0.0)
        files_after, raw_after = file_digests(agent_dir), raw_fingerprint(raw_warehouse)
        grader = setup_engine if target is None else stack.enter_context(grading_engine(agent_dir, target))
        agent = Copy(agent_dir, grader)
        after_error = None
        for copy in (agent, reference):
            if copy is not None and task.after:
                try:
                    run_steps(task.after, copy.project_dir, copy.engine)
                except AeError as exc:
                    after_error = after_error or f"{copy.project_dir.parent.name}: {exc}"
        agent.reparse()
        if reference is not None:  # its files did not change since the oracle's run parsed them
            reference.load_manifest()
        facts = RunFacts(
            run.status, run.answer, files_before, files_after, raw_before, raw_after, after_error
        )
        checks = run_checks(task, facts, agent, reference)
        performance = (
            measure_performance(task, agent, reference)
            if reference is not None and run.status == "success"
            else Performance(0.0 if task.models else None)
        )
    unchanged = files_before == files_after and raw_before == raw_after
    clean = clean_terminal(run.status, project_unchanged=unchanged, has_report=run.has_report)
    return base.model_copy(
        update={
            "status": run.status,
            "reason": run.reason[:500],
            "passed": all(c.passed for c in checks) and reference_error is None,
            "checks": checks,
            "data_quality": data_quality(checks),
            "query_performance": performance.figure,
            "reference_build_s": performance.reference_s,
            "agent_build_s": performance.agent_s,
            "query_performance_ci": performance.interval,
            "query_performance_ci_coverage": performance.coverage,
            "reliability": 1.0 if clean else 0.0,
            "duration_s": time.perf_counter() - started,
            "agent_s": run.seconds,
            "faults_injected": run.faults_injected,
            "retries": run.retries,
            "error": reference_error,
            "report_dir": run.report_dir,
            "figures": run.figures,
        }
    )
