"""The tools ae's MCP server offers: thin typed wrappers over ae's registered tools, runs and queue.

Each read tool calls one registry tool (tools/registry.py) through ``invoke``, so validation,
retries, circuit breakers and error channels are the registry's; its description is the registry
tool's, plus what the MCP layer adds (caps, project and target per call). Annotations follow
dbt-mcp's caution: reads are read-only and idempotent; ``ae_run`` is destructive (a /command builds
in the warehouse and writes files).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from agent.mcp import caps
from agent.mcp.workspaces import Workspaces
from tools.engine import DbtCall
from tools.errors import AeError
from tools.registry import get_tool, invoke

TOOLS_ENV = "AE_MCP_TOOLS"

Project = Annotated[
    str,
    Field(
        description="dbt project folder: empty for the server's --project, or one under its --projects-root"
    ),
]
Target = Annotated[str, Field(description="dbt target, e.g. dev; empty: the profile's default")]

READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
#: dbt docs generate writes only target/ (the site and catalog): not read-only, never destructive
DOCS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
RUN = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)
ENQUEUE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)


@contextmanager
def tool_errors() -> Iterator[None]:
    """ae's errors as MCP tool errors (message and what to do), which the client reads instead of a
    bare "Error executing tool"; anything else stays a crash for the SDK to hide and log."""
    try:
        yield
    except AeError as exc:
        raise ToolError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from exc


@dataclass(frozen=True)
class McpTool:
    name: str
    fn: Callable[..., Any]
    description: str
    annotations: ToolAnnotations


def call_registry(
    workspaces: Workspaces, name: str, project: str, target: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    """Run registry tool ``name`` on ``project``/``target``; a failed call raises ``ToolError``."""
    with tool_errors():
        outcome = invoke(workspaces.tool_context(project, target), name, arguments)
    if not outcome.ok:
        raise ToolError(outcome.error or f"{name} failed")
    output: dict[str, Any] = outcome.output
    return output


def describe(registry_name: str, extra: str = "") -> str:
    """The registry tool's own description, plus what the MCP wrapper adds."""
    return f"{get_tool(registry_name).description} {extra}".strip()


def read_tools(ws: Workspaces) -> list[McpTool]:
    """ae's read-only tools, each bound to the server's workspaces."""

    def ae_lineage(
        node: str, upstream: int = 1, downstream: int = 1, project: Project = "", target: Target = ""
    ) -> dict[str, Any]:
        return call_registry(
            ws,
            "model_lineage",
            project,
            target,
            {"node": node, "upstream": upstream, "downstream": downstream},
        )

    def ae_list(
        select: str = "",
        exclude: str = "",
        resource_type: str = "",
        offset: int = 0,
        *,
        project: Project = "",
        target: Target = "",
    ) -> dict[str, Any]:
        if not exclude:
            arguments = {"select": select, "resource_type": resource_type}
            listed = call_registry(ws, "dbt_ls", project, target, arguments)["listed"]
        else:
            # the registry's dbt_ls takes no exclude yet: the same dbt ls, through the same recorded,
            # retried ToolContext.dbt path, with --exclude added
            call = DbtCall(
                command="ls",
                select=[select] if select.strip() else [],
                exclude=[exclude],
                resource_types=[resource_type] if resource_type else [],
            )
            with tool_errors():
                result = ws.tool_context(project, target).dbt(call)
            if not result.success:
                raise ToolError(result.summary())
            listed = result.listed
        return caps.page(list(listed), max(offset, 0))

    def ae_show(
        select: str,
        limit: Annotated[int, Field(ge=1, le=caps.MAX_SHOW_ROWS)] = caps.DEFAULT_ROWS,
        project: Project = "",
        target: Target = "",
    ) -> dict[str, Any]:
        result = call_registry(ws, "dbt_show", project, target, {"select": select, "limit": limit})
        shown = {"columns": result["columns"], "rows": result["rows"], "summary": result["summary"]}
        note = caps.rows_note(len(result["rows"]), limit, caps.MAX_SHOW_ROWS)
        return shown | ({"narrowed": note} if note else {})

    def ae_sql(
        sql: str,
        limit: Annotated[int, Field(ge=1, le=caps.MAX_SQL_ROWS)] = caps.DEFAULT_ROWS,
        project: Project = "",
        target: Target = "",
    ) -> dict[str, Any]:
        result: dict[str, Any] = call_registry(ws, "run_query", project, target, {"sql": sql, "limit": limit})
        note = caps.rows_note(len(result.get("rows", [])), limit, caps.MAX_SQL_ROWS)
        return result | ({"narrowed": note} if note else {})

    def ae_profile(
        relation: str, columns: list[str] | None = None, project: Project = "", target: Target = ""
    ) -> dict[str, Any]:
        return call_registry(
            ws, "profile_columns", project, target, {"relation": relation, "columns": columns}
        )

    def ae_describe(relation: str, project: Project = "", target: Target = "") -> dict[str, Any]:
        return call_registry(ws, "describe_warehouse_relation", project, target, {"relation": relation})

    def ae_compile(select: str, project: Project = "", target: Target = "") -> dict[str, Any]:
        return call_registry(ws, "dbt_compile", project, target, {"select": select})

    def ae_docs(project: Project = "", target: Target = "") -> dict[str, Any]:
        return call_registry(ws, "dbt_docs_generate", project, target, {})

    def ae_freshness(select: str = "", project: Project = "", target: Target = "") -> dict[str, Any]:
        return call_registry(ws, "dbt_source_freshness", project, target, {"select": select})

    rows = f"Returns {caps.DEFAULT_ROWS} rows unless limit asks for more."
    return [
        McpTool("ae_lineage", ae_lineage, describe("model_lineage"), READ),
        McpTool(
            "ae_list",
            ae_list,
            describe(
                "dbt_ls",
                f"exclude takes dbt's --exclude selection. Returns at most {caps.MAX_LISTED} names per "
                "call; page with offset.",
            ),
            READ,
        ),
        McpTool("ae_show", ae_show, describe("dbt_show", rows), READ),
        McpTool("ae_sql", ae_sql, describe("run_query", rows), READ),
        McpTool("ae_profile", ae_profile, describe("profile_columns"), READ),
        McpTool("ae_describe", ae_describe, describe("describe_warehouse_relation"), READ),
        McpTool("ae_compile", ae_compile, describe("dbt_compile"), READ),
        McpTool("ae_docs", ae_docs, describe("dbt_docs_generate"), DOCS),
        McpTool("ae_freshness", ae_freshness, describe("dbt_source_freshness"), READ),
    ]


def allowlist(given: str | None, known: list[str]) -> list[str]:
    """The tools to serve: ``--tools`` or AE_MCP_TOOLS (comma-separated), else all ``known``.

    A named list is exact, so an upgrade that adds a tool never reaches a client that did not ask."""
    text = given if given is not None else os.environ.get(TOOLS_ENV)
    if text is None or not text.strip():
        return known
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        from tools.errors import InvalidArguments

        raise InvalidArguments(
            f"unknown MCP tools in the allowlist: {', '.join(unknown)}",
            hint=f"known tools: {', '.join(known)}",
        )
    return names
