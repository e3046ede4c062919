"""The provider-neutral boundary between ae and a language model.

Everything above this module (the tool-calling loop, the planner, reports) speaks only these types:
an ``LLMRequest`` goes in, an ``LLMResponse`` comes out, and provider faults arrive as ae errors on
the right channel (``LLMUnavailable`` is retried by the policy layer, ``LLMConfigurationError``
stops the run). Content blocks mirror the Anthropic Messages API shape because that is the one
provider today; keeping them as plain typed models lets a scripted client produce them too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from tools.errors import ConfigurationError, TransientError
from tools.logs import redact


class LLMRequest(BaseModel):
    """One call to the model: the stable prefix (tools + system) and the conversation so far."""

    model_config = ConfigDict(frozen=True)

    system: list[dict[str, Any]] | str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = Field(default_factory=list)
    max_tokens: int = Field(gt=0)
    # None leaves sampling to the model: the Claude 5 family rejects non-default temperature with a 400.
    temperature: float | None = None
    # None means the client's configured model.
    model: str | None = None
    # Mark tools + system as a cacheable prefix (Anthropic prompt caching).
    cache_prefix: bool = True
    # e.g. {"type": "tool", "name": "..."} to make the model answer through one tool; None: auto.
    tool_choice: dict[str, Any] | None = None


class TextBlock(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["text"] = "text"
    text: str


class ToolUseBlock(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    # Whatever the model sent; it is validated against the tool's schema by the caller, not here.
    input: dict[str, Any]


class ThinkingBlock(BaseModel):
    """Model reasoning. Kept only so it can be sent back verbatim: the API requires thinking blocks
    (with their signature) to be returned unchanged when a tool-use turn continues."""

    model_config = ConfigDict(frozen=True)

    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str


class RedactedThinkingBlock(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["redacted_thinking"] = "redacted_thinking"
    data: str


ContentBlock = Annotated[
    TextBlock | ToolUseBlock | ThinkingBlock | RedactedThinkingBlock, Field(discriminator="type")
]


class Usage(BaseModel):
    """Token counts of one call (or, summed with ``+``, of a run)."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


class LLMResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    content: list[ContentBlock]
    # end_turn, tool_use, max_tokens, stop_sequence, pause_turn, refusal, model_context_window_exceeded;
    # kept a plain string so a stop reason added by the provider later does not break parsing.
    stop_reason: str
    usage: Usage = Field(default_factory=Usage)
    model: str
    raw_id: str

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.content if isinstance(block, TextBlock))

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [block for block in self.content if isinstance(block, ToolUseBlock)]

    def assistant_message(self) -> dict[str, Any]:
        """This response as the assistant turn to append to the conversation for the next call."""
        return {"role": "assistant", "content": [block.model_dump() for block in self.content]}


class LLMClient(Protocol):
    def complete(self, request: LLMRequest) -> LLMResponse: ...


# --- errors ---------------------------------------------------------------------------------------


class LLMUnavailable(TransientError):
    """Rate limit, overload, server error, timeout or lost connection: worth retrying later."""

    hint = "the model API is busy or unreachable; try again in a minute"

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(redact(message))
        #: seconds the provider asked us to wait (``retry-after`` header), if it said
        self.retry_after = retry_after
        self.status = status


class LLMConfigurationError(ConfigurationError):
    """The provider refused the request itself (bad key, no permission, invalid request): retrying
    the same call cannot help."""

    def __init__(self, message: str, *, hint: str = "", status: int | None = None) -> None:
        super().__init__(redact(message), hint=redact(hint))
        self.status = status
