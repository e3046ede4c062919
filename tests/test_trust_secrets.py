"""Issue 23, case 12: a secret-named environment variable no profile names (``MY_API_TOKEN``) is
redacted by value everywhere ae writes, and dbt's output is cleared of it after every run.

The project reads the variable in dbt_project.yml (so the dbt child is given it, as a real project
that needs it would) and a model compiles it. Claude (the fake Messages API, real SDK) compiles that
model and puts the value in its answer; real dbt runs. Afterwards no file of the project (target/,
logs/, .ae/: report.json, report.md, transcript.jsonl, calls.jsonl, run.json, the SQLite stores)
and no checkpoint row in PostgreSQL holds the value, and a run resumed from a redacted checkpoint
still finishes.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import psycopg
import pytest

from agent.cli import main
from agent.exit_codes import ExitCode
from agent.runner import Session
from agent.settings import load_settings
from graph.plan_spec import PlanRequest, PlanSpec
from tests.dbt_project_factory import write_tiny_project
from tests.fake_anthropic import FakeAnthropic, tool_use
from tests.scripted_planner import ScriptedPlanner
from tests.test_graph import BROKEN_MODEL, NEW_MODEL
from tools.context import ToolContext
from tools.engine import DbtCall
from tools.logs import REDACTED, redact, redact_known_values
from tools.secrets import (
    MIN_ENV_SECRET_LENGTH,
    dbt_output_files,
    looks_secret,
    register_environment_secrets,
    scrub_secret_files,
)

FAKE_KEY = "sk-ant-test-secrets-not-a-real-key-00"
LEAKY_SQL = "select '{{ env_var(\"MY_API_TOKEN\") }}' as token, '{{ var(\"api_token\") }}' as again\n"


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh value of MY_API_TOKEN for this test (no profile names the variable)."""
    value = f"tok-{uuid.uuid4().hex}"
    monkeypatch.setenv("MY_API_TOKEN", value)
    monkeypatch.setenv("AE_ENGINE_KEEP_ALIVE_S", "0")
    monkeypatch.setenv("AE_CONFIG", "/nonexistent/ae-user-config.yml")
    return value


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_tiny_project(tmp_path / "tiny")
    with (root / "dbt_project.yml").open("a") as handle:
        handle.write("vars:\n  api_token: \"{{ env_var('MY_API_TOKEN', 'none') }}\"\n")
    (root / "models" / "leaky.sql").write_text(LEAKY_SQL)
    return root


def files_holding(root: Path, value: str) -> list[str]:
    """Every file under ``root`` (links not followed) whose bytes hold ``value``."""
    needle = value.encode()
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if not path.is_symlink() and needle in path.read_bytes():
                found.append(str(path.relative_to(root)))
    return found


