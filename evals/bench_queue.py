"""`make bench`: the queue's throughput with 1 and 2 workers, its own overhead per task, and what a
waiting worker costs.

N small tasks (``/dbt-model --name stg_<table> --type staging``: a real plan, build, test and docs)
on copies of the example project, run by 1 then 2 worker processes, on SQLite (a fresh file per
round) and on PostgreSQL when a server answers (a scratch database, evals/postgres_scratch.py), or
only on ``--url``. Reported per round: wall time, tasks per minute, p50/p95 task time, and the
queue's overhead: how long a task waited after both it was enqueued and its worker was free, as a
fraction of the median task time. Then, per store, one idle worker's cost over IDLE_S: its CPU and,
on PostgreSQL, the transactions of its database per second. The last line is
``queue_overhead_fraction: <number>`` (the largest of every round).
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
from evals.postgres_scratch import scratch_database
from tools.example_project import create_example_project
from tools.store_urls import is_postgres, sqlalchemy_url

TABLES = ("customers", "stores", "products", "supplies", "orders", "items")
WORKER = (
    "import sys; from agent.queue.worker import WorkerOptions, run_worker; "
    "sys.exit(run_worker(WorkerOptions(url=sys.argv[1], executor_id=sys.argv[2])))"
)
#: how long the idle worker is watched, after IDLE_WARM_S of start-up
IDLE_S = 20.0
IDLE_WARM_S = 5.0


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
    """Until ``count`` workers beat after now (a shared store keeps the rows of earlier rounds)."""
    import sqlalchemy as sa

    heartbeats = Heartbeats(url)
    since = time.time()
    deadline = time.monotonic() + timeout_s
    beating = sa.select(sa.func.count()).select_from(WORKERS).where(WORKERS.c.beat_at >= since)
    try:
        while time.monotonic() < deadline:
            with heartbeats.engine.connect() as conn:
                if conn.execute(beating).scalar_one() >= count:
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


def _start_workers(url: str, count: int, log: Path) -> list[subprocess.Popen[bytes]]:
    env = os.environ | {"AE_QUEUE_URL": url, "AE_ENGINE_KEEP_ALIVE_S": "0"}
    with log.open("ab") as out:
        return [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, url, f"bench-w{n}"], env=env, stdout=out, stderr=out
            )
            for n in range(count)
        ]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=120)


def run_round(workers: int, *, tasks: int, projects: int, url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ae-bench-queue-") as tmp:
        root = Path(tmp)
        url = url or f"sqlite:///{root / 'queue.sqlite'}"
        specs = _specs(root, tasks, projects, prefix=f"bench-{workers}w-{int(time.time())}")
        procs = _start_workers(url, workers, root / "workers.log")
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
            _stop(procs)
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


def idle_cost(url: str | None, seconds: float = IDLE_S) -> dict[str, Any]:
    """One worker waiting on an empty queue: its CPU (share of one core) and, on PostgreSQL, the
    transactions per second of the queue's database (the worker is its only client then)."""
    with tempfile.TemporaryDirectory(prefix="ae-bench-queue-idle-") as tmp:
        url = url or f"sqlite:///{Path(tmp) / 'queue.sqlite'}"
        [proc] = _start_workers(url, 1, Path(tmp) / "worker.log")
        try:
            _wait_for_workers(url, 1)
            time.sleep(IDLE_WARM_S)
            cpu, xacts, at = _cpu_s(proc.pid), _transactions(url), time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - at
            cpu, xacts = _cpu_s(proc.pid) - cpu, _transactions(url) - xacts
        finally:
            _stop([proc])
    return {
        "idle_cpu_pct": round(100 * cpu / elapsed, 2),
        # less the one transaction that reads the count
        "idle_db_xacts_per_s": round((xacts - 1) / elapsed, 1) if is_postgres(url) else None,
    }


def _cpu_s(pid: int) -> float:
    """The user and system CPU seconds of process ``pid`` so far (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _transactions(url: str) -> int:
    if not is_postgres(url):
        return 0
    import sqlalchemy as sa

    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            query = (
                "select xact_commit + xact_rollback from pg_stat_database where datname = current_database()"
            )
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def bench_store(name: str, url: str | None, *, tasks: int, projects: int) -> list[dict[str, Any]]:
    """The two rounds and the idle worker on one store; their lines printed as they end."""
    rounds = []
    for workers in (1, 2):
        rounds.append({"store": name} | run_round(workers, tasks=tasks, projects=projects, url=url))
        print("  ".join(f"{k}={v}" for k, v in rounds[-1].items()), flush=True)
    speedup = rounds[1]["tasks_per_min"] / rounds[0]["tasks_per_min"]
    idle = idle_cost(url)
    print(
        f"store={name}  two_workers_speedup={speedup:.2f}  " + "  ".join(f"{k}={v}" for k, v in idle.items())
    )
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--projects", type=int, default=4, help="copies of the example project")
    parser.add_argument(
        "--url", default=None, help="only this store (default: SQLite, then PostgreSQL when one answers)"
    )
    args = parser.parse_args(argv)
    sizes = {"tasks": args.tasks, "projects": args.projects}
    if args.url:
        rounds = bench_store("postgresql" if is_postgres(args.url) else "sqlite", args.url, **sizes)
    else:
        rounds = bench_store("sqlite", None, **sizes)
        with scratch_database("ae_bench_queue") as url:
            if url is not None:
                rounds += bench_store("postgresql", url, **sizes)
    print(f"queue_overhead_fraction: {max(r['overhead_fraction'] for r in rounds)}")
    return 0 if all(r["succeeded"] == args.tasks for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
