"""Validate: apply the changeset (undoably), dbt parse, compile the selection, run the guardrail lint.

Any failure rolls the changeset back and sends structured feedback to Plan while repair visits
remain; at the bound the run ends failed with the project as it was.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from graph.context import RunContext
from graph.nodes import names, touched_nodes
from graph.phases.outcome import fail_or_repair
from graph.plan_spec import Feedback, PlanSpec
from graph.state import RunState
from graph.transaction import apply_journaled
from tools.engine import DbtCall
from tools.errors import ModelFixableError
from tools.lineage import load_manifest
from tools.lint import lint_project

PACKAGE_FILES = frozenset({"packages.yml", "dependencies.yml"})
COMPILED_BY = frozenset({"run", "build", "test", "compile", "seed", "snapshot"})


def _selection_to_compile(spec: PlanSpec, changed_names: list[str]) -> list[str]:
    selection = list(changed_names)
    for op in spec.operations or []:
        if op.command in COMPILED_BY:
            selection += op.select
    return sorted(set(selection))


def validate(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    spec = PlanSpec.model_validate(state["plan"])
    ctx.progress("validate", "applying the changeset, parsing, compiling, linting", kind="phase")
    started = time.perf_counter()
    applied = None
    if not spec.changeset.is_empty:
        applied = apply_journaled(spec.changeset, ctx.tools.paths, ctx.run_dir).model_dump(mode="json")
        ctx.progress("validate", f"applied {len(spec.changeset.changes)} file change(s)", ok=True)
    errors: list[str] = []
    lint_findings: list[dict[str, Any]] = []
    changed: list[str] = []
    try:
        if PACKAGE_FILES & set(spec.changeset.touched_paths()):
            # dbt refuses to parse until the declared packages are installed (offline: local ones)
            ctx.dbt("validate", DbtCall(command="deps"))
        ctx.dbt("validate", DbtCall(command="parse"))
        manifest = load_manifest(ctx.project_dir / "target" / "manifest.json")
        touched = spec.changeset.touched_paths()
        changed = touched_nodes(manifest, touched)
        selection = _selection_to_compile(spec, names(manifest, changed))
        if selection:
            compiled = ctx.dbt("validate", DbtCall(command="compile", select=selection))
            errors += [f"{n.name}: {n.message}" for n in compiled.failed_nodes]
            for node in compiled.nodes:  # lint reads compiled SQL from the manifest
                if node.unique_id in manifest["nodes"] and node.compiled_sql:
                    manifest["nodes"][node.unique_id]["compiled_code"] = node.compiled_sql
        if touched:
            report = lint_project(manifest, ctx.project_dir, config=ctx.lint, only_paths=set(touched))
            lint_findings = [f.model_dump() for f in report.findings]
            errors += [f"{f.path}:{f.line}: {f.rule_id} {f.message}" for f in report.errors]
            for finding in report.warnings:
                ctx.progress("validate", f"lint warning {finding.rule_id} {finding.path}:{finding.line}")
    except ModelFixableError as exc:
        errors.append(str(exc))
    validation = {"ok": not errors, "errors": errors, "lint": lint_findings, "changed_nodes": changed}
    took = time.perf_counter() - started
    if errors:
        ctx.progress("validate", f"{len(errors)} problem(s): {errors[0]}", ok=False, duration_s=took)
        return {
            "validation": validation,
            **fail_or_repair(ctx, state, applied, Feedback(phase="validate", errors=errors)),
        }
    ctx.progress(
        "validate", f"{len(changed)} changed node(s) compile and pass lint", ok=True, duration_s=took
    )
    return {"validation": validation, "applied": applied, "changed_nodes": changed, "needs_repair": False}
