"""``ae_run`` and the queue tools: requests carried through the five phases for an MCP client.

A run goes through ``agent.runner.Session`` as ``ae run`` does, on the target
``agent.targets.request_target`` decides. A protected target needs approval the client cannot give
for the user: ``approve_protected`` counts only when the server was started with --allow-protected.
Progress events become MCP progress notifications as they happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context

from agent.mcp.tools import ENQUEUE, READ, RUN, McpTool, Project, Target, tool_errors
from agent.mcp.workspaces import Workspaces
from graph.progress import Emit, ProgressEvent


@dataclass(frozen=True)
class RunPolicy:
    #: the user, starting the server, let clients approve protected targets
    allow_protected: bool = False


def run_request(
    ws: Workspaces, policy: RunPolicy, request: str, *, project: str, target: str, approve: bool, emit: Emit
) -> dict[str, Any]:
    """Carry ``request`` through a run (blocking); the run's status, summary, diff and report path."""
    from agent.approvals import Approvals, nobody_approves
    from agent.run_command import render_summary
    from agent.runner import Session
    from agent.targets import request_target

    settings = ws.settings(project)
    engine = ws.engine(settings, request_target(request, target or None))
    hint = (
        "call again with approve_protected=true once the user agrees"
        if policy.allow_protected
        else "an MCP client cannot approve this for the user: run it with `ae run ... --yes`, or "
        "restart the server with `ae mcp --allow-protected`"
    )
    # the client's approval counts only on a server the user started with --allow-protected; code
    # in a plan is never approved from here
    approvals = Approvals(target=approve and policy.allow_protected, refusal_hint=hint)
    with Session(settings, emit=emit, engine=engine) as session:
        outcome = session.handle(request, approvals=approvals, ask=nobody_approves)
    report = outcome.report()
    return {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "target": session.target,
        "summary": render_summary(outcome),
        "diff": report.diff if report else "",
        "report_path": str(outcome.report_dir / "report.md") if outcome.report_dir else None,
    }


def run_tools(ws: Workspaces, policy: RunPolicy) -> list[McpTool]:
    async def ae_run(
        request: str,
        ctx: Context,
        project: Project = "",
        target: Target = "",
        approve_protected: bool = False,
    ) -> dict[str, Any]:
        sent = 0

        def emit(event: ProgressEvent) -> None:
            nonlocal sent
            sent += 1
            anyio.from_thread.run(ctx.report_progress, sent, None, event.line().strip())

        with tool_errors():
            return await anyio.to_thread.run_sync(
                lambda: run_request(
                    ws, policy, request, project=project, target=target, approve=approve_protected, emit=emit
                )
            )

    return [
        McpTool(
            "ae_run",
            ae_run,
            "Carry a request or /command (e.g. `/dbt-run --select stg_orders+ --full-refresh --vars "
            '"{day: 2024-01-01}" --target dev`) through Plan, Validate, Execute, Verify and Document. '
            "Returns the run's status, summary, diff and report path; progress arrives as MCP progress "
            "notifications. A failed run is rolled back. Read-only commands (/dbt-compile, "
            "/model-lineage, /dbt-docs) change nothing. A protected target is refused unless the server "
            "allows approval (--allow-protected) and approve_protected is true.",
            RUN,
        )
    ]


def queue_tools(ws: Workspaces) -> list[McpTool]:
    def ae_queue_add(
        request: str, project: Project = "", target: Target = "", key: str = "", priority: int = 5
    ) -> dict[str, Any]:
        from agent.queue.batch import TaskSpec, check_key, check_priority
        from agent.queue.commands import enqueue
        from agent.queue.config import QUEUE_NAME, queue_url
        from agent.queue.engine import open_client

        with tool_errors():
            settings = ws.settings(project)
            spec = TaskSpec(
                request=request,
                project=str(settings.project_dir),
                target=target or None,
                key=check_key(key or None),
                priority=check_priority(priority),
            )
            [(task_id, new)] = enqueue(open_client(queue_url()), [spec], QUEUE_NAME)
        return {"id": task_id, "new": new}

    def ae_queue_status(task_id: str = "") -> dict[str, Any]:
        from agent.queue.commands import one_task, tasks_of
        from agent.queue.config import queue_url
        from agent.queue.engine import open_client
        from agent.queue.views import stats

        with tool_errors():
            client = open_client(queue_url())
            if task_id:
                return dict(one_task(client, task_id).detail())
            return dict(stats(tasks_of(client)))

    return [
        McpTool(
            "ae_queue_add",
            ae_queue_add,
            "Enqueue a request for `ae worker` (same key, same task). A protected target is not "
            "approved from here: such a task ends refused.",
            ENQUEUE,
        ),
        McpTool(
            "ae_queue_status",
            ae_queue_status,
            "One queued task (status, run id, report, diff, figures) by id or key; without an id, "
            "the queue's counts, throughput and task times.",
            READ,
        ),
    ]
