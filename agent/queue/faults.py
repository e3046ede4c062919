"""Faults injected into queued tasks on purpose, for the tests and the benchmark (like tools/faults.py
for tool calls): ``AE_QUEUE_FAULTS`` maps a task id to how many of its first attempts fail with a
transient fault (``{"flaky": {"transient": 2}}``), ``-1`` for every attempt (a poison task)."""

from __future__ import annotations

import json
import os

from tools.errors import TransientError

QUEUE_FAULTS_ENV = "AE_QUEUE_FAULTS"


def inject(task_id: str, attempt: int) -> None:
    """Raise the transient fault planned for this task's attempt, if any."""
    plan = json.loads(os.environ.get(QUEUE_FAULTS_ENV) or "{}").get(task_id, {})
    failures = int(plan.get("transient", 0))
    if failures < 0 or attempt <= failures:
        raise TransientError(f"injected transient fault (attempt {attempt}, {QUEUE_FAULTS_ENV})")
