"""What Plan produces and what planners must implement.

Both planners — the deterministic command planner and the Claude planner — return a ``PlanSpec``:
a changeset (files to create/modify/delete, never written by Plan itself) plus the dbt operations
Execute should run and what Verify should check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from tools.changeset import Changeset
from tools.context import ToolContext
from tools.errors import AeError
from tools.manifest import Manifest

ExecCommand = Literal[
    "build",
    "run",
    "test",
    "seed",
    "snapshot",
    "compile",
    "docs generate",
    "source freshness",
    "debug",
    "run-operation",
]


class Operation(BaseModel):
    """One dbt invocation Execute performs, in order."""

    command: ExecCommand
    select: list[str] = Field(default_factory=list)
    full_refresh: bool = False
    store_failures: bool = False
    vars: dict[str, Any] = Field(default_factory=dict)
    macro: str | None = None
    macro_args: dict[str, Any] = Field(default_factory=dict)


class PlanSpec(BaseModel):
    summary: str
    changeset: Changeset = Field(default_factory=Changeset)
    #: dbt operations for Execute; None means "build what the changeset touched and its children"
    operations: list[Operation] | None = None
    #: test selection for Verify; None means "the tests of what was built", [] means no tests
    verify_select: list[str] | None = None
    store_failures: bool = False
    #: an answer for the person (lineage, compiled SQL, debug output), shown in the summary/report
    answer: str | None = None
    #: whether Document should describe new models/columns and run dbt docs generate
    document: bool = True
    #: tokens and cost spent producing this plan (LLM planners); summed over visits in the report
    llm_usage: dict[str, float] = Field(default_factory=dict)


class PlanningFailed(AeError):
    """The planner gave up (budget spent, model refused, LLM unreachable); carries what it spent."""

    def __init__(self, message: str, *, usage: dict[str, float] | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.usage = usage or {}


class Feedback(BaseModel):
    """Why a Validate or Verify visit failed, for the next Plan visit."""

    phase: Literal["validate", "execute", "verify"]
    errors: list[str] = Field(default_factory=list)
    failing_tests: list[dict[str, Any]] = Field(default_factory=list)

    def render(self) -> str:
        lines = [f"{self.phase} failed:"]
        lines += [f"- {e}" for e in self.errors]
        for test in self.failing_tests:
            lines.append(f"- test {test.get('name')}: {test.get('message')}")
            for row in test.get("sample_rows", [])[:5]:
                lines.append(f"    sample row: {row}")
        return "\n".join(lines)


#: one line of Plan's progress: message, ok (None while it runs), seconds taken
PlanProgress = Callable[[str, bool | None, float | None], None]


class PlanRequest(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    request: str
    attempt: int = 1
    feedback: list[Feedback] = Field(default_factory=list)
    previous: PlanSpec | None = None
    #: LLM usage of the run's earlier Plan visits: budgets are per run, not per visit
    spent: dict[str, float] = Field(default_factory=dict)
    #: the run's folder, where an LLM planner appends its transcript; None keeps none
    run_dir: Path | None = None
    #: where a planner reports each model and tool call as it ends; None says nothing
    progress: PlanProgress | None = Field(default=None, exclude=True)


class Planner(Protocol):
    """Turns a request into a PlanSpec. Raises ``InvalidArguments`` for a request it cannot take."""

    # read-only members: a planner may be a frozen dataclass
    @property
    def name(self) -> str: ...

    #: whether another Plan visit with feedback can produce a different plan (an LLM can; the
    #: deterministic command planner would repeat itself, so its runs fail at the first failure)
    @property
    def can_repair(self) -> bool: ...

    def plan(self, request: PlanRequest, tools: ToolContext) -> PlanSpec: ...


class Describer(Protocol):
    """Writes descriptions for models (and their columns) that lack them, as a changeset."""

    def describe(self, manifest: Manifest, unique_ids: list[str], tools: ToolContext) -> Changeset: ...


@runtime_checkable
class BudgetedDescriber(Describer, Protocol):
    """A describer that asks a model, so it spends from the run's budget (agent/claude_describer.py)."""

    def describe_within(
        self,
        manifest: Manifest,
        unique_ids: list[str],
        tools: ToolContext,
        spent: Mapping[str, float],
    ) -> tuple[Changeset, dict[str, float], str]:
        """The descriptions, what asking cost, and why the model's text was not used ("" if it was)."""
        ...
