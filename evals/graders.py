"""Scoring: per-check results, the three figures per task, and the suite's totals against thresholds.

Everything here is pure (rows, timings and statuses in; numbers out) so the graders are tested on
hand-made results; evals/checks.py gathers those inputs from a real run.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

#: the least each benchmark figure may be; one below it is a miss (missed_thresholds)
THRESHOLDS: dict[str, float] = {
    "success": 0.95,
    "data_quality": 0.98,
    "query_performance": 0.95,
    "reliability": 0.99,
}
FIGURES: tuple[str, ...] = ("success", "data_quality", "query_performance", "reliability")
#: statuses a run may end in that are clean when nothing was left behind and a report was written
REFUSALS = frozenset({"refused", "invalid", "failed"})
#: dbt's per-node timer cannot tell apart builds this close on a small warehouse; added to both
#: sides of the query-performance ratio so noise on a 20 ms view build does not read as a slowdown
TIMING_NOISE_FLOOR_S = 0.05
#: the confidence asked of the interval around a task's median build-time ratio
MEDIAN_CI = 0.9

CheckKind = Literal[
    "status",
    "relation",
    "gold",
    "dbt_test",
    "required_test",
    "lint",
    "unchanged",
    "raw_intact",
    "node",
    "incremental",
    "snapshot_history",
    "source_freshness",
    "described",
    "file",
    "answer",
    "after",
]
#: the checks data_quality counts (dbt tests on the task's models, gold equality, required tests)
QUALITY_KINDS = frozenset({"dbt_test", "gold", "required_test"})


class CheckResult(BaseModel):
    kind: CheckKind
    name: str
    passed: bool
    detail: str = ""


# --- gold equality --------------------------------------------------------------------------------


def _normal(value: Any) -> Any:
    """A comparable form: numbers as floats, times as ISO text, everything else as text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _sort_key(row: tuple[Any, ...], digits: int) -> tuple[Any, ...]:
    # rounding numbers for ordering keeps rows that are equal within tolerance next to each other
    return tuple(
        (0, "")
        if v is None
        else (1, round(v, digits))
        if isinstance(v, float) and not isinstance(v, bool)
        else (2, str(v))
        for v in row
    )


def _values_match(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, float) and isinstance(b, float) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)
    return bool(a == b)


def compare_multisets(
    expected: Sequence[Sequence[Any]], actual: Sequence[Sequence[Any]], tolerance: float = 1e-6
) -> tuple[bool, str]:
    """Whether two row collections are equal as multisets, numbers within ``tolerance``; and why not."""
    if len(expected) != len(actual):
        return False, f"{len(actual)} rows, expected {len(expected)}"
    digits = max(0, int(-math.log10(tolerance))) if tolerance > 0 else 12
    want = sorted((tuple(_normal(v) for v in row) for row in expected), key=lambda r: _sort_key(r, digits))
    have = sorted((tuple(_normal(v) for v in row) for row in actual), key=lambda r: _sort_key(r, digits))
    for index, (w, h) in enumerate(zip(want, have, strict=True)):
        if len(w) != len(h) or not all(_values_match(a, b, tolerance) for a, b in zip(w, h, strict=False)):
            return False, f"first difference at sorted row {index}: got {h!r}, expected {w!r}"
    return True, f"{len(actual)} rows equal"


# --- the figures ----------------------------------------------------------------------------------


def data_quality(checks: Iterable[CheckResult]) -> float | None:
    """Quality checks passed / run; None when the task runs none (lineage answers, refusals)."""
    counted = [c for c in checks if c.kind in QUALITY_KINDS]
    if not counted:
        return None
    return sum(c.passed for c in counted) / len(counted)


def median_build(seconds: Sequence[float]) -> float:
    if not seconds:
        raise ValueError("no build timings to take the median of")
    return float(statistics.median(seconds))


def build_ratios(
    reference_s: Sequence[float], agent_s: Sequence[float], noise_floor_s: float = TIMING_NOISE_FLOOR_S
) -> list[float]:
    """reference / agent seconds per interleaved pair of builds (the noise floor added to both)."""
    if not reference_s or len(reference_s) != len(agent_s):
        raise ValueError(f"need paired build timings, got {len(reference_s)} and {len(agent_s)}")
    return [(r + noise_floor_s) / (a + noise_floor_s) for r, a in zip(reference_s, agent_s, strict=True)]