# --- the one rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "MY_API_TOKEN",
        "GITHUB_TOKEN",
        "SLACKTOKEN",
        "ANTHROPIC_API_KEY",
        "OPENAI_APIKEY",
        "AWS_SECRET_ACCESS_KEY",
        "DBT_ENV_SECRET_PG",
        "PGPASSWORD",
        "DB_PASS",
        "MYSQL_PWD",
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "my_api_token",
    ],
)
def test_secret_looking_names_are_secret(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize(
    "name",
    [
        "PATH",
        "HOME",
        "PWD",
        "OLDPWD",
        "TOKENIZERS_PARALLELISM",
        "KEYBOARD_LAYOUT",
        "TOX_TESTENV_PASSENV",
        "LANG",
    ],
)
def test_ordinary_names_are_not(name: str) -> None:
    assert not looks_secret(name)


def test_secret_named_values_are_registered_but_not_paths_or_short_values(tmp_path: Path) -> None:
    value = f"v-{uuid.uuid4().hex}"
    short = "x" * (MIN_ENV_SECRET_LENGTH - 1)
    environ = {
        "MY_API_TOKEN": value,
        "FEATURE_KEY": short,  # ``..._KEY=true`` must not mask every "true"
        "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path),  # a path, not a secret
        "EDITOR_THEME": f"plain-{uuid.uuid4().hex}",
    }
    assert register_environment_secrets(environ) == 1
    text = f"token {value}, key {short}, creds {tmp_path}, theme {environ['EDITOR_THEME']}"
    assert redact(text) == f"token {REDACTED}, key {short}, creds {tmp_path}, theme {environ['EDITOR_THEME']}"


def test_checkpoint_redaction_replaces_known_values_and_leaves_look_alikes() -> None:
    value = f"known-{uuid.uuid4().hex}"
    register_environment_secrets({"CHECKPOINT_TEST_TOKEN": value})
    state = {"sql": "where password = 'x'", "answer": [f"is {value}"], "n": 1, "pair": ("a", value)}
    assert redact_known_values(state) == {
        "sql": "where password = 'x'",  # a plan's SQL comes back as it was
        "answer": [f"is {REDACTED}"],
        "n": 1,
        "pair": ("a", REDACTED),
    }


# --- scrubbing dbt's output --------------------------------------------------------------------------


def test_scrub_masks_text_in_place_deletes_binary_and_never_writes_through_a_link(tmp_path: Path) -> None:
    secret = f'p"w\\{uuid.uuid4().hex}'  # quotes and backslashes: JSON escapes them
    register_environment_secrets({"SCRUB_TEST_TOKEN": secret})
    project = tmp_path / "p"
    (project / "target" / "compiled").mkdir(parents=True)
    (project / "logs").mkdir()
    manifest = project / "target" / "manifest.json"
    manifest.write_text(json.dumps({"sql": f"select '{secret}'"}))
    compiled = project / "target" / "compiled" / "m.sql"
    compiled.write_text(f"select '{secret}' as t\n")
    log = project / "logs" / "dbt.log"
    log.write_text(f"line one\nconnecting with {secret}\n")
    log_inode, log_size = log.stat().st_ino, log.stat().st_size
    msgpack = project / "target" / "partial_parse.msgpack"
    msgpack.write_bytes(b"\x93\x00\xa5" + secret.encode() + b"\x00")
    outside = tmp_path / "outside.txt"
    outside.write_text(f"the user's own copy: {secret}")
    (project / "target" / "link.json").symlink_to(outside)
    untouched = project / "target" / "graph_summary.json"
    untouched.write_text("{}")

    done = scrub_secret_files(dbt_output_files(project))

    assert sorted(done.masked) == sorted([manifest, compiled, log])
    assert done.deleted == [msgpack] and not msgpack.exists()
    assert files_holding(project, secret) == []
    assert json.loads(manifest.read_text())["sql"].startswith("select '***")  # still valid JSON
    assert log.stat().st_ino == log_inode and log.stat().st_size == log_size  # in place, same length
    assert outside.read_text() == f"the user's own copy: {secret}"  # a link is not followed
    assert untouched.read_text() == "{}"


# --- end to end: real dbt, Claude through the fake API, the CLI ------------------------------------


def _leaky_claude_steps(token: str) -> list[object]:
    return [
        tool_use("dbt_compile", {"select": "leaky"}, id="t1"),
        tool_use(
            "submit_plan",
            {"summary": "answered a question", "answer": f"The model compiles the token {token}."},
            id="t2",
        ),
    ]


def test_a_run_leaves_the_env_secret_in_no_report_transcript_store_or_dbt_output(
    project: Path, token: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("AE_RETRY_ATTEMPTS", "1")
    with FakeAnthropic(_leaky_claude_steps(token)) as fake:  # type: ignore[arg-type]
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        code = main(["run", "what does the leaky model select?", "--project", str(project), "--json"])
    out, err = capfd.readouterr()
    assert code == ExitCode.OK, out + err
    report = json.loads(out)
    # the secret really went through: dbt compiled it, the model saw a result, the answer held it
    assert REDACTED in report["answer"]
    assert REDACTED.encode() in fake.requests[1].raw_body  # the compiled model, as Claude got it
    assert not any(token.encode() in request.raw_body for request in fake.requests)
    run_dir = project / ".ae" / "runs" / report["run_id"]
    written = {p.name for p in run_dir.iterdir()}
    assert {"report.json", "report.md", "transcript.jsonl", "calls.jsonl", "run.json"} <= written
    assert (project / "target" / "compiled").is_dir() and (project / "logs" / "dbt.log").is_file()
    assert files_holding(project, token) == []
    assert token not in out + err


def test_a_failed_run_leaves_the_env_secret_in_no_dbt_output(project: Path, token: str) -> None:
    """Rolled back after Validate: what Plan's compile wrote is older than the rollback's mark."""
    register_environment_secrets(os.environ)

    def compile_then_break(_request: PlanRequest, tools: ToolContext) -> PlanSpec:
        tools.dbt(DbtCall(command="compile", select=["leaky"]))
        for path, content in BROKEN_MODEL.items():
            tools.changeset.write_file(tools.paths, path, content)
        return PlanSpec(summary="a broken model", changeset=tools.changeset)

    with Session(load_settings(project, max_repairs=0)) as session:
        outcome = session.run("break it", planner=ScriptedPlanner([compile_then_break]))
    assert outcome.status == "failed", outcome.reason
    assert (project / "target" / "compiled" / "tiny" / "models" / "leaky.sql").is_file()
    assert files_holding(project, token) == []


# --- checkpoints -------------------------------------------------------------------------------------


def _compiles_the_secret_into_its_answer(request: PlanRequest, tools: ToolContext) -> PlanSpec:
    """A plan whose state holds the compiled model (the secret) and a new model to build."""
    result = tools.dbt(DbtCall(command="compile", select=["leaky"]))
    compiled = "\n".join(node.compiled_sql or "" for node in result.nodes)
    assert "tok-" in compiled  # the secret is in the state this plan hands over
    for path, content in NEW_MODEL.items():
        tools.changeset.write_file(tools.paths, path, content)
    return PlanSpec(summary="count people", changeset=tools.changeset, answer=compiled, verify_select=[])


def _paused_then_resumed(project: Path, store_url: str | None) -> tuple[str, str]:
    """The run stops after Plan (its checkpoint holds the compiled secret), then resumes to the end;
    its id and the answer the resumed run read back."""
    settings = load_settings(project, store_url=store_url)
    planner = ScriptedPlanner([_compiles_the_secret_into_its_answer])
    with Session(settings, interrupt_after=["plan"]) as first:
        paused = first.run("count people", planner=planner)
    assert paused.status == "paused", paused.reason
    with Session(settings) as second:
        done = second.resume(paused.run_id, planner=planner)
    assert done.status == "success", done.reason
    assert len(planner.requests) == 1  # resumed from the checkpoint, not planned again
    assert all((project / path).is_file() for path in NEW_MODEL)
    return paused.run_id, str(done.state.get("plan", {}).get("answer", ""))


@pytest.mark.slow  # the CLI test above checks checkpoints.sqlite; the PostgreSQL one below resumes
def test_sqlite_checkpoints_hold_no_env_secret_and_a_resumed_run_finishes(project: Path, token: str) -> None:
    register_environment_secrets(os.environ)  # what `ae` does at start-up
    _run_id, answer = _paused_then_resumed(project, None)
    assert REDACTED in answer  # the resumed run read the redacted state back
    assert files_holding(project / ".ae", token) == []
    assert files_holding(project, token) == []


@pytest.mark.postgres
def test_postgres_checkpoints_and_runs_hold_no_env_secret(
    project: Path, token: str, postgres_dsn: str
) -> None:
    register_environment_secrets(os.environ)
    run_id, answer = _paused_then_resumed(project, postgres_dsn)
    assert REDACTED in answer
    hex_token = token.encode().hex()
    with psycopg.connect(postgres_dsn) as conn:
        rows = 0
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "ae_runs"):
            column = "run_id" if table == "ae_runs" else "thread_id"
            for (row,) in conn.execute(f"select t::text from {table} t where {column} = %s", (run_id,)):
                rows += 1
                assert token not in row and hex_token not in row, table
    assert rows > 3  # the run's checkpoints were there to read
    assert files_holding(project, token) == []
