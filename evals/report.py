"""The eval's outputs: results.json, report.md, and a self-contained report.html with SVG charts.

The HTML is report.md rendered by markdown-it (real tables and headings) with the charts between its
summary and its details. It has no script and loads nothing: charts are inline SVG (evals/charts.py),
styles inline, so it opens offline and renders the same in any browser (or a headless one in CI).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from string import Template

from markdown_it import MarkdownIt

from evals.charts import FAIL, PASS, distribution, hbars
from evals.execute import BUILDS
from evals.graders import FIGURES, THRESHOLDS, TaskResult, Totals, missed_thresholds
from evals.runner import Results


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _run_label(result: TaskResult, repeats: int) -> str:
    """The task id, with the repeat number when the run repeated tasks."""
    return f"{result.task_id} #{result.repeat}" if repeats > 1 else result.task_id


def write_results(results: Results, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "results.json",
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
    }
    paths["json"].write_text(results.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(results), encoding="utf-8")
    paths["html"].write_text(render_html(results), encoding="utf-8")
    return paths


def load_results(path: Path) -> Results:
    return Results.model_validate(json.loads(path.read_text(encoding="utf-8")))


# --- markdown ---------------------------------------------------------------------------------------


def _figure_rows(summary: Totals) -> list[str]:
    rows = []
    for figure in FIGURES:
        value = getattr(summary, figure)
        threshold = THRESHOLDS[figure]
        verdict = "—" if value is None else ("meets" if value >= threshold else "**MISSES**")
        rows.append(f"| {figure} | {_fmt(value)} | ≥ {threshold} | {verdict} |")
    return rows


def _failed_checks(result: TaskResult) -> str:
    failed = [f"{c.name}: {c.detail}" for c in result.checks if not c.passed]
    if result.error:
        failed.insert(0, f"error: {result.error}")
    return "; ".join(failed).replace("|", "\\|").replace("\n", " ")[:400]


def _summary_lines(results: Results) -> list[str]:
    """The heading, the run's settings, the figures against their thresholds and the verdict."""
    c, t = results.config, results.totals
    missed = missed_thresholds(t)
    return [
        f"# ae eval — suite {c.suite}, agent {c.agent}",
        "",
        f"- started {results.started_at}, wall {results.wall_s:.0f} s, {t.runs} runs of {t.tasks} tasks "
        f"(repeat {c.repeat}), workers {c.workers}",
        f"- faults {c.faults}, seed {c.seed}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in results.versions.items())}",
        f"- machine: {results.machine.get('platform')}, {results.machine.get('cpu_count')} CPUs",
        "",
        "| figure | value | threshold | |",
        "|---|--:|--:|---|",
        *_figure_rows(t),
        "",
        f"**Thresholds missed:** {', '.join(missed)}" if missed else "**All thresholds met.**",
        "",
    ]


def _detail_lines(results: Results) -> list[str]:
    """Pass rates per category, a row per run, and the builds slower than the reference's."""
    c, t = results.config, results.totals
    lines = ["## By category", "", "| category | runs | pass rate |", "|---|--:|--:|"]
    lines += [f"| {k} | {int(v['runs'])} | {v['pass_rate']:.2f} |" for k, v in t.by_category.items()]
    lines += [
        "",
        "## Tasks",
        "",
        "| task | category | cmd | status | pass | DQ | QP | rel | s | failed checks |",
        "|---|---|---|---|:-:|--:|--:|--:|--:|---|",
    ]
    for r in results.results:
        lines.append(
            f"| {_run_label(r, c.repeat)} | {r.category} | "
            f"{'yes' if r.is_command else 'no'} | {r.status} | {'✔' if r.passed else '✘'} | "
            f"{_fmt(r.data_quality)} | {_fmt(r.query_performance)} | {r.reliability:.0f} | "
            f"{r.duration_s:.0f} | {_failed_checks(r)} |"
        )
    return lines + _run_figures(results) + _timed_builds(results)


#: the figures of each run shown in the report, named as Figures names them (graph/figures.py)
RUN_FIGURES = (
    "models_built",
    "models_failed",
    "build_seconds_mean",
    "build_seconds_p95",
    "test_pass_rate",
    "schema_compliance",
    "documentation_coverage",
    "data_freshness_sla",
    "incremental_models_ratio",
    "query_efficiency",
    "downstream_impact",
    "mttr_test_failures",
)


