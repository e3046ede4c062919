"""``ae_memory_search``: what earlier runs on a project taught ae, searched by similarity.

Written here rather than served from the registry's ``memory_search`` (agent/mcp/tools.py SERVED):
that tool searches the memory a run holds open (``ToolContext.memory``) and its text speaks to the
planner about its first message's ``<memory>`` block; this one opens the project's memory for the
call, needs no dbt target, and names an unknown kind in words.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from agent.mcp.tools import READ, McpTool, Project, tool_errors
from agent.mcp.workspaces import Workspaces

MAX_MEMORIES = 20


def memory_tools(ws: Workspaces) -> list[McpTool]:
    def ae_memory_search(
        query: str,
        kind: str = "",
        limit: Annotated[int, Field(ge=1, le=MAX_MEMORIES)] = 5,
        project: Project = "",
    ) -> dict[str, Any]:
        from agent.memory.project_memory import open_project_memory
        from tools.memory.store import KINDS, checked_kind

        with tool_errors():
            kinds = (checked_kind(kind),) if kind else KINDS
            with open_project_memory(ws.settings(project)) as memory:
                found = memory.search(query, kinds, limit=limit)
        return {"memories": [m.as_dict() for m in found]}

    return [
        McpTool(
            "ae_memory_search",
            ae_memory_search,
            "Search what earlier runs on the project taught ae — models it built, conventions "
            "(folders, prefixes), failures with their fix, the user's decisions — best match first. "
            f"kind narrows to one of conventions, models, failures, decisions; at most {MAX_MEMORIES} "
            "memories per call.",
            READ,
        )
    ]
