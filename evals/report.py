"""The eval's outputs: results.json, report.md, and a self-contained report.html with SVG charts.

The HTML has no script and loads nothing: charts are inline SVG, styles inline, so it opens offline
and renders the same in any browser (or a headless one in CI).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from evals.execute import BUILDS
from evals.graders import FIGURES, THRESHOLDS, TaskResult, Totals, missed_thresholds
from evals.runner import Results

_BAR_H = 18
_FAIL, _PASS, _NEUTRAL = "#d9534f", "#3c9d5d", "#4a78b5"


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
        verdict = "—" if value is None else ("meets" if value >= threshold else "MISSES")
        rows.append(f"| {figure} | {_fmt(value)} | ≥ {threshold} | {verdict} |")
    return rows


def _failed_checks(result: TaskResult) -> str:
    failed = [f"{c.name}: {c.detail}" for c in result.checks if not c.passed]
    if result.error:
        failed.insert(0, f"error: {result.error}")
    return "; ".join(failed).replace("|", "\\|").replace("\n", " ")[:400]


def render_markdown(results: Results) -> str:
    c, t = results.config, results.totals
    lines = [
        f"# ae eval — suite {c.suite}, agent {c.agent}",
        "",
        f"- started {results.started_at}, wall {results.wall_s:.0f} s, {t.runs} runs of {t.tasks} tasks "
        f"(repeat {c.repeat}), workers {c.workers}",
        f"- faults {c.faults}, seed {c.seed}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in results.versions.items())}",
        f"- machine: {results.machine.get('platform')}, {results.machine.get('cpu_count')} CPUs",
        "",
        "| figure | value | threshold | |",
        "|---|---|---|---|",
        *_figure_rows(t),
        "",
    ]
    missed = missed_thresholds(t)
    lines += [f"**Thresholds missed:** {', '.join(missed)}" if missed else "**All thresholds met.**", ""]
    lines += ["## By category", "", "| category | runs | pass rate |", "|---|---|---|"]
    lines += [f"| {k} | {int(v['runs'])} | {v['pass_rate']:.2f} |" for k, v in t.by_category.items()]
    lines += [
        "",
        "## Tasks",
        "",
        "| task | category | cmd | status | pass | DQ | QP | rel | s | failed checks |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.results:
        lines.append(
            f"| {_run_label(r, c.repeat)} | {r.category} | "
            f"{'yes' if r.is_command else 'no'} | {r.status} | {'✔' if r.passed else '✘'} | "
            f"{_fmt(r.data_quality)} | {_fmt(r.query_performance)} | {r.reliability:.0f} | "
            f"{r.duration_s:.0f} | {_failed_checks(r)} |"
        )
    return "\n".join(lines + _slower_builds(results)) + "\n"


def _slower_builds(results: Results) -> list[str]:
    """The runs whose build was slower than the reference's, with the medians behind the figure."""
    slower = [
        r
        for r in results.results
        if r.query_performance is not None
        and r.query_performance < 1.0
        and r.reference_build_s is not None
        and r.agent_build_s is not None
    ]
    if not slower:
        return []
    lines = [
        "",
        "## Builds slower than the reference",
        "",
        f"Median seconds dbt spent building the task's models, of {BUILDS} interleaved builds per side.",
        "",
        "| task | QP | reference s | agent s |",
        "|---|---|---|---|",
    ]
    for r in sorted(slower, key=lambda r: r.query_performance or 0.0):
        lines.append(
            f"| {_run_label(r, results.config.repeat)} | "
            f"{_fmt(r.query_performance)} | {r.reference_build_s:.3f} | {r.agent_build_s:.3f} |"
        )
    return lines


# --- html + svg ---------------------------------------------------------------------------------------


def _hbars(
    title: str,
    rows: Sequence[tuple[str, float, str]],
    maximum: float,
    unit: str = "",
    marks: Mapping[str, float] | None = None,
) -> str:
    """A horizontal bar chart: (label, value, colour) per row; ``marks`` draws a tick per label."""
    # wide enough for the longest label at ~7 px a character (task ids run long)
    label_w = max(120, 10 + 7 * max((len(label) for label, _, _ in rows), default=0))
    bar_w, pad = 360, 6
    height = len(rows) * (_BAR_H + pad) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 90}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value, colour) in enumerate(rows):
        y = 24 + i * (_BAR_H + pad)
        width = 0 if maximum <= 0 else max(1.0, bar_w * value / maximum)
        parts += [
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>',
            f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{_BAR_H}" fill="{colour}"/>',
            f'<text x="{label_w + width + 4:.1f}" y="{y + 13}">{value:.2f}{unit}</text>',
        ]
        if marks and label in marks:
            x = label_w + bar_w * marks[label] / maximum
            parts.append(_mark(x, y - 3, y + _BAR_H + 3))
    parts.append("</svg>")
    return "\n".join(parts)


