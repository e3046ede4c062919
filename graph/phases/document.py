"""Document: describe what changed in schema YAML, then dbt docs generate.

Descriptions come from the run's describer (Claude when it plans, profiling and names otherwise)
for the models this run created whose description or column descriptions are missing. Their edits are applied
like any changeset and recorded with the run's, so a rollback would undo them too.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from graph.context import RunContext
from graph.plan_spec import BudgetedDescriber, PlanSpec
from graph.state import RunState
from graph.transaction import apply_journaled, merge_applied
from tools.changeset import AppliedChangeset
from tools.engine import DbtCall
from tools.errors import AeError
from tools.manifest import Manifest, target_dir


def undocumented(manifest: Manifest, unique_ids: list[str]) -> list[str]:
    """Models lacking a description, declared columns, or a column description."""
    return [
        uid
        for uid in unique_ids
        if (node := manifest.nodes.get(uid)) is not None
        and node.resource_type == "model"
        and not node.is_documented
    ]


def document(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    spec = PlanSpec.model_validate(state["plan"])
    if not spec.document:
        return {"documentation": {"skipped": True}}
    ctx.progress("document", "describing changes and generating docs", kind="phase")
    started = time.perf_counter()
    manifest = Manifest.for_engine(ctx.engine)
    # only what this run created: a model it merely touched is the user's to describe
    missing = undocumented(manifest, state.get("created_nodes", []))
    update: dict[str, Any] = {}
    described: list[str] = []
    if missing and ctx.describer is not None:
        if isinstance(ctx.describer, BudgetedDescriber):
            spent = state.get("llm_usage", {})
            changeset, usage, fallback = ctx.describer.describe_within(manifest, missing, ctx.tools, spent)
            update["llm_usage"] = usage  # added to the run's total (graph/state.py)
            if fallback:
                ctx.progress("document", f"offline descriptions kept: {fallback}", ok=False)
        else:
            changeset = ctx.describer.describe(manifest, missing, ctx.tools)
        if not changeset.is_empty:
            before = AppliedChangeset.model_validate(state["applied"]) if state.get("applied") else None
            after = apply_journaled(changeset, ctx.tools.paths, ctx.run_dir / "document")
            merged = merge_applied(before, after) if before else after
            (ctx.run_dir / "applied.json").write_text(merged.model_dump_json(), encoding="utf-8")
            update["applied"] = merged.model_dump(mode="json")
            update["diff"] = state.get("diff", "") + changeset.diff(ctx.tools.paths)
            described = [uid.split(".")[-1] for uid in missing]
            ctx.dbt("document", DbtCall(command="parse"))
    docs_path = None
    try:
        ctx.dbt("document", DbtCall(command="docs generate"))
        docs_path = str(target_dir(ctx.project_dir, ctx.engine.target_path) / "index.html")
    except AeError as exc:  # docs are a convenience: report, do not fail the run for them
        ctx.progress("document", f"dbt docs generate failed: {exc}", ok=False)
    ctx.progress(
        "document", f"described {len(described)} model(s)", ok=True, duration_s=time.perf_counter() - started
    )
    return {**update, "documentation": {"described": described, "still_missing": [], "docs_index": docs_path}}
