"""`ae run`: one request from a shell or CI — progress while it runs, a summary or JSON at the end.

The dbt engine's child starts before the heavy imports (LangGraph, the graph, the planners), so dbt
loads in the child while they load here: a one-shot run pays for the slower of the two, not both.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from agent.exit_codes import ExitCode, for_status
from agent.planners import PlannerChoice, choose_planner, is_command
from agent.settings import Settings
from graph.progress import Emit, ProgressEvent

if TYPE_CHECKING:
    from agent.runner import RunOutcome


def progress_printer(stream: TextIO) -> Emit:
    """One line per phase and tool call, as they happen."""

    def emit(event: ProgressEvent) -> None:
        print(event.line(), file=stream, flush=True)

    return emit


def render_summary(outcome: RunOutcome) -> str:
    report = outcome.report()
    lines = [f"status: {outcome.status}" + (f" — {outcome.reason}" if outcome.reason else "")]
    if report is not None:
        figures = report.figures
        lines.append(f"models built: {len(report.models_built())}")
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


def run_request(
    request: str,
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
    """Carry ``request`` through a run; returns its exit code (agent/exit_codes.py).

    ``yes`` approves building on a protected target; ``allow_code`` the executable dbt code a plan
    holds (hooks, ``run_query``, Python models, naming overrides, config files). Without it such a
    plan ends ``refused`` (exit 3) before anything is applied, with the code printed."""
    out = out or sys.stdout
    err = err or sys.stderr
    if is_command(request):
        from agent.commands.parser import HelpRequested, parse_command

        try:
            parsed = parse_command(request)
        except HelpRequested as help_text:
            print(str(help_text), file=out)
            return ExitCode.OK
        target = target or parsed.target
    with settings.open_engine(target, shared=True) as engine:
        resolved = engine.target_name()
        protection = settings.protection(resolved)
        if protection.protected and not yes:
            print(
                f"ae: {protection.reason}; nothing was changed. Re-run with --yes to approve building on it.",
                file=err,
            )
            return ExitCode.REFUSED
        engine.prepare()  # dbt loads in its process while the planner and LangGraph load here
        planner, describer = choose_planner(settings, request, planner_choice)
        from agent.runner import Session

        with Session(settings, emit=progress_printer(err), engine=engine) as session:
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
                    request, planner=planner, describer=describer, approved=yes, allow_code=allow_code
                )
            if outcome.status == "awaiting_approval":  # code, and no --allow-code: nobody to ask
                print(f"ae: {render_code_question(outcome.question or {}, with_diff=False)}", file=err)
                print("ae: refused; re-run with --allow-code to approve this code.", file=err)
                outcome = session.resume(outcome.run_id, planner=planner, describer=describer, approval=False)
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
