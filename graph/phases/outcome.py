"""What a failed Validate/Execute/Verify visit does: roll back, then repair or stop."""

from __future__ import annotations

from typing import Any

from graph.audit_run import discard_audit
from graph.context import RunContext
from graph.plan_spec import Feedback
from graph.state import RunState
from graph.transaction import rollback_journaled


def fail_or_repair(
    ctx: RunContext, state: RunState, applied: dict[str, Any] | None, feedback: Feedback
) -> dict[str, Any]:
    """Undo the changeset and drop the audit copy (nothing was published); go back to Plan with
    feedback while repairs remain, else end failed. ``feedback`` joins the run's list (graph/state.py
    merges it)."""
    discarded = discard_audit(ctx, state)
    now = ctx.warehouse_now()
    if undone := rollback_journaled(applied or state.get("applied"), ctx.run_dir, warehouse=now):
        ctx.progress(feedback.phase, undone.describe())
    update: dict[str, Any] = {"feedback": [feedback.model_dump(mode="json")], "applied": None, **discarded}
    attempt = state.get("attempt", 1)
    if ctx.planner.can_repair and attempt <= ctx.max_repairs:
        ctx.progress(feedback.phase, f"sending feedback to Plan (repair {attempt} of {ctx.max_repairs})")
        return {**update, "needs_repair": True}
    why = (
        "no repair attempts left"
        if ctx.planner.can_repair
        else f"the {ctx.planner.name} planner cannot repair"
    )
    first = (feedback.errors or [t.get("name", "") for t in feedback.failing_tests] or ["unknown"])[0]
    return {
        **update,
        "needs_repair": False,
        "status": "failed",
        "reason": f"{feedback.phase} failed ({why}): {first}",
    }
