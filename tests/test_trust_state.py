"""Issue 11: secrets never leave, damaged state is a message, one run per project."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.cli import main
from agent.exit_codes import ExitCode
from agent.llm.scripted import ScriptedClient, tool_use_response
from agent.loop import ToolLoop
from agent.store import RunStore, open_checkpointer
from graph.progress import ProgressEvent
from graph.transaction import JOURNAL, apply_journaled, rollback_journaled
from tests.dbt_project_factory import write_tiny_project
from tools.changeset import Changeset
from tools.context import ToolCallRecord, ToolContext
from tools.engine import DbtCall, DbtEngine
from tools.errors import ConfigurationError
from tools.journal import DamagedJournal
from tools.paths import ProjectPaths
from tools.project_lock import ProjectBusy, advisory_lock, file_lock
from tools.registry import all_tools, invoke

KEY = "sk-ant-api03-Tr1pleSecretKeyValue0123"
PG_PASSWORD = "PgPassw0rdXYZ"
PROFILE_PASSWORD = "Hunter2-profile-pw"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


def _ctx(root: Path, journal: Path | None = None) -> ToolContext:
    return ToolContext(paths=ProjectPaths.for_project(root), target="dev", journal=journal)


# --- secrets ------------------------------------------------------------------------------------


def test_progress_lines_are_redacted() -> None:
    event = ProgressEvent(
        kind="tool", phase="validate", message=f"LINE 5: …aeuser:{PG_PASSWORD}@127.0.0.1 '{KEY}'"
    )
    assert PG_PASSWORD not in event.line() and KEY not in event.line()
    assert "aeuser:***@127.0.0.1" in event.line()


def test_profile_passwords_are_masked_in_file_reads_and_registered_as_secrets(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINY_PG_TOKEN", "env-held-token-value")
    profile = (project / "profiles.yml").read_text()
    (project / "profiles.yml").write_text(
        profile.replace(
            "      threads: 1\n    prod:",
            f"      threads: 1\n      password: '{PROFILE_PASSWORD}'\n"
            "      token: \"{{ env_var('TINY_PG_TOKEN') }}\"\n    prod:",
        )
    )
    ctx = _ctx(project)
    text = invoke(ctx, "read_file", {"path": "profiles.yml"}).output["text"]
    assert "password: '****'" in text and PROFILE_PASSWORD not in text
    assert "env_var('TINY_PG_TOKEN')" in text  # a variable's name is no secret; its value is
    # a dbt error quoting the secret values is redacted wherever it is shown
    shown = ProgressEvent(
        kind="tool", phase="x", message=f"auth failed for {PROFILE_PASSWORD} / env-held-token-value"
    ).line()
    assert PROFILE_PASSWORD not in shown and "env-held-token-value" not in shown


def test_tool_results_sent_to_the_model_are_redacted(project: Path) -> None:
    (project / "models" / "leak.sql").write_text(f"-- postgresql://ae:{PG_PASSWORD}@db/x {KEY}\nselect 1\n")
    client = ScriptedClient(
        [
            tool_use_response("read_file", {"path": "models/leak.sql"}),
            tool_use_response("read_file", {"path": "models/missing.sql"}),
            tool_use_response("submit_plan", {"summary": "done"}),
        ]
    )
    loop = ToolLoop(
        client=client,
        model="claude-sonnet-5-5",
        system="s",
        tools=all_tools(lambda spec: spec.read_only),
        describe=lambda spec: spec.description,
        submit_description="submit",
    )
    loop.run(_ctx(project), f"repair: dbt said postgresql://ae:{PG_PASSWORD}@db/x and {KEY}")
    sent = repr([request.messages for request in client.requests])
    assert PG_PASSWORD not in sent and KEY not in sent


@pytest.mark.slow
def test_a_rolled_back_run_takes_back_the_dbt_output_it_wrote(project: Path, tmp_path: Path) -> None:
    paths = ProjectPaths.for_project(project)
    run_dir = tmp_path / "run"
    with DbtEngine(project) as engine:
        engine.invoke(DbtCall(command="parse"))  # the person's own earlier output, kept
        log = project / "logs" / "dbt.log"
        before = log.read_bytes()
        changeset = Changeset()
        changeset.write_file(paths, "models/leak.sql", f"select '{KEY}' as k, 'u:{PG_PASSWORD}@h' as s\n")
        apply_journaled(changeset, paths, run_dir)
        engine.invoke(DbtCall(command="compile", select=["leak"]))
    written = [
        p for p in (project / "target").rglob("*") if p.is_file() and KEY in p.read_text(errors="ignore")
    ]
    assert written, "dbt wrote the compiled secret (the case this test is about)"
    undone = rollback_journaled(None, run_dir)
    assert undone is not None and undone.artifacts
    for path in [*(project / "target").rglob("*"), log]:
        if path.is_file():
            assert KEY not in path.read_text(errors="ignore"), path
    assert log.read_bytes() == before


# --- damaged state --------------------------------------------------------------------------------


def test_a_300_character_file_name_is_an_error_for_the_model(project: Path) -> None:
    ctx = _ctx(project)
    for name, args in [
        ("read_file", {"path": "a" * 300 + ".sql"}),
        ("write_file", {"path": "models/" + "a" * 300 + ".sql", "content": "select 1"}),
    ]:
        outcome = invoke(ctx, name, args)
        assert not outcome.ok and outcome.channel == "model"
        assert "File name too long" in (outcome.error or "")


def test_an_unreachable_postgres_store_is_a_message_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be used") as raised:
        RunStore(f"postgresql://ae:{PG_PASSWORD}@127.0.0.1:1/nowhere", tmp_path)
    assert "postgresql://ae:***@127.0.0.1:1/nowhere" in str(raised.value)
    assert PG_PASSWORD not in str(raised.value)


def test_a_store_password_with_an_unencoded_at_never_reaches_a_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unencoded @") as raised:
        RunStore("postgresql://ae:p@ss-Word9@127.0.0.1:1/nowhere", tmp_path)
    assert "ss-Word9" not in str(raised.value)


@pytest.mark.parametrize("file", ["ae.sqlite", "checkpoints.sqlite"])
def test_a_corrupt_store_file_is_named_with_what_to_do(tmp_path: Path, file: str) -> None:
    (tmp_path / file).write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ConfigurationError, match=rf"{file} is damaged.*mv "):
        if file == "ae.sqlite":
            RunStore(None, tmp_path)
        else:
            with open_checkpointer(None, tmp_path):
                pass


def test_a_torn_last_line_of_the_call_log_is_skipped_and_counted(tmp_path: Path) -> None:
    journal = tmp_path / "calls.jsonl"
    ctx = _ctx(tmp_path, journal)
    call = ToolCallRecord(
        name="read_file", arguments={}, ok=True, duration_s=0.1, started_at=datetime.now(UTC)
    )
    ctx.record(call)
    with open(journal, "a") as out:
        out.write('{"name": "list_fi')  # the process died mid-write
    ctx.record(call)  # a resumed run appends on a fresh line
    read = ctx.journaled_calls()
    assert len(read.records) == 2 and read.skipped == 1


def test_a_full_disk_names_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(_fd: int, _data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("tools.journal.os.write", full)
    ctx = _ctx(tmp_path, tmp_path / "calls.jsonl")
    call = ToolCallRecord(name="x", arguments={}, ok=True, duration_s=0.1, started_at=datetime.now(UTC))
    with pytest.raises(ConfigurationError, match=r"calls.jsonl: the disk is full \(free some space"):
        ctx.record(call)


def _half_applied(project: Path, run_id: str) -> tuple[Path, bytes]:
    """A run that applied its changeset and died: the journal is on disk, the files are changed."""
    paths = ProjectPaths.for_project(project)
    original = (project / "models" / "stg_people.sql").read_bytes()
    changeset = Changeset()
    changeset.write_file(paths, "models/stg_people.sql", "select 1 as person_id\n")
    changeset.write_file(paths, "models/new_model.sql", "select 2 as id\n")
    run_dir = project / ".ae" / "runs" / run_id
    apply_journaled(changeset, paths, run_dir)
    return run_dir, original


def test_a_truncated_journal_is_a_message_naming_it(project: Path) -> None:
    run_dir, _ = _half_applied(project, "r1")
    journal = run_dir / JOURNAL
    journal.write_bytes(journal.read_bytes()[:40])
    with pytest.raises(DamagedJournal, match=r"applied.json is damaged.*ae undo r1"):
        apply_journaled(Changeset(), ProjectPaths.for_project(project), run_dir)


def test_ae_undo_brings_a_half_applied_project_back(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, original = _half_applied(project, "r2")
    assert main(["undo", "r2", "--project", str(project)]) == ExitCode.OK
    assert (project / "models" / "stg_people.sql").read_bytes() == original
    assert not (project / "models" / "new_model.sql").exists()
    assert "rolled the changeset back" in capsys.readouterr().out


def test_ae_undo_with_a_damaged_journal_and_no_checkpoint_says_what_to_do(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, _ = _half_applied(project, "r3")
    (run_dir / JOURNAL).write_text("")
    assert main(["undo", "r3", "--project", str(project)]) == ExitCode.ENVIRONMENT
    err = capsys.readouterr().err
    assert "applied.json is damaged" in err and "git status" in err and "Traceback" not in err


def test_an_immutable_state_dir_is_a_message_and_exit_5(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _half_applied(project, "r4")
    state = project / ".ae"
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(state)], check=False).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        assert main(["undo", "r4", "--project", str(project)]) == ExitCode.ENVIRONMENT
    finally:
        subprocess.run(["chattr", "-i", str(state)], check=True)
    err = capsys.readouterr().err
    assert "ae.sqlite" in err and "Traceback" not in err


# --- one run per project ------------------------------------------------------------------------


def test_a_rollback_keeps_a_file_another_run_changed_since(project: Path, tmp_path: Path) -> None:
    """C1: run B edits stg_people.sql after run A applied; A's rollback must not erase B's edit."""
    paths = ProjectPaths.for_project(project)
    run_a = Changeset()
    run_a.write_file(paths, "models/stg_people.sql", "select 1 as person_id -- run A\n")
    run_a.write_file(paths, "models/a_only.sql", "select 1 as id\n")
    apply_journaled(run_a, paths, tmp_path / "a")
    (project / "models" / "stg_people.sql").write_text("select 2 as person_id -- run B\n")
    undone = rollback_journaled(None, tmp_path / "a")
    assert undone is not None and undone.conflicts == ["models/stg_people.sql"]
    assert (project / "models" / "stg_people.sql").read_text() == "select 2 as person_id -- run B\n"
    assert not (project / "models" / "a_only.sql").exists()  # what only A wrote is undone
    assert "newer version was kept" in undone.describe()


def test_a_second_run_waits_names_the_holder_then_refuses(tmp_path: Path) -> None:
    heard: list[str] = []
    with (
        file_lock(tmp_path, tmp_path, run_id="run-A", wait_s=5, notify=heard.append),
        pytest.raises(ProjectBusy, match=r"busy: run run-A \(pid \d+"),
        file_lock(tmp_path, tmp_path, run_id="run-B", wait_s=0.5, notify=heard.append),
    ):
        pass
    assert heard and "run run-A" in heard[0]
    with file_lock(tmp_path, tmp_path, run_id="run-B", wait_s=0.5, notify=heard.append):
        pass  # free once A is done


def test_a_waiting_run_gets_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    store = RunStore(None, tmp_path)
    released = threading.Event()
    holding = threading.Event()

    def hold() -> None:
        with store.project_lock(tmp_path, "run-A", notify=print):
            holding.set()
            released.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    try:
        heard: list[str] = []
        threading.Timer(0.5, released.set).start()
        with store.project_lock(tmp_path, "run-B", notify=heard.append, wait_s=10):
            assert heard and "run-A" in heard[0]
    finally:
        released.set()
        holder.join()
        store.close()


def test_postgres_store_uses_an_advisory_lock(postgres_dsn: str, tmp_path: Path) -> None:
    heard: list[str] = []
    with (
        advisory_lock(postgres_dsn, tmp_path, run_id="run-A", wait_s=5, notify=heard.append),
        pytest.raises(ProjectBusy, match=r"ae run run-A pid \d+"),
        advisory_lock(postgres_dsn, tmp_path, run_id="run-B", wait_s=0.5, notify=heard.append),
    ):
        pass
    with advisory_lock(postgres_dsn, tmp_path, run_id="run-B", wait_s=0.5, notify=heard.append):
        pass


def test_a_run_stopped_by_an_error_is_marked_failed(tmp_path: Path) -> None:
    store = RunStore(None, tmp_path)
    store.create(run_id="r", request="x", project_dir=tmp_path, target="dev", planner="command")
    with pytest.raises(ConfigurationError), store.marks_failure("r"):
        raise ConfigurationError("disk full")
    record = store.get("r")
    assert record is not None and record.status == "failed" and "disk full" in record.reason
    store.close()


def test_ae_undo_falls_back_to_the_checkpoint_when_the_journal_is_damaged(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    run_dir, original = _half_applied(project, "r5")
    applied = json.loads((run_dir / JOURNAL).read_text())
    (run_dir / JOURNAL).write_bytes((run_dir / JOURNAL).read_bytes()[:30])
    with open_checkpointer(None, project / ".ae") as saver:
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"applied": applied}
        saver.put({"configurable": {"thread_id": "r5", "checkpoint_ns": ""}}, checkpoint, {}, {})
    assert main(["undo", "r5", "--project", str(project)]) == ExitCode.OK
    assert (project / "models" / "stg_people.sql").read_bytes() == original
    assert not (project / "models" / "new_model.sql").exists()