def query_performance(
    reference_s: Sequence[float], agent_s: Sequence[float], noise_floor_s: float = TIMING_NOISE_FLOOR_S
) -> float:
    """min(1, median of the paired reference/agent build-time ratios).

    Pairing cancels what a moment of the shared machine does to both builds of a pair; the median
    drops the pair a hiccup hit on one side only.
    """
    return min(1.0, float(statistics.median(build_ratios(reference_s, agent_s, noise_floor_s))))


def median_interval(values: Sequence[float], confidence: float = MEDIAN_CI) -> tuple[float, float, float]:
    """A distribution-free confidence interval for the median: (low, high, coverage).

    The interval between the j-th smallest and j-th largest of n values covers the true median with
    probability 1 - 2 * P(Binomial(n, 1/2) < j); j is the largest that still reaches ``confidence``
    (j = 1, min to max, when none does: its coverage is returned, so the report states it).
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values to bound the median of")

    def coverage(j: int) -> float:
        return 1.0 - 2.0 * sum(math.comb(n, i) for i in range(j)) / 2.0**n

    j = 1
    while j + 1 <= (n + 1) // 2 and coverage(j + 1) >= confidence:
        j += 1
    return ordered[j - 1], ordered[n - j], coverage(j)


def clean_terminal(status: str, *, project_unchanged: bool, has_report: bool) -> bool:
    """A run ended cleanly: success, or a refusal/failure that rolled back and wrote its report."""
    if status == "success":
        return True
    return status in REFUSALS and project_unchanged and has_report


# --- results --------------------------------------------------------------------------------------


class TaskResult(BaseModel):
    task_id: str
    category: str
    agent: str
    repeat: int = 0
    is_command: bool = True
    status: str
    reason: str = ""
    passed: bool
    checks: list[CheckResult] = Field(default_factory=list)
    data_quality: float | None = None
    query_performance: float | None = None
    #: median seconds dbt spent building the task's models, per side, when they were timed
    reference_build_s: float | None = None
    agent_build_s: float | None = None
    #: order-statistic interval around the median paired ratio (before the cap at 1) and its coverage
    query_performance_ci: tuple[float, float] | None = None
    query_performance_ci_coverage: float | None = None
    reliability: float
    duration_s: float
    agent_s: float = 0.0
    fault_seed: int | None = None
    faults_injected: int = 0
    retries: int = 0
    error: str | None = None
    report_dir: str | None = None
    #: the agent's run figures (graph/figures.py Figures), as its run report carries them
    figures: dict[str, Any] = Field(default_factory=dict)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


class Totals(BaseModel):
    tasks: int
    runs: int
    passed: int
    success: float | None
    data_quality: float | None
    query_performance: float | None
    reliability: float | None
    mean_duration_s: float | None
    by_category: dict[str, dict[str, float]] = Field(default_factory=dict)


def totals(results: Sequence[TaskResult]) -> Totals:
    categories: dict[str, list[TaskResult]] = {}
    for result in results:
        categories.setdefault(result.category, []).append(result)
    return Totals(
        tasks=len({r.task_id for r in results}),
        runs=len(results),
        passed=sum(r.passed for r in results),
        success=_mean(float(r.passed) for r in results),
        data_quality=_mean(r.data_quality for r in results),
        query_performance=_mean(r.query_performance for r in results),
        reliability=_mean(r.reliability for r in results),
        mean_duration_s=_mean(r.duration_s for r in results),
        by_category={
            name: {"runs": len(rs), "pass_rate": sum(r.passed for r in rs) / len(rs)}
            for name, rs in sorted(categories.items())
        },
    )


def missed_thresholds(summary: Totals) -> list[str]:
    """One line per figure below its threshold (a figure nothing measured is not a miss)."""
    missed = []
    for figure, threshold in THRESHOLDS.items():
        value = getattr(summary, figure)
        if value is not None and value < threshold:
            missed.append(f"{figure} {value:.3f} < {threshold}")
    return missed
