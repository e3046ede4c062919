"""The run report: one JSON document for programs and a Markdown page for people."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from graph.dbt_calls import DbtCallCounts, count_invocations
from graph.state import RunState
from graph.usage import SPEND_VS_BUDGET, total_tokens
from tools.context import ToolCallRecord
from tools.engine import BUILDING
from tools.journal import write_atomic
from tools.logs import redact, redact_value
from tools.paths import refuse_state_links
from tools.resilience import CallStats

#: the file an LLM planner appends its conversation to in the run folder (agent/llm/transcript.py)
TRANSCRIPT_FILE = "transcript.jsonl"


class RunReport(BaseModel):
    run_id: str
    request: str
    planner: str
    target: str
    status: str
    reason: str = ""
    finished_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    plan_visits: int = 0
    plan: dict[str, Any] = Field(default_factory=dict)
    answer: str | None = None
    diff: str = ""
    feedback: list[dict[str, Any]] = Field(default_factory=list)
    validation: dict[str, Any] = Field(default_factory=dict)
    execution: dict[str, Any] = Field(default_factory=dict)
    verification: dict[str, Any] = Field(default_factory=dict)
    documentation: dict[str, Any] = Field(default_factory=dict)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    resilience: dict[str, int] = Field(default_factory=dict)
    llm_usage: dict[str, Any] = Field(default_factory=dict)
    #: every dbt invocation of the run by phase and command (graph/dbt_calls.py)
    dbt_calls: DbtCallCounts = Field(default_factory=DbtCallCounts)
    #: the model conversation of the run, relative to the run folder, when a model planned it
    transcript: str | None = None

    def models_built(self) -> list[str]:
        """Names of the models Execute built successfully in this run."""
        return [
            node["name"]
            for result in self.execution.get("results", [])
            if result.get("command") in BUILDING
            for node in result.get("nodes", [])
            if node["resource_type"] == "model" and node["status"] == "success"
        ]

    @property
    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = self.verification.get("figures", {})
        return figures


def build_report(
    state: RunState,
    *,
    planner: str,
    target: str,
    calls: list[ToolCallRecord],
    stats: CallStats,
    llm_usage: dict[str, Any],
) -> RunReport:
    plan = state.get("plan") or {}
    return RunReport(
        run_id=state.get("run_id", ""),
        request=state.get("request", ""),
        planner=planner,
        target=target,
        status=state.get("status", "failed"),
        reason=state.get("reason", ""),
        plan_visits=state.get("attempt", 0),
        plan={k: v for k, v in plan.items() if k != "changeset"},
        answer=plan.get("answer"),
        diff=state.get("diff", ""),
        feedback=state.get("feedback", []),
        validation=state.get("validation", {}),
        execution=state.get("execution", {}),
        verification=state.get("verification", {}),
        documentation=state.get("documentation", {}),
        tool_calls=calls,
        # the policy counts for a whole session; the report shows this run's share
        resilience=stats.since(state.get("resilience_start", {})).as_dict(),
        llm_usage=llm_usage,
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


#: debt lines shown in the Markdown report; report.json keeps them all
DEBT_SHOWN = 20


def _finding_line(finding: dict[str, Any]) -> str:
    where = f"{finding['path']}:{finding['line']}"
    return f"- `{where}` {finding['rule_id']} {finding['severity']}: {finding['message']}"


def _lint_lines(validation: dict[str, Any]) -> list[str]:
    """The change's own findings (errors block), then existing debt (reported, never blocking)."""
    lines: list[str] = []
    answered = validation.get("lint") or []
    if answered:
        lines += ["", "## Lint", ""] + [_finding_line(f) for f in answered]
    debt = validation.get("lint_debt") or []
    if debt:
        lines += [
            "",
            "## Existing lint debt (not blocking)",
            "",
            f"{len(debt)} finding(s) on models this change did not create or modify, or accepted in "
            "`.ae-lint-baseline.json`.",
            "",
        ]
        lines += [_finding_line(f) for f in debt[:DEBT_SHOWN]]
        if len(debt) > DEBT_SHOWN:
            lines.append(f"- … and {len(debt) - DEBT_SHOWN} more (see report.json)")
    return lines


