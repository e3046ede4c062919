"""The tool-calling loop: Claude explores and edits through tools until it submits a plan.

Each response's ``tool_use`` blocks are all answered (independent read-only calls concurrently,
writes in order), one ``tool_result`` per call, ``is_error`` with an actionable message on failure.
Every stop reason is handled on purpose; budgets (steps, tokens, cost, wall time) end the loop with
``PlanningFailed`` carrying what was spent, so the run ends cleanly with a report. Budgets are per
run, not per Plan visit: the loop starts from what earlier visits spent and checks the totals before
and after every model call. A ``submit_plan`` beside a failed call is refused (the plan would miss
that call), and a tool that keeps failing ends the loop with its last error.

Each model call and tool call is reported through ``progress`` as it ends, and the conversation is
appended to the run's transcript (agent/llm/transcript.py) when one is given.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent.llm.base import LLMClient, LLMRequest, LLMResponse, ToolUseBlock, Usage
from agent.llm.pricing import ModelPrice, cost_with, price_of
from agent.llm.transcript import Transcript
from graph.plan_spec import PlanningFailed
from graph.usage import total_tokens
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


#: one line of Plan's progress: message, ok (None while it runs), seconds taken
Progress = Callable[[str, bool | None, float | None], None]


def quiet(_message: str, _ok: bool | None, _seconds: float | None) -> None:
    """The default progress sink: says nothing."""


@dataclass(frozen=True)
class Budgets:
    """Limits of one run, summed over its Plan visits."""

    max_steps: int = 40
    max_tokens: int = 2_000_000
    #: None turns the cost budget off on purpose (the only way to plan with an unpriced model)
    max_cost_usd: float | None = 5.0
    max_wall_s: float = 1800.0
    #: failures in a row of one tool before the loop gives up on it
    max_tool_failures: int = 4
    #: the price to charge when the model has none on file (agent/llm/pricing.py)
    price: ModelPrice | None = None


@dataclass
class UsageMeter:
    """Tokens, cost and time of the loop's model calls: this visit's, on top of earlier visits'."""

    model: str
    price: ModelPrice | None
    #: what earlier Plan visits of the run spent (graph.usage dict), counted against the budgets
    prior: Mapping[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    calls: int = 0
    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def add(self, response: LLMResponse, seconds: float) -> None:
        self.calls += 1
        self.seconds += seconds
        self.usage = self.usage + response.usage
        if self.price is not None:
            self.cost_usd += cost_with(response.usage, self.price)

    @property
    def tokens(self) -> int:
        u = self.usage
        return u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_write_tokens

    def run_totals(self) -> tuple[int, int, float, float]:
        """Steps, tokens, cost and Plan wall seconds of the whole run so far."""
        p = self.prior
        return (
            int(p.get("llm_calls", 0)) + self.calls,
            total_tokens(p) + self.tokens,
            float(p.get("cost_usd", 0.0)) + self.cost_usd,
            float(p.get("plan_seconds", 0.0)) + time.monotonic() - self.started,
        )

    def as_dict(self) -> dict[str, float]:
        """This visit's spend (graph.usage.add_usage sums the visits)."""
        u = self.usage
        out: dict[str, float] = {
            "llm_calls": self.calls,
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "cache_read_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
            "llm_seconds": round(self.seconds, 3),
            "plan_seconds": round(time.monotonic() - self.started, 3),
        }
        if self.price is not None:
            out["cost_usd"] = round(self.cost_usd, 6)
        return out

    def with_budgets(self, budgets: Budgets) -> dict[str, float]:
        """``as_dict`` plus the limits, so a report can show spend against budget."""
        limits = {
            "budget_steps": budgets.max_steps,
            "budget_tokens": budgets.max_tokens,
            "budget_wall_s": budgets.max_wall_s,
        }
        if budgets.max_cost_usd is not None:
            limits["budget_cost_usd"] = budgets.max_cost_usd
        return {**self.as_dict(), **limits}


def price_for(model: str, budgets: Budgets) -> ModelPrice | None:
    """The model's price; an unpriced model is refused unless the cost budget is off on purpose."""
    price = budgets.price or price_of(model)
    if price is None and budgets.max_cost_usd is not None:
        raise PlanningFailed(
            f"no price on file for model {model!r}, so the run's cost budget "
            f"(${budgets.max_cost_usd}) cannot be enforced",
            hint="add the model to agent/llm/pricing.py PRICES, or set AE_MAX_COST_USD=0 "
            "to turn the cost budget off for this model",
        )
    return price


def check_budgets(budgets: Budgets, meter: UsageMeter, *, before_call: bool) -> None:
    """Before a call: is there room for one more step? After it: did its response overshoot
    (then nothing it asked for is done)?"""
    b = budgets
    steps, tokens, cost, wall = meter.run_totals()
    problem = (
        f"steps {steps} >= max_steps {b.max_steps}"
        if before_call and steps >= b.max_steps
        else f"tokens {tokens} > max {b.max_tokens}"
        if tokens > b.max_tokens
        else f"cost ${cost:.4f} > max ${b.max_cost_usd}"
        if b.max_cost_usd is not None and cost > b.max_cost_usd
        else f"wall time {wall:.0f}s > max {b.max_wall_s:.0f}s"
        if wall > b.max_wall_s
        else None
    )
    if problem:
        raise PlanningFailed(
            f"run budget exceeded: {problem} (counted over all Plan visits of the run)",
            usage=meter.with_budgets(b),
            hint="raise the budget in ae.yml or AE_* settings, or narrow the request",
        )


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

    def run(
        self,
        ctx: ToolContext,
        first_message: str,
        *,
        spent: Mapping[str, float] | None = None,
        progress: Progress = quiet,
        transcript: Transcript | None = None,
    ) -> tuple[SubmittedPlan, dict[str, float]]:
        """Plan until ``submit_plan``. ``spent`` is what earlier Plan visits of the run used."""
        visit = _Visit(
            meter=UsageMeter(model=self.model, price=self._price(), prior=dict(spent or {})),
            # the request and repair feedback quote dbt's errors, which may hold secrets
            messages=[{"role": "user", "content": redact(first_message)}],
            failures=_FailureStreaks(limit=self.budgets.max_tool_failures),
            progress=progress,
            transcript=transcript,
        )
        tool_params = self.tool_params()
        while True:
            response = self._step(ctx, visit, tool_params)
            visit.messages.append(response.assistant_message())
            submitted = self._follow(ctx, visit, response)
            if submitted is not None:
                return submitted, visit.meter.with_budgets(self.budgets)

    def _step(self, ctx: ToolContext, visit: _Visit, tool_params: list[dict[str, Any]]) -> LLMResponse:
        """One model call, checked against the run's budgets before and after, recorded and reported."""
        meter = visit.meter
        check_budgets(self.budgets, meter, before_call=True)
        step = meter.calls + 1
        request = LLMRequest(
            system=self.system,
            messages=list(visit.messages),
            tools=tool_params,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            model=self.model,
        )
        if visit.transcript is not None:
            visit.transcript.request(step, request)
        call_started = time.perf_counter()
        response = self._complete(ctx.policy, request, meter)
        took = time.perf_counter() - call_started
        meter.add(response, took)
        check_budgets(self.budgets, meter, before_call=False)
        if visit.transcript is not None:
            visit.transcript.response(step, response, took)
        visit.progress(_model_line(step, response), True, took)
        log.info("llm_step", step=step, stop_reason=response.stop_reason, tool_calls=len(response.tool_uses))
        return response

    def _follow(self, ctx: ToolContext, visit: _Visit, response: LLMResponse) -> SubmittedPlan | None:
        """Act on a response by its stop reason: the plan it ends with, or None once the next message
        is queued (none for ``pause_turn``: the paused turn is sent back as is, to let it continue)."""
        stop = response.stop_reason
        if stop == "refusal":
            raise PlanningFailed(
                "the model declined this request (stop reason: refusal)",
                usage=visit.meter.with_budgets(self.budgets),
            )
        if stop == "model_context_window_exceeded":
            raise PlanningFailed(
                "the conversation outgrew the model's context window before a plan was submitted",
                usage=visit.meter.with_budgets(self.budgets),
                hint="split the request into smaller ones",
            )
        if stop == "pause_turn":
            return None
        if response.tool_uses:
            return self._follow_tools(ctx, visit, response)
        if stop == "max_tokens":
            visit.messages.append(
                {"role": "user", "content": "Your answer was cut off at max_tokens. Continue."}
            )
            return None
        # end_turn / stop_sequence without a tool call: ask once for the plan, then take the text
        if not visit.nudged:
            visit.nudged = True
            visit.messages.append(
                {
                    "role": "user",
                    "content": f"Call {SUBMIT_PLAN} to finish (with an answer if this was a question).",
                }
            )
            return None
        return SubmittedPlan(summary=response.text[:200] or "no change", answer=response.text)

    def _follow_tools(self, ctx: ToolContext, visit: _Visit, response: LLMResponse) -> SubmittedPlan | None:
        """Answer the response's tool calls; the plan when one submitted it, else None with the results
        queued. A tool that failed too often in a row ends the loop."""
        uses = response.tool_uses
        results, submitted = self._answer_tools(
            ctx, uses, response.stop_reason == "max_tokens", visit.progress
        )
        if submitted is not None:
            return submitted
        gave_up = visit.failures.note(uses, results)
        if gave_up:
            raise PlanningFailed(
                gave_up,
                usage=visit.meter.with_budgets(self.budgets),
                hint="read the tool's error; the request may name a file, model or relation "
                "that does not exist",
            )
        visit.messages.append({"role": "user", "content": results})
        return None

    def _price(self) -> ModelPrice | None:
        return price_for(self.model, self.budgets)

    def _complete(self, policy: Resilience, request: LLMRequest, meter: UsageMeter) -> LLMResponse:
        """One model call under the run's retry policy and the endpoint's breaker."""
        try:
            return policy.call("llm", self.endpoint, lambda: self.client.complete(request), op="messages")
        except AeError as exc:
            raise PlanningFailed(
                f"the model API failed: {exc}", usage=meter.with_budgets(self.budgets)
            ) from exc

    def _answer_tools(
        self, ctx: ToolContext, uses: list[ToolUseBlock], truncated: bool, progress: Progress
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
                    batch, pool.map(lambda u: self._run_tool(ctx, u, allowed, progress), batch), strict=True
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
            results[use.id] = self._run_tool(ctx, use, allowed, progress)
        flush()
        failed = [u for u in uses if u.name != SUBMIT_PLAN and results[u.id].get("is_error")]
        for use in uses:
            if use.name != SUBMIT_PLAN:
                continue
            if failed:
                # the plan would silently lack what the failed calls meant to do
                names = ", ".join(f"{u.name} ({u.id})" for u in failed)
                results[use.id] = _error(
                    use,
                    f"plan not accepted: {names} failed in this same response; fix that, then call "
                    f"{SUBMIT_PLAN} again",
                )
                continue
            try:
                submitted = SubmittedPlan.model_validate(use.input)
                results[use.id] = {"type": "tool_result", "tool_use_id": use.id, "content": "plan submitted"}
            except ValidationError as exc:
                results[use.id] = _error(use, f"invalid submit_plan input: {exc.errors(include_url=False)}")
        return [results[u.id] for u in uses], submitted

    def _run_tool(
        self, ctx: ToolContext, use: ToolUseBlock, allowed: set[str], progress: Progress
    ) -> dict[str, Any]:
        outcome = invoke(ctx, use.name, use.input, allowed=lambda spec: spec.name in allowed)
        line = f"{use.name} {_key_argument(use.input)}".rstrip()
        progress(line if outcome.ok else f"{line}: {outcome.error}", outcome.ok, outcome.duration_s)
        # the same line in the structured log, which is what a queue worker leaves behind
        log.info("plan_tool_call", call=line, ok=outcome.ok, seconds=round(outcome.duration_s, 3))
        if outcome.ok:
            return {"type": "tool_result", "tool_use_id": use.id, "content": _result_text(outcome.output)}
        return _error(use, outcome.error or "the tool failed")


def _error(use: ToolUseBlock, message: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": use.id, "content": redact(message), "is_error": True}


def _model_line(step: int, response: LLMResponse) -> str:
    u = response.usage
    calls = ", ".join(use.name for use in response.tool_uses) or response.stop_reason
    return (
        f"model step {step}: {calls} ({u.input_tokens} in, {u.cache_read_tokens} cached, "
        f"{u.output_tokens} out)"
    )


#: the argument that says what a call is about, in the order looked for
_KEY_ARGUMENTS = ("path", "relation", "model", "select", "pattern", "sql", "query")


def _key_argument(arguments: Mapping[str, Any]) -> str:
    for key in _KEY_ARGUMENTS:
        if key in arguments:
            value = " ".join(str(arguments[key]).split())
            return value if len(value) <= 80 else value[:77] + "..."
    return ""


@dataclass
class _Visit:
    """One Plan visit: the conversation so far, what it spent, and where it reports."""

    meter: UsageMeter
    messages: list[dict[str, Any]]
    failures: _FailureStreaks
    progress: Progress
    transcript: Transcript | None
    #: asked once for submit_plan after a reply with no tool call
    nudged: bool = False


@dataclass
class _FailureStreaks:
    """Failures in a row per tool: a tool that keeps failing ends the loop instead of eating steps."""

    limit: int
    streaks: dict[str, int] = field(default_factory=dict)

    def note(self, uses: list[ToolUseBlock], results: list[dict[str, Any]]) -> str | None:
        """Count this response's calls; the reason to stop when one tool reached the limit."""
        for use, result in zip(uses, results, strict=True):
            if use.name == SUBMIT_PLAN:
                continue
            if not result.get("is_error"):
                self.streaks[use.name] = 0
                continue
            self.streaks[use.name] = self.streaks.get(use.name, 0) + 1
            if self.streaks[use.name] >= self.limit:
                return f"{use.name} failed {self.limit} times in a row; last error: {result['content']}"
        return None
