"""What ``ae queue list|show|stats`` say about a task, read from DBOS's workflow status.

ae's statuses: queued, running, then one of succeeded, failed, refused, dead (the task's own result)
or cancelled. DBOS's MAX_RECOVERY_ATTEMPTS_EXCEEDED (the task killed its worker every time) and a
workflow that raised are ``dead`` too: nothing more will happen to them without ``ae queue retry``.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from dbos import WorkflowStatus

_BY_DBOS_STATUS = {
    "ENQUEUED": "queued",
    "DELAYED": "queued",
    "PENDING": "running",
    "CANCELLED": "cancelled",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "dead",
    "ERROR": "dead",
}
FINISHED = frozenset({"succeeded", "failed", "refused", "dead", "cancelled"})


@dataclass
class TaskView:
    id: str
    status: str
    request: str
    project: str
    target: str | None
    priority: int
    attempts: int
    worker: str | None
    enqueued_at: float | None
    started_at: float | None
    finished_at: float | None
    reason: str = ""
    run_id: str | None = None
    report_dir: str | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    retry_of: str | None = None
    diff: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def task_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def summary(self) -> dict[str, Any]:
        """Everything but the diff and figures (``show`` has those)."""
        return {k: v for k, v in asdict(self).items() if k not in ("diff", "figures")} | {
            "task_s": self.task_s
        }

    def detail(self) -> dict[str, Any]:
        return asdict(self) | {"task_s": self.task_s}


def view(status: WorkflowStatus) -> TaskView:
    spec: dict[str, Any] = status.input["args"][0] if status.input and status.input["args"] else {}
    output: dict[str, Any] = status.output if isinstance(status.output, dict) else {}
    if status.status == "SUCCESS":
        state = str(output.get("status", "failed"))
        reason = str(output.get("reason", ""))
    else:
        state = _BY_DBOS_STATUS.get(status.status, status.status.lower())
        reason = _dbos_reason(status)
    finished = state in FINISHED
    return TaskView(
        id=status.workflow_id,
        status=state,
        request=str(spec.get("request", "")),
        project=str(spec.get("project", "")),
        target=spec.get("target"),
        priority=status.priority or 0,
        attempts=int(output.get("attempts", 1 if state == "running" else 0)),
        worker=status.executor_id if state != "queued" else None,
        enqueued_at=_seconds(status.created_at),
        started_at=output.get("started_at") or _seconds(status.dequeued_at),
        finished_at=(output.get("finished_at") or _seconds(status.completed_at or status.updated_at))
        if finished
        else None,
        reason=reason,
        run_id=output.get("run_id"),
        report_dir=output.get("report_dir"),
        approved_by=spec.get("approved_by"),
        approved_at=spec.get("approved_at"),
        retry_of=status.forked_from,
        diff=str(output.get("diff", "")),
        figures=dict(output.get("figures", {})),
    )


def _dbos_reason(status: WorkflowStatus) -> str:
    if status.status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED":
        return "its worker died every time it ran this task (a poison task); `ae queue retry` runs it again"
    if status.status == "ERROR" and status.error is not None:
        return f"{type(status.error).__name__}: {status.error}"
    return ""


def _seconds(epoch_ms: int | None) -> float | None:
    return epoch_ms / 1000 if epoch_ms is not None else None


def stats(tasks: list[TaskView]) -> dict[str, Any]:
    """Counts by status, throughput of finished tasks, and p50/p95 of their time on a worker."""
    counts = {s: 0 for s in ("queued", "running", *sorted(FINISHED))}
    for task in tasks:
        counts[task.status] = counts.get(task.status, 0) + 1
    ran = [
        t for t in tasks if t.task_s is not None and t.started_at is not None and t.finished_at is not None
    ]
    durations = sorted(t.task_s for t in ran if t.task_s is not None)
    span = (max(t.finished_at or 0.0 for t in ran) - min(t.started_at or 0.0 for t in ran)) if ran else 0.0
    waits = [t.started_at - t.enqueued_at for t in ran if t.started_at and t.enqueued_at]
    return {
        "counts": counts,
        "total": len(tasks),
        "finished": len(ran),
        "throughput_per_min": round(60 * len(ran) / span, 2) if span > 0 else None,
        "task_s_p50": round(_quantile(durations, 0.50), 3) if durations else None,
        "task_s_p95": round(_quantile(durations, 0.95), 3) if durations else None,
        "wait_s_p50": round(statistics.median(waits), 3) if waits else None,
    }


def _quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile by linear interpolation between the closest ranks (what numpy does)."""
    if len(values) == 1:
        return values[0]
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)
