"""``LLMClient`` for Claude through the official ``anthropic`` SDK (Messages API, tool use).

Two jobs beyond the call itself:

- Prompt caching: with ``cache_prefix`` the last tool definition, the last system block and the
  last block of the conversation carry ``cache_control: {"type": "ephemeral"}`` (3 of the API's 4
  breakpoints). Tools + system are one stable prefix; the conversation breakpoint moves with each
  step, so a step reads every earlier step from cache and pays full price only for what is new.
  Everything is serialised canonically (sorted keys, deep-copied) so consecutive calls of a run
  send the shared prefix byte-identical and the cache actually hits.
- Faults: SDK exceptions become ae errors on the right channel. Rate limits, overload, 5xx,
  timeouts and lost connections are ``LLMUnavailable`` (retried by the policy layer, carrying the
  provider's ``retry-after``); anything else the API refuses is ``LLMConfigurationError``.
  The SDK does not retry (``max_retries=0``): tools.resilience is the one retry layer, so every
  attempt is counted and waits follow one policy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import anthropic
from anthropic.types import Message

from agent.llm.base import (
    ContentBlock,
    LLMConfigurationError,
    LLMRequest,
    LLMResponse,
    LLMUnavailable,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    Usage,
)
from agent.llm.pricing import DEFAULT_MODEL
from tools.logs import get_logger, register_secret

log = get_logger("ae.llm.anthropic")

EPHEMERAL_CACHE: dict[str, str] = {"type": "ephemeral"}

# 408 request timeout, 409 lock conflict, 429 rate limit: the SDK retries these too; 5xx (incl. 529
# overloaded) are server-side and transient.
_TRANSIENT_STATUSES = frozenset({408, 409, 429})

_CONFIGURATION_HINTS: dict[int, str] = {
    400: "the API rejected the request as invalid; check the model name and parameters "
    "(Claude 5 models refuse a non-default temperature) or shorten a prompt that is too long",
    401: "the API key was refused; check ANTHROPIC_API_KEY",
    402: "the account has no credit; check billing in the Claude console",
    403: "the API key may not use this model or feature; check the key's workspace permissions",
    404: "unknown model or endpoint; check the configured model name and base URL",
    413: "the request is too large; shorten the conversation or tool outputs",
}


class AnthropicClient:
    """Claude via the Messages API. One instance per run or worker; the SDK client is thread-safe."""

    def __init__(
        self,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 0,
    ) -> None:
        if not api_key:
            raise LLMConfigurationError(
                "no Anthropic API key is configured",
                hint="set ANTHROPIC_API_KEY, or use a structured command, which needs no model",
            )
        # From here on the key is scrubbed from every log line and error message.
        register_secret(api_key)
        self.model = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._sdk = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries
        )

    def complete(self, request: LLMRequest) -> LLMResponse:
        params = build_messages_params(request, default_model=self.model)
        started = time.perf_counter()
        try:
            message = self._sdk.messages.create(**params)
        except anthropic.APITimeoutError as exc:
            raise LLMUnavailable(f"the Anthropic API did not answer within {self.timeout_s:g}s") from exc
        except anthropic.APIConnectionError as exc:
            raise LLMUnavailable(
                f"could not reach the Anthropic API at {self.base_url or 'the default endpoint'}: {exc}"
            ) from exc
        except anthropic.APIStatusError as exc:
            raise error_from_status(exc) from exc
        except anthropic.AnthropicError as exc:
            raise LLMConfigurationError(f"the Anthropic SDK refused the call: {exc}") from exc
        response = to_llm_response(message)
        log.debug(
            "llm_call",
            model=response.model,
            stop_reason=response.stop_reason,
            duration_ms=round((time.perf_counter() - started) * 1000),
            **response.usage.model_dump(),
        )
        return response


def build_messages_params(request: LLMRequest, *, default_model: str) -> dict[str, Any]:
    """The keyword arguments of ``messages.create`` for one request (pure, deterministic)."""
    system = _canonical(_system_blocks(request.system))
    tools = _canonical(request.tools)
    messages = _canonical(request.messages)
    if request.cache_prefix:
        _mark_cache_breakpoint(tools)
        _mark_cache_breakpoint(system)
        _mark_conversation_breakpoint(messages)
    params: dict[str, Any] = {
        "model": request.model or default_model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    }
    if system:
        params["system"] = system
    if tools:
        params["tools"] = tools
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.tool_choice is not None:
        params["tool_choice"] = request.tool_choice
    return params


def _system_blocks(system: list[dict[str, Any]] | str) -> list[dict[str, Any]]:
    if isinstance(system, str):
        # The API refuses empty text blocks, so an empty prompt means no system at all.
        return [{"type": "text", "text": system}] if system else []
    return system


def _canonical(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A deep copy with sorted keys: the same content always serialises to the same bytes, whatever
    order the caller built its dicts in, and the caller's objects are never mutated."""
    copied: list[dict[str, Any]] = json.loads(json.dumps(blocks, sort_keys=True))
    return copied


