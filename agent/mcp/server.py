"""``ae mcp``: build the MCP server from the allowed tools and serve it over stdio or Streamable HTTP."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from mcp.server import MCPServer

from agent.mcp.auth import bearer_guard, check_bind
from agent.mcp.memory import memory_tools
from agent.mcp.runs import RunPolicy, queue_tools, run_tools
from agent.mcp.token_store import server_token
from agent.mcp.tools import McpTool, allowlist, read_tools
from agent.mcp.workspaces import Workspaces

INSTRUCTIONS = """\
ae does an analytics engineer's dbt work. Explore with the read-only tools (ae_lineage, which
follows a model or one of its columns up and down, ae_list, ae_show, ae_sql, ae_describe,
ae_profile, ae_compile, ae_freshness, ae_docs, ae_memory_search); change the project with ae_run,
which carries a /command or a request through Plan, Validate, Execute, Verify and Document and rolls
back what fails. Outputs are capped; each says how to ask for more."""


@dataclass(frozen=True)
class ServerOptions:
    project: Path
    tools: str | None = None
    allow_protected: bool = False
    #: a folder whose projects a call may name besides ``project`` (agent/mcp/workspaces.py)
    projects_root: Path | None = None


def all_tools(ws: Workspaces, options: ServerOptions) -> list[McpTool]:
    return (
        read_tools(ws)
        + memory_tools(ws)
        + run_tools(ws, RunPolicy(options.allow_protected))
        + queue_tools(ws)
    )


def build_server(options: ServerOptions) -> tuple[MCPServer, Workspaces]:
    """The server with the allowed tools; close the workspaces when it stops (their dbt processes)."""
    ws = Workspaces(options.project, options.projects_root)
    offered = all_tools(ws, options)
    served = set(allowlist(options.tools, [tool.name for tool in offered]))
    server: MCPServer = MCPServer("ae", instructions=INSTRUCTIONS)
    for tool in offered:
        if tool.name in served:
            server.add_tool(
                tool.fn, name=tool.name, description=tool.description, annotations=tool.annotations
            )
    return server, ws


def serve(options: ServerOptions, http: tuple[str, int] | None = None, token: str | None = None) -> None:
    """Serve until the client disconnects (stdio) or the process is stopped (HTTP).

    HTTP always asks for a bearer token: ``token`` when given, else (on loopback) the one ae keeps
    for the user (agent/mcp/token_store.py). Beyond loopback the user must give one."""
    bearer = ""
    if http is not None:
        check_bind(http[0], token)  # before anything starts: an exposed, open server never listens
        bearer = token or server_token(lambda line: print(line, file=sys.stderr, flush=True))
    server, ws = build_server(options)
    try:
        if http is None:
            server.run("stdio")
        else:
            _serve_http(server, *http, bearer)
    finally:
        ws.close()


def _serve_http(server: MCPServer, host: str, port: int, token: str) -> None:
    import anyio
    import uvicorn

    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(bearer_guard(app, token), host=host, port=port, log_level="warning")
    anyio.run(uvicorn.Server(config).serve)
