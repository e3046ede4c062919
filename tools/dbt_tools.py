"""dbt commands as registered tools (family ``dbt``), all through the run's warm engine.

A tool is read-only when its dbt command is (``only_reads``, tools/engine/commands.py: it writes
only dbt's target folder, never the warehouse or the project). Read-only tools may be called while
planning; they see the project as it is on disk — pending changeset edits are compiled by Validate.
Execute and Verify run dbt through the run context (graph/context.py), not as tools, so there are
no tools for building: the model is never offered one, and a tool nobody calls is code nobody tests.

What the model (or an MCP client) reads about each tool and its arguments is in
``prompts/tools/<name>.md``; the schema comes from the signature (tools/registry.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine, DbtResult
from tools.engine.commands import only_reads
from tools.errors import ConfigurationError, InvalidArguments
from tools.registry import tool

#: the model needs the failures, not whole logs: cap what one result carries
MAX_COMPILED_CHARS = 4000
MAX_MESSAGE_CHARS = 600


class NodeSummary(BaseModel):
    name: str
    resource_type: str
    status: str
    message: str | None = None
    failures: int | None = None
    seconds: float = 0.0
    compiled_sql: str | None = None


class DbtToolResult(BaseModel):
    command: str
    success: bool
    summary: str
    nodes: list[NodeSummary] = Field(default_factory=list)
    listed: list[str] = Field(default_factory=list)
    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)


def _engine(ctx: ToolContext) -> DbtEngine:
    if ctx.engine is None:
        raise ConfigurationError("no dbt engine in this tool context", hint="open the run through a Session")
    return ctx.engine


def _clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters)"


def _summarise(result: DbtResult, *, with_sql: bool, only_problems: bool) -> DbtToolResult:
    nodes = [
        NodeSummary(
            name=n.name,
            resource_type=n.resource_type,
            status=n.status,
            message=_clip(n.message, MAX_MESSAGE_CHARS),
            failures=n.failures,
            seconds=round(n.execution_time, 3),
            compiled_sql=_clip(n.compiled_sql, MAX_COMPILED_CHARS) if with_sql else None,
        )
        for n in result.nodes
        if not only_problems or not n.ok
    ]
    preview = result.preview
    return DbtToolResult(
        command=result.command,
        success=result.success,
        summary=result.summary(),
        nodes=nodes,
        listed=result.listed,
        columns=preview.columns if preview else [],
        rows=preview.rows if preview else [],
    )


def _run(
    ctx: ToolContext, call: DbtCall, *, with_sql: bool = False, only_problems: bool = True
) -> DbtToolResult:
    # The registry already runs every tool under ctx.policy; the engine call itself is plain.
    return _summarise(_engine(ctx).invoke(call), with_sql=with_sql, only_problems=only_problems)


def _selection(select: str) -> list[str]:
    return [select] if select.strip() else []


@tool(read_only=only_reads("parse"), family="dbt")
def dbt_parse(ctx: ToolContext) -> DbtToolResult:
    """Parse the dbt project on disk and report whether it is valid (writes only dbt's manifest)."""
    return _run(ctx, DbtCall(command="parse"))


@tool(read_only=only_reads("compile"), family="dbt")
def dbt_compile(ctx: ToolContext, select: str) -> DbtToolResult:
    """Compile models on disk and return their compiled SQL."""
    return _run(
        ctx, DbtCall(command="compile", select=_selection(select)), with_sql=True, only_problems=False
    )


@tool(read_only=only_reads("ls"), family="dbt")
def dbt_ls(ctx: ToolContext, select: str = "", resource_type: str = "", exclude: str = "") -> DbtToolResult:
    """List the nodes of the project (models, sources, tests, seeds, snapshots, exposures)."""
    types = [resource_type] if resource_type else []
    call = DbtCall(command="ls", select=_selection(select), exclude=_selection(exclude), resource_types=types)
    return _run(ctx, call)


@tool(read_only=only_reads("show"), family="dbt")
def dbt_show(ctx: ToolContext, select: str, limit: int = 5) -> DbtToolResult:
    """Preview the rows a model returns (runs its SQL with a limit; builds nothing)."""
    if not 1 <= limit <= 100:
        raise InvalidArguments("limit must be between 1 and 100")
    return _run(ctx, DbtCall(command="show", select=_selection(select), limit=limit))


@tool(read_only=only_reads("debug"), family="dbt")
def dbt_debug(ctx: ToolContext) -> DbtToolResult:
    """Check the dbt installation, the profile and the warehouse connection."""
    return _run(ctx, DbtCall(command="debug"))


@tool(read_only=only_reads("source freshness"), family="dbt")
def dbt_source_freshness(ctx: ToolContext, select: str = "") -> DbtToolResult:
    """Check source freshness (max loaded_at against the freshness thresholds)."""
    return _run(ctx, DbtCall(command="source freshness", select=_selection(select)), only_problems=False)


# Plan needs no docs site (Document generates it after every change): the planner leaves this one
# out by name (agent/claude_planner.py planning_tools)
@tool(read_only=only_reads("docs generate"), family="dbt")
def dbt_docs_generate(ctx: ToolContext) -> DbtToolResult:
    """Generate the documentation site (target/index.html and catalog.json)."""
    return _run(ctx, DbtCall(command="docs generate"))
