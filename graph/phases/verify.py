"""Verify: run the tests of what was built, compute the figures, and prove incrementals right.

All of it in the run's audit copy when Execute built in one (graph/audit_run.py): a failing test
fails the run before anything reaches the warehouse.

Each incremental model a building command of this run built must equal its full refresh, on the
same data and after upstream rows are edited in place (graph/incremental_proof.py, in a scratch copy
of the warehouse: the user's is never written here). Any difference fails the run.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from graph.audit_run import audit_of
from graph.context import RunContext
from graph.figures import (
    Figures,
    build_figures,
    freshness_figure,
    impact_and_size,
    project_figures,
    row_counts,
    sources_read_with_freshness,
    test_figures,
)
from graph.incremental_proof import prove_incrementals
from graph.phases.outcome import fail_or_repair
from graph.plan_spec import Feedback, PlanSpec
from graph.read_only import is_read_only
from graph.state import RunState
from tools.engine import BUILDING, DbtCall, DbtResult
from tools.errors import AeError, EmptySelection
from tools.manifest import Manifest

SAMPLE_ROWS = 5


def _executed(state: RunState) -> list[DbtResult]:
    return [DbtResult.model_validate(r) for r in state.get("execution", {}).get("results", [])]


def _test_selection(spec: PlanSpec, state: RunState, built: list[DbtResult]) -> list[str]:
    """The plan's selection, else the tests of what was built plus the tests the change added to
    models it did not rebuild (those alone: a neighbour's or the model's old tests are not this run's)."""
    if spec.verify_select is not None:
        return spec.verify_select
    names = {n.name for r in built for n in r.nodes if n.resource_type in {"model", "seed", "snapshot"}}
    return sorted(names | set(state.get("new_tests", [])))


def _test(ctx: RunContext, call: DbtCall) -> DbtResult | None:
    """``dbt test`` of the selection; None when it holds no test. A read-only call on a warehouse
    whose read-only sessions create no table at all (PostgreSQL) runs the data tests read-only and
    the unit tests apart: dbt fills a temporary table for each, as ``dbt test`` would."""
    if not call.read_only or ctx.tools.warehouse().dialect.temp_tables_when_read_only:
        try:
            return ctx.dbt("verify", call)
        except EmptySelection:
            return None
    parts = [
        call.model_copy(update={"exclude": ["test_type:unit"]}),
        call.model_copy(update={"resource_types": ["unit_test"], "read_only": False}),
    ]
    results = []
    for part in parts:
        try:
            results.append(ctx.dbt("verify", part))
        except EmptySelection:
            continue
    if not results:
        return None
    return results[0].model_copy(
        update={
            "nodes": [n for r in results for n in r.nodes],
            "success": all(r.success for r in results),
            "error": next((r.error for r in results if r.error), None),
        }
    )


def _sample_failures(ctx: RunContext, result: DbtResult) -> list[dict[str, Any]]:
    failing = []
    for node in result.failed_nodes:
        sample: list[Any] = []
        if node.compiled_sql:
            try:
                shown = ctx.dbt(
                    "verify",
                    DbtCall(command="show", inline=node.compiled_sql, limit=SAMPLE_ROWS, read_only=True),
                )
                if shown.preview:
                    sample = [
                        dict(zip(shown.preview.columns, row, strict=False)) for row in shown.preview.rows
                    ]
            except AeError:
                sample = []
        failing.append(
            {"name": node.name, "message": node.message, "failures": node.failures, "sample_rows": sample}
        )
    return failing


def _freshness(
    ctx: RunContext, executed: list[DbtResult], manifest: Manifest, built_ids: list[str]
) -> float | None:
    """data_freshness_sla of the sources this run checked or read: those Execute checked because the
    plan asked, and those with a rule that the models it built read (one call for the ones Execute
    did not check). A run that built nothing and was not asked makes no freshness call: a read-only
    command's answer needs none, and stale or absent sources are no failure of it."""
    asked = [r for r in executed if r.command == "source freshness"]
    checked = {n.unique_id for r in asked for n in r.nodes}
    unchecked = {
        uid: selector
        for uid, selector in sources_read_with_freshness(manifest, built_ids).items()
        if uid not in checked
    }
    results: list[DbtResult | None] = list(asked)
    if unchecked:
        call = DbtCall(command="source freshness", select=sorted(unchecked.values()), read_only=True)
        try:
            results.append(ctx.dbt("verify", call))
        except AeError:
            results.append(None)  # a check that cannot run counts as not met, not as a failed run
    return freshness_figure(results, len(checked) + len(unchecked))


def _repair_clock(state: RunState, failing: bool) -> tuple[float | None, float | None]:
    """(when this run's tests first failed, mttr): the clock starts at the first failing verify and
    stops at the verify that passes after the repair loop."""
    first = state.get("verification", {}).get("first_failure_at")
    now = time.time()
    if failing:
        return (first or now), None
    return None, (round(now - first, 3) if first else None)


# Over 60 lines on purpose: Verify's checks in the order they must run (tests, proofs, freshness,
# figures), each a function of its own; this body only sequences them over the executed results.
def verify(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    audit_of(ctx, state)  # the run's tools on its audit copy again, after a resume
    spec = PlanSpec.model_validate(state["plan"])
    executed = _executed(state)
    # what built something (a compile or a show built nothing)
    built = [r for r in executed if r.command in BUILDING]
    selection = _test_selection(spec, state, built)
    ctx.progress("verify", f"testing {', '.join(selection) or 'nothing'}", kind="phase")
    started = time.perf_counter()
    tested: DbtResult | None = None
    if selection:
        call = DbtCall(
            command="test", select=selection, store_failures=spec.store_failures, read_only=is_read_only(spec)
        )
        tested = _test(ctx, call)
        if tested is None:
            ctx.progress("verify", "no tests are defined for this selection")
    manifest = Manifest.for_engine(ctx.engine, missing_ok=True)
    db_path = ctx.warehouse_path()
    built_ids = [n.unique_id for r in built for n in r.nodes if n.ok]
    built_nodes = [n for r in built for n in r.nodes]
    incrementals = prove_incrementals(ctx, db_path, manifest, built_nodes)
    failing = _sample_failures(ctx, tested) if tested else []
    rows_per_model, uncounted = row_counts(ctx.tools.warehouse(), manifest, built_ids)
    for why in uncounted:
        ctx.progress("verify", why, ok=False)
    mismatched = [c.model for c in incrementals if not c.matches]
    first_failure_at, mttr = _repair_clock(state, bool(failing))
    figures = Figures(
        **build_figures(built),
        **test_figures(tested),
        **project_figures(manifest),
        **impact_and_size(built),
        rows_per_model=rows_per_model,
        data_freshness_sla=_freshness(ctx, executed, manifest, built_ids),
        mttr_test_failures=mttr,
    )
    verification = {
        "ok": not failing and not mismatched,
        "first_failure_at": first_failure_at,
        "figures": figures.model_dump(),
        "failing_tests": failing,
        "incremental_checks": [c.record() for c in incrementals],
        "tests": [
            n.model_dump(include={"name", "status", "message", "failures"})
            for n in (tested.nodes if tested else [])
        ],
    }
    took = time.perf_counter() - started
    if failing or mismatched:
        errors = [c.describe() for c in incrementals if not c.matches]
        ctx.progress(
            "verify",
            f"{len(failing)} failing test(s), {len(mismatched)} incremental mismatch(es)",
            ok=False,
            duration_s=took,
        )
        feedback = Feedback(phase="verify", errors=errors, failing_tests=failing)
        return {"verification": verification, **fail_or_repair(ctx, state, None, feedback)}
    ctx.progress("verify", f"{figures.tests_passed} test(s) passed", ok=True, duration_s=took)
    return {"verification": verification, "needs_repair": False}
