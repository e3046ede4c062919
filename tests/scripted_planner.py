"""A planner driven by a script of changesets, for graph tests (no LLM, no command parsing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from graph.plan_spec import PlanRequest, PlanSpec
from tools.context import ToolContext

Step = Callable[[PlanRequest, ToolContext], PlanSpec]


def writes(files: dict[str, str], summary: str = "scripted change") -> Step:
    """A step that records the given files into the changeset."""

    def step(_request: PlanRequest, tools: ToolContext) -> PlanSpec:
        for path, content in files.items():
            tools.changeset.write_file(tools.paths, path, content)
        return PlanSpec(summary=summary, changeset=tools.changeset)

    return step


@dataclass
class ScriptedPlanner:
    steps: list[Step]
    name: str = "scripted"
    can_repair: bool = True
    requests: list[PlanRequest] = field(default_factory=list)

    def plan(self, request: PlanRequest, tools: ToolContext) -> PlanSpec:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        return step(request, tools)
