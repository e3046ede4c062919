"""AnthropicClient through the real ``anthropic`` SDK against the fake Messages API server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from agent.llm import DEFAULT_MODEL, LLMConfigurationError, LLMRequest, LLMUnavailable, cost_of
from agent.llm.anthropic_client import AnthropicClient
from tests import fake_anthropic as fake
from tests.fake_anthropic import FakeAnthropic, Step
from tests.no_real_api import RealNetworkBlocked
from tools.errors import Channel, channel_of

API_KEY = "sk-ant-api03-fake-test-key-DO-NOT-LEAK-4242"

TOOLS = [
    {
        "name": "read_file",
        "description": "Read a file of the dbt project",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    },
    {
        "name": "write_file",
        "description": "Write a file into the changeset",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
]
SYSTEM = [{"type": "text", "text": "You are ae."}, {"type": "text", "text": "Project: jaffle_shop"}]


def request(*user_turns: str) -> LLMRequest:
    return LLMRequest(
        system=SYSTEM,
        messages=[{"role": "user", "content": turn} for turn in user_turns or ("build fct_orders",)],
        tools=TOOLS,
        max_tokens=512,
    )


@pytest.fixture
def serve() -> Iterator[list[FakeAnthropic]]:
    """Start fake servers inside a test and always stop them."""
    started: list[FakeAnthropic] = []
    yield started
    for server in started:
        server.stop()


def client_for(
    servers: list[FakeAnthropic], steps: list[Step], *, max_retries: int = 0, timeout_s: float = 10.0
) -> tuple[FakeAnthropic, AnthropicClient]:
    server = FakeAnthropic(steps)
    servers.append(server)
    client = AnthropicClient(
        api_key=API_KEY, base_url=server.base_url, timeout_s=timeout_s, max_retries=max_retries
    )
    return server, client


def test_tool_use_response_is_converted(serve: list[FakeAnthropic]) -> None:
    server, client = client_for(
        serve,
        [
            fake.tool_use(
                "read_file",
                {"path": "models/staging/stg_orders.sql"},
                id="toolu_01",
                text="Let me look.",
                usage=fake.token_usage(120, 30, cache_read=900, cache_write=50),
            )
        ],
    )
    response = client.complete(request())
    assert response.stop_reason == "tool_use"
    assert response.text == "Let me look."
    (call,) = response.tool_uses
    assert (call.id, call.name, call.input) == (
        "toolu_01",
        "read_file",
        {"path": "models/staging/stg_orders.sql"},
    )
    assert response.usage.model_dump() == {
        "input_tokens": 120,
        "output_tokens": 30,
        "cache_read_tokens": 900,
        "cache_write_tokens": 50,
    }
    assert (response.model, response.raw_id) == (DEFAULT_MODEL, "msg_fake_0000")

    (received,) = server.requests
    assert received.body["model"] == DEFAULT_MODEL
    # the conversation's cache breakpoint sits on its last block
    text = {"type": "text", "text": "build fct_orders", "cache_control": {"type": "ephemeral"}}
    assert received.body["messages"] == [{"role": "user", "content": [text]}]
    assert received.api_key_sent
    assert API_KEY not in json.dumps(received.headers)


def test_cost_is_computed_from_the_reported_usage(serve: list[FakeAnthropic]) -> None:
    _, client = client_for(
        serve, [fake.text("ok", usage=fake.token_usage(1_000_000, 100_000, cache_read=1_000_000))]
    )
    response = client.complete(request())
    # Sonnet 5.5: $2/MTok in, $10/MTok out, $0.10/MTok cache read.
    assert cost_of(response.usage, response.model).usd == pytest.approx(2 + 1 + 0.1)


def test_rate_limit_surfaces_retry_after_when_the_sdk_does_not_retry(serve: list[FakeAnthropic]) -> None:
    server, client = client_for(serve, [fake.rate_limited(retry_after=7)], max_retries=0)
    with pytest.raises(LLMUnavailable) as info:
        client.complete(request())
    assert info.value.retry_after == 7.0
    assert info.value.status == 429
    assert channel_of(info.value) is Channel.RETRY
    assert "rate_limit_error" in str(info.value)
    assert len(server.requests) == 1


def test_rate_limit_then_success_when_the_sdk_retries(serve: list[FakeAnthropic]) -> None:
    server, client = client_for(
        serve, [fake.rate_limited(retry_after=0.01), fake.text("second try")], max_retries=1
    )
    assert client.complete(request()).text == "second try"
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("step", "status", "error_type"),
    [(fake.overloaded(), 529, "overloaded_error"), (fake.server_error(), 500, "api_error")],
)
def test_overload_and_server_errors_are_transient(
    serve: list[FakeAnthropic], step: Step, status: int, error_type: str
) -> None:
    _, client = client_for(serve, [step])
    with pytest.raises(LLMUnavailable) as info:
        client.complete(request())
    assert info.value.status == status
    assert error_type in str(info.value)
    assert info.value.retry_after is None


def test_bad_request_is_a_configuration_error_with_the_api_message(serve: list[FakeAnthropic]) -> None:
    _, client = client_for(serve, [fake.bad_request("temperature: not supported for this model")])
    with pytest.raises(LLMConfigurationError) as info:
        client.complete(request())
    assert channel_of(info.value) is Channel.RAISE
    assert info.value.status == 400
    assert "temperature: not supported for this model" in str(info.value)


def test_slow_answer_past_the_timeout_is_transient(serve: list[FakeAnthropic]) -> None:
    server, client = client_for(serve, [fake.slow(fake.text("too late"), seconds=30)], timeout_s=0.3)
    with pytest.raises(LLMUnavailable, match=r"did not answer within 0\.3s"):
        client.complete(request())
    assert len(server.requests) == 1


def test_max_tokens_mid_tool_call_keeps_the_partial_block(serve: list[FakeAnthropic]) -> None:
    _, client = client_for(serve, [fake.truncated_tool_use("write_file", {"path": "models/marts/fct_ord"})])
    response = client.complete(request())
    assert response.stop_reason == "max_tokens"
    (call,) = response.tool_uses
    assert call.input == {"path": "models/marts/fct_ord"}  # no content: the caller must not run it


def test_malformed_tool_input_reaches_the_caller_unvalidated(serve: list[FakeAnthropic]) -> None:
    _, client = client_for(serve, [fake.tool_use("write_file", {"path": 42, "contents": None})])
    (call,) = client.complete(request()).tool_uses
    # Schema validation is the tool layer's job (it answers the model with a fixable error).
    assert call.input == {"path": 42, "contents": None}


def test_prefix_carries_cache_control_and_is_byte_identical_across_calls(serve: list[FakeAnthropic]) -> None:
    server, client = client_for(serve, [fake.tool_use("read_file", {"path": "a.sql"}), fake.text("done")])
    first = client.complete(request())
    client.complete(request("build fct_orders", "and test it"))

    one, two = (received.body for received in server.requests)
    assert [tool.get("cache_control") for tool in one["tools"]] == [None, {"type": "ephemeral"}]
    assert [block.get("cache_control") for block in one["system"]] == [None, {"type": "ephemeral"}]
    assert json.dumps(one["tools"]) == json.dumps(two["tools"])
    assert json.dumps(one["system"]) == json.dumps(two["system"])
    assert one["messages"] != two["messages"]
    assert first.stop_reason == "tool_use"


@pytest.mark.parametrize("step", [fake.unauthorized(), fake.rate_limited(retry_after=3), fake.bad_request()])
def test_api_key_never_appears_in_error_messages(serve: list[FakeAnthropic], step: Step) -> None:
    _, client = client_for(serve, [step])
    with pytest.raises((LLMUnavailable, LLMConfigurationError)) as info:
        client.complete(request())
    shown = f"{info.value} {info.value.hint} {info.value!r}"
    assert API_KEY not in shown


def test_unauthorized_points_at_the_key_setting(serve: list[FakeAnthropic]) -> None:
    _, client = client_for(serve, [fake.unauthorized()])
    with pytest.raises(LLMConfigurationError) as info:
        client.complete(request())
    assert info.value.status == 401
    assert "ANTHROPIC_API_KEY" in info.value.hint


def test_exhausted_fake_script_fails_clearly(serve: list[FakeAnthropic]) -> None:
    _, client = client_for(serve, [fake.text("one")])
    client.complete(request())
    with pytest.raises(LLMConfigurationError, match="script exhausted"):
        client.complete(request())


# --- the guard against real network access ----------------------------------------------------------


def test_guard_refuses_a_non_loopback_connection_before_connecting() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        with pytest.raises(RealNetworkBlocked, match=r"10\.255\.255\.1:443"):
            sock.connect(("10.255.255.1", 443))
    with pytest.raises(RealNetworkBlocked):
        socket.create_connection(("10.255.255.1", 443), timeout=0.5)


def test_guard_refuses_the_real_anthropic_endpoint() -> None:
    client = AnthropicClient(api_key=API_KEY, max_retries=0, timeout_s=1)
    with pytest.raises(RealNetworkBlocked, match=r"api\.anthropic\.com"):
        client.complete(request())
