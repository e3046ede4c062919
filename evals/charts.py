"""Inline SVG charts for the eval's report.html: labelled bars, and how a [0, 1] figure is spread.

SVG text neither wraps nor keeps itself inside the drawing, so every label's width is estimated
from its length (generously, so estimates err wide) and the label is placed where it fits: a
threshold's label goes on whichever side of its dashed line has room inside the plot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

FAIL, PASS, NEUTRAL = "#d9534f", "#3c9d5d", "#4a78b5"
#: below this many values a histogram is a couple of lone bars; each value is drawn as a dot instead
SMALL_SAMPLE = 8

_BAR_H, _BAR_GAP, _BAR_W = 18, 6, 320
# the [0, 1] axis of the distribution charts, in px
_PLOT_LEFT, _PLOT_W = 16, 420
_PLOT_RIGHT = _PLOT_LEFT + _PLOT_W
_PLOT_TOP = 24
#: a band at the top of the plot that holds the threshold's label, clear of bars and dots
_LABEL_BAND = 18
_BINS, _HIST_H = 20, 130
_DOT_R = 5


def text_width(text: str, font_size: float = 12) -> float:
    """An upper estimate of the rendered width of ``text`` in a sans-serif font of ``font_size`` px."""
    return len(text) * font_size * 0.6


def _svg(width: float, height: float, title: str, body: Sequence[str]) -> str:
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(title)}">',
            f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>',
            *body,
            "</svg>",
        ]
    )


def _dashed(x: float, top: float, bottom: float) -> str:
    """A threshold: a dark dashed vertical line."""
    return (
        f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" '
        'stroke="#222" stroke-width="2" stroke-dasharray="4 2"/>'
    )


def hbars(
    title: str,
    rows: Sequence[tuple[str, float, str]],
    maximum: float,
    unit: str = "",
    marks: Mapping[str, float] | None = None,
) -> str:
    """A horizontal bar chart: (label, value, colour) per row; ``marks`` draws a threshold per label."""
    marks = marks or {}
    label_w = max(120.0, 16 + max((text_width(label) for label, _, _ in rows), default=0.0))
    values = {
        label: f"{value:.2f}{unit}" + (f" (≥ {marks[label]:g})" if label in marks else "")
        for label, value, _ in rows
    }
    value_w = max((text_width(text) for text in values.values()), default=0.0)
    width = max(label_w + _BAR_W + 8 + value_w, text_width(title))
    height = 24 + len(rows) * (_BAR_H + _BAR_GAP) + 6
    scale = _BAR_W / maximum if maximum > 0 else 0.0
    body: list[str] = []
    for i, (label, value, colour) in enumerate(rows):
        y = 24 + i * (_BAR_H + _BAR_GAP)
        bar = max(1.0, value * scale)
        mark = marks[label] * scale if label in marks else 0.0
        body += [
            f'<text x="{label_w - 6:.1f}" y="{y + 13}" text-anchor="end">{escape(label)}</text>',
            f'<rect x="{label_w:.1f}" y="{y}" width="{bar:.1f}" height="{_BAR_H}" fill="{colour}"/>',
            # after the threshold's line too when the bar stops short of it, so the line never crosses it
            f'<text x="{label_w + max(bar, mark) + 4:.1f}" y="{y + 13}">{escape(values[label])}</text>',
        ]
        if label in marks:
            body.append(_dashed(label_w + mark, y - 3, y + _BAR_H + 3))
    return _svg(width, height, title, body)


def _x(value: float) -> float:
    return _PLOT_LEFT + _PLOT_W * min(1.0, max(0.0, value))


def _axis(bottom: float) -> list[str]:
    """The [0, 1] axis line along the plot's bottom and its tick labels below it."""
    parts = [f'<line x1="{_PLOT_LEFT}" y1="{bottom}" x2="{_PLOT_RIGHT}" y2="{bottom}" stroke="#888"/>']
    parts += [
        f'<text x="{_x(at):.1f}" y="{bottom + 14}" font-size="11" text-anchor="middle">{label}</text>'
        for at, label in ((0.0, "0"), (0.5, "0.5"), (1.0, "1"))
    ]
    return parts


