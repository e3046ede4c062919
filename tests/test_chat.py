"""`ae chat` driven line by line: progress, approval on a protected target, undo, resume by id."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.chat import CHAT_LOG, Conversation, chat
from agent.exit_codes import ExitCode, for_error
from agent.settings import load_settings
from tests.dbt_project_factory import write_tiny_project
from tools.errors import InvalidArguments
from tools.example_project import create_example_project
from tools.logs import configure_logging, current_setup
from tools.profiles import read_target
from tools.warehouse_undo import list_relation_names


def lines(*answers: str) -> Callable[[str], str]:
    queue: Iterator[str] = iter(answers)

    def read(_prompt: str) -> str:
        try:
            return next(queue)
        except StopIteration:
            raise EOFError from None

    return read


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_example_project(tmp_path_factory.mktemp("chat") / "shop")


def test_a_chat_builds_undoes_and_resumes(project: Path) -> None:
    settings = load_settings(project)
    out, err = io.StringIO(), io.StringIO()
    chat(
        settings,
        target=None,
        conversation_id=None,
        read=lines("/dbt-model --name stg_customers --type staging", "/history", "/undo", "/quit"),
        out=out,
        err=err,
    )
    text = out.getvalue()
    assert "status: success" in text
    assert "undid /dbt-model --name stg_customers" in text
    assert not (project / "models" / "staging" / "stg_customers.sql").exists()
    # undo also drops the view the request created: the warehouse holds nothing no model defines
    assert "dropped 1 relation(s) the run created" in text
    relations = list_relation_names(read_target(project).path or Path("missing"))
    assert not any(r.endswith(".stg_customers") for r in relations)
    assert "[execute ]" in err.getvalue()
    # the way back names the project too, so it works from any folder
    conversation_id, project_flag = text.rsplit("ae chat --conversation ", 1)[1].split(" ", 1)
    assert project_flag.strip() == f"--project {project}"
    saved = Conversation.load(settings.state_dir, conversation_id, project)
    assert [(t.status, t.undone) for t in saved.turns] == [("success", True)]
    resumed = io.StringIO()
    chat(
        settings,
        target=None,
        conversation_id=conversation_id,
        read=lines("/undo"),
        out=resumed,
        err=io.StringIO(),
    )
    assert "earlier: /dbt-model --name stg_customers --type staging -> success (undone)" in resumed.getvalue()
    assert "nothing to undo" in resumed.getvalue()


def test_a_protected_target_asks_and_a_no_changes_nothing(project: Path) -> None:
    settings = load_settings(project)
    out = io.StringIO()
    chat(
        settings,
        target="prod",
        conversation_id=None,
        read=lines("/dbt-model --name stg_stores --type staging", "n"),
        out=out,
        err=io.StringIO(),
    )
    assert "status: refused" in out.getvalue()
    assert not (project / "models" / "staging" / "stg_stores.sql").exists()


def test_ctrl_c_exits_130_with_the_way_back(project: Path) -> None:
    def interrupt(_prompt: str) -> str:
        raise KeyboardInterrupt

    out = io.StringIO()
    code = chat(
        load_settings(project), target=None, conversation_id=None, read=interrupt, out=out, err=io.StringIO()
    )
    assert code == ExitCode.INTERRUPTED
    assert "interrupted — resume with: ae chat --conversation " in out.getvalue()
    assert out.getvalue().rstrip().endswith(f"--project {project}")


def test_an_unknown_conversation_is_a_usage_error_listing_the_known_ones(project: Path) -> None:
    settings = load_settings(project)
    Conversation(id="cafe0001").save(settings.state_dir)
    with pytest.raises(
        InvalidArguments, match=r"no conversation 'nope'.*known conversations: .*cafe0001"
    ) as raised:
        chat(
            settings, target=None, conversation_id="nope", read=lines(), out=io.StringIO(), err=io.StringIO()
        )
    assert for_error(raised.value) == ExitCode.USAGE


def test_log_lines_go_to_a_file_not_between_the_chats_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a tool's failure was logged on stderr, a raw JSON (or coloured) line in the middle of
    the chat's progress. Now the chat says where its log lines go, and they go there."""
    project = write_tiny_project(tmp_path / "tiny")
    (project / "tiny.duckdb").unlink()  # profiling the source logs the tool's error
    configure_logging(json=True, level="WARNING")  # as `ae` sets it up: stderr
    out = io.StringIO()
    try:
        code = chat(
            load_settings(project),
            target=None,
            conversation_id=None,
            read=lines("/dbt-model --name stg_again --type staging --source raw.people", "/quit"),
            out=out,
            err=sys.stderr,
        )
    finally:
        configure_logging(json=True, level="WARNING")
    assert code == ExitCode.OK
    err = capsys.readouterr().err
    assert "[plan    ] FAIL warehouse file" in err  # the failure is shown as progress
    assert '"event"' not in err and "tool_call" not in err
    log = project / ".ae" / "logs" / CHAT_LOG
    assert f"log lines go to {log}" in out.getvalue()
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(line["event"] == "tool_call" and line["ok"] is False for line in logged)
    assert current_setup().on_stderr  # logging is back where it was


def test_a_log_file_the_person_chose_stays_theirs(tmp_path: Path) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    (project / "tiny.duckdb").unlink()
    chosen = tmp_path / "mine.log"
    with chosen.open("a", encoding="utf-8") as stream:
        configure_logging(json=True, level="WARNING", stream=stream)
        out = io.StringIO()
        try:
            chat(
                load_settings(project),
                target=None,
                conversation_id=None,
                read=lines("/dbt-model --name stg_again --type staging --source raw.people", "/quit"),
                out=out,
                err=io.StringIO(),
            )
        finally:
            configure_logging(json=True, level="WARNING")
    assert "log lines go to" not in out.getvalue()
    assert "tool_call" in chosen.read_text()
    assert not (project / ".ae" / "logs" / CHAT_LOG).exists()
