"""`ae memory` and chat's /remember: a person sees and corrects what ae remembers about a project."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from agent.chat import chat
from agent.cli import main
from agent.exit_codes import ExitCode
from agent.memory.project_memory import open_project_memory
from agent.settings import load_settings
from tests.dbt_project_factory import write_tiny_project
from tests.test_chat import lines


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main([*argv, "--json"]) == ExitCode.OK
    return json.loads(capsys.readouterr().out)


def test_add_list_search_show_forget_export_import(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--project", str(project)]
    added = _json(capsys, "memory", "add", "always use merge for facts", *where)
    assert isinstance(added, dict) and added["kind"] == "decisions"
    key = added["key"]
    assert key == "always-use-merge-for-facts"
    _json(capsys, "memory", "add", "do not touch the legacy folder", *where)

    listed = _json(capsys, "memory", "list", "--kind", "decisions", *where)
    assert isinstance(listed, list) and {m["key"] for m in listed} == {key, "do-not-touch-the-legacy-folder"}
    found = _json(capsys, "memory", "search", "merge strategy for a fact", "--limit", "1", *where)
    assert isinstance(found, list) and [m["key"] for m in found] == [key]
    shown = _json(capsys, "memory", "show", "decisions", key, *where)
    assert isinstance(shown, dict) and shown["text"] == "always use merge for facts"

    exported = tmp_path / "memories.json"
    assert main(["memory", "export", "--out", str(exported), *where]) == ExitCode.OK
    assert "wrote 2 to" in capsys.readouterr().out
    assert _json(capsys, "memory", "forget", "decisions", "--all", *where) == {"forgotten": 2}
    assert _json(capsys, "memory", "list", *where) == []
    assert _json(capsys, "memory", "import", str(exported), *where) == {"imported": 2}
    assert _json(capsys, "memory", "forget", "decisions", key, *where) == {"forgotten": 1}
    with open_project_memory(load_settings(project)) as memory:
        assert [m.key for m in memory.items("decisions")] == ["do-not-touch-the-legacy-folder"]


def test_bad_memory_input_is_bad_usage(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--project", str(project)]
    assert main(["memory", "forget", "decisions", *where]) == ExitCode.USAGE  # neither KEY nor --all
    assert main(["memory", "show", "decisions", "nope", *where]) == ExitCode.USAGE
    assert main(["memory", "list", "--kind", "opinions", *where]) != ExitCode.OK
    (tmp_path / "junk.json").write_text('{"not": "a list"}')
    assert main(["memory", "import", str(tmp_path / "junk.json"), *where]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "--all" in err and "ae memory list" in err and "not a memory export" in err


def test_chat_remember_keeps_a_decision_for_later_runs(project: Path) -> None:
    out = io.StringIO()
    code = chat(
        load_settings(project),
        target=None,
        conversation_id=None,
        read=lines("/remember always use merge for facts", "/remember", "/quit"),
        out=out,
        err=io.StringIO(),
    )
    assert code == ExitCode.OK
    assert "remembered: always use merge for facts" in out.getvalue()
    assert "remember what?" in out.getvalue()
    with open_project_memory(load_settings(project)) as memory:
        kept = memory.get("decisions", "always-use-merge-for-facts")
    assert kept is not None and kept.data["source"] == "chat"
