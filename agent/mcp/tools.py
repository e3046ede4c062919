"""The tools ae's MCP server offers: ae's registered read tools under ``ae_*`` names, and what every
MCP tool shares (annotations, errors, a call's project and target).

A read tool is generated from its registry spec (tools/registry.py): its description and each
argument's text are the ones the planner reads (prompts/tools/<name>.md), its schema is the spec's
input model, and a call goes through the registry's ``invoke`` (validation, retries, circuit
breakers, error channels). ``SERVED`` lists, one line each, the registry tools MCP serves, under
which name, with what MCP adds: a row cap and its "narrowed" note, paging of a long list, the fields
an answer keeps. Every MCP tool also takes ``project`` and ``target``. Annotations follow dbt-mcp's
caution: a registry tool that only reads is read-only and idempotent; ``ae_run`` is destructive (a
/command builds in the warehouse and writes files).
"""

from __future__ import annotations

import inspect
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
from tools.errors import AeError, InvalidArguments
from tools.registry import ToolRegistry, ToolSpec, builtin_registry

TOOLS_ENV = "AE_MCP_TOOLS"

Project = Annotated[
    str,
    Field(
        description="dbt project folder: empty for the server's --project, or one under its --projects-root"
    ),
]
Target = Annotated[str, Field(description="dbt target, e.g. dev; empty: the profile's default")]
Offset = Annotated[int, Field(description="how many names to skip: the offset a narrowed answer names")]

READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
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


@dataclass(frozen=True)
class Served:
    """One registry tool as MCP serves it."""

    name: str
    #: the registry tool's name
    tool: str
    #: the most rows ``limit`` may ask for; a call returns caps.DEFAULT_ROWS unless it asks for more
    rows: int | None = None
    #: the answer's list that comes in pages of caps.MAX_LISTED, with an ``offset`` argument
    paged: str | None = None
    #: the fields of the answer MCP returns (None: all)
    keeps: tuple[str, ...] | None = None


#: the registry tools ``ae mcp`` serves: a tool added to the registry is exposed by one line here
SERVED: tuple[Served, ...] = (
    Served("ae_lineage", "model_lineage"),
    Served("ae_list", "dbt_ls", paged="listed"),
    Served("ae_show", "dbt_show", rows=caps.MAX_SHOW_ROWS, keeps=("columns", "rows", "summary")),
    Served("ae_sql", "run_query", rows=caps.MAX_SQL_ROWS),
    Served("ae_profile", "profile_columns"),
    Served("ae_describe", "describe_warehouse_relation"),
    Served("ae_compile", "dbt_compile"),
    Served("ae_docs", "dbt_docs_generate"),
    Served("ae_freshness", "dbt_source_freshness"),
)


def read_tools(
    ws: Workspaces, served: tuple[Served, ...] = SERVED, registry: ToolRegistry | None = None
) -> list[McpTool]:
    """The ``served`` registry tools as MCP tools bound to the server's workspaces."""
    registry = registry or builtin_registry()
    return [_mcp_tool(ws, registry, entry) for entry in served]


def _mcp_tool(ws: Workspaces, registry: ToolRegistry, entry: Served) -> McpTool:
    spec = registry.get(entry.tool)

    def call(**arguments: Any) -> dict[str, Any]:
        project, target = arguments.pop("project", ""), arguments.pop("target", "")
        offset = max(arguments.pop("offset", 0), 0)
        with tool_errors():
            outcome = registry.invoke(ws.tool_context(project, target), spec.name, arguments)
        if not outcome.ok:
            raise ToolError(outcome.error or f"{spec.name} failed")
        return _shaped(entry, outcome.output, arguments, offset)

    # the MCP SDK builds the tool's input schema from the signature: the registry's arguments
    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        _parameters(spec, entry), return_annotation=dict[str, Any]
    )
    call.__name__ = entry.name
    return McpTool(entry.name, call, _description(spec, entry), _annotations(spec, entry))


def _parameters(spec: ToolSpec, entry: Served) -> list[inspect.Parameter]:
    """The registry tool's arguments, typed and described as the planner sees them, then MCP's own."""
    fields = spec.input_model.model_fields
    if entry.rows is not None and "limit" not in fields:
        raise TypeError(f"{entry.name}: {spec.name} has no limit argument to cap")
    own: list[tuple[str, Any, Any]] = [("offset", Offset, 0)] if entry.paged else []
    own += [("project", Project, ""), ("target", Target, "")]
    clash = sorted(set(fields) & {name for name, _, _ in own})
    if clash:
        raise TypeError(f"{entry.name}: {spec.name} has arguments MCP adds: {clash}")
    params = []
    for name, field in fields.items():
        annotation = _annotated(field.annotation, *field.metadata, Field(description=field.description))
        default = inspect.Parameter.empty if field.is_required() else field.default
        if name == "limit" and entry.rows is not None:
            annotation, default = _annotated(annotation, Field(ge=1, le=entry.rows)), caps.DEFAULT_ROWS
        params.append(_keyword(name, annotation, default))
    return params + [_keyword(*argument) for argument in own]


def _annotated(annotation: Any, *metadata: Any) -> Any:
    """``Annotated[annotation, *metadata]`` made at run time (mypy reads a literal one as a type)."""
    annotated: Any = Annotated
    return annotated[(annotation, *metadata)]


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _description(spec: ToolSpec, entry: Served) -> str:
    """The registry tool's description, plus what the MCP wrapper changes about its answer."""
    added = []
    if entry.rows is not None:
        added.append(f"Returns {caps.DEFAULT_ROWS} rows unless limit asks for more.")
    if entry.paged:
        added.append(f"Returns at most {caps.MAX_LISTED} names per call; page with offset.")
    return " ".join([spec.description, *added])


def _annotations(spec: ToolSpec, entry: Served) -> ToolAnnotations:
    """READ: SERVED holds only tools that read. A registry tool that writes does so into a run's
    changeset (files, model edits), which an MCP call has no run for: ``ae_run`` changes a project."""
    if not spec.read_only:
        raise TypeError(f"{entry.name}: {spec.name} writes; MCP changes a project only through ae_run")
    return READ


def _shaped(entry: Served, output: dict[str, Any], arguments: dict[str, Any], offset: int) -> dict[str, Any]:
    """The registry tool's answer as MCP returns it: a page of a long list, the fields kept, and a
    "narrowed" note when the rows reached the limit."""
    if entry.paged:
        return caps.page(list(output[entry.paged]), offset)
    shown = {key: output[key] for key in entry.keeps} if entry.keeps else output
    if entry.rows is None:
        return shown
    note = caps.rows_note(len(output.get("rows", [])), arguments["limit"], entry.rows)
    return shown | ({"narrowed": note} if note else {})


def allowlist(given: str | None, known: list[str]) -> list[str]:
    """The tools to serve: ``--tools`` or AE_MCP_TOOLS (comma-separated), else all ``known``.

    A named list is exact, so an upgrade that adds a tool never reaches a client that did not ask."""
    text = given if given is not None else os.environ.get(TOOLS_ENV)
    if text is None or not text.strip():
        return known
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise InvalidArguments(
            f"unknown MCP tools in the allowlist: {', '.join(unknown)}",
            hint=f"known tools: {', '.join(known)}",
        )
    return names
