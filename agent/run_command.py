"""`ae run` and `ae resume`: one request from a shell or CI — progress while it runs, a summary or
JSON at the end.

The dbt engine's child starts before the heavy imports (LangGraph, the graph, the planners), so dbt
loads in the child while they load here: a one-shot run pays for the slower of the two, not both.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from agent.exit_codes import for_status
from agent.requests import check_request
from graph.progress import Emit, ProgressEvent
from tools.errors import ApprovalRequired, Interrupted, InvalidArguments

if TYPE_CHECKING:
    from agent.planners import PlannerChoice
    from agent.runner import RunOutcome, Session
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


#: the largest request ae takes, in UTF-8 bytes. A request is a /command or a task in words; a
#: 200 KB one was enqueued and kept a worker busy for two minutes (dbt matching a selector that long)
def resume_command(settings: Settings, run_id: str, target: str | None) -> str:
    """The exact command that continues ``run_id``."""
    on_target = f" --target {target}" if target else ""
    return f"ae resume {run_id} --project {settings.project_dir}{on_target}"


def _request_of(session: Session, run_id: str) -> str:
    """The request a resumed run was started with (it decides the planner)."""
    record = session.store.get(run_id)
    if record is None:
        raise InvalidArguments(
            f"no run {run_id!r} in the store of {session.settings.project_dir}",
            hint=f"`ae runs --project {session.settings.project_dir}` lists the project's runs",
        )
    return record.request


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
    out = out or sys.stdout
    err = err or sys.stderr
    check_request(request)
    if request is not None:
        from agent.targets import request_target

        target = request_target(request, target)
    elif resume is not None and target is None:  # a run continues on the target it started on
        from agent.runs import read_record

        record = read_record(settings.state_dir, resume)
        target = record.target if record else None
    with settings.open_engine(target, shared=True) as engine:
        resolved = engine.target_name()
        protection = settings.protection(resolved)
        if protection.protected and not yes:
            raise ApprovalRequired(
                f"{protection.reason}; nothing was changed",
                hint=f"re-run with --yes to approve building on target {resolved}",
            )
        engine.prepare()  # dbt loads in its process while the planner and LangGraph load here
        from agent.planners import choose_planner
        from agent.runner import Session, new_run_id

        emit = progress_printer(err, as_json=as_json)
        run_id = resume or new_run_id()
        with Session(settings, emit=emit, engine=engine) as session:
            request = request if request is not None else _request_of(session, run_id)
            planner, describer = choose_planner(settings, request, planner_choice)
            try:
                if resume:
                    outcome = session.resume(
                        resume,
                        planner=planner,
                        describer=describer,
                        approval=True if yes else None,
                        allow_code=allow_code,
                    )
                else:
                    outcome = session.run(
                        request,
                        planner=planner,
                        describer=describer,
                        approved=yes,
                        allow_code=allow_code,
                        run_id=run_id,
                    )
                if outcome.status == "awaiting_approval":  # not approved up front: nobody to ask
                    asked = outcome.question or {}
                    question = render_code_question(asked, with_diff=False)
                    flag = (
                        "--yes to approve building there"
                        if asked.get("kind") == "target"
                        else ("--allow-code to approve this code")
                    )
                    emit(ProgressEvent(kind="warning", phase="approve", message=question))
                    emit(
                        ProgressEvent(kind="warning", phase="approve", message=f"refused; re-run with {flag}")
                    )
                    outcome = session.resume(
                        outcome.run_id, planner=planner, describer=describer, approval=False
                    )
            except KeyboardInterrupt:
                raise Interrupted(
                    f"interrupted; run {run_id} stopped where it was",
                    hint=f"continue it with `{resume_command(settings, run_id, target)}`, or roll it "
                    f"back with `ae undo {run_id} --project {settings.project_dir}`",
                ) from None
    if as_json:
        report = outcome.report()
        payload: dict[str, Any] = (
            json.loads(report.model_dump_json())
            if report
            else {"run_id": outcome.run_id, "status": outcome.status, "reason": outcome.reason}
        )
        print(json.dumps(payload, indent=2), file=out)
    else:
        print(render_summary(outcome), file=out)
    return for_status(outcome.status)
