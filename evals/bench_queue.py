"""`make bench`: the queue's throughput with 1 and 2 workers, and its own overhead per task.

N small tasks (``/dbt-model --name stg_<table> --type staging``: a real plan, build, test and docs)
on copies of the example project, run by 1 then 2 worker processes on a fresh queue each time
(SQLite, or ``--url postgresql://...``). Reported per round: wall time, tasks per minute, p50/p95 task
time, and the queue's overhead: how long a task waited after both it was enqueued and its worker was
free, as a fraction of the median task time. The last line is ``queue_overhead_fraction: <number>``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.queue.batch import TaskSpec
from agent.queue.commands import enqueue, tasks_of
from agent.queue.config import QUEUE_NAME
from agent.queue.engine import open_client
from agent.queue.views import FINISHED, TaskView, stats
from agent.queue.worker import WORKERS, Heartbeats
from tools.example_project import create_example_project

TABLES = ("customers", "stores", "products", "supplies", "orders", "items")
WORKER = (
    "import sys; from agent.queue.worker import WorkerOptions, run_worker; "
    "sys.exit(run_worker(WorkerOptions(url=sys.argv[1], executor_id=sys.argv[2])))"
)


def _specs(root: Path, tasks: int, projects: int, prefix: str) -> list[TaskSpec]:
    copies = [create_example_project(root / f"shop{i}") for i in range(projects)]
    return [
        TaskSpec(
            request=f"/dbt-model --name stg_{TABLES[(i // projects) % len(TABLES)]} --type staging",
            project=str(copies[i % projects]),
            key=f"{prefix}-{i:03d}",
        )
        for i in range(tasks)
    ]


def _wait_for_workers(url: str, count: int, timeout_s: float = 120) -> None:
    import sqlalchemy as sa

    heartbeats = Heartbeats(url)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with heartbeats.engine.connect() as conn:
                if conn.execute(sa.select(sa.func.count()).select_from(WORKERS)).scalar_one() >= count:
                    time.sleep(3)  # a heartbeat comes just before DBOS launches: give it its start-up
                    return
            time.sleep(0.2)
    finally:
        heartbeats.close()
    raise RuntimeError(f"{count} workers did not start within {timeout_s}s")


def overheads(tasks: list[TaskView], enqueued_at: dict[str, float]) -> list[float]:
    """Per task, the seconds between the later of (enqueued, its worker free again) and its start."""
    gaps = []
    for worker in {t.worker for t in tasks}:
        free_at = 0.0
        for task in sorted((t for t in tasks if t.worker == worker), key=lambda t: t.started_at or 0.0):
            assert task.started_at is not None and task.finished_at is not None
            gaps.append(task.started_at - max(enqueued_at[task.id], free_at))
            free_at = task.finished_at
    return gaps


def run_round(workers: int, *, tasks: int, projects: int, url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ae-bench-queue-") as tmp:
        root = Path(tmp)
        url = url or f"sqlite:///{root / 'queue.sqlite'}"
        specs = _specs(root, tasks, projects, prefix=f"bench-{workers}w-{int(time.time())}")
        env = os.environ | {"AE_QUEUE_URL": url, "AE_ENGINE_KEEP_ALIVE_S": "0"}
        log = (root / "workers.log").open("wb")
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, url, f"bench-w{n}"], env=env, stdout=log, stderr=log
            )
            for n in range(workers)
        ]
        try:
            _wait_for_workers(url, workers)
            client = open_client(url)
            started = time.time()
            enqueued_at = {}
            for spec in specs:
                enqueued_at[spec.key or ""] = time.time()
                enqueue(client, [spec], QUEUE_NAME)
            while True:
                done = [t for t in tasks_of(client) if t.id in enqueued_at]  # a shared --url holds others
                if len(done) == tasks and all(t.status in FINISHED for t in done):
                    break
                time.sleep(0.2)
            wall = time.time() - started
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=120)
            log.close()
    figures = stats(done)
    gaps = overheads(done, enqueued_at)
    return {
        "workers": workers,
        "succeeded": figures["counts"]["succeeded"],
        "wall_s": round(wall, 2),
        "tasks_per_min": round(60 * tasks / wall, 2),
        "task_s_p50": figures["task_s_p50"],
        "task_s_p95": figures["task_s_p95"],
        "overhead_s_p50": round(statistics.median(gaps), 3),
        "overhead_fraction": round(statistics.median(gaps) / figures["task_s_p50"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--projects", type=int, default=4, help="copies of the example project")
    parser.add_argument("--url", default=None, help="the queue's store (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    rounds = [run_round(n, tasks=args.tasks, projects=args.projects, url=args.url) for n in (1, 2)]
    for result in rounds:
        print("  ".join(f"{k}={v}" for k, v in result.items()))
    speedup = rounds[1]["tasks_per_min"] / rounds[0]["tasks_per_min"]
    print(f"two_workers_speedup: {speedup:.2f}")
    print(f"queue_overhead_fraction: {max(r['overhead_fraction'] for r in rounds)}")
    return 0 if all(r["succeeded"] == args.tasks for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
