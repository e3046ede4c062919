"""`ae run`: one request from a shell or CI — progress while it runs, a summary or JSON at the end."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from agent.planners import PlannerChoice, choose_planner, is_command
from agent.runner import RunOutcome, Session
from agent.settings import load_settings
from graph.progress import Emit, ProgressEvent

EXIT_CODES = {"success": 0, "failed": 1, "invalid": 2, "refused": 3, "awaiting_approval": 3, "paused": 4}


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


def run_request(
    request: str,
    *,
    project: Path | None,
    target: str | None,
    yes: bool,
    as_json: bool,
    planner_choice: PlannerChoice,
    resume: str | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    settings = load_settings(project)
    if is_command(request):
        from agent.commands.parser import HelpRequested, parse_command

        try:
            parsed = parse_command(request)
        except HelpRequested as help_text:
            print(str(help_text), file=out)
            return 0
        target = target or parsed.target
    planner, describer = choose_planner(settings, request, planner_choice)
    emit = progress_printer(err)
    with Session(settings, target=target, emit=emit) as session:
        if session.protected and not yes:
            print(
                f"ae: target {session.target!r} is protected; nothing was changed. "
                "Re-run with --yes to approve building on it.",
                file=err,
            )
            return EXIT_CODES["refused"]
        if resume:
            outcome = session.resume(
                resume, planner=planner, describer=describer, approval=True if yes else None
            )
        else:
            outcome = session.run(request, planner=planner, describer=describer, approved=yes)
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
    return EXIT_CODES.get(outcome.status, 1)
