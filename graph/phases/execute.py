"""Execute: build what changed and what depends on it (or the plan's explicit dbt operations).

Building on a protected target needs approval first (``RunContext.approves``): the chat asks the
person; ``ae run`` gives it up front with ``--yes``. A plan that only reads (graph/read_only.py) or runs
nothing needs none: its dbt calls open the warehouse read-only.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from graph.audit_run import Audit, open_audit
from graph.context import RunContext
from graph.nodes import BUILDABLE
from graph.phases.outcome import fail_or_repair
from graph.plan_spec import Feedback, Operation, PlanSpec
from graph.read_only import is_read_only
from graph.state import RunState
from graph.transaction import built_relations, record_built_relations, rollback_journaled
from tools.engine import BUILDING, DbtCall, DbtResult
from tools.errors import ModelFixableError
from tools.protection import Protection
from tools.warehouse_port import Warehouse
from tools.warehouse_undo import qualified, relation_names, server_of

#: freshness statuses that describe the data rather than a failure of the run
STALE = frozenset({"warn", "error"})


def default_operations(build_nodes: list[str]) -> list[Operation]:
    """Build the redefined models, seeds and snapshots and the models and seeds downstream of them.

    No tests (Verify runs them), and no snapshot the change did not define: a snapshot run records
    history, a side effect nobody asked for by editing a model upstream of it.
    """
    if not build_nodes:
        return []
    selection = sorted({f"{uid.split('.')[-1]}+" for uid in build_nodes})
    return [Operation(command="build", select=selection)]


def _build_kinds(build_nodes: list[str]) -> list[str]:
    """What ``build`` builds: models and seeds, and snapshots only when the change defined one."""
    redefines_snapshot = any(uid.startswith("snapshot.") for uid in build_nodes)
    return [kind for kind in BUILDABLE if kind != "snapshot" or redefines_snapshot]


def _call(op: Operation, build_kinds: list[str], *, read_only: bool) -> DbtCall:
    return DbtCall(
        command=op.command,
        select=op.select,
        full_refresh=op.full_refresh,
        store_failures=op.store_failures,
        vars=op.vars,
        macro=op.macro,
        macro_args=op.macro_args,
        # Execute builds; tests belong to Verify
        resource_types=build_kinds if op.command == "build" else [],
        read_only=read_only,
    )


def _failures(ctx: RunContext, result: DbtResult) -> list[str]:
    """What in a result fails the run. Stale sources do not: a freshness check that finds old data
    did its job (the data is late, the change is fine), so it is reported, not rolled back."""
    if result.error is not None:
        return [result.error.message]
    if result.command != "source freshness":
        return [f"{n.name}: {n.message}" for n in result.failed_nodes]
    for node in result.nodes:
        if node.status in STALE:
            loaded = node.extra.get("max_loaded_at", "unknown")
            ctx.progress("execute", f"source {node.name} is stale ({node.status}): last loaded {loaded}")
    return [f"{n.name}: {n.message}" for n in result.failed_nodes if n.status not in STALE]


def _journal_relations(
    ctx: RunContext, warehouse: Warehouse, existing: set[str], results: list[DbtResult]
) -> None:
    """Record what the build created (so a rollback drops it) and which existing relations it rebuilt,
    with where: the DuckDB file, or the server and database of any other adapter."""
    created = sorted(relation_names(warehouse) - existing)
    rebuilt = {qualified(n.relation, warehouse) for r in results for n in r.nodes if n.ok and n.relation}
    target = ctx.tools.profile_target()
    built = built_relations(
        ctx.project_dir,
        target.path,
        ctx.target,
        created,
        sorted(rebuilt & existing),
        adapter=warehouse.adapter,
        server=server_of(target),
    )
    record_built_relations(ctx.run_dir, built)


def _approved(ctx: RunContext, spec: PlanSpec, ops: list[Operation], protection: Protection | None) -> bool:
    """Whether the plan may run on the target: anywhere when it writes nothing there, on a protected
    location only with the caller's approval."""
    if protection is None or not protection.protected or not ops or is_read_only(spec):
        return True
    return ctx.approves(
        {
            "kind": "target",
            "question": f"{protection.reason}. Build these changes on it?",
            "summary": spec.summary,
            "operations": [op.model_dump(exclude_defaults=True) for op in ops],
        }
    )


