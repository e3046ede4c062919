"""The Claude planner: a tool loop over the read-only exploration tools and the changeset edit tools."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent.commands.project import ProjectView
from agent.llm.base import LLMClient
from agent.llm.pricing import ModelPrice
from agent.llm.transcript import TRANSCRIPT_FILE, Transcript
from agent.loop import Budgets, ToolLoop, quiet
from agent.memory.recalled import Recall
from agent.project_brief import project_brief
from agent.settings import Settings
from graph.plan_spec import PlanRequest, PlanSpec
from tools.context import ToolContext
from tools.errors import DbtCompilationError
from tools.prompt_text import load, render_repair
from tools.registry import ToolSpec, all_tools

if TYPE_CHECKING:
    from agent.claude_describer import ClaudeDescriber


#: tool families whose writes go only into the run's changeset (file tools, model edits)
CHANGESET_FAMILIES = frozenset({"files", "edits"})
#: read-only tools Plan has no use for: Document generates the docs site after every change
NOT_FOR_PLANNING = frozenset({"dbt_docs_generate"})


def planning_tools(spec: ToolSpec) -> bool:
    """Plan may explore (read-only tools, memory search among them) and record edits (the file and
    model edit tools write only the changeset); nothing else it calls writes anything."""
    if spec.name in NOT_FOR_PLANNING:
        return False
    return spec.read_only or spec.family in CHANGESET_FAMILIES


def _brief(tools: ToolContext, recall: Recall | None) -> str:
    """The project's conventions and what memory recalls for the request; a project that does not
    parse (a request to fix it) says so instead of its conventions."""
    remembered = recall.render() if recall else ""
    try:
        brief = project_brief(ProjectView(tools, recall=recall))
    except DbtCompilationError as exc:
        brief = f"# The project does not parse right now\n\n{exc}"
    return f"{brief}\n\n{remembered}" if remembered else brief


def _first_message(request: PlanRequest, tools: ToolContext, recall: Recall | None) -> str:
    if request.attempt == 1 or not request.feedback:
        return f"{_brief(tools, recall)}\n\n# Request\n\n{request.request}"
    previous = request.previous.summary if request.previous else "(none)"
    feedback = "\n\n".join(f.render() for f in request.feedback[-2:])
    return (
        f"Request: {request.request}\n\nYour previous plan: {previous}\n\n"
        f"Pending changeset (not on disk):\n{tools.changeset.diff(tools.paths) or '(empty)'}\n\n"
        + render_repair(feedback)
    )


@dataclass
class ClaudePlanner:
    loop: ToolLoop
    name: str = "claude"
    can_repair: bool = True
    #: what memory recalled for this request (agent/memory): sent in the first message
    recall: Recall | None = None

    def with_recall(self, recall: Recall) -> ClaudePlanner:
        return replace(self, recall=recall)

    @classmethod
    def from_settings(cls, settings: Settings, client: LLMClient | None = None) -> ClaudePlanner:
        if client is None:
            from agent.llm.anthropic_client import AnthropicClient

            client = AnthropicClient(
                api_key=settings.api_key or "",
                model=settings.model,
                base_url=settings.anthropic_base_url,
                timeout_s=settings.llm_timeout_s,
                # one retry layer: tools.resilience retries and counts every attempt of the run
                max_retries=0,
            )
        loop = ToolLoop(
            client=client,
            model=settings.model,
            system=load("system"),
            tools=all_tools(planning_tools),
            describe=lambda spec: spec.description,
            submit_description=load("submit_plan"),
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            budgets=Budgets(
                max_steps=settings.max_steps,
                max_tokens=settings.max_run_tokens,
                # 0 is how a person turns the cost budget off (e.g. for a model with no price on file)
                max_cost_usd=settings.max_cost_usd or None,
                max_wall_s=settings.max_wall_s,
                price=ModelPrice(**settings.model_price) if settings.model_price else None,
            ),
            endpoint=settings.anthropic_base_url or "anthropic",
        )
        return cls(loop=loop)

    def describer(self) -> ClaudeDescriber:
        """Document's describer for this planner's runs: same client, model and budgets."""
        from agent.claude_describer import ClaudeDescriber

        loop = self.loop
        return ClaudeDescriber(
            client=loop.client, model=loop.model, budgets=loop.budgets, endpoint=loop.endpoint
        )

    def plan(self, request: PlanRequest, tools: ToolContext) -> PlanSpec:
        transcript = None
        if request.run_dir is not None:
            transcript = Transcript(request.run_dir / TRANSCRIPT_FILE, visit=request.attempt)
            transcript.visit_started(request.request)
        submitted, usage = self.loop.run(
            tools,
            _first_message(request, tools, self.recall),
            spent=request.spent,
            progress=request.progress or quiet,
            transcript=transcript,
        )
        return PlanSpec(
            summary=submitted.summary,
            changeset=tools.changeset,
            verify_select=submitted.verify_select,
            answer=submitted.answer,
            llm_usage=usage,
        )
