"""LLM clients behind one typed boundary.

``AnthropicClient`` lives in ``agent.llm.anthropic_client`` and is not re-exported here, so code
that only needs the types or the scripted model does not pay for importing the ``anthropic`` SDK.
"""

from agent.llm.base import (
    ContentBlock,
    LLMClient,
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
from agent.llm.pricing import DEFAULT_MODEL, CallCost, cost_of
from agent.llm.scripted import ScriptedClient, ScriptExhausted, text_response, tool_use_response

__all__ = [
    "DEFAULT_MODEL",
    "CallCost",
    "ContentBlock",
    "LLMClient",
    "LLMConfigurationError",
    "LLMRequest",
    "LLMResponse",
    "LLMUnavailable",
    "RedactedThinkingBlock",
    "ScriptExhausted",
    "ScriptedClient",
    "TextBlock",
    "ThinkingBlock",
    "ToolUseBlock",
    "Usage",
    "cost_of",
    "text_response",
    "tool_use_response",
]
