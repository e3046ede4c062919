"""`ae queue` and `ae worker` on SQLite: real DBOS, real dbt on small projects, no mocks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from agent.queue import tasks
from agent.queue.batch import TaskSpec, read_batch
from agent.queue.commands import enqueue
from agent.queue.config import MAX_ATTEMPTS, MAX_RECOVERY_ATTEMPTS, QUEUE_NAME, queue_url
from agent.queue.engine import open_client
from agent.queue.faults import CRASH_STATUS, QUEUE_FAULTS_ENV
from agent.queue.worker import Heartbeats
from agent.requests import MAX_REQUEST_BYTES
from agent.runner import RunOutcome
from tests.dbt_project_factory import write_tiny_project
from tests.queue_helpers import (
    in_process_worker,
    kill_9_scenario,
    queue_cli,
    start_worker,
    wait_until_finished,
)
from tools.errors import ConfigurationError, InvalidArguments
from tools.secrets import register_environment_secrets

LINEAGE = "/model-lineage --model adults --upstream 1 --downstream 1"


@pytest.fixture
def sqlite_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'queue.sqlite'}"
    monkeypatch.setenv("AE_QUEUE_URL", url)
    monkeypatch.setenv("AE_QUEUE_RETRY_BASE_S", "0.2")
    return url


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


def test_cli_module_imports_nothing_heavy() -> None:
    heavy = "('dbos', 'langgraph', 'dbt')"
    code = f"import sys, agent.queue.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_queue_url_defaults_to_the_user_state_dir_and_rejects_other_schemes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AE_QUEUE_URL", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert queue_url() == f"sqlite:///{tmp_path / 'state' / 'ae' / 'queue.sqlite'}"
    monkeypatch.setenv("AE_QUEUE_URL", "mysql://me@db/ae")
    with pytest.raises(ConfigurationError, match="AE_QUEUE_URL: a store URL starts with one of"):
        queue_url()


def test_same_key_is_one_task_and_priority_orders_the_queue(sqlite_queue: str, project: Path) -> None:
    late = queue_cli("queue", "add", LINEAGE, "--project", str(project), "--key", "late", "--priority", "50")
    first = queue_cli("queue", "add", LINEAGE, "--project", str(project), "--key", "first", "--priority", "1")
    again = queue_cli("queue", "add", LINEAGE, "--project", str(project), "--key", "late", "--priority", "50")
    assert [late, first, again] == [
        [{"id": "late", "new": True, "status": "queued"}],
        [{"id": "first", "new": True, "status": "queued"}],
        [{"id": "late", "new": False, "status": "queued"}],
    ]
    with in_process_worker(sqlite_queue):
        tasks = wait_until_finished(sqlite_queue, {"late", "first"}, timeout_s=120)
    assert set(tasks) == {"late", "first"}  # the repeated key made no second task
    assert tasks["late"].request == LINEAGE  # ...and did not replace the first request
    assert all(t.status == "succeeded" and t.attempts == 1 for t in tasks.values())
    assert tasks["first"].started_at < tasks["late"].started_at
    shown = queue_cli("queue", "show", "first")
    assert shown["run_id"] == "first.1" and Path(shown["report_dir"], "report.json").is_file()
    stats = queue_cli("queue", "stats")
    assert stats["counts"]["succeeded"] == 2 and stats["task_s_p50"] is not None


def test_bad_batch_file_names_the_line_and_enqueues_nothing(sqlite_queue: str, project: Path) -> None:
    batch = project.parent / "tasks.yaml"
    batch.write_text(
        f"- request: '{LINEAGE}'\n  key: good\n- request: '/dbt-debug'\n  prority: 3\n- 42\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidArguments) as error:
        queue_cli("queue", "add", "--file", str(batch), "--project", str(project))
    message = str(error.value)
    assert f"{batch}:3: unknown fields ['prority']" in message
    assert f"{batch}:5: an entry is a request or a mapping, got int" in message
    assert queue_cli("queue", "list") == []
    batch.write_text(f"- {{request: '{LINEAGE}', key: a, priority: 2}}\n- '/dbt-debug'\n", encoding="utf-8")
    entries = read_batch(batch, default_project=project, approval=None)
    assert [(e.where, e.task.key, e.task.priority, e.task.project) for e in entries] == [
        (f"{batch}:1", "a", 2, str(project)),
        (f"{batch}:2", None, 100, str(project)),
    ]


def test_an_oversized_request_is_refused_at_every_way_into_the_queue(
    sqlite_queue: str, project: Path
) -> None:
    """Issue 23: a 200 KB request was enqueued and kept a worker busy for two minutes."""
    huge = "/dbt-run --select " + "x" * 200_000
    too_large = rf"the request is {len(huge):,} bytes; a request may hold at most {MAX_REQUEST_BYTES:,}"
    with pytest.raises(InvalidArguments, match=too_large):
        queue_cli("queue", "add", huge, "--project", str(project))
    batch = project.parent / "big.yaml"
    batch.write_text(f"- '{LINEAGE}'\n- request: '{huge}'\n", encoding="utf-8")
    with pytest.raises(InvalidArguments, match=rf"{batch}:2: {too_large}"):
        queue_cli("queue", "add", "--file", str(batch), "--project", str(project))
    with pytest.raises(InvalidArguments, match=too_large):  # MCP's ae_queue_add enqueues through this
        enqueue(open_client(sqlite_queue), [TaskSpec(request=huge, project=str(project))], QUEUE_NAME)
    assert queue_cli("queue", "list") == []
    with pytest.raises(InvalidArguments, match=too_large):  # a task put in the queue some other way
        tasks._run(TaskSpec(request=huge, project=str(project)), "t.1")


def test_a_task_result_kept_in_the_queue_has_secrets_redacted() -> None:
    register_environment_secrets({"QUEUE_TEST_TOKEN": "queue-secret-0123456789"})
    outcome = RunOutcome("t.1", "failed", "dbt failed: select 'queue-secret-0123456789'", None)
    assert tasks._result(outcome)["reason"] == "dbt failed: select '***'"


def test_cancel_a_queued_task_and_retry_it(sqlite_queue: str, project: Path) -> None:
    queue_cli("queue", "add", LINEAGE, "--project", str(project), "--key", "c1")
    assert queue_cli("queue", "cancel", "c1")["status"] == "cancelled"
    with pytest.raises(InvalidArguments, match="already ended cancelled"):
        queue_cli("queue", "cancel", "c1")
    assert queue_cli("queue", "retry", "c1")["status"] == "queued"
    with pytest.raises(InvalidArguments, match="no task 'nope'"):
        queue_cli("queue", "show", "nope")


def test_flaky_task_succeeds_on_attempt_3_and_poison_task_ends_dead(
    sqlite_queue: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(QUEUE_FAULTS_ENV, json.dumps({"flaky": {"transient": 2}, "poison": {"transient": -1}}))
    for key in ("flaky", "poison"):
        queue_cli("queue", "add", LINEAGE, "--project", str(project), "--key", key)
    with in_process_worker(sqlite_queue):
        tasks = wait_until_finished(sqlite_queue, {"flaky", "poison"}, timeout_s=120)
    assert (tasks["flaky"].status, tasks["flaky"].attempts, tasks["flaky"].run_id) == (
        "succeeded",
        3,
        "flaky.3",
    )
    assert (tasks["poison"].status, tasks["poison"].attempts) == ("dead", MAX_ATTEMPTS)
    assert "injected transient fault" in tasks["poison"].reason
    retried = queue_cli("queue", "retry", "poison")
    assert retried["retry_of"] == "poison" and retried["status"] == "queued"


def test_protected_target_runs_only_when_enqueued_with_yes(sqlite_queue: str, project: Path) -> None:
    build_prod = "/dbt-run --select stg_people --target prod"
    queue_cli("queue", "add", build_prod, "--project", str(project), "--key", "unapproved")
    queue_cli("queue", "add", build_prod, "--project", str(project), "--key", "approved", "--yes")
    with in_process_worker(sqlite_queue):
        tasks = wait_until_finished(sqlite_queue, {"unapproved"}, timeout_s=60)
        assert tasks["unapproved"].status == "refused"
        assert "--yes" in tasks["unapproved"].reason and tasks["unapproved"].run_id == "unapproved.1"
        assert not (project / ".ae" / "runs" / "unapproved.1").exists()  # refused before any run began
        with duckdb.connect(str(project / "tiny.duckdb"), read_only=True) as con:
            schemas = {
                r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()
            }
        assert "prod" not in schemas
        tasks = wait_until_finished(sqlite_queue, {"approved"}, timeout_s=120)
    approved = tasks["approved"]
    assert approved.status == "succeeded", approved.reason
    assert approved.approved_by and approved.approved_at


def test_heartbeats_let_exactly_one_janitor_claim_a_dead_worker(sqlite_queue: str) -> None:
    heartbeats = Heartbeats(sqlite_queue)
    heartbeats.beat("alive")
    heartbeats.beat("dead", at=0.0)
    assert heartbeats.claim_dead("alive", dead_after_s=10) == ["dead"]
    assert heartbeats.claim_dead("other", dead_after_s=10) == []  # already claimed
    heartbeats.close()


def test_recover_executor_reaches_dbos_internal_recovery(sqlite_queue: str) -> None:
    """DBOS._recover_pending_workflows is internal: an upgrade that renames it must fail here."""
    from agent.queue.engine import recover_executor

    with in_process_worker(sqlite_queue):
        assert recover_executor("no-such-worker") == []


@pytest.mark.slow
def test_sqlite_worker_killed_and_restarted_finishes_every_task_once(
    sqlite_queue: str, tmp_path: Path
) -> None:
    seen = kill_9_scenario(sqlite_queue, tmp_path / "kill", workers=1, restart=True, timeout_s=240)
    assert len(seen.tasks) == 12 and all(t.status == "succeeded" for t in seen.tasks.values())
    killed = seen.tasks[seen.killed_task]
    # the restarted worker continued the same attempt's run from its checkpoint, not a new attempt
    assert (killed.run_id, killed.attempts) == (f"{seen.killed_task}.1", 1)
    assert seen.runs == sorted(f"{key}.1" for key in seen.tasks)  # one run per task, none twice
    assert seen.takeover_s < 60, seen.takeover_s  # a restarted worker takes its tasks back on launch


@pytest.mark.slow
def test_task_that_kills_its_worker_every_time_ends_dead(
    sqlite_queue: str, project: Path, tmp_path: Path
) -> None:
    queue_cli("queue", "add", LINEAGE, "--project", str(project), "--key", "crasher")
    faults = {QUEUE_FAULTS_ENV: json.dumps({"crasher": {"crash": True}})}
    crashes = 0
    while queue_cli("queue", "show", "crasher")["status"] != "dead":
        assert crashes <= MAX_RECOVERY_ATTEMPTS + 1, queue_cli("queue", "show", "crasher")
        worker = start_worker(sqlite_queue, "crash-w", tmp_path / "crash.log", extra_env=faults)
        while worker.poll() is None and queue_cli("queue", "show", "crasher")["status"] != "dead":
            time.sleep(0.5)
        if worker.poll() is None:  # the task is dead and this worker idles: stop it
            worker.send_signal(signal.SIGTERM)
        crashes += worker.wait(timeout=90) == CRASH_STATUS
    dead = queue_cli("queue", "show", "crasher")
    assert "died every time" in dead["reason"] and crashes >= MAX_RECOVERY_ATTEMPTS
