"""The ``ae mcp`` parser. Imports nothing heavy (``ae --help`` must stay fast): the MCP SDK, dbt and
the tools load in the handler."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from agent.mcp.auth import TOKEN_ENV, parse_bind
from agent.mcp.token_store import token_path

MCP_DESCRIPTION = f"""\
Serve ae's tools and runs to MCP clients (Claude Code, Cursor, other agents): over stdio by default,
over Streamable HTTP with --http HOST:PORT (path /mcp). HTTP always needs a bearer token, loopback
included: --token or {TOKEN_ENV}, else on loopback the one ae makes at the first start, prints once
and keeps (mode 0600) in
  {token_path()}
An address other than loopback needs a token you give.

A call's project is the server's --project, or a project under --projects-root DIR when given
(resolved through links); any other folder is refused.

Read tools are annotated read-only and idempotent; ae_run is destructive. --tools (or AE_MCP_TOOLS)
lists exactly the tools to serve, so an upgrade never adds one silently. A protected target is refused
unless the server was started with --allow-protected and the call approves it.

examples:
  ae mcp --project ~/code/shop
  ae mcp --project ~/code/shop --tools ae_lineage,ae_show,ae_list
  ae mcp --projects-root ~/code --project ~/code/shop --http 127.0.0.1:8765
  AE_MCP_TOKEN=s3cret ae mcp --http 0.0.0.0:8765
"""


def _cmd_mcp(args: argparse.Namespace) -> int:
    from agent.mcp.server import ServerOptions, serve

    project = (args.project or Path(".")).expanduser().resolve()
    root = args.projects_root.expanduser().resolve() if args.projects_root else None
    http = parse_bind(args.http) if args.http else None
    token = args.token or os.environ.get(TOKEN_ENV) or None
    options = ServerOptions(
        project=project, tools=args.tools, allow_protected=args.allow_protected, projects_root=root
    )
    serve(options, http, token)
    return 0


def configure_mcp_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    mcp = sub.add_parser(
        "mcp",
        help="serve ae's tools and runs over the Model Context Protocol",
        description=MCP_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mcp.add_argument("--project", type=Path, default=None, metavar="DIR", help="the dbt project (default: .)")
    mcp.add_argument("--http", default=None, metavar="HOST:PORT", help="Streamable HTTP instead of stdio")
    mcp.add_argument(
        "--projects-root",
        type=Path,
        default=None,
        metavar="DIR",
        help="let a call name a project under DIR (default: only --project)",
    )
    mcp.add_argument(
        "--token",
        default=None,
        help=f"bearer token HTTP clients must send (or {TOKEN_ENV}; default on loopback: one ae keeps)",
    )
    mcp.add_argument("--tools", default=None, metavar="A,B", help="serve only these tools (or AE_MCP_TOOLS)")
    mcp.add_argument(
        "--allow-protected",
        action="store_true",
        help="let a client approve building on a protected target (approve_protected=true)",
    )
    mcp.set_defaults(handler=_cmd_mcp)
