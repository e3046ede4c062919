"""report.html read back with html.parser: real tables, escaped text, and charts whose text stays inside."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evals.charts import SMALL_SAMPLE, distribution, hbars
from evals.cli import configure_parser, run_eval
from evals.graders import CheckResult, TaskResult, totals
from evals.report import render_html
from evals.runner import Results, RunConfig

#: wider than any sans-serif glyph run at 11-12 px averages, so a label this wide still fits
_PX_PER_CHAR = 0.62


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Svg:
    width: float
    height: float
    elements: list[Element] = field(default_factory=list)


class _Page(HTMLParser):
    """Every element's tag, attributes and text; SVG charts apart with their own elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.svgs: list[Svg] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        if tag == "svg":
            self.svgs.append(Svg(float(element.attrs["width"]), float(element.attrs["height"])))
        elif self.svgs and any(e.tag == "svg" for e in self._open):
            self.svgs[-1].elements.append(element)
        self.elements.append(element)
        self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1].text += data

    def tags(self, tag: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag]


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _extent(text: Element) -> tuple[float, float]:
    """The horizontal span a <text> covers, from its x, anchor and a generous width estimate."""
    x = float(text.attrs["x"])
    width = len(text.text) * float(text.attrs.get("font-size", "12")) * _PX_PER_CHAR
    anchor = text.attrs.get("text-anchor", "start")
    if anchor == "end":
        return x - width, x
    if anchor == "middle":
        return x - width / 2, x + width / 2
    return x, x + width


def _run(task_id: str, *, dq: float | None = 1.0, passed: bool = True, detail: str = "") -> TaskResult:
    checks = [CheckResult(kind="gold", name="gold", passed=False, detail=detail)] if detail else []
    return TaskResult(
        task_id=task_id,
        category="staging",
        agent="command",
        status="success" if passed else "failed",
        passed=passed,
        checks=checks,
        data_quality=dq,
        query_performance=1.0,
        reliability=1.0,
        duration_s=2.0,
    )


def _results(*runs: TaskResult) -> Results:
    return Results(
        config=RunConfig(suite="core", agent="command"),
        started_at="2026-11-30T16:00:00",
        wall_s=3.0,
        versions={"python": "3.11"},
        machine={"platform": "linux", "cpu_count": 2},
        totals=totals(runs),
        results=list(runs),
    )


def test_the_report_tables_are_html_tables_not_markdown_pipes() -> None:
    page = _parse(render_html(_results(_run("a"), _run("b", dq=0.5, passed=False))))
    html_text = "".join(e.text for e in page.elements)
    assert "|---" not in html_text and "---|" not in html_text
    assert not page.tags("pre")
    # the figures, the categories and the tasks
    assert len(page.tags("table")) == 3
    assert [h.text for h in page.tags("h1")] == ["ae eval — suite core, agent command"]
    assert {"By category", "Tasks", "Charts"} <= {h.text for h in page.tags("h2")}
    assert "MISSES" in [e.text for e in page.tags("strong")]  # the figure b's 0.5 pulled below 0.98


def test_text_from_the_run_is_escaped_and_a_pipe_stays_inside_its_cell() -> None:
    hostile = "<script>alert(1)</script>"
    run = _run(hostile, passed=False, detail="expected a | b, got <b>c</b>")
    html = render_html(_results(run))
    assert "<script" not in html and "<b>" not in html
    page = _parse(html)
    tasks_table = max(i for i, e in enumerate(page.elements) if e.tag == "table")
    cells = page.elements[tasks_table:]
    headers, row = [e for e in cells if e.tag == "th"], [e for e in cells if e.tag == "td"]
    assert len(row) == len(headers) == 10  # one run: as many cells as headers, the pipe split none
    assert row[0].text == hostile
    assert row[-1].text == "gold: expected a | b, got <b>c</b>"


@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.5, 0.9, 0.95, 0.98, 0.99, 1.0])
@pytest.mark.parametrize("n", [2, SMALL_SAMPLE])
def test_a_threshold_label_sits_inside_the_chart(threshold: float, n: int) -> None:
    svg = _parse(distribution("figure", [(f"t{i}", 1.0) for i in range(n)], threshold)).svgs[0]
    (label,) = [e for e in svg.elements if e.tag == "text" and e.text.startswith("threshold")]
    left, right = _extent(label)
    assert 0 <= float(label.attrs["x"]) <= svg.width
    assert left >= 0 and right <= svg.width, (threshold, left, right, svg.width)


