"""The handlers of ``ae queue add|list|show|cancel|retry|stats`` and ``ae worker``.

Each takes the parsed arguments and streams, prints a table or (``--json``) JSON, and returns an
exit code. DBOS is imported here, inside the handlers' module, never by ``agent/queue/cli.py``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from dbos import DBOSClient, EnqueueOptions
from dbos._error import DBOSWorkflowIDInUseError

from agent.exit_codes import ExitCode
from agent.queue.batch import Approval, Entry, TaskSpec, check_key, check_priority, read_batch
from agent.queue.config import APP_VERSION, WORKFLOW_NAME, default_executor_id, queue_url
from agent.queue.engine import QueueClient, open_client
from agent.queue.keys import already, key_taken
from agent.queue.views import FINISHED, TaskView, stats, view
from agent.queue.wake import notify
from agent.requests import check_request
from tools.errors import InvalidArguments


def new_task_id() -> str:
    return datetime.now(UTC).strftime("t-%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass(frozen=True)
class Added:
    """A task ``ae queue add`` was given: its id, and the task its key already named (None: new)."""

    id: str
    held: TaskView | None = None

    @property
    def new(self) -> bool:
        return self.held is None

    def line(self) -> str:
        return self.id if self.held is None else already(self.held)

    def summary(self) -> dict[str, object]:
        return {"id": self.id, "new": self.new, "status": self.held.status if self.held else "queued"}


def add(client: QueueClient, entries: list[Entry], queue: str) -> list[Added]:
    """Enqueue every entry's task, or none: an entry whose key holds another task is refused (every
    such entry named) before anything is enqueued; the same task under its key is named, not added."""
    for entry in entries:  # every caller's way in (the CLI, a batch file, MCP) meets the same checks
        check_request(entry.task.request)
    keys = [e.task.key for e in entries if e.task.key is not None]
    held = {t.id: t for t in tasks_of(client, keys)} if keys else {}
    refusals = [
        refusal
        for e in entries
        if e.task.key in held and (refusal := key_taken(held[e.task.key], e.task, e.where)) is not None
    ]
    if refusals:
        raise _refused(refusals, added=[])
    added: list[Added] = []
    try:
        for entry in entries:
            added.append(_add_one(client, entry, queue, held, added))
    finally:
        if any(a.new for a in added):
            notify(client.url, queue)
    return added


def _add_one(
    client: QueueClient, entry: Entry, queue: str, held: dict[str, TaskView], added: list[Added]
) -> Added:
    key = entry.task.key
    if key is not None and key in held:
        return Added(key, held[key])
    task_id = key or new_task_id()
    try:
        client.enqueue(_options(entry.task, task_id, queue), entry.task.as_input())
        return Added(task_id)
    except DBOSWorkflowIDInUseError:  # taken since the check: another `ae queue add`, or twice here
        now = one_task(client, task_id)
        refusal = key_taken(now, entry.task, entry.where)
        if refusal is not None:
            raise _refused([refusal], added=[a.id for a in added if a.new]) from None
        return Added(task_id, now)


def enqueue(client: QueueClient, tasks: list[TaskSpec], queue: str) -> list[tuple[str, bool]]:
    """``add`` for callers without a file (MCP's ae_queue_add): each task's id and whether it is new."""
    return [(a.id, a.new) for a in add(client, [Entry(task) for task in tasks], queue)]


def _options(task: TaskSpec, task_id: str, queue: str) -> EnqueueOptions:
    return {
        "queue_name": queue,
        "workflow_name": WORKFLOW_NAME,
        "workflow_id": task_id,
        # an id in use raises instead of silently naming the task that holds it: see ``add``
        "workflow_id_reuse_policy": "reject",
        "priority": task.priority,
        "app_version": APP_VERSION,
    }


def _refused(refusals: list[InvalidArguments], *, added: list[str]) -> InvalidArguments:
    if len(refusals) == 1 and not added:
        return refusals[0]
    enqueued = f"enqueued before the refusal: {', '.join(added)}" if added else "nothing was enqueued"
    return InvalidArguments(
        f"{enqueued}; a used key names another task:\n  " + "\n  ".join(r.message for r in refusals),
        hint=refusals[0].hint,
    )


def tasks_of(client: DBOSClient, ids: list[str] | None = None) -> list[TaskView]:
    return [view(s) for s in client.list_workflows(workflow_ids=ids, name=WORKFLOW_NAME)]


def one_task(client: DBOSClient, task_id: str) -> TaskView:
    found = tasks_of(client, [task_id])
    if not found:
        raise InvalidArguments(f"no task {task_id!r} in the queue", hint="`ae queue list` shows the task ids")
    return found[0]


def cmd_add(args: argparse.Namespace, out: TextIO) -> int:
    project = (args.project or Path(".")).expanduser().resolve()
    approval = Approval(by=f"{getpass.getuser()}@{socket.gethostname()}", at=_now()) if args.yes else None
    if args.file is not None:
        if args.request is not None or args.key is not None:
            raise InvalidArguments("give a request or --file, not both", hint="keys go in the file's entries")
        entries = read_batch(args.file, default_project=project, approval=approval)
    elif args.request is None:
        raise InvalidArguments(
            "nothing to enqueue", hint='ae queue add "/dbt-run --select x" or --file tasks.yaml'
        )
    else:
        if not (project / "dbt_project.yml").is_file():
            raise InvalidArguments(f"{project} has no dbt_project.yml", hint="pass --project DIR")
        entries = [
            Entry(
                TaskSpec(
                    request=args.request,
                    project=str(project),
                    target=args.target,
                    key=check_key(args.key),
                    priority=check_priority(args.priority),
                    approved_by=approval.by if approval else None,
                    approved_at=approval.at if approval else None,
                )
            )
        ]
    added = add(open_client(queue_url()), entries, args.queue)
    if args.json:
        print(json.dumps([a.summary() for a in added], indent=2), file=out)
    else:
        for one in added:
            print(one.line(), file=out)
    return ExitCode.OK


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    found = tasks_of(open_client(queue_url()))
    if args.status:
        found = [t for t in found if t.status == args.status]
    if args.json:
        print(json.dumps([t.summary() for t in found], indent=2), file=out)
        return ExitCode.OK
    print(f"{'ID':<32} {'STATUS':<10} {'ATT':>3} {'WORKER':<24} {'TIME':>7}  REQUEST", file=out)
    for task in found:
        took = f"{task.task_s:.1f}s" if task.task_s is not None else "-"
        print(
            f"{task.id:<32} {task.status:<10} {task.attempts:>3} {task.worker or '-':<24} {took:>7}",
            task.request,
            file=out,
        )
    return ExitCode.OK


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    task = one_task(open_client(queue_url()), args.id)
    detail = task.detail()
    if args.json:
        print(json.dumps(detail, indent=2), file=out)
        return ExitCode.OK
    for key, value in detail.items():
        if key not in ("diff", "figures") and value not in (None, ""):
            shown = _when(value) if key.endswith("_at") and isinstance(value, float) else value
            print(f"{key}: {shown}", file=out)
    if task.report_dir:
        print(f"report: {Path(task.report_dir) / 'report.md'}", file=out)
    for key, value in task.figures.items():
        print(f"  {key}: {value}", file=out)
    if task.diff:
        print("", task.diff, sep="\n", file=out)
    return ExitCode.OK


def cmd_cancel(args: argparse.Namespace, out: TextIO) -> int:
    client = open_client(queue_url())
    task = one_task(client, args.id)
    if task.status in FINISHED:
        raise InvalidArguments(f"task {task.id} already ended {task.status}; nothing to cancel")
    client.cancel_workflow(task.id)
    _print_status(one_task(client, task.id), args.json, out)
    return ExitCode.OK


def cmd_retry(args: argparse.Namespace, out: TextIO) -> int:
    """Another go for an ended task: a cancelled or poison task continues where it stopped (its run
    resumes from its checkpoint); a task that ended with a result runs again as a new task."""
    client = open_client(queue_url())
    task = one_task(client, args.id)
    if task.status not in FINISHED - {"succeeded"}:
        raise InvalidArguments(
            f"task {task.id} is {task.status}; only an ended, unsuccessful task is retried"
        )
    if task.status == "cancelled" or task.run_id is None:
        client.resume_workflow(task.id, queue_name=args.queue)
        again = one_task(client, task.id)
    else:
        again = one_task(client, client.fork_workflow(task.id, 1, queue_name=args.queue).get_workflow_id())
    notify(client.url, args.queue)
    _print_status(again, args.json, out)
    return ExitCode.OK


def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    figures = stats(tasks_of(open_client(queue_url())))
    if args.json:
        print(json.dumps(figures, indent=2), file=out)
        return ExitCode.OK
    print("  ".join(f"{status} {n}" for status, n in figures["counts"].items()), file=out)
    for key in ("throughput_per_min", "task_s_p50", "task_s_p95", "wait_s_p50"):
        print(f"{key.replace('_', ' ')}: {figures[key] if figures[key] is not None else '-'}", file=out)
    return ExitCode.OK


def cmd_worker(args: argparse.Namespace, _out: TextIO) -> int:
    from agent.queue.worker import WorkerOptions, run_worker

    if args.concurrency < 1:
        raise InvalidArguments(f"--concurrency {args.concurrency}: a worker runs at least 1 task at a time")
    return run_worker(
        WorkerOptions(
            url=queue_url(),
            executor_id=args.id or default_executor_id(),
            queue=args.queue,
            concurrency=args.concurrency,
        )
    )


def _print_status(task: TaskView, as_json: bool, out: TextIO) -> None:
    print(json.dumps(task.summary(), indent=2) if as_json else f"{task.id}: {task.status}", file=out)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _when(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")
