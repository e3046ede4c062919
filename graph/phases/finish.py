"""The last node of every run: settle the status, make sure a failed run left nothing, clear dbt's
output of secrets, write the report."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.audit_run import discard_audit
from graph.context import RunContext
from graph.report import build_report, write_report
from graph.state import RunState
from graph.transaction import keep_artifacts, rollback_journaled
from tools.secrets import dbt_output_files, scrub_secret_files
from tools.timings import span


def guarded_finish(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """``finish``, timed as a part of the run (tools/timings.py)."""
    with span("phase finish (report)"):
        return finish(state, runtime)


def finish(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    status = state.get("status", "running")
    update: dict[str, Any] = dict(discard_audit(ctx, state))  # a run ending anywhere publishes no more
    if status == "running":
        status = "success"
        keep_artifacts(ctx.run_dir)
    elif undone := rollback_journaled(state.get("applied"), ctx.run_dir, warehouse=ctx.warehouse_now()):
        ctx.progress("finish", undone.describe())
        update["applied"] = None
    # dbt wrote what it read (an env_var in a model, a profile's password in an error) into
    # target/ and logs/, in every phase of this run and maybe of an earlier one that never got here;
    # all of it is read, not only what the run wrote (measured: 1.2 MB and 20 secrets in 5 ms)
    engine = ctx.tools.engine
    scrubbed = scrub_secret_files(dbt_output_files(ctx.project_dir, engine.target_path if engine else None))
    if scrubbed.masked or scrubbed.deleted:
        ctx.progress("finish", f"dbt's output: {scrubbed.describe()}")
    final: RunState = {**state, "status": status}
    if "applied" in update:
        final["applied"] = None
    journaled = ctx.tools.journaled_calls()
    if journaled.skipped:
        ctx.progress(
            "finish",
            f"skipped {journaled.skipped} damaged line(s) of {ctx.tools.journal} (a crash mid-write); "
            "the report lists the other tool calls",
            kind="warning",
        )
    report = build_report(
        final,
        planner=ctx.planner.name,
        target=ctx.target,
        calls=journaled.records,
        stats=ctx.tools.policy.stats,
        llm_usage=final.get("llm_usage", {}),
    )
    # the caller's copy, as written: Session.handle returns it without reading the file back
    ctx.report = write_report(report, ctx.run_dir)
    ctx.progress("finish", f"{status}: report in {ctx.run_dir}", ok=status == "success", kind="phase")
    return {**update, "status": status, "report_dir": str(ctx.run_dir)}