def threshold_label(threshold: float) -> tuple[float, str]:
    """Where the threshold's label starts or ends (x) and its text-anchor, so it stays in the plot.

    Right of the dashed line when the text fits there, else left of it: one side always has room,
    since the label is much narrower than half the plot.
    """
    x, width = _x(threshold), text_width(f"threshold {threshold:g}", 11)
    return (x + 4, "start") if x + 4 + width <= _PLOT_RIGHT else (x - 4, "end")


#: a white outline behind text that may cross a line or a bar, so the text stays readable over it
_HALO = 'paint-order="stroke" stroke="#fff" stroke-width="3"'


def _threshold_text(threshold: float) -> str:
    x, anchor = threshold_label(threshold)
    return (
        f'<text x="{x:.1f}" y="{_PLOT_TOP + 12}" font-size="11" text-anchor="{anchor}" {_HALO}>'
        f"threshold {threshold:g}</text>"
    )


def _histogram(values: Sequence[float], bottom: float) -> tuple[list[str], list[str]]:
    """Bars of counts in equal bins (1.0 lands in the last bin), and each count's text above its bar."""
    counts = [0] * _BINS
    for v in values:
        counts[min(_BINS - 1, max(0, int(v * _BINS)))] += 1
    top, bar = max(counts), _PLOT_W / _BINS
    bars, texts = [], []
    for i, count in enumerate(counts):
        if not count:
            continue
        h = (_HIST_H - 14) * count / top  # 14 px above the tallest bar for its count
        x = _PLOT_LEFT + i * bar
        bars.append(
            f'<rect x="{x + 1:.1f}" y="{bottom - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
            f'fill="{NEUTRAL}"/>'
        )
        texts.append(
            f'<text x="{x + bar / 2:.1f}" y="{bottom - h - 3:.1f}" font-size="10" '
            f'text-anchor="middle" {_HALO}>{count}</text>'
        )
    return bars, texts


def _stacks(values: Sequence[tuple[str, float]]) -> list[tuple[str, float, int]]:
    """Each value with its height in a stack: values closer than a dot's width pile up."""
    seen: dict[int, int] = {}
    placed = []
    for label, value in sorted(values, key=lambda lv: lv[1]):
        column = round(_x(value) / (2 * _DOT_R))
        level = seen.get(column, 0)
        seen[column] = level + 1
        placed.append((label, value, level))
    return placed


def _dots(placed: Sequence[tuple[str, float, int]], threshold: float, bottom: float) -> list[str]:
    """One dot per value, coloured by whether it meets the threshold; its label shows on hover."""
    body = []
    for label, value, level in placed:
        cy = bottom - _DOT_R - 2 - level * (2 * _DOT_R + 1)
        body.append(
            f'<circle cx="{_x(value):.1f}" cy="{cy:.1f}" r="{_DOT_R}" '
            f'fill="{PASS if value >= threshold else FAIL}" stroke="#fff">'
            f"<title>{escape(label)}: {value:.3f}</title></circle>"
        )
    return body


def distribution(title: str, values: Sequence[tuple[str, float]], threshold: float) -> str:
    """How a [0, 1] figure is spread over runs: (run label, value) each, the threshold dashed.

    A histogram from SMALL_SAMPLE values up; below that a dot per run, stacked where they coincide.
    """
    heading = f"{title} (n={len(values)})"
    width = max(_PLOT_RIGHT + 16, text_width(heading))
    if not values:
        note = '<text x="0" y="40" fill="#666">no run has this figure</text>'
        return _svg(width, 50, heading, [note])
    small = len(values) < SMALL_SAMPLE
    placed = _stacks(values) if small else []
    levels = max((level + 1 for _, _, level in placed), default=0)
    plot_h = max(2, levels) * (2 * _DOT_R + 1) + 4 if small else _HIST_H
    bottom = _PLOT_TOP + _LABEL_BAND + plot_h
    line = _dashed(_x(threshold), _PLOT_TOP, bottom)
    if small:
        data = [line, *_dots(placed, threshold, bottom)]  # dots over the line, so one on it stays whole
    else:
        # the line over the bars (a bin can straddle the threshold), the counts over the line
        bars, counts = _histogram([v for _, v in values], bottom)
        data = [*bars, line, *counts]
    return _svg(width, bottom + 20, heading, [*data, _threshold_text(threshold), *_axis(bottom)])
