"""ProjectPaths: what the file tools may open, and the reasons they are refused the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.errors import InvalidArguments, PathRefused
from tools.paths import (
    STATE_DIR,
    ProjectPaths,
    StateLinkRefused,
    inside_project,
    recorded_location,
    refuse_state_links,
)


@pytest.fixture
def project(tmp_path: Path) -> ProjectPaths:
    root = tmp_path / "proj"
    (root / "models").mkdir(parents=True)
    (root / "models" / "a.sql").write_text("select 1\n")
    (root / "warehouse.duckdb").write_bytes(b"DUCK")
    (root / ".ae").mkdir()
    (root / ".ae" / "run.json").write_text("{}")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "data").mkdir()
    (root / "data" / "store.db").write_bytes(b"DB")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    (root / "models" / "leak.sql").symlink_to(outside / "secret.txt")
    (root / "models" / "ext").symlink_to(outside, target_is_directory=True)
    (root / "models" / "alias.sql").symlink_to(root / "models" / "a.sql")
    (root / "models" / "wh.sql").symlink_to(root / "warehouse.duckdb")
    return ProjectPaths.for_project(root, warehouse_files=[root / "data" / "store.db"])


def test_a_path_inside_the_root_resolves(project: ProjectPaths) -> None:
    resolved = project.resolve("models/a.sql", must_exist=True)
    assert resolved == project.root / "models" / "a.sql"
    assert project.normalise("./models/../models/a.sql") == "models/a.sql"
    assert project.resolve(str(project.root / "models" / "a.sql"), must_exist=True) == resolved


def test_a_symlink_that_stays_inside_resolves_to_its_target(project: ProjectPaths) -> None:
    assert project.normalise("models/alias.sql") == "models/a.sql"


def test_missing_files_are_refused_only_when_they_must_exist(project: ProjectPaths) -> None:
    assert project.resolve("models/new/b.sql", must_exist=False) == project.root / "models/new/b.sql"
    with pytest.raises(InvalidArguments, match=r"no file or directory at 'models/nope\.sql'"):
        project.resolve("models/nope.sql", must_exist=True)


@pytest.mark.parametrize(
    ("relpath", "reason"),
    [
        ("../outside/secret.txt", "uses '..' to climb outside the project root"),
        ("models/../../outside/secret.txt", "uses '..' to climb outside the project root"),
        ("/etc/passwd", "is an absolute path outside the project root"),
        ("models/leak.sql", "goes through a symlink that points outside the project root"),
        ("models/ext/secret.txt", "goes through a symlink that points outside the project root"),
        ("models/ext/new.sql", "goes through a symlink that points outside the project root"),
        ("warehouse.duckdb", "is the warehouse file"),
        ("warehouse.duckdb.wal", "is the warehouse file"),
        ("nested/dev.duckdb", "is the warehouse file"),
        ("data/store.db", "is the warehouse file"),
        ("models/wh.sql", "is the warehouse file"),
        (".ae/run.json", "is inside .ae/"),
        ("models/../.ae/new.json", "is inside .ae/"),
        (".git/HEAD", "is inside .git/"),
        ("", "an empty path"),
        ("models/a\0.sql", "NUL byte"),
    ],
)
def test_refused_paths_say_which_path_and_why(project: ProjectPaths, relpath: str, reason: str) -> None:
    with pytest.raises(PathRefused) as caught:
        project.resolve(relpath, must_exist=False)
    message = str(caught.value)
    assert reason in message
    if relpath:
        assert repr(relpath) in message


@pytest.mark.parametrize(
    "recorded",
    ["models/a.sql", "models/new/b.sql", "warehouse.duckdb"],
)
def test_a_journal_path_inside_the_project_is_read_in_the_project(
    project: ProjectPaths, recorded: str
) -> None:
    assert inside_project(project.root, recorded) == project.root / recorded


@pytest.mark.parametrize(
    "recorded",
    [
        "",
        "/etc/passwd",
        "../outside/secret.txt",
        "models/../a.sql",
        "./models/a.sql",
        "models//a.sql",
        "models/leak.sql",
        "models/ext/secret.txt",
    ],
)
def test_a_journal_path_that_is_not_plain_and_inside_is_refused(project: ProjectPaths, recorded: str) -> None:
    with pytest.raises(PathRefused):
        inside_project(project.root, recorded)


def test_a_place_is_recorded_relative_inside_the_project_and_absolute_outside(
    project: ProjectPaths, tmp_path: Path
) -> None:
    assert recorded_location(project.root, project.root / "models" / "a.sql") == "models/a.sql"
    assert recorded_location(project.root, tmp_path / "outside") == str((tmp_path / "outside").resolve())


def test_a_link_under_the_state_folder_is_refused_but_not_elsewhere(project: ProjectPaths) -> None:
    state = project.root / STATE_DIR
    (state / "runs").mkdir()
    (state / "runs" / "linked").symlink_to(project.root / "models", target_is_directory=True)
    with pytest.raises(StateLinkRefused, match=r"runs/linked is a symbolic link"):
        refuse_state_links(state / "runs" / "linked" / "applied.json")
    refuse_state_links(state / "runs" / "missing" / "applied.json")  # nothing there, nothing linked
    refuse_state_links(project.root / "models" / "leak.sql")  # not ae's data: the file tools decide
