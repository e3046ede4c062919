"""Run budgets and the loop's refusals, on the fake Messages API through the real SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.claude_planner import planning_tools
from agent.llm.anthropic_client import AnthropicClient
from agent.loop import Budgets, ToolLoop
from graph.plan_spec import PlanningFailed
from tests.fake_anthropic import FakeAnthropic, Step, message, text, token_usage, tool_use
from tests.test_claude_run import fast_retries, project, run_cli
from tests.test_tool_loop import ctx
from tools.context import ToolContext
from tools.registry import all_tools

__all__ = ["ctx", "fast_retries", "project"]  # fixtures shared with test_claude_run, test_tool_loop

#: 100k input tokens of claude-sonnet-5-5 at $2 per million: $0.20 a call
COSTLY = token_usage(100_000, 0)
BROKEN_SQL = "select id from {{ ref('no_such_model') }}\n"


def sdk_loop(base_url: str, *, model: str = "claude-sonnet-5-5", budgets: Budgets | None = None) -> ToolLoop:
    return ToolLoop(
        client=AnthropicClient(api_key="test-key", base_url=base_url, model=model),
        model=model,
        system="You plan dbt changes.",
        tools=all_tools(planning_tools),
        describe=lambda spec: spec.description,
        submit_description="Submit the plan.",
        budgets=budgets or Budgets(),
    )


def test_the_cost_budget_counts_every_plan_visit_of_a_run(
    monkeypatch: pytest.MonkeyPatch, project: Path, fast_retries: None
) -> None:
    # Each visit writes a model that does not parse, so Validate sends the run back to Plan. A visit
    # costs $0.40, well under the $1 budget: only counted over the run does it run out, in visit 3.
    visit = [
        tool_use("write_file", {"path": "models/broken.sql", "content": BROKEN_SQL}, usage=COSTLY),
        tool_use("submit_plan", {"summary": "adds broken"}, usage=COSTLY),
    ]
    monkeypatch.setenv("AE_MAX_COST_USD", "1.0")
    with FakeAnthropic(visit * 4) as fake:
        code, out, err = run_cli(monkeypatch, fake.base_url, project, "--json")
        served = len(fake.requests)
    report = json.loads(out)
    assert code != 0, out + err
    assert "run budget exceeded: cost" in report["reason"]
    assert report["plan_visits"] == 3
    assert served == 6  # the 6th call took the run to $1.20, so its submit_plan was not run
    assert report["llm_usage"]["cost_usd"] == pytest.approx(1.2)
    assert report["llm_usage"]["budget_cost_usd"] == 1.0
    assert not (project / "models" / "broken.sql").exists()  # the last failure rolled back


def test_a_failed_edit_beside_submit_plan_goes_back_to_the_model(ctx: ToolContext) -> None:
    edit = {"path": "models/a.sql", "old": "select 2", "new": "select 3"}  # no "select 2" there
    bad_edit = {"type": "tool_use", "id": "e1", "name": "edit_file", "input": edit}
    submit = {"type": "tool_use", "id": "s1", "name": "submit_plan", "input": {"summary": "a -> 3"}}
    steps: list[Step] = [
        message([bad_edit, submit], stop_reason="tool_use"),
        tool_use("edit_file", {"path": "models/a.sql", "old": "select 1", "new": "select 3"}, id="e2"),
        tool_use("submit_plan", {"summary": "a -> 3"}, id="s2"),
    ]
    with FakeAnthropic(steps) as fake:
        submitted, usage = sdk_loop(fake.base_url).run(ctx, "make a return 3")
        second = fake.requests[1].body["messages"][-1]["content"]
    edit_result, submit_result = second
    assert edit_result["is_error"] is True
    assert submit_result["is_error"] is True and "edit_file (e1) failed" in submit_result["content"]
    assert submitted.summary == "a -> 3" and usage["llm_calls"] == 3
    assert ctx.changeset.view(ctx.paths, "models/a.sql") == "select 3 as id\n"


def test_a_tool_that_keeps_failing_ends_the_loop_with_its_error(ctx: ToolContext) -> None:
    missing = tool_use("read_file", {"path": "models/missing.sql"})
    with FakeAnthropic([missing] * 5) as fake:
        with pytest.raises(PlanningFailed, match="read_file failed 3 times in a row") as failed:
            sdk_loop(fake.base_url, budgets=Budgets(max_tool_failures=3)).run(ctx, "read it")
        assert len(fake.requests) == 3
    assert "missing.sql" in str(failed.value)


def test_a_model_with_no_price_is_refused_unless_the_cost_budget_is_off(ctx: ToolContext) -> None:
    with FakeAnthropic([text("hi"), text("hi")]) as fake:
        with pytest.raises(PlanningFailed, match="no price on file for model 'claude-unpriced-9'"):
            sdk_loop(fake.base_url, model="claude-unpriced-9").run(ctx, "q")
        assert fake.requests == []  # refused before spending anything
        off = Budgets(max_cost_usd=None)
        submitted, usage = sdk_loop(fake.base_url, model="claude-unpriced-9", budgets=off).run(ctx, "q")
    assert submitted.answer == "hi" and "cost_usd" not in usage


def test_one_large_response_is_caught_right_after_the_call(ctx: ToolContext) -> None:
    huge = tool_use("write_file", {"path": "models/b.sql", "content": "select 2 as id\n"}, usage=COSTLY)
    with FakeAnthropic([huge]) as fake, pytest.raises(PlanningFailed, match=r"cost \$0.2000 > max \$0.1"):
        sdk_loop(fake.base_url, budgets=Budgets(max_cost_usd=0.1)).run(ctx, "q")
    assert ctx.changeset.is_empty  # the over-budget response's tool calls were not run


def test_retries_are_counted_per_run_not_per_session(tmp_path: Path) -> None:
    from agent.claude_planner import ClaudePlanner
    from agent.llm.base import LLMRequest, LLMResponse, LLMUnavailable
    from agent.llm.scripted import ScriptedClient, text_response
    from agent.runner import Session
    from agent.settings import load_settings
    from tools.example_project import create_example_project

    project = create_example_project(tmp_path / "shop")
    settings = load_settings(project, retry_initial_wait_s=0.001, retry_max_wait_s=0.002)

    def busy_once(_request: LLMRequest, index: int) -> LLMResponse:
        if index == 0:
            raise LLMUnavailable("overloaded", status=529)
        return text_response("no change needed")

    planner = ClaudePlanner.from_settings(settings, ScriptedClient(busy_once))
    with Session(settings) as session:
        first = session.run("is anything stale?", planner=planner)
        second = session.run("is anything stale now?", planner=planner)
    first_report, second_report = first.report(), second.report()
    assert first_report is not None and second_report is not None
    assert first_report.resilience["retries"] == 1
    assert second_report.resilience["retries"] == 0  # the session's counter says 1; the run made none


def test_a_price_set_by_the_user_reaches_the_run_budget(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.claude_planner import ClaudePlanner
    from agent.llm.pricing import ModelPrice
    from agent.settings import load_settings
    from tools.errors import ConfigurationError

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-for-settings")
    monkeypatch.setenv("AE_MODEL", "claude-unpriced-1")
    price = {"input": 2, "output": 10, "cache_write": 2.5, "cache_read": 0.2}
    monkeypatch.setenv("AE_MODEL_PRICE", json.dumps(price))
    planner = ClaudePlanner.from_settings(load_settings(project))
    assert planner.loop.budgets.price == ModelPrice(**price)
    monkeypatch.setenv("AE_MODEL_PRICE", json.dumps({"input": 2}))
    with pytest.raises(ConfigurationError, match="names exactly cache_read, cache_write, input, output"):
        load_settings(project)
