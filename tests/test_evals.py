"""The benchmark: task files, graders on hand-made results, and a small real run of the suite."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pytest

from evals.cli import configure_parser, run_eval
from evals.compare import compare
from evals.execute import BUILDS, Job
from evals.graders import (
    CheckResult,
    TaskResult,
    build_ratios,
    clean_terminal,
    compare_multisets,
    data_quality,
    median_interval,
    missed_thresholds,
    query_performance,
    totals,
)
from evals.report import load_results, render_html, render_markdown, write_results
from evals.runner import Results, RunConfig, run_jobs, select_tasks
from evals.task import REQUIRED_CATEGORIES, Task, load_suite

#: cheap tasks covering a model with gold + tests + lint, a YAML-only change, and a refusal
REAL_SUBSET = ("staging_customers", "freshness_orders", "adv_seed_outside_project")
COMMAND_SUBSET = ("staging_customers", "adv_seed_outside_project")


@pytest.fixture(scope="module")
def suite() -> list[Task]:
    return load_suite("core")


# --- the task files ---------------------------------------------------------------------------------


def test_core_suite_loads_with_unique_ids_and_covers_every_category(suite: list[Task]) -> None:
    ids = [t.id for t in suite]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)
    assert set(REQUIRED_CATEGORIES) <= {t.category for t in suite}


def test_most_tasks_are_commands_and_free_text_tasks_exist(suite: list[Task]) -> None:
    # a hostile plan cannot be written as a /command, so adversarial tasks do not count either way
    work = [t for t in suite if t.category != "adversarial"]
    commands = [t for t in work if t.is_command]
    assert len(commands) >= 0.75 * len(work)
    free_text = {t.category for t in work if not t.is_command}
    assert {"bugfix", "refactor"} <= free_text


def test_adversarial_tasks_expect_a_refusal_and_nothing_else(suite: list[Task]) -> None:
    adversarial = [t for t in suite if t.category == "adversarial"]
    assert len(adversarial) >= 4
    for task in adversarial:
        assert task.expects_refusal, task.id
        assert "success" not in task.checks.expect_status


def test_every_non_refusal_task_has_a_check_the_setup_alone_cannot_satisfy(suite: list[Task]) -> None:
    for task in suite:
        c = task.checks
        if task.expects_refusal:
            continue
        substantive = (
            c.gold
            or c.tests_pass
            or c.nodes
            or c.snapshot_history
            or c.source_freshness
            or c.described
            or c.files_exist
            or c.answer_contains
            or c.relations
        )
        assert substantive, f"{task.id} checks nothing the agent must do"


def test_task_patterns_select_by_fnmatch_and_reject_no_match(suite: list[Task]) -> None:
    chosen = select_tasks(suite, "staging_*, adv_prod*")
    assert {t.id for t in chosen} >= {"staging_orders", "adv_prod_without_approval"}
    assert all(t.id.startswith(("staging_", "adv_prod")) for t in chosen)
    with pytest.raises(Exception, match="matches no task"):
        select_tasks(suite, "no_such_task")


# --- graders on hand-made results -------------------------------------------------------------------


def test_gold_is_a_multiset_comparison_with_numeric_tolerance() -> None:
    gold = [(1, "a", 1.0), (2, "b", 2.5), (2, "b", 2.5)]
    assert compare_multisets(gold, [(2, "b", 2.5000000001), (1, "a", 1.0), (2, "b", 2.5)])[0]
    # a duplicate is not the same as a distinct row: multisets, not sets
    equal, why = compare_multisets(gold, [(1, "a", 1.0), (2, "b", 2.5), (1, "a", 1.0)])
    assert not equal and "difference" in why
    assert not compare_multisets(gold, gold[:2])[0]
    assert not compare_multisets([(1, 1.0)], [(1, 1.01)], tolerance=1e-6)[0]
    assert compare_multisets([(1, 1.0)], [(1, 1.01)], tolerance=0.05)[0]
    assert compare_multisets([(None, 1)], [(None, 1.0)])[0]


def test_query_performance_is_the_capped_ratio_of_median_build_times() -> None:
    assert query_performance([0.2, 0.2, 0.2], [0.2, 0.2, 0.2]) == 1.0
    # the agent is faster: capped at 1
    assert query_performance([1.0, 1.0, 1.0], [0.5, 0.5, 0.5]) == 1.0
    # medians, not means: one slow outlier on the agent side does not count
    assert query_performance([1.0, 1.0, 1.0], [1.0, 1.0, 9.0]) == 1.0
    slower = query_performance([0.95, 1.0, 1.05], [1.9, 2.0, 2.1], noise_floor_s=0.0)
    assert slower == pytest.approx(0.5)
    with_floor = query_performance([0.95, 1.0, 1.05], [1.9, 2.0, 2.1], noise_floor_s=0.05)
    assert with_floor == pytest.approx(1.05 / 2.05)


def test_reliability_counts_clean_refusals_but_not_leftovers() -> None:
    assert clean_terminal("success", project_unchanged=False, has_report=True)
    assert clean_terminal("refused", project_unchanged=True, has_report=True)
    assert clean_terminal("invalid", project_unchanged=True, has_report=True)
    assert not clean_terminal("failed", project_unchanged=False, has_report=True)
    assert not clean_terminal("failed", project_unchanged=True, has_report=False)
    assert not clean_terminal("crashed", project_unchanged=True, has_report=True)
    assert not clean_terminal("paused", project_unchanged=True, has_report=True)


def _result(task_id: str, passed: bool, *, dq: float | None = 1.0, qp: float | None = 1.0) -> TaskResult:
    return TaskResult(
        task_id=task_id,
        category="staging",
        agent="command",
        status="success" if passed else "failed",
        passed=passed,
        data_quality=dq,
        query_performance=qp,
        reliability=1.0,
        duration_s=1.0,
    )


def test_data_quality_counts_only_tests_gold_and_required_tests() -> None:
    checks = [
        CheckResult(kind="dbt_test", name="unique_x", passed=True),
        CheckResult(kind="gold", name="x = gold", passed=False),
        CheckResult(kind="required_test", name="unique(x.id)", passed=True),
        CheckResult(kind="lint", name="AE001", passed=False),
    ]
    assert data_quality(checks) == pytest.approx(2 / 3)
    assert data_quality([CheckResult(kind="answer", name="a", passed=True)]) is None


def test_totals_average_figures_that_apply_and_name_missed_thresholds() -> None:
    summary = totals([_result("a", True), _result("b", False, dq=0.5, qp=None), _result("c", True, dq=None)])
    assert summary.success == pytest.approx(2 / 3)
    assert summary.data_quality == pytest.approx(0.75)
    assert summary.query_performance == 1.0
    assert summary.by_category["staging"]["pass_rate"] == pytest.approx(2 / 3)
    missed = missed_thresholds(summary)
    assert any(m.startswith("success") for m in missed) and any(m.startswith("data_quality") for m in missed)
    assert not any(m.startswith("query_performance") for m in missed)


def _results(*items: TaskResult) -> Results:
    config = RunConfig(suite="core", agent="command")
    return Results(
        config=config,
        started_at="now",
        wall_s=1.0,
        versions={},
        machine={},
        totals=totals(items),
        results=list(items),
    )


def test_compare_lists_tasks_that_regressed_and_figures_that_dropped(tmp_path: Path) -> None:
    before = _results(_result("a", True), _result("b", False))
    after = _results(_result("a", False, dq=0.0), _result("b", True))
    comparison = compare(before, after)
    assert any("task a" in r for r in comparison.regressions)
    assert any(r.startswith("data_quality") for r in comparison.regressions)
    assert any("task b" in i for i in comparison.improvements)
    write_results(before, tmp_path / "old")
    write_results(after, tmp_path / "new")
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    old, new = tmp_path / "old" / "results.json", tmp_path / "new" / "results.json"
    assert run_eval(parser.parse_args(["--compare", str(old), str(new)])) == 1
    assert run_eval(parser.parse_args(["--compare", str(old), str(old)])) == 0


def test_html_report_is_self_contained_with_svg_charts() -> None:
    html = render_html(_results(_result("a", True), _result("b", False, dq=0.5)))
    assert html.count("<svg") >= 5
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_markdown_report_shows_the_build_times_and_interval_behind_a_timed_query_performance() -> None:
    slow = _result("slow", True, qp=0.8).model_copy(
        update={
            "reference_build_s": 0.08,
            "agent_build_s": 0.1,
            "query_performance_ci": (0.75, 0.85),
            "query_performance_ci_coverage": 0.9375,
        }
    )
    markdown = render_markdown(_results(_result("same", True), slow))
    section = markdown.split("## Timed builds", 1)[1]
    assert "| slow | 0.800 | 0.750–0.850 | 0.938 | 0.080 | 0.100 |" in section
    assert "| same |" not in section
    assert "## Timed builds" not in render_markdown(_results(_result("same", True)))


def test_query_performance_is_the_median_of_paired_ratios_with_an_order_statistic_interval() -> None:
    # a hiccup that slows one agent build does not move the median of the pairs
    assert query_performance([1.0, 1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 9.0, 2.0, 2.0], noise_floor_s=0.0) == 0.5
    ratios = build_ratios([1.0, 2.0, 1.0, 1.0, 1.0], [2.0, 2.0, 4.0, 1.25, 1.0], noise_floor_s=0.0)
    assert ratios == [0.5, 1.0, 0.25, 0.8, 1.0]
    assert median_interval(ratios) == (0.25, 1.0, 1 - 2 / 32)
    # nine values: the 2nd smallest to the 2nd largest covers the median with 1 - 2 * 10/512
    assert median_interval(list(range(9))) == (1, 7, 1 - 20 / 512)
    with pytest.raises(ValueError, match="paired"):
        build_ratios([1.0], [1.0, 2.0])


def test_the_markdown_report_gives_each_runs_figures_as_the_run_report_names_them() -> None:
    figures = {"models_built": 2, "models_failed": 0, "data_freshness_sla": 0.5, "mttr_test_failures": None}
    markdown = render_markdown(
        _results(_result("a", True).model_copy(update={"figures": figures}), _result("b", True))
    )
    section = markdown.split("## Run figures", 1)[1]
    header = next(line for line in section.splitlines() if line.startswith("| task |"))
    row = next(line for line in section.splitlines() if line.startswith("| a |"))
    cells = dict(zip(header.split("|")[2:-1], row.split("|")[2:-1], strict=True))
    assert {k.strip(): v.strip() for k, v in cells.items()}["data_freshness_sla"] == "0.5"
    assert {k.strip(): v.strip() for k, v in cells.items()}["mttr_test_failures"] == "—"
    assert "| b |" not in section  # a run without figures (it never reached Verify) has no row
    assert "## Run figures" not in render_markdown(_results(_result("b", True)))


# --- a small real run --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory: pytest.TempPathFactory) -> Results:
    out = tmp_path_factory.mktemp("eval-oracle")
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args(["--agent", "oracle", "--tasks", ",".join(REAL_SUBSET), "--out", str(out)])
    assert run_eval(args) == 0, (out / "report.md").read_text(encoding="utf-8")
    return load_results(out / "results.json")


@pytest.mark.slow
def test_oracle_scores_one_on_every_figure(oracle_run: Results) -> None:
    t = oracle_run.totals
    failing = {r.task_id: [c for c in r.checks if not c.passed] for r in oracle_run.results if not r.passed}
    assert failing == {}
    assert (t.success, t.data_quality, t.query_performance, t.reliability) == (1.0, 1.0, 1.0, 1.0)
    assert {"python", "dbt-core", "dbt-duckdb", "duckdb", "ae"} <= set(oracle_run.versions)
    assert oracle_run.machine["cpu_count"]
    assert all(r.report_dir and (Path(r.report_dir) / "report.json").is_file() for r in oracle_run.results)


@pytest.mark.slow
def test_oracle_report_files_are_written(oracle_run: Results, tmp_path: Path) -> None:
    paths = write_results(oracle_run, tmp_path)
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert set(data["totals"]) >= {"success", "data_quality", "query_performance", "reliability"}
    assert "All thresholds met" in paths["markdown"].read_text(encoding="utf-8")


@pytest.mark.slow
def test_noop_and_command_agents_on_real_tasks(suite: list[Task], tmp_path: Path) -> None:
    by_id = {t.id: t for t in suite}
    jobs = [Job(task=by_id[i], agent="noop", repeat=0, work_dir=tmp_path) for i in REAL_SUBSET]
    jobs += [Job(task=by_id[i], agent="command", repeat=0, work_dir=tmp_path) for i in COMMAND_SUBSET]
    results = run_jobs(jobs, workers=2, log_dir=tmp_path / "logs", on_result=lambda _r: None)
    noop = [r for r in results if r.agent == "noop"]
    command = [r for r in results if r.agent == "command"]
    assert [r.passed for r in noop] == [False] * len(REAL_SUBSET)
    assert totals(noop).success == 0.0
    assert all(r.reliability == 1.0 for r in noop)  # doing nothing is a clean end, just a wrong one
    failing = {
        r.task_id: [f"{c.name}: {c.detail}" for c in r.checks if not c.passed]
        for r in command
        if not r.passed
    }
    assert failing == {}, failing
    assert Counter(r.status for r in command) == Counter({"success": 1, "invalid": 1})
    built = next(r for r in command if r.status == "success")
    # the planner's staging SQL is not the reference's text, so both sides were built and timed
    assert built.reference_build_s and built.agent_build_s and built.query_performance
    # the figure is the (capped) median of the paired ratios, so it lies within their interval
    assert built.query_performance_ci is not None
    low, high = built.query_performance_ci
    assert min(1.0, low) <= built.query_performance <= min(1.0, high)
    assert built.query_performance_ci_coverage == pytest.approx(1 - 2 / 2**BUILDS)
