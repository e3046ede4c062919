"""Shared by the queue tests: the `ae queue`/`ae worker` parsers, an in-process worker, waiting."""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agent.queue import cli

FINISHED = {"succeeded", "failed", "refused", "dead", "cancelled"}


def queue_cli(*argv: str) -> Any:
    """Run an ``ae queue``/``ae worker`` command as the CLI would, with --json; its parsed output."""
    parser = argparse.ArgumentParser(prog="ae")
    sub = parser.add_subparsers()
    cli.configure_queue_parser(sub)
    cli.configure_worker_parser(sub)
    args = parser.parse_args([*argv, "--json"])
    out = io.StringIO()
    from agent.queue import commands

    handler = getattr(commands, f"cmd_{args.queue_command}")
    assert handler(args, out) == 0
    return json.loads(out.getvalue())


def tasks_by_id(url: str) -> dict[str, Any]:
    from agent.queue.commands import tasks_of
    from agent.queue.engine import open_client

    return {t.id: t for t in tasks_of(open_client(url))}


def wait_until_finished(url: str, ids: set[str], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        tasks = tasks_by_id(url)
        if all(i in tasks and tasks[i].status in FINISHED for i in ids):
            return tasks
        if time.monotonic() > deadline:
            raise AssertionError(
                f"tasks not finished after {timeout_s}s: {[(t.id, t.status) for t in tasks.values()]}"
            )
        time.sleep(0.5)


@contextmanager
def in_process_worker(url: str, executor_id: str = "test-worker", concurrency: int = 1) -> Iterator[None]:
    """DBOS launched in this process (the worker's task threads, without its signal loop)."""
    from agent.queue import tasks
    from agent.queue.engine import launch_worker, shut_down

    launch_worker(url, executor_id=executor_id, queue="ae", concurrency=concurrency)
    try:
        yield
    finally:
        shut_down(5)
        tasks.ENGINES.close()
