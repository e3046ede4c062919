"""The ``ae queue`` and ``ae worker`` parsers. Imports nothing heavy: ``ae --help`` must stay fast,
and DBOS alone costs seconds to import, so the handlers load agent/queue/commands.py when called."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from agent.queue.config import DEFAULT_PRIORITY, QUEUE_NAME, QUEUE_URL_ENV

QUEUE_DESCRIPTION = f"""\
Durable batch work: `ae queue add` enqueues requests, `ae worker` runs them (DBOS underneath).

The queue is {QUEUE_URL_ENV}: a sqlite:/// URL (default: ~/.local/state/ae/queue.sqlite) for one
machine, or a postgresql:// URL shared by workers on several machines. A task's key is its id (see
`ae queue add --help`). Statuses: queued, running, succeeded, failed, refused, cancelled, dead (kept
failing on infrastructure faults, or killed its worker every time).

examples:
  ae queue add "/dbt-run --select fct_orders" --project shop --key nightly-orders
  ae queue add --file tasks.yaml --project shop
  ae worker --concurrency 2
  ae queue list --status failed
  ae queue show nightly-orders
  ae queue stats --json
"""

ADD_DESCRIPTION = """\
Enqueue a request (or --file, a YAML list of them) for `ae worker`; prints each task's id.
A --file entry is a request, or a mapping of request and optional project (relative to the file),
target, key and priority.

--key K makes K the task's id, for good: a key names one task, queued, running or finished.
  - The same task again under K (the same request, --project, --target, --priority and --yes) adds
    nothing: it prints "K (already <status>: ...)" and exits 0, even once the task has finished, so
    a script may add it twice. A finished task does not run again: a new key runs the request again,
    `ae queue retry K` gives a failed one another go.
  - Anything else under K is refused (exit 2), naming the task K holds and what differs; nothing of
    a --file batch is enqueued when one of its entries is refused (each named by its line).
Without --key a new id is made (t-YYYYMMDD-HHMMSS-xxxxxx).
"""

WORKER_DESCRIPTION = f"""\
Take tasks from the queue ({QUEUE_URL_ENV}) and run each through Plan -> ... -> Document, as `ae run`.

Give each worker a stable --id (default: host + folder): a restarted worker with the same id takes back
its tasks at once; a worker silent for 10 s is taken over by any live worker, and its running tasks
resume from their checkpoints. Ctrl-C or SIGTERM: stop taking tasks, let the running ones finish
(up to 60 s; they are checkpointed either way), exit 0.
"""

Handler = Callable[[argparse.Namespace], int]


def _handler(name: str) -> Handler:
    def handle(args: argparse.Namespace) -> int:
        from agent.queue import commands

        command: Callable[[argparse.Namespace, object], int] = getattr(commands, name)
        return command(args, sys.stdout)

    return handle


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON on stdout")


def _queue_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--queue", default=QUEUE_NAME, metavar="NAME", help=f"queue name (default {QUEUE_NAME})"
    )


def configure_queue_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    queue = sub.add_parser(
        "queue",
        help="enqueue requests and inspect the queue",
        description=QUEUE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="enqueue a request, or a batch file of them; prints the task ids",
        description=ADD_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("request", nargs="?", default=None, help="the request, as for `ae run`")
    add.add_argument("--file", type=Path, default=None, metavar="YAML", help="a list of requests (see above)")
    add.add_argument("--project", type=Path, default=None, metavar="DIR", help="the dbt project (default: .)")
    add.add_argument("--target", default=None, metavar="T", help="dbt target (default: the profile's)")
    add.add_argument(
        "--key",
        default=None,
        metavar="K",
        help="the task's id: the same task again adds nothing, another under it is refused",
    )
    add.add_argument(
        "--priority",
        type=int,
        default=DEFAULT_PRIORITY,
        metavar="N",
        help="1 runs first (default %(default)s)",
    )
    add.add_argument("--yes", action="store_true", help="approve building on a protected target (recorded)")
    _queue_name(add)
    _json(add)
    add.set_defaults(handler=_handler("cmd_add"))

    listing = actions.add_parser("list", help="the tasks, with status, attempts, worker and time")
    listing.add_argument("--status", default=None, help="only tasks with this status")
    _json(listing)
    listing.set_defaults(handler=_handler("cmd_list"))

    for name, text in (("show", "one task: result, run report, diff, figures"), ("cancel", "cancel a task")):
        action = actions.add_parser(name, help=text)
        action.add_argument("id", help="the task id (or key)")
        _json(action)
        action.set_defaults(handler=_handler(f"cmd_{name}"))

    retry = actions.add_parser("retry", help="another go for a failed, refused, dead or cancelled task")
    retry.add_argument("id", help="the task id (or key)")
    _queue_name(retry)
    _json(retry)
    retry.set_defaults(handler=_handler("cmd_retry"))

    stats = actions.add_parser("stats", help="counts by status, throughput, p50/p95 task time")
    _json(stats)
    stats.set_defaults(handler=_handler("cmd_stats"))


def configure_worker_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    worker = sub.add_parser(
        "worker",
        help="run queued tasks until stopped",
        description=WORKER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.add_argument("--concurrency", type=int, default=1, metavar="N", help="tasks at a time (default 1)")
    worker.add_argument("--id", default=None, metavar="ID", help="a stable, unique worker id")
    _queue_name(worker)
    worker.set_defaults(handler=_handler("cmd_worker"))
