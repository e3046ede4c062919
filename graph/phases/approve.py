"""Approve: a person sees the code dbt would run for this plan, and says yes, before anything runs it.

It sits between Plan and Validate because Validate's own ``dbt parse`` and ``dbt compile`` already
render the files: a ``run_query`` in a model runs at compile time, a ``--vars`` value is rendered,
an overridden ``generate_schema_name`` moves every build. tools/jinja_inspect.py finds that code on
Jinja's syntax tree (and hooks, Python models, secret ``env_var`` reads, config files); a plan with
none of it passes straight through. Otherwise the run pauses (a LangGraph interrupt, as Execute does
for a protected target): the chat shows the code and asks, ``ae run`` needs ``--allow-code``. A "no"
ends the run ``refused`` with nothing applied and nothing run.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graph.context import RunContext
from graph.phases.outcome import fail_or_repair
from graph.plan_spec import Feedback, PlanSpec
from graph.state import RunState
from tools.jinja_inspect import CodeFinding, inspect_changes, inspect_vars


def plan_findings(ctx: RunContext, spec: PlanSpec) -> list[CodeFinding]:
    """Everything in the plan that dbt would run as code: in its files and in its dbt operations."""
    changeset, paths = spec.changeset, ctx.tools.paths
    files = {change.path: change.content for change in changeset.changes}
    found = inspect_changes(files, changeset.view(paths, "dbt_project.yml"))
    for op in spec.operations or []:
        where = f"dbt {op.command}"
        found += inspect_vars(op.vars, f"{where} --vars") + inspect_vars(op.macro_args, f"{where} --args")
        if op.command == "run-operation":
            snippet = f"dbt run-operation {op.macro}"
            found.append(CodeFinding("side_effect", where, 1, snippet, "runs a macro against the warehouse"))
    return found


def approve(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    findings = plan_findings(ctx, PlanSpec.model_validate(state["plan"]))
    broken = [f.render() for f in findings if f.kind == "unparsable"]
    if broken:  # dbt would refuse the file: the planner's to fix, not a question for a person
        ctx.progress("approve", broken[0], ok=False)
        return fail_or_repair(ctx, state, None, Feedback(phase="validate", errors=broken))
    shown = [f.as_dict() for f in findings]
    if not findings:
        return {"code_review": [], "needs_repair": False}
    ctx.progress(
        "approve", f"{len(findings)} piece(s) of code that dbt would run need approval", kind="phase"
    )
    for finding in findings:
        ctx.progress("approve", finding.render())
    if ctx.code_approved:
        ctx.progress("approve", "approved (ae run --allow-code, or a yes in chat)", ok=True)
        return {"code_review": shown, "needs_repair": False}
    # A yes never arrives as the interrupt's answer: it resumes the run with ``allow_code``
    # (Session.resume), so this phase runs again and passes above. Any answer is a no, which also
    # keeps ``ae run --resume ID --yes`` (approval of a protected target) from approving code.
    interrupt(
        {
            "kind": "code",
            "question": "This plan holds code that dbt runs when it parses, compiles or builds. Run it?",
            "findings": shown,
            "diff": state.get("diff", ""),
        }
    )
    reason = (
        f"not approved: the plan holds code that dbt would run ({findings[0].path}:{findings[0].line}: "
        f"{findings[0].why}); nothing was applied or run"
    )
    ctx.progress("approve", reason, ok=False)
    return {"code_review": shown, "status": "refused", "reason": reason}
