"""The tool-calling loop driven by a scripted model (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.claude_planner import planning_tools
from agent.llm.base import LLMResponse, TextBlock, ToolUseBlock, Usage
from agent.llm.scripted import ScriptedClient, text_response, tool_use_response
from agent.loop import Budgets, SubmittedPlan, ToolLoop
from graph.plan_spec import PlanningFailed
from tools.context import ToolContext
from tools.paths import ProjectPaths
from tools.registry import all_tools
from tools.resilience import Resilience, RetryPolicy


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.sql").write_text("select 1 as id\n")
    return ToolContext(
        paths=ProjectPaths.for_project(tmp_path),
        target="dev",
        policy=Resilience(retry=RetryPolicy(attempts=2, initial_wait=0.001, max_wait=0.002)),
    )


def make_loop(client: ScriptedClient, budgets: Budgets | None = None) -> ToolLoop:
    return ToolLoop(
        client=client,
        model="claude-sonnet-5-5",
        system="You plan dbt changes.",
        tools=all_tools(planning_tools),
        describe=lambda spec: spec.description,
        submit_description="Submit the plan.",
        budgets=budgets or Budgets(),
    )


def submit(summary: str = "done") -> LLMResponse:
    return tool_use_response("submit_plan", {"summary": summary})


def test_tools_run_and_submit_plan_ends_the_loop(ctx: ToolContext) -> None:
    client = ScriptedClient(
        [
            tool_use_response("read_file", {"path": "models/a.sql"}),
            tool_use_response("write_file", {"path": "models/b.sql", "content": "select 2 as id\n"}),
            submit("adds b"),
        ]
    )
    submitted, usage = make_loop(client).run(ctx, "add model b")
    assert submitted == SubmittedPlan(summary="adds b")
    assert ctx.changeset.view(ctx.paths, "models/b.sql") == "select 2 as id\n"
    assert not (ctx.paths.root / "models" / "b.sql").exists()  # Plan never writes to disk
    assert usage["llm_calls"] == 3
    second = client.requests[1].messages
    result = second[-1]["content"][0]
    assert result["type"] == "tool_result" and "select 1 as id" in result["content"]
    assert [c.name for c in ctx.calls] == ["read_file", "write_file"]


def test_malformed_tool_input_goes_back_as_an_error(ctx: ToolContext) -> None:
    client = ScriptedClient([tool_use_response("read_file", {"paht": "models/a.sql"}), submit()])
    make_loop(client).run(ctx, "look")
    result = client.requests[1].messages[-1]["content"][0]
    assert result["is_error"] is True
    assert "path" in result["content"] and "required" in result["content"]


def test_writing_dbt_tools_are_not_available_while_planning(ctx: ToolContext) -> None:
    client = ScriptedClient([tool_use_response("dbt_docs_generate", {}), submit()])
    make_loop(client).run(ctx, "run it")
    result = client.requests[1].messages[-1]["content"][0]
    assert result["is_error"] is True and "not allowed" in result["content"]
    assert "dbt_docs_generate" not in {t["name"] for t in client.requests[0].tools}


def test_max_tokens_inside_a_tool_call_is_not_run(ctx: ToolContext) -> None:
    cut = LLMResponse(
        content=[ToolUseBlock(id="t1", name="write_file", input={"path": "models/c.sql"})],
        stop_reason="max_tokens",
        model="claude-sonnet-5-5",
        raw_id="m1",
    )
    client = ScriptedClient([cut, submit()])
    make_loop(client).run(ctx, "write c")
    result = client.requests[1].messages[-1]["content"][0]
    assert result["is_error"] is True and "max_tokens" in result["content"]
    assert ctx.changeset.is_empty


def test_max_tokens_in_text_asks_to_continue(ctx: ToolContext) -> None:
    client = ScriptedClient([text_response("Let me think", stop_reason="max_tokens"), submit()])
    make_loop(client).run(ctx, "q")
    assert client.requests[1].messages[-1] == {
        "role": "user",
        "content": "Your answer was cut off at max_tokens. Continue.",
    }


def test_pause_turn_is_sent_back_to_continue(ctx: ToolContext) -> None:
    client = ScriptedClient([text_response("working", stop_reason="pause_turn"), submit()])
    make_loop(client).run(ctx, "q")
    assert client.requests[1].messages[-1]["role"] == "assistant"


def test_end_turn_without_a_plan_is_nudged_once_then_taken_as_the_answer(ctx: ToolContext) -> None:
    client = ScriptedClient(
        [text_response("stg_orders feeds fct_orders"), text_response("stg_orders feeds fct_orders")]
    )
    submitted, _ = make_loop(client).run(ctx, "what feeds fct_orders?")
    assert "submit_plan" in client.requests[1].messages[-1]["content"]
    assert submitted.answer == "stg_orders feeds fct_orders"


def test_refusal_and_context_overflow_stop_the_run(ctx: ToolContext) -> None:
    with pytest.raises(PlanningFailed, match="declined"):
        make_loop(ScriptedClient([text_response("no", stop_reason="refusal")])).run(ctx, "q")
    with pytest.raises(PlanningFailed, match="context window"):
        make_loop(ScriptedClient([text_response("", stop_reason="model_context_window_exceeded")])).run(
            ctx, "q"
        )


def test_step_and_token_budgets_end_the_loop_with_usage(ctx: ToolContext) -> None:
    looping = ScriptedClient(
        lambda _req, _i: tool_use_response("list_files", {}, usage=Usage(input_tokens=10))
    )
    with pytest.raises(PlanningFailed, match="max_steps") as steps:
        make_loop(looping, Budgets(max_steps=3)).run(ctx, "q")
    assert steps.value.usage["llm_calls"] == 3
    with pytest.raises(PlanningFailed, match="budget exceeded: tokens"):
        make_loop(looping, Budgets(max_tokens=25)).run(ctx, "q")


def test_read_only_calls_of_one_response_are_all_answered_in_order(ctx: ToolContext) -> None:
    several = LLMResponse(
        content=[
            TextBlock(text="looking"),
            ToolUseBlock(id="a", name="read_file", input={"path": "models/a.sql"}),
            ToolUseBlock(id="b", name="list_files", input={}),
            ToolUseBlock(
                id="c", name="write_file", input={"path": "models/d.sql", "content": "select 4 as id\n"}
            ),
            ToolUseBlock(id="d", name="read_file", input={"path": "models/d.sql"}),
        ],
        stop_reason="tool_use",
        model="claude-sonnet-5-5",
        raw_id="m",
    )
    client = ScriptedClient([several, submit()])
    make_loop(client).run(ctx, "q")
    results = client.requests[1].messages[-1]["content"]
    assert [r["tool_use_id"] for r in results] == ["a", "b", "c", "d"]
    assert "select 4 as id" in results[3]["content"]  # the read after the write sees it


def test_an_unreachable_model_api_opens_the_breaker_and_fails_fast(ctx: ToolContext) -> None:
    from agent.llm.base import LLMUnavailable
    from tools.resilience import BreakerPolicy

    def down(_request: object, _index: int) -> LLMResponse:
        raise LLMUnavailable("connection refused", status=None)

    ctx.policy = Resilience(
        retry=RetryPolicy(attempts=2, initial_wait=0.001, max_wait=0.002),
        breaker=BreakerPolicy(fail_max=2, reset_timeout=60),
    )
    client = ScriptedClient(down)
    # two runs whose model call failed despite its retries open the circuit...
    for _ in range(2):
        with pytest.raises(PlanningFailed, match="connection refused"):
            make_loop(client).run(ctx, "q")
    assert client.calls == 4
    # ...so the third fails fast without reaching the API
    with pytest.raises(PlanningFailed, match="circuit for llm"):
        make_loop(client).run(ctx, "q")
    assert client.calls == 4
