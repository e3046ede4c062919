"""A model that answers from a script, for deterministic tests and the no-key demo.

Drive it with a list (one entry per call: an ``LLMResponse`` or a terse dict spec) or with a
function ``(request, call_index) -> LLMResponse`` for answers that depend on what was asked, in the
way of pydantic-ai's ``FunctionModel``. Every request is recorded so tests can assert on what the
loop sent.

Dict spec keys: ``text`` (str), ``tool_use`` (``{"name", "input", "id"?}`` or a list of them),
``stop_reason`` (defaults to ``tool_use`` when there is a tool call, else ``end_turn``),
``usage`` (``Usage`` fields).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from agent.llm.base import ContentBlock, LLMRequest, LLMResponse, TextBlock, ToolUseBlock, Usage

ScriptStep = LLMResponse | dict[str, Any]
ScriptFunction = Callable[[LLMRequest, int], LLMResponse]

SCRIPTED_MODEL = "scripted"

_tool_use_ids = itertools.count(1)


class ScriptExhausted(RuntimeError):
    """The code under test made more model calls than the script provides (a test bug, never retried)."""


def text_response(text: str, *, stop_reason: str = "end_turn", usage: Usage | None = None) -> LLMResponse:
    return LLMResponse(
        content=[TextBlock(text=text)],
        stop_reason=stop_reason,
        usage=usage or Usage(),
        model=SCRIPTED_MODEL,
        raw_id="msg_scripted",
    )


def tool_use_response(
    name: str,
    input: dict[str, Any],
    id: str | None = None,
    *,
    text: str | None = None,
    stop_reason: str = "tool_use",
    usage: Usage | None = None,
) -> LLMResponse:
    content: list[ContentBlock] = [TextBlock(text=text)] if text else []
    content.append(_tool_use_block({"name": name, "input": input, "id": id}))
    return LLMResponse(
        content=content,
        stop_reason=stop_reason,
        usage=usage or Usage(),
        model=SCRIPTED_MODEL,
        raw_id="msg_scripted",
    )


def response_from_spec(spec: dict[str, Any]) -> LLMResponse:
    unknown = set(spec) - {"text", "tool_use", "stop_reason", "usage"}
    if unknown:
        raise ValueError(
            f"unknown keys {sorted(unknown)} in scripted response {spec!r}; "
            "use text, tool_use, stop_reason, usage"
        )
    content: list[ContentBlock] = []
    if "text" in spec:
        content.append(TextBlock(text=spec["text"]))
    tool_uses = spec.get("tool_use", [])
    for tool_use in [tool_uses] if isinstance(tool_uses, dict) else tool_uses:
        content.append(_tool_use_block(tool_use))
    has_tool_use = any(isinstance(block, ToolUseBlock) for block in content)
    return LLMResponse(
        content=content,
        stop_reason=spec.get("stop_reason", "tool_use" if has_tool_use else "end_turn"),
        usage=Usage(**spec.get("usage", {})),
        model=SCRIPTED_MODEL,
        raw_id="msg_scripted",
    )


def _tool_use_block(spec: dict[str, Any]) -> ToolUseBlock:
    return ToolUseBlock(
        id=spec.get("id") or f"toolu_scripted_{next(_tool_use_ids):04d}",
        name=spec["name"],
        input=spec.get("input", {}),
    )


class ScriptedClient:
    """An ``LLMClient`` that replays a script. Thread-safe; records every request."""

    def __init__(self, script: Sequence[ScriptStep] | ScriptFunction) -> None:
        self._script = script
        self._lock = threading.Lock()
        self.requests: list[LLMRequest] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    def complete(self, request: LLMRequest) -> LLMResponse:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
        if callable(self._script):
            return self._script(request, index)
        if index >= len(self._script):
            raise ScriptExhausted(
                f"scripted model was called {index + 1} times but the script has only "
                f"{len(self._script)} responses; add responses or check why the loop made an extra call "
                f"(last message: {_preview(request)})"
            )
        step = self._script[index]
        return step if isinstance(step, LLMResponse) else response_from_spec(step)


def _preview(request: LLMRequest, limit: int = 200) -> str:
    text = repr(request.messages[-1]) if request.messages else "none"
    return text if len(text) <= limit else text[:limit] + "..."
