"""dbt commands as registered tools (family ``dbt``), all through the run's warm engine.

Read-only tools (parse, compile, ls, show, debug, source freshness) may be called while planning;
they see the project as it is on disk — pending changeset edits are compiled by Validate. The
writing tools (run, build, test, seed, snapshot, docs generate, retry, run-operation) change the
warehouse; only the Execute/Verify phases call them.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine, DbtResult
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


def _vars(vars_json: str) -> dict[str, Any]:
    if not vars_json.strip():
        return {}
    try:
        value = json.loads(vars_json)
    except json.JSONDecodeError as exc:
        raise InvalidArguments(f"vars must be a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidArguments('vars must be a JSON object such as {"start_date": "2024-01-01"}')
    return value


@tool(read_only=True, family="dbt")
def dbt_parse(ctx: ToolContext) -> DbtToolResult:
    """Parse the dbt project on disk and report whether it is valid (writes only target/manifest.json)."""
    return _run(ctx, DbtCall(command="parse"))


@tool(read_only=True, family="dbt")
def dbt_compile(ctx: ToolContext, select: str) -> DbtToolResult:
    """Compile models on disk and return their compiled SQL.

    Args:
        select: dbt node selection, e.g. "stg_orders" or "tag:daily" or "stg_orders+".
    """
    return _run(
        ctx, DbtCall(command="compile", select=_selection(select)), with_sql=True, only_problems=False
    )


@tool(read_only=True, family="dbt")
def dbt_ls(ctx: ToolContext, select: str = "", resource_type: str = "") -> DbtToolResult:
    """List the nodes of the project (models, sources, tests, seeds, snapshots, exposures).

    Args:
        select: optional dbt node selection; empty lists everything.
        resource_type: optional filter such as model, source, test, seed, snapshot, exposure.
    """
    types = [resource_type] if resource_type else []
    return _run(ctx, DbtCall(command="ls", select=_selection(select), resource_types=types))


@tool(read_only=True, family="dbt")
def dbt_show(ctx: ToolContext, select: str, limit: int = 5) -> DbtToolResult:
    """Preview the rows a model returns (runs its SQL with a limit; builds nothing).

    Args:
        select: the one model to preview.
        limit: how many rows to return (at most 100).
    """
    if not 1 <= limit <= 100:
        raise InvalidArguments("limit must be between 1 and 100")
    return _run(ctx, DbtCall(command="show", select=_selection(select), limit=limit))


@tool(read_only=True, family="dbt")
def dbt_debug(ctx: ToolContext) -> DbtToolResult:
    """Check the dbt installation, the profile and the warehouse connection."""
    return _run(ctx, DbtCall(command="debug"))


@tool(read_only=True, family="dbt")
def dbt_source_freshness(ctx: ToolContext, select: str = "") -> DbtToolResult:
    """Check source freshness (max loaded_at against the freshness thresholds).

    Args:
        select: optional source selection such as "source:raw.orders"; empty checks all sources.
    """
    return _run(ctx, DbtCall(command="source freshness", select=_selection(select)), only_problems=False)


@tool(read_only=False, family="dbt")
def dbt_run(ctx: ToolContext, select: str, full_refresh: bool = False, vars_json: str = "") -> DbtToolResult:
    """Build models in the warehouse.

    Args:
        select: dbt node selection.
        full_refresh: rebuild incremental models from scratch.
        vars_json: optional JSON object of dbt vars.
    """
    call = DbtCall(command="run", select=_selection(select), full_refresh=full_refresh, vars=_vars(vars_json))
    return _run(ctx, call)


@tool(read_only=False, family="dbt")
def dbt_build(ctx: ToolContext, select: str, full_refresh: bool = False) -> DbtToolResult:
    """Build and test nodes in DAG order (models, seeds, snapshots and their tests).

    Args:
        select: dbt node selection.
        full_refresh: rebuild incremental models from scratch.
    """
    return _run(ctx, DbtCall(command="build", select=_selection(select), full_refresh=full_refresh))


@tool(read_only=False, family="dbt")
def dbt_test(ctx: ToolContext, select: str, store_failures: bool = False) -> DbtToolResult:
    """Run data tests and return the failing ones.

    Args:
        select: dbt node selection whose tests to run.
        store_failures: keep failing rows in the warehouse for inspection.
    """
    return _run(ctx, DbtCall(command="test", select=_selection(select), store_failures=store_failures))


@tool(read_only=False, family="dbt")
def dbt_seed(ctx: ToolContext, select: str) -> DbtToolResult:
    """Load seed CSV files into the warehouse.

    Args:
        select: the seeds to load.
    """
    return _run(ctx, DbtCall(command="seed", select=_selection(select)))


@tool(read_only=False, family="dbt")
def dbt_snapshot(ctx: ToolContext, select: str) -> DbtToolResult:
    """Run snapshots (slowly changing dimension history).

    Args:
        select: the snapshots to run.
    """
    return _run(ctx, DbtCall(command="snapshot", select=_selection(select)))


@tool(read_only=False, family="dbt")
def dbt_docs_generate(ctx: ToolContext) -> DbtToolResult:
    """Generate the documentation site (target/index.html and catalog.json)."""
    return _run(ctx, DbtCall(command="docs generate"))


@tool(read_only=False, family="dbt")
def dbt_retry(ctx: ToolContext) -> DbtToolResult:
    """Re-run the nodes that failed or were skipped in the previous dbt invocation."""
    return _run(ctx, DbtCall(command="retry"))


@tool(read_only=False, family="dbt")
def dbt_run_operation(ctx: ToolContext, macro: str, args_json: str = "") -> DbtToolResult:
    """Run a macro as an operation.

    Args:
        macro: the macro name.
        args_json: optional JSON object of the macro's arguments.
    """
    return _run(ctx, DbtCall(command="run-operation", macro=macro, macro_args=_vars(args_json)))