# Over 60 lines on purpose: the report's sections in reading order, a few lines each; split, the
# layout of one document would be scattered over functions.
def render_markdown(report: RunReport) -> str:
    lines = [
        f"# ae run {report.run_id}",
        "",
        f"- **request**: `{report.request}`",
        f"- **status**: {report.status}" + (f" — {report.reason}" if report.reason else ""),
        f"- **planner**: {report.planner}, **target**: {report.target}",
        f"- **plan visits**: {report.plan_visits}",
        f"- **finished**: {report.finished_at.isoformat(timespec='seconds')}",
    ]
    if report.plan.get("summary"):
        lines += ["", "## Plan", "", str(report.plan["summary"])]
    if report.answer:
        lines += ["", "## Answer", "", "```", report.answer, "```"]
    if report.diff:
        lines += ["", "## Diff", "", "```diff", report.diff.rstrip(), "```"]
    for item in report.feedback:
        lines += ["", f"## Feedback from {item.get('phase')}", ""]
        lines += [f"- {e}" for e in item.get("errors", [])]
        lines += [
            f"- failing test `{t.get('name')}`: {t.get('message')}" for t in item.get("failing_tests", [])
        ]
    lines += _lint_lines(report.validation)
    if report.figures:
        lines += ["", "## Figures", "", "| figure | value |", "|---|---|"]
        for key, value in report.figures.items():
            if key != "rows_per_model":
                lines.append(f"| {key} | {_fmt(value)} |")
        rows = report.figures.get("rows_per_model") or {}
        if rows:
            lines += ["", "| model | rows |", "|---|---|"] + [
                f"| {k} | {v} |" for k, v in sorted(rows.items())
            ]
    checks = report.verification.get("incremental_checks") or []
    if checks:
        lines += ["", "## Incremental vs full refresh", ""]
        for check in checks:
            edited = sum((check.get("edited") or {}).values())
            after = f", also after {edited} upstream row(s) were edited in place" if edited else ""
            lines.append(f"- {check['model']}: {'matches' if check['matches'] else 'DIFFERS'}{after}")
            if check.get("error"):
                lines.append(f"  - the proof could not run: {check['error']}")
    tests = report.verification.get("tests") or []
    if tests:
        lines += ["", "## Tests", "", "| test | status | failures |", "|---|---|---|"]
        lines += [f"| {t['name']} | {t['status']} | {_fmt(t.get('failures'))} |" for t in tests]
    lines += [
        "",
        "## Tool calls",
        "",
        "| # | tool | ok | seconds | retries | error |",
        "|---|---|---|---|---|---|",
    ]
    for i, call in enumerate(report.tool_calls, 1):
        error = (call.error or "").replace("|", "\\|").replace("\n", " ")[:160]
        ok = "yes" if call.ok else "no"
        lines.append(f"| {i} | {call.name} | {ok} | {call.duration_s:.3f} | {call.retries} | {error} |")
    lines += ["", f"dbt calls: {report.dbt_calls.line()}"]
    stats = report.resilience
    lines += ["", f"Retries: {stats.get('retries', 0)}, breaker trips: {stats.get('breaker_trips', 0)}"]
    lines += _usage_lines(report)
    return redact("\n".join(lines) + "\n")


def _usage_lines(report: RunReport) -> list[str]:
    usage = report.llm_usage
    if not usage:
        return []
    spent = {**usage, "tokens": total_tokens(usage)}
    lines = ["", "## LLM usage", "", "| measure | spent | run budget |", "|---|---|---|"]
    for key, budget_key in SPEND_VS_BUDGET.items():
        if key in spent or budget_key in usage:
            lines.append(f"| {key} | {_fmt(spent.get(key))} | {_fmt(usage.get(budget_key))} |")
    shown = set(SPEND_VS_BUDGET) | set(SPEND_VS_BUDGET.values())
    lines += [f"| {k} | {_fmt(v)} | |" for k, v in usage.items() if k not in shown]
    if report.transcript:
        lines += ["", f"Transcript of the model conversation: [{report.transcript}]({report.transcript})"]
    return lines


def write_report(report: RunReport, run_dir: Path) -> RunReport:
    """Write report.json and report.md into ``run_dir``; the report as written (with the run's dbt
    call counts, secrets redacted), which is what the run's caller gets."""
    run_dir.mkdir(parents=True, exist_ok=True)
    # the dbt calls are journaled in the run folder as they start (a resumed run has them all)
    transcript = TRANSCRIPT_FILE if (run_dir / TRANSCRIPT_FILE).exists() else None
    report = report.model_copy(update={"dbt_calls": count_invocations(run_dir), "transcript": transcript})
    data = redact_value(json.loads(report.model_dump_json()))
    # replaced whole and never written through a link a planted .ae/runs folder could hold
    for name, text in (
        ("report.json", json.dumps(data, indent=2) + "\n"),
        ("report.md", render_markdown(report)),
    ):
        refuse_state_links(run_dir / name)
        write_atomic(run_dir / name, text.encode("utf-8"))
    return RunReport.model_validate(data)