def test_every_text_in_the_report_charts_sits_inside_its_svg() -> None:
    runs = [_run(f"staging_model_with_a_long_name_{i}", dq=i / 10) for i in range(10)] + [_run("x", dq=None)]
    page = _parse(render_html(_results(*runs)))
    assert len(page.svgs) == 6
    thresholds = 0
    for svg in page.svgs:
        for text in (e for e in svg.elements if e.tag == "text"):
            left, right = _extent(text)
            assert left >= 0 and right <= svg.width, (text, svg.width)
            assert 0 < float(text.attrs["y"]) <= svg.height
            thresholds += text.text.startswith("threshold")
    assert thresholds == 3  # data_quality, query_performance, reliability


def test_bar_values_sit_right_of_their_threshold_and_inside_the_chart() -> None:
    rows = [("data_quality", 1.0, "#000"), ("query_performance", 0.9, "#000")]
    svg = _parse(hbars("figures", rows, 1.0, marks={"data_quality": 0.98, "query_performance": 0.95})).svgs[0]
    values = [e for e in svg.elements if e.tag == "text" and e.text[:1].isdigit()]
    lines = [e for e in svg.elements if e.tag == "line"]
    assert [v.text for v in values] == ["1.00 (≥ 0.98)", "0.90 (≥ 0.95)"]
    for value, line in zip(values, lines, strict=True):
        # the 0.90 bar stops short of its 0.95 line: its value still starts after the line
        assert float(value.attrs["x"]) > float(line.attrs["x1"])
        assert _extent(value)[1] <= svg.width


def test_a_small_sample_is_dots_and_a_large_one_a_histogram() -> None:
    small = _parse(distribution("dq", [("a", 1.0), ("b", 0.5)], 0.98)).svgs[0]
    circles = [e for e in small.elements if e.tag == "circle"]
    assert len(circles) == 2 and not [e for e in small.elements if e.tag == "rect"]
    # coloured by the threshold, named on hover
    assert {c.attrs["fill"] for c in circles} == {"#3c9d5d", "#d9534f"}
    assert {e.text for e in small.elements if e.tag == "title"} == {"a: 1.000", "b: 0.500"}
    large = _parse(distribution("dq", [(str(i), i / SMALL_SAMPLE) for i in range(SMALL_SAMPLE)], 0.98)).svgs[
        0
    ]
    assert [e for e in large.elements if e.tag == "rect"]
    assert not [e for e in large.elements if e.tag == "circle"]


def test_equal_values_stack_as_separate_dots_inside_the_chart() -> None:
    svg = _parse(distribution("rel", [(str(i), 1.0) for i in range(SMALL_SAMPLE - 1)], 0.99)).svgs[0]
    circles = [e for e in svg.elements if e.tag == "circle"]
    heights = [float(c.attrs["cy"]) for c in circles]
    assert len(set(heights)) == len(circles)
    radius = float(circles[0].attrs["r"])
    assert all(radius <= h <= svg.height - radius for h in heights)
    assert all(float(c.attrs["cx"]) + radius <= svg.width for c in circles)


def test_a_figure_no_run_has_says_so_instead_of_drawing_an_empty_axis() -> None:
    svg = _parse(distribution("query_performance per task", [], 0.95)).svgs[0]
    assert "no run has this figure" in [e.text for e in svg.elements if e.tag == "text"]
    assert not [e for e in svg.elements if e.tag in {"rect", "circle", "line"}]


@pytest.mark.slow
def test_a_real_eval_run_writes_a_readable_report_html(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = ["--agent", "oracle", "--tasks", "adv_seed_outside_project", "--out", str(tmp_path)]
    assert run_eval(parser.parse_args(args)) == 0
    page = _parse((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert len(page.tags("table")) == 3 and not page.tags("pre")
    assert any(e.text == "adv_seed_outside_project" for e in page.tags("td"))
    # a refusal has a reliability (one dot) but neither data quality nor query performance
    texts = [e.text for svg in page.svgs for e in svg.elements]
    assert len([e for svg in page.svgs for e in svg.elements if e.tag == "circle"]) == 1
    assert texts.count("no run has this figure") == 2
