"""The agents the benchmark scores: command, claude, oracle (the reference solution) and noop.

Every agent is a (planner, describer) pair run through the same Session and five phases; only the
planner differs, so the graders measure planners on equal terms.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal, get_args

from agent.settings import Settings
from evals.task import FIXTURES_DIR, Reference, Task
from graph.plan_spec import Describer, Planner, PlanRequest, PlanSpec
from tools.context import ToolContext
from tools.errors import ConfigurationError, InvalidArguments

AgentName = Literal["command", "claude", "oracle", "noop"]
AGENTS: tuple[str, ...] = get_args(AgentName)


def fixture_files(name: str) -> dict[str, str]:
    """A fixture folder's files as {relative path: text}, in a stable order."""
    root = FIXTURES_DIR / name
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def copy_fixture(name: str, project_dir: Path) -> None:
    shutil.copytree(FIXTURES_DIR / name, project_dir, dirs_exist_ok=True)


class OraclePlanner:
    """Returns the task's reference solution as the plan: the suite's check on itself."""

    name = "oracle"
    can_repair = False

    def __init__(self, reference: Reference) -> None:
        self.reference = reference

    def plan(self, request: PlanRequest, tools: ToolContext) -> PlanSpec:
        ref = self.reference
        if ref.refuse is not None:
            raise InvalidArguments(f"refused: {ref.refuse}")
        if ref.command is not None:
            # a reference given as a /command: its result, as the command planner produces it
            from agent.commands.planner import CommandPlanner

            return CommandPlanner().plan(PlanRequest(request=ref.command), tools)
        files = {**(fixture_files(ref.fixture) if ref.fixture else {}), **ref.files}
        for path, content in files.items():
            tools.changeset.write_file(tools.paths, path, content)
        for path in ref.delete:
            tools.changeset.delete_file(tools.paths, path)
        return PlanSpec(
            summary="the task's reference solution",
            changeset=tools.changeset,
            operations=ref.operations,
            verify_select=ref.verify_select,
            answer=ref.answer,
            document=ref.document,
        )


class NoopPlanner:
    """Plans nothing: the floor every agent must beat."""

    name = "noop"
    can_repair = False

    def plan(self, request: PlanRequest, tools: ToolContext) -> PlanSpec:
        return PlanSpec(summary="nothing to do", operations=[], verify_select=[], document=False)


def make_agent(agent: str, task: Task, settings: Settings) -> tuple[Planner, Describer | None]:
    """The planner and describer an agent uses for one task."""
    if agent == "oracle":
        return OraclePlanner(task.reference), None
    if agent == "noop":
        return NoopPlanner(), None
    from agent.planners import choose_planner

    if agent == "command":
        return choose_planner(settings, task.request, "command")
    if agent == "claude":
        require_claude(settings)
        return choose_planner(settings, task.request, "claude")
    raise ConfigurationError(f"unknown agent {agent!r}", hint=f"agents: {', '.join(AGENTS)}")


def require_claude(settings: Settings) -> None:
    if not settings.api_key:
        raise ConfigurationError(
            "the claude agent needs ANTHROPIC_API_KEY, and none is set",
            hint="set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for a proxy), or score --agent command",
        )
