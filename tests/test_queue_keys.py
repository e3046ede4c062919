"""A task key used again (issue 25 item 1): the same task again adds nothing and exits 0; a different
request (or project, target, priority, approval) under a used key is refused with exit 2, naming the
task the key holds. Through `ae queue add`, a --file batch and MCP's ae_queue_add, on SQLite and on
PostgreSQL; real DBOS, no mocks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli import main
from agent.exit_codes import ExitCode
from agent.mcp.runs import queue_tools
from agent.mcp.workspaces import Workspaces
from agent.queue.batch import Entry, TaskSpec
from agent.queue.commands import add
from agent.queue.config import QUEUE_NAME
from agent.queue.engine import open_client
from tests.dbt_project_factory import write_tiny_project
from tests.queue_helpers import in_process_worker, queue_cli, wait_until_finished
from tools.errors import InvalidArguments

TEST = "/dbt-test --select stg_people"
LINEAGE = "/model-lineage --model adults"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'queue.sqlite'}"
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_dsn")  # one database per session: keys made unique
    monkeypatch.setenv("AE_QUEUE_URL", url)
    yield url


@pytest.fixture
def key() -> str:
    return f"k-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


def ae(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``ae ARGV`` in this process: its exit code, stdout and stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def ids_of(*keys: str) -> list[str]:
    return [t["id"] for t in queue_cli("queue", "list") if t["id"] in keys]


def test_cli_a_different_request_under_a_used_key_is_refused_naming_the_task(
    store: str, project: Path, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ("--project", str(project), "--key", key)
    assert ae(capsys, "queue", "add", TEST, *where) == (ExitCode.OK, f"{key}\n", "")
    code, out, err = ae(capsys, "queue", "add", LINEAGE, *where)
    assert (code, out) == (ExitCode.USAGE, "")
    assert f"key '{key}' is already task {key} (queued): '{TEST}' on {project}" in err
    assert f"request '{LINEAGE}' (the task's: '{TEST}')" in err
    assert "give a different request another key" in err
    # the same request again names the same task: exit 0, nothing new (spacing aside)
    code, out, err = ae(capsys, "queue", "add", "  /dbt-test   --select stg_people ", *where)
    assert (code, out, err) == (ExitCode.OK, f"{key} (already queued: the same key is the same task)\n", "")
    [task] = [t for t in queue_cli("queue", "list") if t["id"] == key]
    assert task["request"] == TEST


@pytest.mark.parametrize(
    "case",
    [
        (("--target", "dev"), "target 'dev' (the task's: the profile's default)"),
        (("--priority", "1"), "priority 1 (the task's: 100)"),
        (("--yes",), "--yes approved (the task's: not approved)"),
    ],
)
def test_cli_the_same_request_with_another_target_priority_or_approval_is_refused(
    store: str, project: Path, key: str, capsys: pytest.CaptureFixture[str], case: tuple[tuple[str, ...], str]
) -> None:
    extra, differs = case
    where = ("--project", str(project), "--key", key)
    assert ae(capsys, "queue", "add", TEST, *where)[0] == ExitCode.OK
    code, _, err = ae(capsys, "queue", "add", TEST, *where, *extra)
    assert code == ExitCode.USAGE and differs in err, err


def test_cli_another_project_under_a_used_key_is_refused_in_json_too(
    store: str, project: Path, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_tiny_project(tmp_path / "other")
    assert ae(capsys, "queue", "add", TEST, "--project", str(project), "--key", key)[0] == ExitCode.OK
    code, out, _ = ae(capsys, "queue", "add", TEST, "--project", str(other), "--key", key, "--json")
    document = json.loads(out)
    assert code == ExitCode.USAGE and document["status"] == "invalid"
    assert document["error"]["exit_code"] == ExitCode.USAGE
    assert f"project '{other}' (the task's: '{project}')" in document["error"]["message"]


def test_batch_file_an_entry_reusing_a_key_is_named_by_its_line_and_nothing_is_enqueued(
    store: str, project: Path, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ae(capsys, "queue", "add", TEST, "--project", str(project), "--key", key)[0] == ExitCode.OK
    fresh = f"{key}-new"
    batch = project.parent / "tasks.yaml"
    batch.write_text(
        f"- {{request: '{LINEAGE}', key: {fresh}}}\n"
        f"# the next entry reuses a key for another request\n"
        f"- request: '{LINEAGE}'\n  key: {key}\n",
        encoding="utf-8",
    )
    code, _, err = ae(capsys, "queue", "add", "--file", str(batch), "--project", str(project))
    assert code == ExitCode.USAGE
    assert f"{batch}:3: key '{key}' is already task {key} (queued): '{TEST}'" in err
    assert ids_of(key, fresh) == [key]  # the good entry was not enqueued either
    # the same batch with the same request under the key: that task is named, the new one is added
    batch.write_text(
        f"- {{request: '{LINEAGE}', key: {fresh}}}\n- {{request: '{TEST}', key: {key}}}\n", encoding="utf-8"
    )
    added = queue_cli("queue", "add", "--file", str(batch), "--project", str(project))
    assert added == [
        {"id": fresh, "new": True, "status": "queued"},
        {"id": key, "new": False, "status": "queued"},
    ]
    assert sorted(ids_of(key, fresh)) == sorted([key, fresh])


def test_mcp_queue_add_refuses_another_request_under_a_used_key(store: str, project: Path, key: str) -> None:
    from mcp.server.mcpserver.exceptions import ToolError

    [ae_queue_add] = [t.fn for t in queue_tools(Workspaces(project)) if t.name == "ae_queue_add"]
    assert ae_queue_add(request=TEST, key=key) == {"id": key, "new": True}
    assert ae_queue_add(request=TEST, key=key) == {"id": key, "new": False}
    with pytest.raises(ToolError, match=rf"key '{key}' is already task {key} \(queued\): '{TEST}'"):
        ae_queue_add(request=LINEAGE, key=key)
    assert ids_of(key) == [key]


def test_two_tasks_under_one_key_in_one_call_meet_dbos_refusing_the_id(
    store: str, project: Path, key: str
) -> None:
    """The path a concurrent `ae queue add` takes: the key was free when checked, taken when enqueued
    (DBOS's workflow_id_reuse_policy='reject'), so the second is compared with the task that won."""
    client = open_client(store)
    first = TaskSpec(request=TEST, project=str(project), key=key)
    same = add(client, [Entry(first), Entry(first)], QUEUE_NAME)
    assert [(a.id, a.new) for a in same] == [(key, True), (key, False)]
    other = f"{key}-b"
    fresh = TaskSpec(request=TEST, project=str(project), key=other)
    clash = TaskSpec(request=LINEAGE, project=str(project), key=other)
    with pytest.raises(InvalidArguments, match=rf"^enqueued before the refusal: {other}; a used key"):
        add(client, [Entry(fresh), Entry(clash, "here:7")], QUEUE_NAME)
    assert ids_of(key, other) == [key, other]


@pytest.mark.parametrize("bad", ["../etc", "a b", "", "k" * 101, "_lead", "k\n1"])
def test_hostile_keys_are_refused_before_the_queue(
    store: str, project: Path, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = ae(capsys, "queue", "add", TEST, "--project", str(project), "--key", bad)
    assert code == ExitCode.USAGE and "bad task key" in err
    assert ids_of(bad) == []


def test_a_finished_task_s_key_names_it_for_good(
    store: str, project: Path, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = f"q-{key}"  # a queue of its own: the session's PostgreSQL queue holds other tests' tasks
    where = ("--project", str(project), "--key", key, "--queue", queue)
    assert ae(capsys, "queue", "add", LINEAGE, *where)[0] == ExitCode.OK
    with in_process_worker(store, queue=queue):
        tasks = wait_until_finished(store, {key}, timeout_s=120)
    assert tasks[key].status == "succeeded", tasks[key].reason
    code, out, _ = ae(capsys, "queue", "add", LINEAGE, *where)
    assert (code, out) == (ExitCode.OK, f"{key} (already succeeded: a new key runs the request again)\n")
    code, _, err = ae(capsys, "queue", "add", TEST, *where)
    assert code == ExitCode.USAGE and f"is already task {key} (succeeded)" in err
    assert queue_cli("queue", "show", key)["attempts"] == 1  # nothing ran again
