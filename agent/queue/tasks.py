"""The queued task: a DBOS workflow that carries one request through the same Session as ``ae run``.

Each attempt is a DBOS step, so a finished attempt is never run again, and an attempt whose worker
died is run again by the worker that takes the task over: with the same run id, so Session resumes
the run from its LangGraph checkpoint instead of planning and applying the changeset a second time.
Transient (infrastructure) failures get another attempt after a backoff, up to MAX_ATTEMPTS, then the
task ends ``dead``; a failure on the merits (Validate rejects the plan, tests fail after repairs)
ends ``failed`` at once.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from dbos import DBOS

from agent.approvals import Approvals, nobody_approves
from agent.queue.batch import TaskSpec
from agent.queue.config import MAX_ATTEMPTS, MAX_RECOVERY_ATTEMPTS, WORKFLOW_NAME, retry_wait_s
from agent.queue.engines import EnginePool
from agent.queue.faults import inject
from agent.runner import RunOutcome, Session
from agent.settings import load_settings
from agent.targets import request_target
from graph.progress import Emit, ProgressEvent
from tools.errors import AeError, ApprovalRequired, TransientError
from tools.logs import redact

#: the worker's warm engines; the worker closes them when it stops
ENGINES = EnginePool()
#: a failed run's reason says so when an infrastructure fault stopped it (graph/phases/guard.py)
_INFRASTRUCTURE = "stopped by an infrastructure fault"
#: an attempt's result that asks for another attempt
TRANSIENT = "transient"


def run_id_for(task_id: str, attempt: int) -> str:
    """One run per attempt, the same on every worker: a taken-over attempt resumes this run."""
    return f"{task_id}.{attempt}"


@DBOS.workflow(name=WORKFLOW_NAME, max_recovery_attempts=MAX_RECOVERY_ATTEMPTS)
def ae_task(spec: dict[str, Any]) -> dict[str, Any]:
    task_id = DBOS.workflow_id or "task"
    result: dict[str, Any] = {}
    started_at: float | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = run_attempt(spec, task_id, attempt)
        started_at = started_at or result["started_at"]
        result["started_at"] = started_at  # the task's time counts its retries and their waits
        if result["status"] != TRANSIENT:
            return result
        if attempt < MAX_ATTEMPTS:
            DBOS.sleep(retry_wait_s(attempt))  # durable: a worker that dies here does not restart the wait
    return result | {
        "status": "dead",
        "reason": f"{MAX_ATTEMPTS} attempts failed on infrastructure faults; last: {result['reason']}",
    }


@DBOS.step(name="ae_attempt")
def run_attempt(spec: dict[str, Any], task_id: str, attempt: int) -> dict[str, Any]:
    """One attempt of a task: its result, ``transient`` when another attempt may succeed."""
    task = TaskSpec.from_input(spec)
    run_id = run_id_for(task_id, attempt)
    base = {"attempts": attempt, "run_id": run_id, "report_dir": None, "diff": "", "figures": {}}
    started_at = time.time()  # DBOS's own timestamps are whole seconds on SQLite
    try:
        inject(task_id, attempt)
        result = base | _run(task, run_id)
    except TransientError as exc:
        result = base | {"status": TRANSIENT, "reason": redact(str(exc))}
    except AeError as exc:  # bad request, no project, no profile: another attempt fails alike
        result = base | {"status": "failed", "reason": redact(str(exc))}
    print(f"ae worker: task {task_id} attempt {attempt}: {result['status']}", file=sys.stderr, flush=True)
    return result | {"started_at": started_at, "finished_at": time.time()}


def _worker_log(run_id: str) -> Emit:
    """The run's progress (phases, Plan's model and tool calls) in the worker's log, one line per
    event in one write, each naming its run: several tasks may print at once."""

    def emit(event: ProgressEvent) -> None:
        sys.stderr.write(f"ae worker: {run_id} {event.line()}\n")
        sys.stderr.flush()

    return emit


def _run(task: TaskSpec, run_id: str) -> dict[str, Any]:
    settings = load_settings(Path(task.project))
    target = request_target(task.request, task.target)
    # approved at enqueue (--yes) or not at all: nobody is there to ask now
    approvals = Approvals(
        target=task.approved_by is not None, refusal_hint="enqueue it with --yes to approve building there"
    )
    with (
        ENGINES.lease(settings, target) as engine,
        Session(settings, engine=engine, emit=_worker_log(run_id)) as session,
    ):
        try:
            outcome = session.handle(task.request, approvals=approvals, ask=nobody_approves, run_id=run_id)
        except ApprovalRequired as exc:  # refused before planning: no run was started
            return {"status": "refused", "reason": redact(str(exc))}
    return _result(outcome)


def _result(outcome: RunOutcome) -> dict[str, Any]:
    status = {"success": "succeeded"}.get(outcome.status, outcome.status)
    if status == "failed" and f" {_INFRASTRUCTURE}: " in outcome.reason:
        status = TRANSIENT
    report = outcome.report()
    return {
        "status": status,
        "reason": redact(outcome.reason),  # kept in the queue's database, which other machines read
        "report_dir": str(outcome.report_dir) if outcome.report_dir else None,
        "diff": report.diff if report else "",
        "figures": report.figures if report else {},
    }
