"""Plan: turn the request (plus feedback from a failed visit) into a PlanSpec. Never writes to disk."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from graph.context import RunContext
from graph.plan_spec import Feedback, PlanningFailed, PlanRequest, PlanSpec
from graph.state import RunState
from tools.changeset import Changeset
from tools.errors import AeError, Channel, DbtCompilationError, TransientError, environment_fault


def _baseline(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The policy's counters at the run's start (first visit only): retries are counted per run."""
    if "resilience_start" in state:
        return {}
    policy = ctx.tools.policy
    return {"resilience_start": {"instance": policy.stats.instance, **policy.stats.as_dict()}}


def _ended_by(exc: AeError) -> tuple[str, str]:
    """The status and reason of a run its planner stopped with ``exc``: ``environment`` when the
    environment is not usable (no warehouse file to profile, packages not installed: what to do is
    in the reason), ``invalid`` for a bad request, else ``failed``. A project that does not parse is
    not a bad request: the run failed, whatever the cause (agent/exit_codes.py)."""
    fault = environment_fault(exc)
    if fault is not None:
        return "environment", str(fault)
    bad_request = exc.channel == Channel.MODEL and not isinstance(exc, DbtCompilationError)
    return ("invalid" if bad_request else "failed"), str(exc)


def plan(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    # taken before the planner's own model calls, whose retries belong to the run
    baseline = _baseline(state, ctx)
    attempt = state.get("attempt", 0) + 1
    feedback = [Feedback.model_validate(f) for f in state.get("feedback", [])]
    previous = PlanSpec.model_validate(state["plan"]) if state.get("plan") else None
    ctx.progress("plan", f"planning with the {ctx.planner.name} planner (visit {attempt})", kind="phase")
    started = time.perf_counter()
    # Edits go into a fresh changeset seeded with the previous plan's, so a repair visit refines it.
    ctx.tools.changeset = previous.changeset.model_copy(deep=True) if previous else Changeset()
    spent = state.get("llm_usage", {})

    def tool_line(message: str, ok: bool | None, seconds: float | None) -> None:
        ctx.progress("plan", message, ok=ok, kind="tool", duration_s=seconds)

    request = PlanRequest(
        request=state["request"],
        attempt=attempt,
        feedback=feedback,
        previous=previous,
        spent=dict(spent),
        run_dir=ctx.run_dir,
        progress=tool_line,
    )
    try:
        spec = ctx.planner.plan(request, ctx.tools)
    except TransientError:
        raise  # the phase guard repeats Plan: a lasting infrastructure fault is not the request's fault
    except AeError as exc:
        # The planner could not take the request (unknown command, bad arguments, LLM unavailable,
        # budget spent): nothing was applied, so the run ends here with the reason.
        status, reason = _ended_by(exc)
        ctx.progress("plan", reason, ok=False, duration_s=time.perf_counter() - started)
        return {
            **baseline,
            "attempt": attempt,
            "status": status,
            "reason": reason,
            # what this visit spent: graph/state.py adds it to the run's total
            "llm_usage": exc.usage if isinstance(exc, PlanningFailed) else {},
        }
    changes = len(spec.changeset.changes)
    ctx.progress(
        "plan",
        f"{spec.summary} ({changes} file change{'s' if changes != 1 else ''})",
        ok=True,
        duration_s=time.perf_counter() - started,
    )
    return {
        **baseline,
        "attempt": attempt,
        "plan": spec.model_dump(mode="json"),
        "diff": spec.changeset.diff(ctx.tools.paths),
        "status": "running",
        "llm_usage": spec.llm_usage,
    }