def _audit(ctx: RunContext, ops: list[Operation], kinds: list[str], read_only: bool) -> Audit | None:
    """The audit copy this Execute builds in (graph/audit_run.py); None when it builds nothing, when
    building straight in the warehouse was asked for, or when a macro runs (``run-operation``: what a
    macro does is meant for the warehouse itself, and a copy would publish none of it)."""
    commands = {op.command for op in ops}
    if read_only or not commands & BUILDING:
        return None
    if not ctx.audit_builds:
        ctx.progress(
            "execute", "building straight in the warehouse (no audit copy), as asked", kind="warning"
        )
        return None
    if "run-operation" in commands:
        ctx.progress(
            "execute",
            "the plan runs a macro: building straight in the warehouse (a macro's effects are not "
            "relations ae can audit and publish)",
            kind="warning",
        )
        return None
    return open_audit(ctx, ops, kinds)


def execute(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    spec = PlanSpec.model_validate(state["plan"])
    build_nodes = state.get("build_nodes", [])
    ops = spec.operations if spec.operations is not None else default_operations(build_nodes)
    # an explicit plan names what it builds; the default build leaves snapshots it did not define alone
    build_kinds = list(BUILDABLE) if spec.operations is not None else _build_kinds(build_nodes)
    ctx.progress("execute", f"{len(ops)} dbt operation(s) on target {ctx.target}", kind="phase")
    protection = ctx.protection()  # now, after Validate applied the plan (its profile edits included)
    if not _approved(ctx, spec, ops, protection):
        rollback_journaled(state.get("applied"), ctx.run_dir, warehouse=ctx.warehouse_now())
        why = protection.reason if protection else f"target {ctx.target!r} is protected"
        reason = f"not approved: {why}; nothing was built and the changes were undone"
        ctx.progress("execute", reason, ok=False)
        return {"status": "refused", "reason": reason, "applied": None}
    started = time.perf_counter()
    results: list[DbtResult] = []
    errors: list[str] = []
    # a plan that promised to only read gets a warehouse it cannot write (graph/read_only.py)
    read_only = is_read_only(spec)
    audit = _audit(ctx, ops, build_kinds, read_only)
    # building straight in the warehouse: what exists before, so the journal holds what the build created
    warehouse = ctx.tools.warehouse() if audit is None and any(op.command in BUILDING for op in ops) else None
    existing = relation_names(warehouse) if warehouse is not None else set()
    try:
        for op in ops:
            try:
                result = ctx.dbt("execute", _call(op, build_kinds, read_only=read_only))
            except ModelFixableError as exc:
                errors.append(str(exc))
                break
            results.append(result)
            errors += _failures(ctx, result)
            if errors:
                break
    finally:
        if warehouse is not None:
            _journal_relations(ctx, warehouse, existing, results)
    audited = {"audit": str(audit.folder)} if audit is not None else {}
    execution = {
        "ok": not errors,
        "results": [r.model_dump(mode="json", exclude={"preview"}) for r in results],
        "errors": errors,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if errors:
        ctx.progress("execute", errors[0], ok=False)
        feedback = Feedback(phase="execute", errors=errors)
        failed: RunState = {**state, "audit": audited.get("audit")}  # its copy goes with it
        return {"execution": execution, **fail_or_repair(ctx, failed, None, feedback)}
    built = sum(1 for r in results for n in r.nodes if n.ok)
    ctx.progress("execute", f"{built} node(s) built", ok=True, duration_s=time.perf_counter() - started)
    return {"execution": execution, "needs_repair": False, **audited}
