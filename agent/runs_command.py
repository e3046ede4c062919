"""`ae runs` (the recent runs of a project) and `ae show RUN_ID` (one run's report).

Both read the run files under ``.ae/runs/`` only (agent/runs.py), so they answer at once: no dbt,
LangGraph or run store is loaded. Neither follows a symbolic link there: ``ae runs`` lists the
linked names without reading them, ``ae show`` of one is refused.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from agent.runs import (
    REPORT_JSON,
    REPORT_MD,
    RunRecord,
    describe_interrupted,
    is_interrupted,
    linked_runs,
    present_file,
    read_record,
    recent_runs,
    run_folder,
    runs_dir,
)
from agent.settings import Settings
from tools.errors import InvalidArguments
from tools.journal import read_state_file

#: a request longer than this is cut in the text listing (the JSON keeps it whole)
REQUEST_WIDTH = 60


def _summary(settings: Settings, record: RunRecord) -> dict[str, Any]:
    report = runs_dir(settings.state_dir) / record.run_id / REPORT_MD
    return {
        **record.model_dump(mode="json"),
        "duration_s": record.duration_s,
        "interrupted": is_interrupted(settings.state_dir, record),
        "report": str(report) if present_file(report) else None,
    }


def _shown_status(summary: dict[str, Any]) -> str:
    return "interrupted" if summary["interrupted"] and summary["status"] == "running" else summary["status"]


#: the listing's columns: run id, start, status, target, duration (right-aligned), request
_ROW = "{:<22}  {:<19}  {:<17}  {:<10}  {:>8}  {}"


def _line(summary: dict[str, Any]) -> str:
    took = f"{summary['duration_s']:.1f}s" if summary["duration_s"] is not None else "-"
    request = summary["request"].replace("\n", " ")
    if len(request) > REQUEST_WIDTH:
        request = request[: REQUEST_WIDTH - 3] + "..."
    started = summary["started_at"][:19].replace("T", " ")
    return _ROW.format(summary["run_id"], started, _shown_status(summary), summary["target"], took, request)


def list_runs(settings: Settings, *, as_json: bool, limit: int, out: TextIO) -> int:
    """Print the newest ``limit`` runs (id, start, status, target, duration, request); exit code 0."""
    summaries = [_summary(settings, r) for r in recent_runs(settings.state_dir, limit)]
    if as_json:
        print(json.dumps(summaries, indent=2), file=out)
        return 0
    linked = linked_runs(settings.state_dir)
    if linked:
        print(
            f"skipped {', '.join(linked)} in {runs_dir(settings.state_dir)}: symbolic link(s), which ae "
            "never follows (a planted or copied link could point anywhere); remove them",
            file=out,
        )
    if not summaries:
        print(
            f"no runs recorded in {runs_dir(settings.state_dir)}; start one with "
            f'`ae run "<request>" --project {settings.project_dir}` (`ae run "/help"` lists the commands)',
            file=out,
        )
        return 0
    print(_ROW.format("RUN ID", "STARTED (UTC)", "STATUS", "TARGET", "DURATION", "REQUEST"), file=out)
    for summary in summaries:
        print(_line(summary), file=out)
    interrupted = [s for s in summaries if s["interrupted"]]
    if interrupted:
        print(f"\n{len(interrupted)} interrupted: `ae show RUN_ID` says how to resume or undo each", file=out)
    return 0


def show_run(settings: Settings, run_id: str, *, as_json: bool, out: TextIO) -> int:
    """Print run ``run_id``'s report (Markdown, or its JSON); a run with no report yet shows its record."""
    run_dir = run_folder(settings.state_dir, run_id)
    if run_dir is None:
        raise InvalidArguments(
            f"no run {run_id!r} in {runs_dir(settings.state_dir)}",
            hint=f"`ae runs --project {settings.project_dir}` lists the project's runs and their ids",
        )
    report = read_state_file(run_dir / (REPORT_JSON if as_json else REPORT_MD))
    if report is not None:
        print(report.decode("utf-8", errors="replace").rstrip("\n"), file=out)
        return 0
    record = read_record(settings.state_dir, run_id)
    if record is None:
        raise InvalidArguments(
            f"run {run_id} has neither a report nor a record in {run_dir}",
            hint="it was made by an older ae or its files were removed; "
            f"`ae runs --project {settings.project_dir}` lists the runs ae can show",
        )
    summary = _summary(settings, record)
    if as_json:
        print(json.dumps(summary, indent=2), file=out)
        return 0
    print(f"run {run_id}: {_shown_status(summary)} — no report yet", file=out)
    print(f"request: {record.request}\ntarget: {record.target}\nstarted: {summary['started_at']}", file=out)
    if record.reason:
        print(f"reason: {record.reason}", file=out)
    if summary["interrupted"]:
        print(describe_interrupted(record, settings.project_dir), file=out)
    return 0