def _cell(value: object) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _run_figures(results: Results) -> list[str]:
    """Each run's figures as its run report gives them (runs that reached Verify)."""
    runs = [r for r in results.results if r.figures]
    if not runs:
        return []
    return [
        "",
        "## Run figures",
        "",
        "| task | " + " | ".join(RUN_FIGURES) + " |",
        "|---|" + "--:|" * len(RUN_FIGURES),
        *(
            f"| {_run_label(r, results.config.repeat)} | "
            + " | ".join(_cell(r.figures.get(name)) for name in RUN_FIGURES)
            + " |"
            for r in runs
        ),
    ]


def render_markdown(results: Results) -> str:
    return "\n".join(_summary_lines(results) + _detail_lines(results)) + "\n"


def _timed_builds(results: Results) -> list[str]:
    """The runs whose builds were timed against the reference's, with the interval behind the figure."""
    timed = [
        r
        for r in results.results
        if r.query_performance_ci is not None
        and r.reference_build_s is not None
        and r.agent_build_s is not None
    ]
    if not timed:
        return []
    lines = [
        "",
        "## Timed builds",
        "",
        f"Each side built the task's models {BUILDS} times, interleaved in pairs. QP is min(1, median of "
        "the pairs' reference/agent ratios); the interval is an order-statistic confidence interval for "
        "that median (uncapped), with its coverage; the seconds are each side's median. A run whose SQL "
        "is the reference's is not timed (QP 1.0).",
        "",
        "| task | QP | ratio interval | coverage | reference s | agent s |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for r in sorted(timed, key=lambda r: (r.query_performance or 0.0, r.task_id, r.repeat)):
        low, high = r.query_performance_ci or (0.0, 0.0)
        lines.append(
            f"| {_run_label(r, results.config.repeat)} | {_fmt(r.query_performance)} | "
            f"{low:.3f}–{high:.3f} | {_fmt(r.query_performance_ci_coverage)} | "
            f"{r.reference_build_s:.3f} | {r.agent_build_s:.3f} |"
        )
    return lines


# --- html -------------------------------------------------------------------------------------------

#: raw HTML in the Markdown (a task id, an error message) is shown as text, never interpreted
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")

_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em 2.5em; align-items: flex-start; }
svg { font: 12px system-ui, sans-serif; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
tbody tr:nth-child(even) { background: #fafafa; }
td:first-child { white-space: nowrap; }
td:last-child { max-width: 48em; overflow-wrap: anywhere; }
code, pre { background: #f6f6f6; font-size: 12px; }
pre { padding: 1em; overflow-x: auto; }
</style></head>
<body>
$summary
<h2>Charts</h2>
<div class="charts">
$charts
</div>
$details
</body></html>
""")


def _charts(results: Results) -> list[str]:
    t = results.totals
    figures = [
        (name, getattr(t, name) or 0.0, PASS if (getattr(t, name) or 0.0) >= THRESHOLDS[name] else FAIL)
        for name in FIGURES
    ]
    categories = [
        (name, v["pass_rate"], PASS if v["pass_rate"] >= THRESHOLDS["success"] else FAIL)
        for name, v in t.by_category.items()
    ]
    runs = [(_run_label(r, results.config.repeat), r) for r in results.results]
    durations = [(label, r.duration_s, PASS if r.passed else FAIL) for label, r in runs]
    return [
        hbars("Figures vs thresholds (dashed)", figures, 1.0, marks=THRESHOLDS),
        hbars(
            "Pass rate per category",
            categories,
            1.0,
            marks=dict.fromkeys(t.by_category, THRESHOLDS["success"]),
        ),
        distribution(
            "data_quality per task",
            [(label, r.data_quality) for label, r in runs if r.data_quality is not None],
            THRESHOLDS["data_quality"],
        ),
        distribution(
            "query_performance per task",
            [(label, r.query_performance) for label, r in runs if r.query_performance is not None],
            THRESHOLDS["query_performance"],
        ),
        distribution(
            "reliability per run", [(label, r.reliability) for label, r in runs], THRESHOLDS["reliability"]
        ),
        hbars("Duration per task (s)", durations, max((d for _, d, _ in durations), default=1.0), " s"),
    ]


def render_html(results: Results) -> str:
    c = results.config
    return _PAGE.substitute(
        title=escape(f"ae eval — {c.suite} / {c.agent}"),
        summary=_MARKDOWN.render("\n".join(_summary_lines(results))),
        charts="\n".join(_charts(results)),
        details=_MARKDOWN.render("\n".join(_detail_lines(results))),
    )
