"""`ae chat` driven line by line: progress, approval on a protected target, undo, resume by id."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.chat import Conversation, chat
from agent.exit_codes import ExitCode, for_error
from agent.settings import load_settings
from tools.errors import InvalidArguments
from tools.example_project import create_example_project
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
