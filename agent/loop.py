"""The tool-calling loop: Claude explores and edits through tools until it submits a plan.

Each response's ``tool_use`` blocks are all answered (independent read-only calls concurrently,
writes in order), one ``tool_result`` per call, ``is_error`` with an actionable message on failure.
Every stop reason is handled on purpose; budgets (steps, tokens, cost, wall time) end the loop with
``PlanningFailed`` carrying what was spent, so the run ends cleanly with a report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent.llm.base import LLMClient, LLMRequest, LLMResponse, ToolUseBlock, Usage
from agent.llm.pricing import cost_of
from graph.plan_spec import PlanningFailed
from tools.context import ToolContext
from tools.errors import AeError
from tools.logs import get_logger, redact
from tools.registry import ToolSpec, invoke
from tools.resilience import Resilience

log = get_logger("ae.loop")

SUBMIT_PLAN = "submit_plan"
#: what one tool result may carry back to the model (the failures, not whole logs)
MAX_RESULT_CHARS = 12_000
READ_CONCURRENCY = 4


class SubmittedPlan(BaseModel):
    summary: str = Field(min_length=1, description="What the change does, in one or two sentences.")
    verify_select: list[str] | None = Field(
        default=None,
        description="dbt selection whose tests Verify runs; omit for the tests of what was built.",
    )
    answer: str | None = Field(default=None, description="An answer for the person, for questions.")


@dataclass(frozen=True)
class Budgets:
    max_steps: int = 40
    max_tokens: int = 2_000_000
    max_cost_usd: float = 5.0
    max_wall_s: float = 1800.0


@dataclass
class UsageMeter:
    """Tokens, cost and time of the loop's model calls."""

    model: str
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    cost_known: bool = True
    calls: int = 0
    seconds: float = 0.0

    def add(self, response: LLMResponse, seconds: float) -> None:
        self.calls += 1
        self.seconds += seconds
        self.usage = self.usage + response.usage
        cost = cost_of(response.usage, response.model or self.model)
        if cost.usd is None:
            self.cost_known = False
        else:
            self.cost_usd += cost.usd

    @property
    def tokens(self) -> int:
        u = self.usage
        return u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_write_tokens

    def as_dict(self) -> dict[str, float]:
        u = self.usage
        out: dict[str, float] = {
            "llm_calls": self.calls,
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "cache_read_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
            "llm_seconds": round(self.seconds, 3),
        }
        if self.cost_known:
            out["cost_usd"] = round(self.cost_usd, 6)
        return out


def _submit_plan_tool(description: str) -> dict[str, Any]:
    schema = SubmittedPlan.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return {"name": SUBMIT_PLAN, "description": description, "input_schema": schema}


def _result_text(output: Any) -> str:
    # the boundary where tool output leaves for the model: nothing secret may cross it
    text = redact(output if isinstance(output, str) else json.dumps(output, default=str))
    if len(text) > MAX_RESULT_CHARS:
        text = (
            text[:MAX_RESULT_CHARS] + f"\n… result cut at {MAX_RESULT_CHARS} characters; narrow the request"
        )
    return text


