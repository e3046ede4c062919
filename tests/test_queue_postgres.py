"""`ae queue` and `ae worker` on a real PostgreSQL server: several workers, one killed for good."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.queue.config import DEAD_AFTER_S
from agent.queue.worker import Heartbeats
from tests.dbt_project_factory import write_tiny_project
from tests.queue_helpers import kill_9_scenario, queue_cli

pytestmark = pytest.mark.postgres


@pytest.fixture
def queue_url(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AE_QUEUE_URL", postgres_dsn)
    return postgres_dsn


def test_keys_and_heartbeats_on_postgres(queue_url: str, tmp_path: Path) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    first = queue_cli("queue", "add", "/dbt-debug", "--project", str(project), "--key", "pg-1")
    again = queue_cli("queue", "add", "/dbt-debug", "--project", str(project), "--key", "pg-1")
    assert (first, again) == (
        [{"id": "pg-1", "new": True, "status": "queued"}],
        [{"id": "pg-1", "new": False, "status": "queued"}],
    )
    # the session's database holds other tests' tasks too: the key is one task among them
    assert [t["id"] for t in queue_cli("queue", "list")].count("pg-1") == 1
    heartbeats = Heartbeats(queue_url)
    heartbeats.beat("pg-dead", at=0.0)
    assert heartbeats.claim_dead("pg-alive", dead_after_s=DEAD_AFTER_S) == ["pg-dead"]
    assert heartbeats.claim_dead("pg-other", dead_after_s=DEAD_AFTER_S) == []
    heartbeats.close()


@pytest.mark.slow
def test_two_workers_one_killed_the_other_finishes_every_task_once(queue_url: str, tmp_path: Path) -> None:
    seen = kill_9_scenario(queue_url, tmp_path, workers=2, restart=False, timeout_s=240)
    assert len(seen.tasks) == 12 and all(t.status == "succeeded" for t in seen.tasks.values())
    killed = seen.tasks[seen.killed_task]
    # taken over by the live worker's janitor, the same attempt's run resumed from its checkpoint
    assert (killed.worker, killed.run_id, killed.attempts) == ("w1", f"{seen.killed_task}.1", 1)
    assert seen.runs == sorted(f"{key}.1" for key in seen.tasks)
    assert seen.seconds < 240
    # found silent after DEAD_AFTER_S, re-queued, then run after at most the task w1 was busy with
    assert seen.takeover_s < DEAD_AFTER_S + 60, seen.takeover_s
