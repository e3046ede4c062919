"""Shared by the queue tests: the `ae queue`/`ae worker` parsers, an in-process worker, waiting."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.queue import cli
from tests.dbt_project_factory import write_tiny_project

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
def in_process_worker(
    url: str, executor_id: str = "test-worker", concurrency: int = 1, queue: str = "ae"
) -> Iterator[None]:
    """DBOS launched in this process (the worker's task threads, without its signal loop)."""
    from agent.queue import tasks
    from agent.queue.engine import launch_worker, shut_down

    launch_worker(url, executor_id=executor_id, queue=queue, concurrency=concurrency)
    try:
        yield
    finally:
        shut_down(5)
        tasks.ENGINES.close()


def start_worker(
    url: str, executor_id: str, log: Path, concurrency: int = 1, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``ae worker`` as its own process (what `ae worker --id ...` runs), output to ``log``."""
    code = (
        "import sys; from agent.queue.worker import WorkerOptions, run_worker; "
        f"options = WorkerOptions(url={url!r}, executor_id={executor_id!r}, concurrency={concurrency}); "
        "sys.exit(run_worker(options))"
    )
    env = os.environ | {"AE_QUEUE_URL": url, "AE_ENGINE_KEEP_ALIVE_S": "0"} | (extra_env or {})
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=out, env=env, cwd=REPO)


REPO = Path(__file__).resolve().parent.parent


@dataclass
class Takeover:
    """What a kill-9 scenario saw: the tasks at the end, the one killed mid-run, how long it all took."""

    tasks: dict[str, Any]
    killed_task: str
    seconds: float
    runs: list[str]
    #: from the kill to the killed task's end on another (or the restarted) worker
    takeover_s: float


def kill_9_scenario(url: str, root: Path, *, workers: int, restart: bool, timeout_s: float) -> Takeover:
    """12 tasks on 4 copies of the tiny project, enqueued with 3 repeated keys; ``workers`` worker
    processes; the first one SIGKILLed while it holds a task whose run has begun, then restarted
    with the same id (``restart``) or left dead for the others' janitors."""
    projects = [write_tiny_project(root / f"p{i}") for i in range(4)]
    keys = [f"task-{i:02d}" for i in range(12)]
    for index, key in enumerate([*keys, *keys[:3]]):
        project = projects[index % 4]
        queue_cli("queue", "add", "/dbt-run --select stg_people", "--project", str(project), "--key", key)
    logs = root / "workers"
    logs.mkdir()
    started = time.monotonic()
    procs = [start_worker(url, f"w{n}", logs / f"w{n}.log") for n in range(workers)]
    try:
        victim = _running_with_a_run(url, "w0", projects, timeout_s=120)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()
        killed_at = time.time()
        if restart:
            procs[0] = start_worker(url, "w0", logs / "w0.log")
        finished = wait_until_finished(url, set(keys), timeout_s=timeout_s)
        tasks = {key: finished[key] for key in keys}  # the queue may hold other tests' tasks
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert proc.wait(timeout=90) in (0, -signal.SIGKILL), (logs / "w0.log").read_text()[-3000:]
    runs = sorted(p.name for project in projects for p in (project / ".ae" / "runs").iterdir())
    takeover_s = tasks[victim].finished_at - killed_at
    return Takeover(tasks, victim, time.monotonic() - started, runs, takeover_s)


def _running_with_a_run(url: str, worker: str, projects: list[Path], timeout_s: float) -> str:
    """A task ``worker`` is running whose run has checkpointed (its run folder exists)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for task in tasks_by_id(url).values():
            if task.status == "running" and task.worker == worker:
                run_dir = Path(task.project) / ".ae" / "runs" / f"{task.id}.1"
                if (run_dir / "calls.jsonl").exists():
                    return str(task.id)
        time.sleep(0.05)
    raise AssertionError(f"{worker} never held a task with a run under way")
