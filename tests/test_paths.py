"""ProjectPaths: what the file tools may open, and the reasons they are refused the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.errors import InvalidArguments, PathRefused
from tools.paths import ProjectPaths


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
