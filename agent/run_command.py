"""`ae run` and `ae resume`: one request from a shell or CI — progress while it runs, a summary or
JSON at the end.

The dbt engine's child starts before the heavy imports (LangGraph, the graph, the planners), so dbt
loads in the child while they load here: a one-shot run pays for the slower of the two, not both.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from agent.approvals import Approvals, Ask, early_refusal, target_protection
from agent.exit_codes import for_status
from graph.progress import Emit, ProgressEvent
from tools.errors import Interrupted
from tools.timings import span

if TYPE_CHECKING:
    from agent.planners import PlannerChoice
    from agent.runner import RunOutcome
    from agent.settings import Settings


def progress_printer(stream: TextIO, *, as_json: bool = False) -> Emit:
    """One line per phase and tool call, as they happen: text, or a JSON event for a --json caller.

    Each line is one write, flushed, so it never splits around a log line on the same stream."""

    def emit(event: ProgressEvent) -> None:
        if as_json:
            fields: dict[str, Any] = {"kind": event.kind, "phase": event.phase, "message": event.message}
            fields |= {"ok": event.ok}
            fields |= {"duration_s": event.duration_s, "at": event.at.isoformat()}
            line = json.dumps({"event": "progress", **fields})
        else:
            line = event.line()
        stream.write(line + "\n")
        stream.flush()

    return emit


def render_summary(outcome: RunOutcome) -> str:
    report = outcome.report()
    lines = [f"status: {outcome.status}" + (f" — {outcome.reason}" if outcome.reason else "")]
    if report is not None:
        figures = report.figures
        lines.append(f"models built: {len(report.models_built())}")
        lines.append(f"dbt calls: {report.dbt_calls.line()}")
        if figures:
            lines.append(
                f"tests: {figures.get('tests_passed', 0)} passed, {figures.get('tests_failed', 0)} failed"
            )
            for key in (
                "test_pass_rate",
                "schema_compliance",
                "documentation_coverage",
                "incremental_models_ratio",
            ):
                if figures.get(key) is not None:
                    lines.append(f"{key.replace('_', ' ')}: {figures[key]}")
        for check in report.verification.get("incremental_checks", []):
            verdict = "matches" if check["matches"] else "DIFFERS FROM"
            lines.append(f"incremental {check['model']} {verdict} its full refresh")
        for result in report.execution.get("results", []):
            if result.get("command") == "compile":
                for node in result.get("nodes", []):
                    lines += [f"-- compiled {node['name']}", node.get("compiled_sql") or ""]
        if report.answer:
            lines += ["", report.answer]
    if outcome.report_dir is not None:
        lines.append(f"report: {outcome.report_dir / 'report.md'}")
    return "\n".join(lines)


def render_code_question(question: dict[str, Any], *, with_diff: bool) -> str:
    """The code a plan would have dbt run (graph/phases/approve.py), each piece with where and why."""
    lines = [str(question.get("question", "Run this code?"))]
    for finding in question.get("findings", []):
        lines.append(f"  {finding['path']}:{finding['line']}: {finding['why']}")
        if finding.get("snippet"):
            lines.append(f"      {finding['snippet']}")
    if with_diff and question.get("diff"):
        lines += ["", str(question["diff"])]
    return "\n".join(lines)


def resume_command(settings: Settings, run_id: str, target: str | None) -> str:
    """The exact command that continues ``run_id``."""
    on_target = f" --target {target}" if target else ""
    return f"ae resume {run_id} --project {settings.project_dir}{on_target}"


def _run_target(
    settings: Settings, request: str | None, target: str | None, resume: str | None
) -> str | None:
    """The target the run goes to: the /command's (agent/targets.py), or the resumed run's own."""
    if request is not None:
        from agent.targets import request_target

        return request_target(request, target)
    if resume is not None and target is None:
        from agent.runs import read_record

        record = read_record(settings.state_dir, resume)
        return record.target if record else None
    return target


def refusing(emit: Emit) -> Ask:
    """``ae run``'s answer to a question its flags did not answer: no, saying which flag says yes."""

    def ask(question: dict[str, Any]) -> bool:
        approves = "--yes to approve building there" if question.get("kind") == "target" else "--allow-code"
        emit(
            ProgressEvent(
                kind="warning", phase="approve", message=render_code_question(question, with_diff=False)
            )
        )
        emit(ProgressEvent(kind="warning", phase="approve", message=f"refused; re-run with {approves}"))
        return False

    return ask


def run_request(
    request: str | None,
    *,
    settings: Settings,
    target: str | None,
    yes: bool,
    as_json: bool,
    allow_code: bool = False,
    planner_choice: PlannerChoice,
    resume: str | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Carry ``request`` through a run, or continue the run ``resume`` (then ``request`` is None);
    returns its exit code (agent/exit_codes.py).

    ``yes`` approves building on a protected target; ``allow_code`` the executable dbt code a plan
    holds (hooks, ``run_query``, Python models, naming overrides, config files). Without it such a
    plan ends ``refused`` (exit 3) before anything is applied, with the code printed. Ctrl-C after
    the run started raises ``Interrupted`` naming the run and the command that resumes it."""
    target = _run_target(settings, request, target, resume)
    emit = progress_printer(err or sys.stderr, as_json=as_json)
    with span("engine connect"):
        opened = settings.open_engine(target, shared=True)
    with opened as engine:
        resolved = engine.target_name()
        hint = f"re-run with --yes to approve building on target {resolved}"
        approvals = Approvals(target=yes, code=allow_code, refusal_hint=hint)
        # dbt loads in its process while the planner and LangGraph load here; not for a request that
        # Session.handle will refuse before planning (the same decision, made before dbt starts; an
        # unknown target is refused here too)
        protection = target_protection(settings, resolved)
        if request is None or early_refusal(protection, request, approvals) is None:
            engine.prepare()
        with span("import the run stack"):
            from agent.runner import Session, new_run_id

        run_id = resume or new_run_id()
        with Session(settings, emit=emit, engine=engine) as session, span("run"):
            try:
                outcome = session.handle(
                    request,
                    planner_choice=planner_choice,
                    approvals=approvals,
                    ask=refusing(emit),
                    run_id=run_id,
                )
            except KeyboardInterrupt:
                raise Interrupted(
                    f"interrupted; run {run_id} stopped where it was",
                    hint=f"continue it with `{resume_command(settings, run_id, target)}`, or roll it "
                    f"back with `ae undo {run_id} --project {settings.project_dir}`",
                ) from None
    print(render_outcome(outcome, as_json=as_json), file=out or sys.stdout)
    return for_status(outcome.status)


def render_outcome(outcome: RunOutcome, *, as_json: bool) -> str:
    """What ``ae run`` prints at the end: the report as JSON, or the summary for a person."""
    if not as_json:
        return render_summary(outcome)
    report = outcome.report()
    payload: dict[str, Any] = (
        json.loads(report.model_dump_json())
        if report
        else {"run_id": outcome.run_id, "status": outcome.status, "reason": outcome.reason}
    )
    return json.dumps(payload, indent=2)