def _mark_cache_breakpoint(blocks: list[dict[str, Any]]) -> None:
    if blocks:
        blocks[-1]["cache_control"] = dict(EPHEMERAL_CACHE)


def _mark_conversation_breakpoint(messages: list[dict[str, Any]]) -> None:
    """Cache the conversation up to its last block: the next step's request starts with all of it."""
    if not messages:
        return
    last = messages[-1]
    if isinstance(last["content"], str):
        if not last["content"]:
            return  # the API refuses empty text blocks; an empty turn has nothing worth caching
        last["content"] = [{"type": "text", "text": last["content"]}]
    blocks = [b for b in last["content"] if b.get("type") not in _UNCACHEABLE_BLOCKS]
    _mark_cache_breakpoint(blocks)


#: blocks the API does not let carry ``cache_control`` (they are cached as part of the turn)
_UNCACHEABLE_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def to_llm_response(message: Message) -> LLMResponse:
    content: list[ContentBlock] = []
    for block in message.content:
        if block.type == "text":
            content.append(TextBlock(text=block.text))
        elif block.type == "tool_use":
            content.append(ToolUseBlock(id=block.id, name=block.name, input=block.input))
        elif block.type == "thinking":
            content.append(ThinkingBlock(thinking=block.thinking, signature=block.signature))
        elif block.type == "redacted_thinking":
            content.append(RedactedThinkingBlock(data=block.data))
        else:
            # Server-tool blocks only appear for server tools, which ae never enables.
            log.warning("llm_unexpected_block_skipped", block_type=block.type, message_id=message.id)
    usage = message.usage
    return LLMResponse(
        content=content,
        stop_reason=message.stop_reason or "unknown",
        usage=Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
            cache_write_tokens=usage.cache_creation_input_tokens or 0,
        ),
        model=message.model,
        raw_id=message.id,
    )


def error_from_status(exc: anthropic.APIStatusError) -> LLMUnavailable | LLMConfigurationError:
    status = exc.status_code
    detail = exc.api_message or exc.message
    kind = f"{status} {exc.type}" if exc.type else str(status)
    if status in _TRANSIENT_STATUSES or status >= 500:
        retry_after = retry_after_seconds(exc.response.headers)
        wait = f"; it asked to wait {retry_after:g}s" if retry_after is not None else ""
        return LLMUnavailable(
            f"the Anthropic API is unavailable ({kind}): {detail}{wait}",
            retry_after=retry_after,
            status=status,
        )
    return LLMConfigurationError(
        f"the Anthropic API refused the request ({kind}): {detail}",
        hint=_CONFIGURATION_HINTS.get(status, "retrying the same request will not help"),
        status=status,
    )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait the API asked for: ``retry-after-ms`` if present, else ``retry-after`` in seconds."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue
    return None
