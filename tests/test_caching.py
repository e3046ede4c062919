"""Conversation caching, measured on the fake Messages API through the real SDK.

The fake server charges cache reads the way Anthropic does (tests/fake_anthropic.py PromptCache),
so what these tests measure is what the client's breakpoints would save on the real API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.claude_planner import planning_tools
from agent.llm.anthropic_client import AnthropicClient
from agent.llm.base import LLMRequest, LLMResponse, Usage
from agent.loop import ToolLoop
from tests.fake_anthropic import FakeAnthropic, PromptCache, Step, tool_use
from tools.context import ToolContext
from tools.paths import ProjectPaths
from tools.registry import all_tools
from tools.resilience import Resilience, RetryPolicy

STEPS = 10
MODEL_SQL = "select\n" + ",\n".join(f"    column_{i} as renamed_column_{i}" for i in range(60)) + "\nfrom t\n"


class Recording:
    """The real client, keeping each response so a test can read the usage of every call."""

    def __init__(self, client: AnthropicClient) -> None:
        self.client = client
        self.responses: list[LLMResponse] = []

    def complete(self, request: LLMRequest) -> LLMResponse:
        response = self.client.complete(request)
        self.responses.append(response)
        return response


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    models = tmp_path / "models"
    models.mkdir()
    for i in range(STEPS):
        (models / f"m{i}.sql").write_text(MODEL_SQL)
    return ToolContext(
        paths=ProjectPaths.for_project(tmp_path),
        target="dev",
        policy=Resilience(retry=RetryPolicy(attempts=2, initial_wait=0.001, max_wait=0.002)),
    )


def ten_step_run(ctx: ToolContext) -> list[Usage]:
    script: list[Step] = [
        tool_use("read_file", {"path": f"models/m{i}.sql"}, id=f"t{i}") for i in range(STEPS - 1)
    ]
    script.append(tool_use("submit_plan", {"summary": "read them all"}, id="done"))
    with FakeAnthropic(script, prompt_cache=PromptCache()) as api:
        client = Recording(AnthropicClient(api_key="test-key", base_url=api.base_url))
        loop = ToolLoop(
            client=client,
            model="claude-sonnet-5-5",
            system="You plan dbt changes.",
            tools=all_tools(planning_tools),
            describe=lambda spec: spec.description,
            submit_description="Submit the plan.",
        )
        loop.run(ctx, "read every model")
        assert len(api.requests) == STEPS
    return [r.usage for r in client.responses]


def cache_ratio(usages: list[Usage]) -> float:
    """Share of the prompt read from cache: cache_read / (cache_read + input + cache_write).
    Cache writes are counted as uncached (they cost more than input), so this is the strict form."""
    read = sum(u.cache_read_tokens for u in usages)
    uncached = sum(u.input_tokens + u.cache_write_tokens for u in usages)
    return read / (read + uncached)


def test_a_ten_step_run_reads_most_of_each_prompt_from_cache(ctx: ToolContext) -> None:
    usages = ten_step_run(ctx)
    first, rest = usages[0], usages[1:]
    assert first.cache_read_tokens == 0 and first.cache_write_tokens > 0
    # every later step reads the whole previous request from cache...
    assert all(u.cache_read_tokens > p.cache_read_tokens for p, u in zip(usages, rest, strict=False))
    ratio = cache_ratio(rest)
    print(f"cache ratio over steps 2-{STEPS}: {ratio:.3f}")
    assert ratio >= 0.8


def test_without_the_moving_breakpoint_the_ratio_falls(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The measure can fail: caching only tools + system leaves the growing transcript uncached."""
    from agent.llm import anthropic_client

    monkeypatch.setattr(anthropic_client, "_mark_conversation_breakpoint", lambda _messages: None)
    ratio = cache_ratio(ten_step_run(ctx)[1:])
    print(f"cache ratio with tools + system cached only: {ratio:.3f}")
    assert ratio < 0.8
