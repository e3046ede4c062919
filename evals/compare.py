"""Compare two results files: tasks that passed before and fail now, and figures that dropped."""

from __future__ import annotations

from pydantic import BaseModel, Field

from evals.graders import FIGURES, TaskResult
from evals.runner import Results

#: a figure must drop by more than this to count as a regression (timing noise, float sums)
FIGURE_SLACK = 0.005


class Comparison(BaseModel):
    regressions: list[str] = Field(default_factory=list)
    improvements: list[str] = Field(default_factory=list)

    def render(self) -> str:
        lines = [f"{len(self.regressions)} regression(s), {len(self.improvements)} improvement(s)"]
        lines += [f"  REGRESSION  {line}" for line in self.regressions]
        lines += [f"  improved    {line}" for line in self.improvements]
        return "\n".join(lines)


def _by_task(results: Results) -> dict[str, list[TaskResult]]:
    grouped: dict[str, list[TaskResult]] = {}
    for result in results.results:
        grouped.setdefault(result.task_id, []).append(result)
    return grouped


def compare(before: Results, after: Results) -> Comparison:
    """Regressions from ``before`` to ``after`` (a task counts as passed when all its repeats passed)."""
    comparison = Comparison()
    old, new = _by_task(before), _by_task(after)
    for task_id in sorted(old.keys() & new.keys()):
        was = all(r.passed for r in old[task_id])
        now = all(r.passed for r in new[task_id])
        if was and not now:
            failed = [c.name for r in new[task_id] for c in r.checks if not c.passed]
            comparison.regressions.append(
                f"task {task_id}: passed, now fails ({', '.join(failed[:5]) or 'error'})"
            )
        elif now and not was:
            comparison.improvements.append(f"task {task_id}: failed, now passes")
    for task_id in sorted(old.keys() - new.keys()):
        comparison.regressions.append(f"task {task_id}: in the old results, missing from the new")
    for figure in FIGURES:
        was_value, now_value = getattr(before.totals, figure), getattr(after.totals, figure)
        if was_value is None or now_value is None:
            continue
        if now_value < was_value - FIGURE_SLACK:
            comparison.regressions.append(f"{figure}: {was_value:.3f} -> {now_value:.3f}")
        elif now_value > was_value + FIGURE_SLACK:
            comparison.improvements.append(f"{figure}: {was_value:.3f} -> {now_value:.3f}")
    return comparison
