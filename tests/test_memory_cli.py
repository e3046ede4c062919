"""`ae memory` and chat's /remember: a person sees and corrects what ae remembers about a project."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable
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


# --- issue 23, item 13: bad input and a bad environment are messages, never tracebacks --------------


def test_import_of_a_record_whose_data_is_not_a_mapping_names_the_file_and_record(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a TypeError traceback from deep in the store, after the records before it were written."""
    where = ["--project", str(project)]
    bad = tmp_path / "bad.json"
    good = {"kind": "decisions", "key": "merge", "text": "always merge"}
    bad.write_text(json.dumps([good, {**good, "key": "k2", "data": [1, 2]}, {**good, "kind": "secrets"}]))
    assert main(["memory", "import", str(bad), *where]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"{bad} is not a memory export: record 2: data is a list, not a mapping" in err
    assert "record 3: kind 'secrets' is not one of" in err and "Traceback" not in err
    assert _json(capsys, "memory", "list", *where) == []  # nothing half-imported


def _damage(project: Path) -> Path:
    with open_project_memory(load_settings(project)) as memory:
        memory.remember("decisions", "merge", "always merge")
    file = project / ".ae" / "memory.sqlite"
    file.write_bytes(b"SQLite format 3\x00" + b"\x13garbage" * 512)
    return file


def test_a_damaged_memory_store_is_a_message_naming_it_in_memory_list_and_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _damage(project)
    assert main(["memory", "list", "--project", str(project)]) == ExitCode.ENVIRONMENT
    err = capsys.readouterr().err
    assert f"the memory store {file} is damaged" in err and f"mv {file}" in err and "Traceback" not in err
    code = main(["run", "/dbt-compile --select stg_people", "--project", str(project)])
    assert code == ExitCode.ENVIRONMENT
    err = capsys.readouterr().err
    assert f"the memory store {file} is damaged" in err and "Traceback" not in err


def _read_only(folder: Path) -> Callable[[], None]:
    """Make ``folder`` unwritable even for root (chattr +i), else by mode; returns the undo."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        return lambda: folder.chmod(0o700)
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(folder)], check=False).returncode
    ):
        pytest.skip("running as root without chattr +i: a folder cannot be made read-only here")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_memory_add_on_a_read_only_state_folder_is_a_message_naming_the_store(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = project / ".ae"
    state.mkdir()
    undo = _read_only(state)
    try:
        code = main(["memory", "add", "always use merge for facts", "--project", str(project)])
    finally:
        undo()
    assert code == ExitCode.ENVIRONMENT
    err = capsys.readouterr().err
    assert f"cannot use the memory store {state / 'memory.sqlite'}" in err and "Traceback" not in err
    assert f"make {state} writable" in err
