"""Typed results of dbt invocations, built from dbt's own result objects (never from log text).

These cross the process boundary between the engine child and the parent as plain dicts
(``model_dump``), so everything here is JSON-able.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

#: what went wrong (tools/engine/classify.py): ``locked``, ``unreachable`` and ``conflict`` pass and
#: are retried; the others need a change first
ErrorKind = Literal[
    "compilation",
    "configuration",
    "locked",
    "unreachable",
    "conflict",
    "timeout",
    "read_only",
    "permission",
    "database",
    "runtime",
    "internal",
]


class NodeTiming(BaseModel):
    name: str
    started_at: str | None = None
    completed_at: str | None = None


class NodeResult(BaseModel):
    """One node's outcome: a model built, a test run, a seed loaded, a source checked..."""

    unique_id: str
    name: str
    resource_type: str
    status: str  # success | error | skipped | pass | fail | warn | runtime error ...
    message: str | None = None
    failures: int | None = None
    execution_time: float = 0.0
    timing: list[NodeTiming] = Field(default_factory=list)
    original_file_path: str | None = None
    compiled_sql: str | None = None
    relation: str | None = None
    rows_affected: int | None = None
    #: command-specific details (freshness: max_loaded_at, age_s...)
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        # no-op: exposures and other nodes a build visits without running anything
        return self.status in {"success", "pass", "warn", "no-op"}


class DbtError(BaseModel):
    kind: ErrorKind
    type: str
    message: str


class Preview(BaseModel):
    """Rows returned by ``dbt show``."""

    node: str | None = None
    columns: list[str]
    rows: list[list[Any]]


class DbtResult(BaseModel):
    command: str
    args: list[str]
    success: bool
    nodes: list[NodeResult] = Field(default_factory=list)
    listed: list[str] = Field(default_factory=list)
    preview: Preview | None = None
    error: DbtError | None = None
    elapsed_s: float = 0.0
    #: True when this call ran on a freshly started engine after a crash or timeout kill
    engine_restarted: bool = False

    @property
    def failed_nodes(self) -> list[NodeResult]:
        return [n for n in self.nodes if not n.ok and n.status != "skipped"]

    def summary(self) -> str:
        if self.error:
            return f"dbt {self.command} failed: {self.error.message}"
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.status] = counts.get(node.status, 0) + 1
        detail = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing to report"
        return f"dbt {self.command}: {'ok' if self.success else 'FAILED'} ({detail}) in {self.elapsed_s:.2f}s"


#: the ``command`` of a request for SQL through the project's dbt adapter: no dbt command has this name
SQL_COMMAND = "__sql__"


class SqlReply(BaseModel):
    """The engine child's answer to a ``__sql__`` request: SQL run by the project's dbt adapter.

    ``results`` are ``QueryResult`` dicts (tools/warehouse_port/models.py), one per statement, all
    of them only when every statement ran; ``error`` says what stopped them.
    """

    adapter: str = ""
    results: list[dict[str, Any]] = Field(default_factory=list)
    error: DbtError | None = None
    elapsed_s: float = 0.0
