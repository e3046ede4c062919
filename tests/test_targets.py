"""A /command's --target is honoured by every entry point, and prod always asks (issue 12).

`ae chat` used to run `/dbt-run ... --target prod` on the session's dev target with no question.
Real dbt on a tiny DuckDB project whose prod target writes to the schema ``prod``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.chat import Conversation, chat
from agent.cli import main
from agent.exit_codes import ExitCode
from agent.runs import read_record
from agent.settings import load_settings
from agent.targets import request_target
from tests.dbt_project_factory import write_tiny_project
from tools.errors import InvalidArguments
from tools.warehouse_undo import list_relation_names

TO_PROD = "/dbt-run --select stg_people --target prod"
PROD_VIEW = "tiny.prod.stg_people"
DEV_VIEW = "tiny.main.stg_people"


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Protection as shipped: no user config file, no overriding environment."""
    monkeypatch.setenv("AE_CONFIG", str(tmp_path / "user" / "config.yml"))
    for name in ("AE_PROTECTED_TARGETS", "AE_PROTECTED_SCHEMAS", "AE_STORE_URL", "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


def relations(project: Path) -> set[str]:
    return list_relation_names(project / "tiny.duckdb")


def test_the_entry_points_target_is_a_pin_or_a_default() -> None:
    assert request_target(TO_PROD, None) == "prod"
    assert request_target("/dbt-run --select stg_people", "dev") == "dev"
    assert request_target("add a model for orders", "dev") == "dev"  # free text names no target
    # a pin (ae run --target dev, a queued task) contradicted by the command is refused...
    with pytest.raises(InvalidArguments, match="two targets: --target dev for ae and --target prod"):
        request_target(TO_PROD, "dev")
    # ...a default (the chat's) gives way to the command for that line
    assert request_target(TO_PROD, "dev", pinned=False) == "prod"


def test_ae_run_builds_on_the_commands_target_only_with_approval(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # through the command line: run_request decides the target, main() turns the refusal into a code
    assert main(["run", TO_PROD, "--project", str(project)]) == ExitCode.REFUSED
    assert "--yes" in capsys.readouterr().err
    assert PROD_VIEW not in relations(project)
    assert main(["run", TO_PROD, "--project", str(project), "--yes"]) == ExitCode.OK
    assert PROD_VIEW in relations(project) and DEV_VIEW not in relations(project)


def scripted(*answers: str) -> tuple[Callable[[str], str], list[str]]:
    """A reader answering the chat's prompts in order, and the prompts it was shown."""
    queue = iter(answers)
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        try:
            return next(queue)
        except StopIteration:
            raise EOFError from None

    return read, prompts


def test_chat_runs_a_line_on_its_target_and_prod_asks_first(project: Path) -> None:
    settings = load_settings(project)
    # the conversation is on dev; the line names prod: asked, approved, built in prod (a "no" is in
    # tests/test_chat.py). Each target's first run waits for its own dbt process to parse (~10 s
    # here), so this test keeps to one line.
    read, prompts = scripted(TO_PROD, "y")
    out = io.StringIO()
    code = chat(settings, target=None, conversation_id=None, read=read, out=out, err=io.StringIO())
    assert code == ExitCode.OK
    questions = [p for p in prompts if p != "ae> "]
    assert len(questions) == 1 and "prod" in questions[0] and questions[0].endswith("[y/N] ")
    conversation_id = out.getvalue().rsplit("--conversation ", 1)[1].split()[0]
    turns = Conversation.load(settings.state_dir, conversation_id, project).turns
    assert [t.status for t in turns] == ["success"]
    record = read_record(settings.state_dir, turns[0].run_id)
    assert record is not None and record.target == "prod"
    assert PROD_VIEW in relations(project) and DEV_VIEW not in relations(project)
