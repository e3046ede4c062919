"""Faults injected into queued tasks on purpose, for the tests and the benchmark (like tools/faults.py
for tool calls). ``AE_QUEUE_FAULTS`` maps a task id to its faults: ``{"transient": N}`` fails its
first N attempts with a transient fault (-1: every attempt), ``{"crash": true}`` kills the worker
process whenever it runs the task (a poison task)."""

from __future__ import annotations

import json
import os

from tools.errors import TransientError

QUEUE_FAULTS_ENV = "AE_QUEUE_FAULTS"
#: the exit status of a worker killed by an injected crash
CRASH_STATUS = 70


def inject(task_id: str, attempt: int) -> None:
    """Raise (or crash on) the fault planned for this task's attempt, if any."""
    plan = json.loads(os.environ.get(QUEUE_FAULTS_ENV) or "{}").get(task_id, {})
    if plan.get("crash"):
        os._exit(CRASH_STATUS)  # no cleanup, no result: as a segfault or the OOM killer would
    failures = int(plan.get("transient", 0))
    if failures < 0 or attempt <= failures:
        raise TransientError(f"injected transient fault (attempt {attempt}, {QUEUE_FAULTS_ENV})")
