"""The benchmark's task format: one YAML file per task, validated by the models below.

A task says where it starts (the example project at a scale and seed, plus setup steps every agent
gets identically), what is asked (a /command or free text), what a correct answer is (the reference
solution, which the oracle agent applies) and how to check the agent's result (the checks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.requests import is_command
from graph.plan_spec import Operation
from tools.errors import ConfigurationError
from tools.example_project import EXAMPLE_PROJECT

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"

Status = Literal["success", "failed", "refused", "invalid", "awaiting_approval", "paused"]
#: every category the core suite must cover
REQUIRED_CATEGORIES: tuple[str, ...] = (
    "staging",
    "dimension",
    "fact",
    "incremental",
    "snapshot",
    "data_quality",
    "docs",
    "freshness",
    "exposure",
    "lineage",
    "bugfix",
    "refactor",
    "adversarial",
)
CATEGORIES: tuple[str, ...] = (*REQUIRED_CATEGORIES, "seed", "macro", "deploy")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectSpec(_Strict):
    """Where a task starts: the bundled example (generated at ``scale`` and ``seed``) or a dbt project folder.

    A folder is copied as it is; its warehouse is the DuckDB file its profile's default target points
    at, either inside the folder or copied there from ``warehouse``.
    """

    #: the folder name of the task's copies (the bundled example's name when ``path`` is not set)
    name: str = Field(default=EXAMPLE_PROJECT, pattern=r"^[A-Za-z0-9_.-]+$")
    #: a dbt project folder, absolute or relative to the task file; None: the bundled example
    path: str | None = None
    #: the DuckDB file the project needs, absolute or relative to the task file, copied to where the
    #: profile points; None: the folder carries its own (or the example generates one)
    warehouse: str | None = None
    scale: int = Field(default=1, ge=1)
    seed: int = 42

    @property
    def is_example(self) -> bool:
        return self.path is None

    @model_validator(mode="after")
    def _example_or_folder(self) -> ProjectSpec:
        if self.is_example and (self.name != EXAMPLE_PROJECT or self.warehouse is not None):
            raise ValueError(
                "project.name and project.warehouse need project.path "
                f"(the bundled example is {EXAMPLE_PROJECT!r})"
            )
        if not self.is_example and (self.scale, self.seed) != (1, 42):
            raise ValueError(
                "project.scale and project.seed apply to the bundled example only (no project.path)"
            )
        return self

    def resolved(self, task_dir: Path) -> ProjectSpec:
        """The same spec with ``path`` and ``warehouse`` made absolute against the task file's folder."""
        update = {
            key: str((task_dir / value).resolve())
            for key, value in (("path", self.path), ("warehouse", self.warehouse))
            if value is not None
        }
        return self.model_copy(update=update)


class AdvanceTime(_Strict):
    days: int = Field(default=7, ge=1)
    seed: int = 7


class DbtStep(_Strict):
    """A plain dbt invocation (no agent): used by setup and ``after`` steps."""

    command: Literal["build", "run", "test", "seed", "snapshot", "parse", "compile", "docs generate"]
    select: list[str] = Field(default_factory=list)
    full_refresh: bool = False


class Step(_Strict):
    """One setup or ``after`` step; exactly one field is set."""

    #: an ae request run through the five phases with the command planner
    command: str | None = None
    #: a folder under evals/fixtures/ copied over the project
    fixture: str | None = None
    #: files written verbatim (path relative to the project -> content)
    files: dict[str, str] | None = None
    delete: list[str] | None = None
    dbt: DbtStep | None = None
    advance_time: AdvanceTime | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        set_fields = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(set_fields) != 1:
            raise ValueError(f"a step sets exactly one of {list(type(self).model_fields)}, got {set_fields}")
        if self.fixture is not None and not (FIXTURES_DIR / self.fixture).is_dir():
            raise ValueError(f"fixture {self.fixture!r} is not a folder under {FIXTURES_DIR}")
        return self


class Reference(_Strict):
    """The reference solution, applied by the oracle agent through the same five phases."""

    fixture: str | None = None
    files: dict[str, str] = Field(default_factory=dict)
    delete: list[str] = Field(default_factory=list)
    #: a /command whose result is the reference (the oracle delegates to the command planner)
    command: str | None = None
    #: dbt operations for Execute; None builds what the files touched (see PlanSpec.operations)
    operations: list[Operation] | None = None
    verify_select: list[str] | None = None
    answer: str | None = None
    document: bool = True
    #: the right answer is to refuse: the oracle's planner declines with this reason
    refuse: str | None = None

    @model_validator(mode="after")
    def _exclusive(self) -> Reference:
        if self.command is not None and (self.files or self.fixture or self.operations or self.refuse):
            raise ValueError("a reference is either a /command or files/operations/refusal, not both")
        if self.fixture is not None and not (FIXTURES_DIR / self.fixture).is_dir():
            raise ValueError(f"fixture {self.fixture!r} is not a folder under {FIXTURES_DIR}")
        return self


class RelationCheck(_Strict):
    """A relation that must exist (``schema.name``; bare names are in ``main``) with these columns."""

    name: str
    columns: list[str] = Field(default_factory=list)
    #: True: the relation must NOT exist (e.g. nothing was built on prod)
    absent: bool = False


