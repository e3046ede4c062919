"""Running a suite: jobs over worker processes, a progress bar, and the results document.

Tasks run in separate processes (spawned, so no dbt or DuckDB state is inherited): dbt allows one
invocation at a time per process, and each task has its own project and warehouse file anyway.
"""

from __future__ import annotations

import fnmatch
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, Field

from evals.execute import Job, run_task
from evals.graders import TaskResult, Totals, totals
from evals.task import Task
from tools.errors import InvalidArguments
from tools.logs import configure_logging

_PACKAGES = ("ae", "dbt-core", "dbt-duckdb", "dbt-postgres", "duckdb", "langgraph", "anthropic")


class RunConfig(BaseModel):
    suite: str
    agent: str
    tasks: str | None = None
    repeat: int = 1
    faults: float = 0.0
    seed: int = 0
    workers: int = 2
    adapter: str = "duckdb"


class Results(BaseModel):
    config: RunConfig
    started_at: str
    wall_s: float
    versions: dict[str, str]
    machine: dict[str, Any]
    totals: Totals
    results: list[TaskResult] = Field(default_factory=list)


def select_tasks(tasks: Sequence[Task], pattern: str | None) -> list[Task]:
    """Tasks whose id matches any of the comma-separated fnmatch patterns (all when None)."""
    if not pattern:
        return list(tasks)
    patterns = [p.strip() for p in pattern.split(",") if p.strip()]
    chosen = [t for t in tasks if any(fnmatch.fnmatchcase(t.id, p) for p in patterns)]
    if not chosen:
        raise InvalidArguments(
            f"--tasks {pattern!r} matches no task", hint="task ids: " + ", ".join(t.id for t in tasks)
        )
    return chosen


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def _worker_init(log_dir: str) -> None:
    # each worker logs to its own file: the terminal belongs to the progress bar
    path = Path(log_dir) / f"worker-{os.getpid()}.log"
    configure_logging(json=True, level="INFO", stream=open(path, "a", encoding="utf-8"))  # noqa: SIM115


class Progress:
    """One line on stderr, rewritten: done/total, passed/failed so far, ETA."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.stream, self.width = total, stream, width
        self.done = self.passed = 0
        self.started = time.perf_counter()
        self._tty = stream.isatty()

    def update(self, result: TaskResult) -> None:
        self.done += 1
        self.passed += result.passed
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        filled = int(self.width * self.done / self.total) if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        line = (
            f"[{bar}] {self.done}/{self.total}  pass {self.passed}  fail {self.done - self.passed}  "
            f"ETA {int(eta // 60)}m{int(eta % 60):02d}s  last: {result.task_id} "
            f"{'ok' if result.passed else 'FAIL'}"
        )
        # a terminal gets one rewritten line; a log file gets one line per task
        print(
            ("\r" + line.ljust(110)) if self._tty else line,
            end="" if self._tty else "\n",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self._tty:
            print(file=self.stream, flush=True)


def make_jobs(tasks: Sequence[Task], config: RunConfig, work_dir: Path) -> list[Job]:
    return [
        Job(
            task=t,
            agent=config.agent,
            repeat=r,
            work_dir=work_dir,
            fault_rate=config.faults,
            seed=config.seed,
            adapter=config.adapter,
        )
        for r in range(config.repeat)
        for t in tasks
    ]


def run_jobs(
    jobs: Sequence[Job], workers: int, log_dir: Path, on_result: Callable[[TaskResult], None]
) -> list[TaskResult]:
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[TaskResult] = []
    with ProcessPoolExecutor(
        max_workers=max(1, workers),
        mp_context=get_context("spawn"),
        initializer=_worker_init,
        initargs=(str(log_dir),),
    ) as pool:
        futures: dict[Future[TaskResult], Job] = {pool.submit(run_task, job): job for job in jobs}
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            on_result(result)
    order = {(j.task.id, j.repeat): i for i, j in enumerate(jobs)}
    return sorted(results, key=lambda r: order[(r.task_id, r.repeat)])


def run_suite(
    tasks: Sequence[Task], config: RunConfig, out_dir: Path, stream: TextIO = sys.stderr
) -> Results:
    """Run every (task, repeat) for the agent; work copies live under ``out_dir/work``."""
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    started = time.perf_counter()
    work_dir = out_dir / "work"
    jobs = make_jobs(tasks, config, work_dir)
    progress = Progress(len(jobs), stream)
    try:
        results = run_jobs(jobs, config.workers, work_dir / "logs", progress.update)
    finally:
        progress.close()
    return Results(
        config=config,
        started_at=started_at,
        wall_s=round(time.perf_counter() - started, 1),
        versions=versions(),
        machine=machine(),
        totals=totals(results),
        results=results,
    )