@dataclass
class ToolLoop:
    client: LLMClient
    model: str
    system: str
    tools: list[ToolSpec]
    describe: Callable[[ToolSpec], str]
    submit_description: str
    max_tokens: int = 8192
    temperature: float | None = None
    budgets: Budgets = field(default_factory=Budgets)
    #: breaker key for the endpoint, so an unreachable API fails fast
    endpoint: str = "anthropic"

    def tool_params(self) -> list[dict[str, Any]]:
        """Tools in a fixed order (by name), submit_plan last: the cached prefix must not move."""
        specs = sorted(self.tools, key=lambda spec: spec.name)
        params = [
            {"name": s.name, "description": self.describe(s), "input_schema": s.input_schema} for s in specs
        ]
        return [*params, _submit_plan_tool(self.submit_description)]

    def run(self, ctx: ToolContext, first_message: str) -> tuple[SubmittedPlan, dict[str, float]]:
        meter = UsageMeter(model=self.model)
        started = time.monotonic()
        # the request and repair feedback quote dbt's errors, which may hold secrets
        messages: list[dict[str, Any]] = [{"role": "user", "content": redact(first_message)}]
        tool_params = self.tool_params()
        nudged = False
        for step in range(1, self.budgets.max_steps + 1):
            self._check_budgets(meter, started)
            request = LLMRequest(
                system=self.system,
                messages=messages,
                tools=tool_params,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                model=self.model,
            )
            call_started = time.perf_counter()
            response = self._complete(ctx.policy, request, meter)
            meter.add(response, time.perf_counter() - call_started)
            log.info(
                "llm_step", step=step, stop_reason=response.stop_reason, tool_calls=len(response.tool_uses)
            )
            messages.append(response.assistant_message())
            stop = response.stop_reason
            if stop == "refusal":
                raise PlanningFailed(
                    "the model declined this request (stop reason: refusal)", usage=meter.as_dict()
                )
            if stop == "model_context_window_exceeded":
                raise PlanningFailed(
                    "the conversation outgrew the model's context window before a plan was submitted",
                    usage=meter.as_dict(),
                    hint="split the request into smaller ones",
                )
            if stop == "pause_turn":
                continue  # the API paused a long turn: send it back as is to let it continue
            if response.tool_uses:
                truncated = stop == "max_tokens"
                results, submitted = self._answer_tools(ctx, response.tool_uses, truncated=truncated)
                if submitted is not None:
                    return submitted, meter.as_dict()
                messages.append({"role": "user", "content": results})
                continue
            if stop == "max_tokens":
                messages.append(
                    {"role": "user", "content": "Your answer was cut off at max_tokens. Continue."}
                )
                continue
            # end_turn / stop_sequence without a tool call: ask once for the plan, then take the text
            if not nudged:
                nudged = True
                messages.append(
                    {
                        "role": "user",
                        "content": f"Call {SUBMIT_PLAN} to finish (with an answer if this was a question).",
                    }
                )
                continue
            return SubmittedPlan(
                summary=response.text[:200] or "no change", answer=response.text
            ), meter.as_dict()
        raise PlanningFailed(
            f"no plan after {self.budgets.max_steps} model steps (budget max_steps)", usage=meter.as_dict()
        )

    def _complete(self, policy: Resilience, request: LLMRequest, meter: UsageMeter) -> LLMResponse:
        """One model call under the run's retry policy and the endpoint's breaker."""
        try:
            return policy.call("llm", self.endpoint, lambda: self.client.complete(request), op="messages")
        except AeError as exc:
            raise PlanningFailed(f"the model API failed: {exc}", usage=meter.as_dict()) from exc

    def _check_budgets(self, meter: UsageMeter, started: float) -> None:
        b = self.budgets
        spent = time.monotonic() - started
        problem = (
            f"tokens {meter.tokens} > max {b.max_tokens}"
            if meter.tokens > b.max_tokens
            else f"cost ${meter.cost_usd:.4f} > max ${b.max_cost_usd}"
            if meter.cost_usd > b.max_cost_usd
            else f"wall time {spent:.0f}s > max {b.max_wall_s:.0f}s"
            if spent > b.max_wall_s
            else None
        )
        if problem:
            raise PlanningFailed(
                f"run budget exceeded: {problem}",
                usage=meter.as_dict(),
                hint="raise the budget in ae.yml or AE_* settings, or narrow the request",
            )

    def _answer_tools(
        self, ctx: ToolContext, uses: list[ToolUseBlock], *, truncated: bool
    ) -> tuple[list[dict[str, Any]], SubmittedPlan | None]:
        """One tool_result per tool_use, in order; a valid submit_plan ends the loop."""
        results: dict[str, dict[str, Any]] = {}
        if truncated:
            # The response stopped at max_tokens inside a tool call: its input may be incomplete.
            for use in uses:
                results[use.id] = _error(
                    use,
                    "your response hit max_tokens while writing this call, so its "
                    "input may be incomplete and it was not run; retry it in smaller "
                    "pieces (e.g. several edit_file calls)",
                )
            return [results[u.id] for u in uses], None
        allowed = {s.name for s in self.tools}
        batch: list[ToolUseBlock] = []
        submitted: SubmittedPlan | None = None
        readonly = {s.name for s in self.tools if s.read_only}

        def flush() -> None:
            if not batch:
                return
            with ThreadPoolExecutor(max_workers=READ_CONCURRENCY) as pool:
                for use, result in zip(
                    batch, pool.map(lambda u: self._run_tool(ctx, u, allowed), batch), strict=True
                ):
                    results[use.id] = result
            batch.clear()

        for use in uses:
            if use.name == SUBMIT_PLAN:
                continue
            if use.name in readonly:
                batch.append(use)
                continue
            flush()
            results[use.id] = self._run_tool(ctx, use, allowed)
        flush()
        for use in uses:
            if use.name != SUBMIT_PLAN:
                continue
            try:
                submitted = SubmittedPlan.model_validate(use.input)
                results[use.id] = {"type": "tool_result", "tool_use_id": use.id, "content": "plan submitted"}
            except ValidationError as exc:
                results[use.id] = _error(use, f"invalid submit_plan input: {exc.errors(include_url=False)}")
        return [results[u.id] for u in uses], submitted

    def _run_tool(self, ctx: ToolContext, use: ToolUseBlock, allowed: set[str]) -> dict[str, Any]:
        outcome = invoke(ctx, use.name, use.input, allowed=lambda spec: spec.name in allowed)
        if outcome.ok:
            return {"type": "tool_result", "tool_use_id": use.id, "content": _result_text(outcome.output)}
        return _error(use, outcome.error or "the tool failed")


def _error(use: ToolUseBlock, message: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": use.id, "content": redact(message), "is_error": True}