def _mark(x: float, top: float, bottom: float) -> str:
    """A threshold: a dark dashed vertical line."""
    return (
        f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" '
        'stroke="#222" stroke-width="2" stroke-dasharray="4 2"/>'
    )


def _histogram(title: str, values: Sequence[float], threshold: float | None = None, bins: int = 20) -> str:
    """Counts of a [0, 1] figure in equal bins (1.0 lands in the last bin), the threshold dashed."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    top = max(counts) or 1
    width, height, bar = 420, 160, 420 // bins
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 40}" height="{height + 50}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="14" font-weight="bold">{escape(title)} (n={len(values)})</text>',
    ]
    for i, count in enumerate(counts):
        h = height * count / top
        x = 10 + i * bar
        parts += [
            f'<rect x="{x}" y="{24 + height - h:.1f}" width="{bar - 2}" height="{h:.1f}" fill="{_NEUTRAL}"/>',
            f'<text x="{x + bar / 2 - 4:.1f}" y="{20 + height - h:.1f}" font-size="10">{count or ""}</text>',
        ]
    # (position on the axis, label, row below the bars): the threshold's label sits a row above the
    # axis labels so it never overlaps the "1" beside it
    ticks = [(0.0, "0", 40), (0.5, "0.5", 40), (1.0, "1", 40)]
    if threshold is not None:
        parts.append(_mark(10 + bar * bins * threshold, 24, 24 + height))
        ticks.append((threshold, f"threshold {threshold:g}", 28))
    parts += [
        f'<text x="{10 + bar * bins * at:.1f}" y="{height + row}" font-size="11" '
        f'text-anchor="middle">{escape(label)}</text>'
        for at, label, row in ticks
    ]
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(results: Results) -> str:
    t = results.totals
    categories = [
        (name, v["pass_rate"], _PASS if v["pass_rate"] >= THRESHOLDS["success"] else _FAIL)
        for name, v in t.by_category.items()
    ]
    figures = [
        (name, getattr(t, name) or 0.0, _PASS if (getattr(t, name) or 0.0) >= THRESHOLDS[name] else _FAIL)
        for name in FIGURES
    ]
    durations = [
        (
            _run_label(r, results.config.repeat),
            r.duration_s,
            _PASS if r.passed else _FAIL,
        )
        for r in results.results
    ]
    charts = [
        _hbars("Figures vs thresholds (dashed)", figures, 1.0, marks=THRESHOLDS),
        _hbars("Pass rate per category", categories, 1.0),
        _histogram(
            "data_quality per task",
            [r.data_quality for r in results.results if r.data_quality is not None],
            THRESHOLDS["data_quality"],
        ),
        _histogram(
            "query_performance per task",
            [r.query_performance for r in results.results if r.query_performance is not None],
            THRESHOLDS["query_performance"],
        ),
        _histogram(
            "reliability per run", [r.reliability for r in results.results], THRESHOLDS["reliability"]
        ),
        _hbars("Duration per task (s)", durations, max((d for _, d, _ in durations), default=1.0), " s"),
    ]
    markdown = escape(render_markdown(results))
    c = results.config
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>ae eval — {escape(c.suite)} / {escape(c.agent)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
svg {{ font: 12px system-ui, sans-serif; margin: 1em 2em 1em 0; vertical-align: top; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }}
</style></head>
<body>
<h1>ae eval — suite {escape(c.suite)}, agent {escape(c.agent)}</h1>
<p>{t.runs} runs, {t.passed} passed; faults {c.faults}, seed {c.seed}; wall {results.wall_s:.0f} s.
Missed thresholds: {escape(", ".join(missed_thresholds(t)) or "none")}.</p>
<div>
{chr(10).join(charts)}
</div>
<h2>Report</h2>
<pre>{markdown}</pre>
</body></html>
"""
