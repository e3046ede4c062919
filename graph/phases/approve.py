"""Approve: a person sees the code dbt would run for this plan, and says yes, before anything runs it.

It sits between Plan and Validate because Validate's own ``dbt parse`` and ``dbt compile`` already
render the files: a ``run_query`` in a model runs at compile time, a ``--vars`` value is rendered,
an overridden ``generate_schema_name`` moves every build. tools/jinja_inspect.py finds that code on
Jinja's syntax tree (and hooks, Python models, secret ``env_var`` reads, config files); a plan with
none of it passes straight through. Otherwise the caller is asked (``RunContext.ask``, as Execute
asks for a protected target): the chat shows the code and asks a person, ``ae run`` answers from
``--allow-code``. A "no" ends the run ``refused`` with nothing applied and nothing run.

The gate's second look (``judge_resolved``, ``approve_resolved``) comes after Validate's read-only
parse and compile, on what dbt resolved the change to (graph/trust_gate.py): code beside the models'
own statements needs the same ``--allow-code``; a node landing on a protected location needs the
protected target's approval (``--yes``, a yes in chat, an approved queue task), even on a dev run.
Validate undoes the change before asking, so nothing waits applied for an answer; a yes sends the run
back through Validate, which finds the same findings approved (kept for this plan in
``gate_approved``). A no ends it ``refused``, as here. A yes approves that kind for the rest of the
run, as the flag would have.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import RunContext
from graph.phases.outcome import fail_or_repair
from graph.plan_spec import Feedback, PlanSpec
from graph.state import RunState
from graph.trust_gate import Review
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
    question = {
        "kind": "code",
        "question": "This plan holds code that dbt runs when it parses, compiles or builds. Run it?",
        "findings": shown,
        "diff": state.get("diff", ""),
    }
    if ctx.approves(question):
        ctx.progress("approve", "approved (ae run --allow-code, or a yes in chat)", ok=True)
        return {"code_review": shown, "needs_repair": False}
    reason = (
        f"not approved: the plan holds code that dbt would run ({findings[0].path}:{findings[0].line}: "
        f"{findings[0].why}); nothing was applied or run"
    )
    ctx.progress("approve", reason, ok=False)
    return {"code_review": shown, "status": "refused", "reason": reason}


def _record(state: RunState, approved: set[str]) -> dict[str, Any]:
    return {"attempt": state.get("attempt", 1), "findings": sorted(approved)}


def _approved_so_far(state: RunState) -> set[str]:
    """The resolved findings a person approved for the plan of this Plan visit."""
    record = state.get("gate_approved") or {}
    return set(record.get("findings", [])) if record.get("attempt") == state.get("attempt", 1) else set()


def judge_resolved(ctx: RunContext, state: RunState, review: Review) -> dict[str, Any]:
    """Validate's verdict on a change's resolved findings, as a state update: ``gate`` holds the
    question to ask (code first, then locations) or None when all is approved."""
    approved = _approved_so_far(state)
    shown = [f.as_dict() for f in review.code + review.locations]
    asks = (
        ("code", review.code, ctx.code_approved, "--allow-code, or a yes in chat"),
        ("target", review.locations, ctx.approved, "--yes, a yes in chat or an approved queue task"),
    )
    for kind, findings, given, how in asks:
        waiting = [f for f in findings if f.render() not in approved]
        if not waiting:
            continue
        for finding in waiting:
            ctx.progress("approve", finding.render())
        if not given:
            question = _resolved_question(kind, waiting, state)
            return {"gate": question, "gate_approved": _record(state, approved), "trust_review": shown}
        ctx.progress("approve", f"approved ({how})", ok=True)
        approved |= {f.render() for f in waiting}
    return {"gate": None, "gate_approved": _record(state, approved), "trust_review": shown}


def _resolved_question(kind: str, findings: list[CodeFinding], state: RunState) -> dict[str, Any]:
    first = findings[0]
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    if kind == "code":
        question = (
            f"What dbt makes of this plan holds code that runs when it builds ({first.path}:{first.line}: "
            f"{first.why}){more}. Run it? (ae run: --allow-code)"
        )
    else:
        question = (
            f"This run builds onto a protected location ({first.path}:{first.line}: {first.why}){more}. "
            "Build there? (ae run: --yes)"
        )
    return {
        "kind": kind,
        "question": question,
        "findings": [f.as_dict() for f in findings],
        "diff": state.get("diff", ""),
    }


def approve_resolved(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Ask Validate's question (``judge_resolved``); Validate already undid the change."""
    ctx = runtime.context
    question = state.get("gate") or {}
    kind, findings = question.get("kind"), question.get("findings", [])
    ctx.progress("approve", str(question.get("question", "")), kind="phase")
    if ctx.approves(question):
        approved = _approved_so_far(state) | {CodeFinding(**f).render() for f in findings}
        ctx.progress("approve", "approved: validating the change again", ok=True)
        return {"gate": None, "gate_approved": _record(state, approved)}
    first = findings[0] if findings else {"path": "?", "why": "not approved"}
    how = "--allow-code" if kind == "code" else "--yes"
    reason = f"not approved ({how}): {first['path']}: {first['why']}; nothing was built, the change undone"
    ctx.progress("approve", reason, ok=False)
    return {"gate": None, "status": "refused", "reason": reason, "applied": None}
