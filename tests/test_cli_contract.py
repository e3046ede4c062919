"""The command line as a contract (issue 12): exit codes, one JSON document with --json, honest
messages, a doctor that creates nothing, resuming by id. dbt runs for real on a tiny project."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import cli
from agent.cli import build_parser, main
from agent.commands.help import command_help
from agent.commands.planner import CommandPlanner
from agent.exit_codes import HELP as EXIT_CODES_HELP
from agent.exit_codes import ExitCode, for_error
from agent.requests import MAX_REQUEST_BYTES
from agent.runner import Session
from agent.settings import load_settings
from graph.plan_spec import PlanRequest, PlanSpec
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner
from tests.test_graph import NEW_MODEL
from tools.context import ToolContext
from tools.errors import ConfigurationError, WarehouseLocked
from tools.logs import configure_logging
from tools.resilience import Resilience, RetryPolicy

LINEAGE = "/model-lineage --model stg_people --upstream 1 --downstream 1"


@pytest.fixture(autouse=True)
def one_shot_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No dbt process left behind for the next run, and no user config or target from outside."""
    monkeypatch.setenv("AE_ENGINE_KEEP_ALIVE_S", "0")
    monkeypatch.setenv("AE_CONFIG", str(tmp_path / "no-user-config.yml"))
    monkeypatch.delenv("DBT_TARGET", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_project(tmp_path_factory.mktemp("contract") / "tiny")


def one_document(capfd: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """stdout (the file descriptor, so a child process's output counts too) as exactly one JSON document."""
    out = capfd.readouterr().out
    document = json.loads(out)  # raises on anything before or after the document
    assert isinstance(document, dict)
    return document


# --- usage errors: 2, said once, with the next command ------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["run"], "give a request or --resume RUN_ID"),
        (["run", "/help", "--resume", "r1"], "not both"),
        (["run", "/dbt-run", "--bogus"], "unrecognized arguments: --bogus"),
        (["nope"], "invalid choice: 'nope'"),
        (["runs", "--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_usage_errors_exit_2_as_text_and_as_one_json_document(
    argv: list[str], says: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == ExitCode.USAGE
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err.count(says) == 1, captured.err
    assert main([*argv, "--json"]) == ExitCode.USAGE
    document = one_document(capfd)
    assert document["status"] == "invalid"
    assert says in document["error"]["message"]
    assert document["error"]["exit_code"] == 2
    assert "--help" in document["error"]["hint"] or "ae " in document["error"]["hint"]


def test_an_empty_request_is_said_to_be_empty(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "  ", "--project", str(project), "--json"]) == ExitCode.USAGE
    error = one_document(capfd)["error"]
    assert error["message"] == "the request is empty"
    assert "Claude" not in error["message"]
    assert 'ae run "/help"' in error["hint"]


def test_help_is_one_json_document_and_shows_each_default_once(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "/help", "--json"]) == ExitCode.OK
    document = one_document(capfd)
    assert document == {"status": "help", "text": command_help(None)}
    assert main(["run", "/dbt-test --help"]) == ExitCode.OK
    text = capfd.readouterr().out
    assert text.strip() == command_help("dbt-test")
    assert all(line.count("(default:") <= 1 for line in text.splitlines()), text


def test_every_command_shows_the_same_exit_code_table(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert EXIT_CODES_HELP in parser.format_help()
    for command in ("run", "resume", "runs", "show", "doctor", "undo", "lint", "chat", "demo"):
        with pytest.raises(SystemExit) as stop:
            main([command, "--help"])
        assert stop.value.code == 0
        assert EXIT_CODES_HELP in capsys.readouterr().out, command


# --- on a real project: bad target 2, refused 3, success 0, each one JSON document --------------------


def test_an_unknown_target_is_bad_usage(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "/dbt-debug", "--project", str(project), "--target", "nope"]
    assert main([*argv, "--json"]) == ExitCode.USAGE
    error = one_document(capfd)["error"]
    assert "target 'nope' is not in profile 'tiny'" in error["message"]
    assert "dev, prod" in error["message"] and "--target dev" in error["hint"]
    assert main(["run", "/dbt-debug --target nope", "--project", str(project)]) == ExitCode.USAGE


def test_prod_without_yes_is_refused_as_one_json_document(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "/dbt-run --select stg_people", "--project", str(project), "--target", "prod"]
    assert main([*argv, "--json"]) == ExitCode.REFUSED
    document = one_document(capfd)
    assert document["status"] == "refused"
    assert "nothing was changed" in document["error"]["message"]
    assert "--yes" in document["error"]["hint"]
    assert document["error"]["exit_code"] == 3


def test_a_read_only_command_prints_one_json_report_and_json_progress(
    project: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "ae.log"
    argv = ["--log-file", str(log), "--log-level", "INFO", "run", LINEAGE, "--project", str(project)]
    try:
        assert main([*argv, "--json"]) == ExitCode.OK
    finally:
        configure_logging(json=True, level="WARNING")  # let go of the file for the next tests
    captured = capfd.readouterr()
    report = json.loads(captured.out)
    assert report["status"] == "success"
    assert "stg_people" in json.dumps(report)
    events = [json.loads(line) for line in captured.err.splitlines() if line.strip()]
    assert events and all(event["event"] == "progress" for event in events), captured.err
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(line["event"] == "dbt_call" for line in logged), logged


# --- resume, Ctrl-C -----------------------------------------------------------------------------------


@pytest.mark.slow  # two dbt engines start: the run's, then the resuming CLI's
def test_run_resume_continues_a_paused_run_without_a_request(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    with Session(load_settings(project), interrupt_after=["validate"]) as session:
        paused = session.run("/dbt-run --select stg_people", planner=CommandPlanner())
    assert paused.status == "paused", paused.reason
    assert main(["run", "--resume", paused.run_id, "--project", str(project), "--json"]) == ExitCode.OK
    report = one_document(capfd)
    assert report["status"] == "success"
    assert report["run_id"] == paused.run_id


def test_ctrl_c_names_the_run_and_how_to_resume_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_tiny_project(tmp_path / "tiny")

    class CtrlC(CommandPlanner):
        def plan(self, *args: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt

    monkeypatch.setattr("agent.planners.choose_planner", lambda *_a, **_k: (CtrlC(), None))
    assert main(["run", "/dbt-run --select stg_people", "--project", str(project)]) == ExitCode.INTERRUPTED
    err = capfd.readouterr().err
    run_id = next(word for word in err.split() if word.startswith("20") and "-" in word)
    assert f"ae resume {run_id} --project {project}" in err
    assert f"ae undo {run_id} --project {project}" in err


# --- doctor ---------------------------------------------------------------------------------------------


def test_doctor_on_a_missing_project_creates_nothing_and_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nonexistent"
    assert main(["doctor", "--project", str(missing)]) == ExitCode.FAILED
    out = capsys.readouterr().out
    assert not missing.exists()
    assert f"FAIL project      {missing} does not exist; pass --project DIR" in out
    assert "OK   store" not in out


# --- retries: never silent, and honest when they give up ------------------------------------------------


def test_a_long_wait_says_what_it_waits_for_and_the_final_error_says_it_gave_up() -> None:
    stream = io.StringIO()
    configure_logging(json=True, level="WARNING", stream=stream)
    policy = Resilience(
        retry=RetryPolicy(attempts=3, initial_wait=0.35, max_wait=0.35, jitter=0.0), progress_every_s=0.1
    )

    def locked() -> None:
        raise WarehouseLocked("warehouse tiny.duckdb is locked by PID 1")

    with pytest.raises(WarehouseLocked) as caught:
        policy.call("dbt", "dev", locked, op="dbt run")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines if line["event"] == "retrying"] == ["retrying"] * 2
    still = [line for line in lines if line["event"] == "still waiting"]
    assert len(still) >= 4  # two waits of 0.35 s, a line every 0.1 s
    assert all(line["waiting_for"] == "dbt run on target 'dev'" for line in lines)
    assert [line["waited_s"] for line in lines] == sorted(line["waited_s"] for line in lines)
    message = str(caught.value)
    assert "gave up after 3 attempts over 0." in message
    assert "retried" not in message


# --- issue 23: a bad environment is a message with its exit code, never a traceback ---------------------


@pytest.mark.parametrize("file", ["dbt_project.yml", "profiles.yml", "ae.yml"])
def test_a_project_file_that_is_not_text_is_named_with_exit_5(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], file: str
) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    (project / file).write_bytes(b"\xff\xfe\x00\x81binary\x80")
    code = main(["run", LINEAGE, "--project", str(project)])  # a traceback would raise out of main
    err = capfd.readouterr().err
    assert code == ExitCode.ENVIRONMENT, err
    assert str(project / file) in err and "Traceback" not in err


def test_the_last_resort_names_any_file_that_is_not_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A reader that forgot to say it (the specific ones do: the cases above) still gets a message."""
    binary = tmp_path / "selectors.yml"
    binary.write_bytes(b"selectors:\n  - \xff\xfe\x00\x81")

    def reads_it(_args: Any) -> int:
        return len(binary.read_text(encoding="utf-8"))

    monkeypatch.setattr(cli, "_cmd_runs", reads_it)
    assert main(["runs", "--json"]) == ExitCode.ENVIRONMENT
    error = one_document(capfd)["error"]
    assert error["message"].startswith(f"{binary} is not UTF-8 text (invalid start byte at byte 15)")
    assert "UTF-8" in error["hint"]


def test_a_worker_on_a_dead_postgres_queue_exits_5_naming_it_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AE_QUEUE_URL", "postgresql://ae:Queue-Pass-77@127.0.0.1:1/queue")
    assert main(["worker"]) == ExitCode.ENVIRONMENT
    err = capfd.readouterr().err
    assert "cannot open the queue store postgresql://ae:***@127.0.0.1:1/queue" in err
    assert "AE_QUEUE_URL" in err  # what to do
    assert "Queue-Pass-77" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs: a disk that really fills up (mounting needs root; skipped without it)."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], check=False)
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """Write a file until the disk has no byte left."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        for chunk in (1 << 16, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * chunk)
    return filler


def test_a_disk_that_fills_during_plan_names_the_store_file_with_exit_5_and_the_run_resumes(
    small_disk: Path,
) -> None:
    project = write_tiny_project(small_disk / "tiny")
    filler: list[Path] = []

    def plan_then_the_disk_fills(_request: PlanRequest, tools: ToolContext) -> PlanSpec:
        for path, content in NEW_MODEL.items():
            tools.changeset.write_file(tools.paths, path, content)
        if not filler:
            filler.append(_fill(small_disk))
        return PlanSpec(summary="add stg_people_names", changeset=tools.changeset)

    settings = load_settings(project)
    planner = ScriptedPlanner([plan_then_the_disk_fills])
    with Session(settings) as session, pytest.raises(ConfigurationError) as stopped:
        session.run("add stg_people_names", planner=planner, run_id="full-disk")
    message = str(stopped.value)
    assert f"{project / '.ae' / 'checkpoints.sqlite'}: the disk is full" in message, message
    assert for_error(stopped.value) == ExitCode.ENVIRONMENT
    filler[0].unlink()  # space freed: the run continues, as the message says
    with Session(settings) as session:
        done = session.resume("full-disk", planner=planner)
    assert done.status == "success", done.reason


# --- issue 23: a request has a size limit ---------------------------------------------------------------


def test_an_oversized_request_exits_2_saying_its_size_and_the_limit(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    runs = project / ".ae" / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    request = "/dbt-run --select " + "x" * 40_000
    assert main(["run", request, "--project", str(project), "--json"]) == ExitCode.USAGE
    error = one_document(capfd)["error"]
    assert f"the request is {len(request):,} bytes" in error["message"]
    assert f"at most {MAX_REQUEST_BYTES:,}" in error["message"]
    assert (set(runs.iterdir()) if runs.is_dir() else set()) == before  # refused before any run began