class GoldCheck(_Strict):
    """The agent's relation must equal the gold rows as a multiset (on the gold's columns)."""

    relation: str
    #: reference SQL over the agent's warehouse (after the task's ``after`` steps)
    sql: str | None = None
    #: or the same relation built by the reference solution in its own copy
    reference: bool = False
    tolerance: float = 1e-6

    @model_validator(mode="after")
    def _one_source(self) -> GoldCheck:
        if (self.sql is None) == (not self.reference):
            raise ValueError(f"gold for {self.relation}: give exactly one of sql or reference: true")
        return self


class RequiredTest(_Strict):
    """A generic test that must exist on ``model.column`` and pass: ``unique``, ``relationships``..."""

    model: str
    column: str
    test: str


class NodeCheck(_Strict):
    """A node that must exist in the manifest (exposure, snapshot, macro, seed...)."""

    resource_type: Literal["model", "seed", "snapshot", "exposure", "macro", "source"]
    name: str
    depends_on: list[str] = Field(default_factory=list)


class SnapshotHistory(_Strict):
    """A snapshot that, after the ``after`` steps, holds at least ``min_closed`` closed versions."""

    name: str
    min_closed: int = 1


class Checks(_Strict):
    expect_status: list[Status] = Field(default_factory=lambda: list[Status](["success"]))
    relations: list[RelationCheck] = Field(default_factory=list)
    gold: list[GoldCheck] = Field(default_factory=list)
    tests_pass: list[RequiredTest] = Field(default_factory=list)
    #: lint rule ids that must report nothing on the task's models
    lint: list[str] = Field(default_factory=list)
    #: project files (relative paths) that must be byte-identical after the run
    unchanged: list[str] = Field(default_factory=list)
    nodes: list[NodeCheck] = Field(default_factory=list)
    #: incremental models whose table must equal a --full-refresh rebuild (after the ``after`` steps)
    incremental: list[str] = Field(default_factory=list)
    snapshot_history: list[SnapshotHistory] = Field(default_factory=list)
    #: sources (source_name.table) that must declare a freshness rule and a loaded_at_field
    source_freshness: list[str] = Field(default_factory=list)
    #: models that must carry a description and describe every declared column (at least one)
    described: list[str] = Field(default_factory=list)
    #: files that must exist after the run (relative to the project)
    files_exist: list[str] = Field(default_factory=list)
    answer_contains: list[str] = Field(default_factory=list)


class Task(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    category: str
    request: str = Field(min_length=1)
    description: str = ""
    #: approve building on a protected target for this task (``--yes``)
    approve: bool = False
    #: the dbt target; a /command's own --target wins
    target: str | None = None
    project: ProjectSpec = Field(default_factory=ProjectSpec)
    setup: list[Step] = Field(default_factory=list)
    reference: Reference
    #: steps run after the agent (in the agent's copy and the reference's), e.g. advance time + re-run
    after: list[Step] = Field(default_factory=list)
    #: the models the task is about: their dbt tests count in data_quality, their build time in
    #: query_performance
    models: list[str] = Field(default_factory=list)
    checks: Checks
    #: the warehouses the task means something on (None: all); a task about one adapter's own
    #: macros is skipped on the others (``ae eval --adapter`` says which)
    adapters: list[str] | None = None

    def runs_on(self, adapter: str) -> bool:
        return self.adapters is None or adapter in self.adapters

    @property
    def is_command(self) -> bool:
        return is_command(self.request)

    @property
    def expects_refusal(self) -> bool:
        return "success" not in self.checks.expect_status

    @model_validator(mode="after")
    def _known_category(self) -> Task:
        if self.category not in CATEGORIES:
            raise ValueError(f"category {self.category!r} is not one of {', '.join(CATEGORIES)}")
        return self


def load_task(path: Path) -> Task:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"task file {path} is not valid YAML: {exc}") from exc
    try:
        task = Task.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(f"task file {path} is not a valid task:\n{exc}") from exc
    if task.id != path.stem:
        raise ConfigurationError(f"task file {path} declares id {task.id!r}; the id must match the file name")
    project = task.project.resolved(path.parent)
    for what, value, exists in (
        ("project.path", project.path, Path.is_dir),
        ("project.warehouse", project.warehouse, Path.is_file),
    ):
        if value is not None and not exists(Path(value)):
            raise ConfigurationError(
                f"task file {path}: {what} {value} does not exist",
                hint=f"give {what} absolute or relative to {path.parent}",
            )
    return task.model_copy(update={"project": project})


def load_suite(suite: str = "core") -> list[Task]:
    """Every task of a suite (evals/tasks/<suite>/*.yaml), sorted by id; ids are unique by construction."""
    folder = TASKS_DIR / suite
    if not folder.is_dir():
        known = sorted(p.name for p in TASKS_DIR.iterdir() if p.is_dir()) if TASKS_DIR.is_dir() else []
        raise ConfigurationError(f"no suite {suite!r} in {TASKS_DIR}", hint=f"suites: {', '.join(known)}")
    return [load_task(path) for path in sorted(folder.glob("*.yaml"))]
