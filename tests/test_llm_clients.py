"""The LLM boundary without a network: scripted client, request building, pricing, error types."""

from __future__ import annotations

import json

import pytest

from agent.llm import (
    DEFAULT_MODEL,
    LLMConfigurationError,
    LLMRequest,
    LLMResponse,
    LLMUnavailable,
    ScriptedClient,
    ScriptExhausted,
    TextBlock,
    ToolUseBlock,
    Usage,
    cost_of,
    text_response,
    tool_use_response,
)
from agent.llm.anthropic_client import AnthropicClient, build_messages_params, retry_after_seconds
from tools.errors import Channel, channel_of
from tools.logs import register_secret

TOOLS = [
    {"name": "read_file", "description": "Read a file", "input_schema": {"type": "object"}},
    {"name": "write_file", "description": "Write a file", "input_schema": {"type": "object"}},
]


def request(*messages: str, **overrides: object) -> LLMRequest:
    fields: dict[str, object] = {
        "system": "You are ae.",
        "messages": [{"role": "user", "content": m} for m in messages or ("hi",)],
        "tools": TOOLS,
        "max_tokens": 1024,
    }
    fields.update(overrides)
    return LLMRequest.model_validate(fields)


# --- scripted client ------------------------------------------------------------------------------


def test_scripted_client_replays_responses_and_dict_specs_in_order() -> None:
    client = ScriptedClient(
        [
            {"tool_use": {"name": "read_file", "input": {"path": "models/a.sql"}}},
            text_response("done"),
            {"text": "thinking aloud", "tool_use": [{"name": "read_file", "input": {}, "id": "t9"}]},
            {"text": "cut", "stop_reason": "max_tokens", "usage": {"input_tokens": 3, "output_tokens": 4}},
        ]
    )
    first = client.complete(request("one"))
    assert first.stop_reason == "tool_use"
    assert first.tool_uses[0].name == "read_file"
    assert first.tool_uses[0].input == {"path": "models/a.sql"}
    assert first.tool_uses[0].id.startswith("toolu_")

    assert client.complete(request("two")).text == "done"

    third = client.complete(request("three"))
    assert [type(b) for b in third.content] == [TextBlock, ToolUseBlock]
    assert third.tool_uses[0].id == "t9"

    fourth = client.complete(request("four"))
    assert (fourth.stop_reason, fourth.usage.output_tokens) == ("max_tokens", 4)
    assert [r.messages[0]["content"] for r in client.requests] == ["one", "two", "three", "four"]


def test_scripted_client_function_sees_request_and_call_index() -> None:
    def answer(req: LLMRequest, index: int) -> LLMResponse:
        return text_response(f"{index}:{req.messages[-1]['content']}")

    client = ScriptedClient(answer)
    assert client.complete(request("a")).text == "0:a"
    assert client.complete(request("b")).text == "1:b"
    assert client.calls == 2


def test_scripted_client_says_clearly_when_the_script_runs_out() -> None:
    client = ScriptedClient([text_response("only one")])
    client.complete(request("first"))
    with pytest.raises(ScriptExhausted, match=r"called 2 times but the script has only 1") as info:
        client.complete(request("second"))
    assert "second" in str(info.value)
    # A test bug, not an infrastructure fault: never retried, never shown to the model.
    assert channel_of(info.value) is None


def test_scripted_spec_with_unknown_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        ScriptedClient([{"txt": "typo"}]).complete(request())


def test_assistant_message_round_trips_tool_use_for_the_next_turn() -> None:
    response = tool_use_response("write_file", {"path": "x.sql"}, id="toolu_1", text="writing")
    assert response.assistant_message() == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "writing"},
            {"type": "tool_use", "id": "toolu_1", "name": "write_file", "input": {"path": "x.sql"}},
        ],
    }


def test_usage_adds_up() -> None:
    total = Usage(input_tokens=1, output_tokens=2, cache_read_tokens=3, cache_write_tokens=4) + Usage(
        input_tokens=10, output_tokens=20, cache_read_tokens=30, cache_write_tokens=40
    )
    assert total == Usage(input_tokens=11, output_tokens=22, cache_read_tokens=33, cache_write_tokens=44)


# --- pricing --------------------------------------------------------------------------------------


def test_cost_uses_input_output_and_cache_rates() -> None:
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_tokens=1_000_000,
        cache_write_tokens=1_000_000,
    )
    # Sonnet 4.5: $3 in, $15 out, cache write 1.25x input, cache read 0.1x input.
    assert cost_of(usage, "claude-sonnet-4-5").usd == pytest.approx(3 + 15 + 3.75 + 0.30)
    # A pinned snapshot costs what its alias costs.
    assert cost_of(usage, "claude-sonnet-4-5-20250929").usd == pytest.approx(22.05)
    assert cost_of(Usage(input_tokens=500_000, output_tokens=100_000), DEFAULT_MODEL).usd == pytest.approx(
        2.0
    )


def test_cost_of_unknown_model_is_none_with_reason() -> None:
    cost = cost_of(Usage(input_tokens=10), "claude-imaginary-9")
    assert cost.usd is None
    assert "claude-imaginary-9" in cost.reason


# --- request building (what the SDK is asked to send) ---------------------------------------------


def test_cache_control_marks_last_tool_and_last_system_block_only() -> None:
    system = [{"type": "text", "text": "rules"}, {"type": "text", "text": "project context"}]
    params = build_messages_params(request(system=system), default_model=DEFAULT_MODEL)
    assert [t.get("cache_control") for t in params["tools"]] == [None, {"type": "ephemeral"}]
    assert [b.get("cache_control") for b in params["system"]] == [None, {"type": "ephemeral"}]
    # The caller's definitions are not mutated.
    assert "cache_control" not in TOOLS[-1]
    assert "cache_control" not in system[-1]


def test_no_cache_control_when_caching_is_off_and_string_system_becomes_a_block() -> None:
    params = build_messages_params(request(cache_prefix=False), default_model="m")
    assert params["system"] == [{"type": "text", "text": "You are ae."}]
    assert "cache_control" not in json.dumps(params)
    assert params["model"] == "m"
    assert "temperature" not in params  # left to the model unless asked for


def test_prefix_serialises_identically_whatever_the_dict_key_order() -> None:
    reordered = [
        {"input_schema": t["input_schema"], "name": t["name"], "description": t["description"]} for t in TOOLS
    ]
    one = build_messages_params(request("a"), default_model="m")
    two = build_messages_params(request("a", "b", tools=reordered, temperature=0.0), default_model="m")
    assert json.dumps(one["tools"]) == json.dumps(two["tools"])
    assert json.dumps(one["system"]) == json.dumps(two["system"])
    assert two["temperature"] == 0.0


def test_retry_after_prefers_milliseconds_and_ignores_garbage() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


# --- errors ---------------------------------------------------------------------------------------


def test_llm_errors_sit_on_their_channels_and_are_redacted() -> None:
    register_secret("sk-ant-unit-test-secret-0001")
    transient = LLMUnavailable("busy for key sk-ant-unit-test-secret-0001", retry_after=2.0)
    config = LLMConfigurationError("bad key sk-ant-unit-test-secret-0001")
    assert (channel_of(transient), channel_of(config)) == (Channel.RETRY, Channel.RAISE)
    assert transient.retry_after == 2.0
    assert "sk-ant-unit-test-secret-0001" not in str(transient) + str(config)


def test_anthropic_client_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(LLMConfigurationError, match="no Anthropic API key") as info:
        AnthropicClient(api_key="")
    assert "ANTHROPIC_API_KEY" in info.value.hint
