"""The changeset: recording, viewing, diffing, and transactional apply / rollback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.changeset import AppliedChangeset, Changeset
from tools.errors import InvalidArguments, PathRefused
from tools.paths import ProjectPaths
from tools.revert_merge import revert_change

ODD_BYTES = b"\xff\xfe not utf-8 \x00\x01 bytes\r\nsecond"
CRLF = b"select id,\r\n  name\r\nfrom raw\r\n"
NO_NEWLINE = b"select 2"


@pytest.fixture
def project(tmp_path: Path) -> ProjectPaths:
    root = tmp_path / "proj"
    (root / "models").mkdir(parents=True)
    (root / "models" / "odd.sql").write_bytes(ODD_BYTES)
    (root / "models" / "crlf.sql").write_bytes(CRLF)
    (root / "models" / "nonl.sql").write_bytes(NO_NEWLINE)
    os.chmod(root / "models" / "nonl.sql", 0o640)
    (root / "models" / "keep.sql").write_text("select 1\n")
    os.chmod(root / "models" / "keep.sql", 0o751)
    return ProjectPaths.for_project(root)


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every file and directory under root: bytes (None for a directory) and mode."""
    tree: dict[str, tuple[bytes | None, int]] = {}
    for path in sorted(root.rglob("*")):
        content = None if path.is_dir() else path.read_bytes()
        tree[path.relative_to(root).as_posix()] = (content, path.stat().st_mode)
    return tree


def full_changeset(project: ProjectPaths) -> Changeset:
    changeset = Changeset()
    changeset.write_file(project, "models/odd.sql", "now text\n")
    changeset.edit_file(project, "models/crlf.sql", "  name\r\n", "  name,\r\n  email\r\n")
    changeset.delete_file(project, "models/nonl.sql")
    changeset.write_file(project, "models/deep/er/new.sql", "select 3")
    changeset.edit_file(project, "models/keep.sql", "select 1", "select 11")
    return changeset


# --- recording and viewing ---------------------------------------------------------------------


def test_view_prefers_pending_changes_over_disk(project: ProjectPaths) -> None:
    changeset = Changeset()
    assert changeset.view(project, "models/keep.sql") == "select 1\n"
    assert changeset.view(project, "models/missing.sql") is None

    changeset.write_file(project, "models/keep.sql", "select 42\n")
    changeset.delete_file(project, "models/crlf.sql")
    changeset.write_file(project, "./models/new.sql", "select 7\n")

    assert changeset.view(project, "models/keep.sql") == "select 42\n"
    assert changeset.view(project, "models/crlf.sql") is None
    assert changeset.view(project, "models/new.sql") == "select 7\n"
    assert changeset.touched_paths() == ["models/keep.sql", "models/crlf.sql", "models/new.sql"]
    assert [c.op for c in changeset.changes] == ["modify", "delete", "create"]
    assert (project.root / "models" / "keep.sql").read_text() == "select 1\n", "recording touched disk"
    assert not (project.root / "models" / "new.sql").exists()


def test_changes_that_restore_the_disk_content_disappear(project: ProjectPaths) -> None:
    changeset = Changeset()
    changeset.write_file(project, "models/keep.sql", "select 2\n")
    assert changeset.write_file(project, "models/keep.sql", "select 1\n") is None
    changeset.write_file(project, "models/new.sql", "x")
    changeset.delete_file(project, "models/new.sql")
    assert changeset.is_empty
    assert changeset.diff(project) == ""


def test_writing_after_deleting_an_existing_file_is_a_modify(project: ProjectPaths) -> None:
    changeset = Changeset()
    changeset.delete_file(project, "models/keep.sql")
    change = changeset.write_file(project, "models/keep.sql", "select 5\n")
    assert change is not None and change.op == "modify"
    assert len(changeset.changes) == 1


def test_edit_applies_to_the_pending_text(project: ProjectPaths) -> None:
    changeset = Changeset()
    changeset.write_file(project, "models/new.sql", "select a\nfrom b\n")
    changeset.edit_file(project, "models/new.sql", "from b", "from c")
    assert changeset.view(project, "models/new.sql") == "select a\nfrom c\n"


@pytest.mark.parametrize(
    ("old", "message"),
    [
        ("absent text", "does not occur in 'models/dup.sql'"),
        ("select 1", "occurs 2 times in 'models/dup.sql'"),
        ("", "`old` is empty"),
    ],
)
def test_edit_needs_exactly_one_match(project: ProjectPaths, old: str, message: str) -> None:
    (project.root / "models" / "dup.sql").write_text("select 1\nunion all\nselect 1\n")
    with pytest.raises(InvalidArguments, match=message):
        Changeset().edit_file(project, "models/dup.sql", old, "select 2")


def test_edit_or_delete_of_a_missing_file_is_refused(project: ProjectPaths) -> None:
    changeset = Changeset()
    with pytest.raises(InvalidArguments, match=r"cannot edit 'models/none\.sql': no such file"):
        changeset.edit_file(project, "models/none.sql", "a", "b")
    with pytest.raises(InvalidArguments, match=r"cannot delete 'models/none\.sql': no such file"):
        changeset.delete_file(project, "models/none.sql")
    with pytest.raises(PathRefused):
        changeset.write_file(project, "../escape.sql", "x")


def test_diff_has_git_headers_and_marks_missing_final_newlines(project: ProjectPaths) -> None:
    diff = full_changeset(project).diff(project)

    assert "diff --git a/models/deep/er/new.sql b/models/deep/er/new.sql\n--- /dev/null\n" in diff
    assert "+++ b/models/deep/er/new.sql\n@@ -0,0 +1 @@\n+select 3\n\\ No newline at end of file\n" in diff
    assert "--- a/models/nonl.sql\n+++ /dev/null\n@@ -1 +0,0 @@\n-select 2\n\\ No newline" in diff
    assert "-select 1\n+select 11\n" in diff
    assert "+  name,\r\n+  email\r\n" in diff
    only_keep = full_changeset(project).diff(project, "models/keep.sql")
    assert only_keep.startswith("diff --git a/models/keep.sql b/models/keep.sql\n--- a/models/keep.sql\n")
    assert "nonl" not in only_keep


# --- apply and rollback ------------------------------------------------------------------------


def test_apply_writes_the_changes_and_rollback_restores_every_byte(project: ProjectPaths) -> None:
    before = snapshot(project.root)
    changeset = full_changeset(project)
    assert not changeset.is_applied(project)

    applied = changeset.apply(project)

    models = project.root / "models"
    assert (models / "odd.sql").read_bytes() == b"now text\n"
    assert (models / "crlf.sql").read_bytes() == b"select id,\r\n  name,\r\n  email\r\nfrom raw\r\n"
    assert not (models / "nonl.sql").exists()
    assert (models / "deep" / "er" / "new.sql").read_bytes() == b"select 3"
    assert (models / "keep.sql").stat().st_mode & 0o7777 == 0o751, "modify must keep the file mode"
    assert changeset.is_applied(project)
    assert applied.created_dirs == ["models/deep", "models/deep/er"]
    assert not list(project.root.rglob("*.ae-tmp"))

    applied.rollback(project)
    assert snapshot(project.root) == before
    applied.rollback(project)  # a second rollback (say, after a crash during the first) changes nothing
    assert snapshot(project.root) == before


def test_a_failure_midway_rolls_back_what_was_written(project: ProjectPaths) -> None:
    before_changes = snapshot(project.root)
    changeset = Changeset()
    changeset.write_file(project, "models/new/first.sql", "select 1")
    changeset.write_file(project, "models/keep.sql", "select 99\n")
    changeset.write_file(project, "models/blocked.sql", "select 2")
    changeset.write_file(project, "models/never.sql", "select 3")
    # Something is now in the way of the third write: a directory where the file should go.
    (project.root / "models" / "blocked.sql").mkdir()
    before = snapshot(project.root)
    assert before != before_changes

    with pytest.raises(OSError):
        changeset.apply(project)

    assert snapshot(project.root) == before
    assert not list(project.root.rglob("*.ae-tmp"))


def test_an_applied_changeset_rolls_back_after_a_json_round_trip(project: ProjectPaths) -> None:
    before = snapshot(project.root)
    stored = full_changeset(project).apply(project).model_dump_json()

    # A new process only has the stored JSON.
    restored = AppliedChangeset.model_validate_json(stored)
    restored.rollback(project)

    assert snapshot(project.root) == before


def test_a_changeset_survives_a_json_round_trip(project: ProjectPaths) -> None:
    changeset = full_changeset(project)
    again = Changeset.model_validate_json(changeset.model_dump_json())
    assert again == changeset
    assert again.diff(project) == changeset.diff(project)


# --- taking one run's lines out of a file changed since (tools/revert_merge.py) -----------------

ENTRY_A = b"\n  - name: dim_a\n    description: A.\n"
ENTRY_B = b"\n  - name: dim_b\n    description: B.\n"
HEAD = b"version: 2\nmodels:\n  - name: kept\n    description: Mine.  # a comment\n"


@pytest.mark.parametrize(
    ("before", "after", "now", "reverted"),
    [
        # the undone run's entry out, the newer one kept; then the newer one's own undo
        (HEAD, HEAD + ENTRY_A, HEAD + ENTRY_A + ENTRY_B, HEAD + ENTRY_B),
        (HEAD + ENTRY_A, HEAD + ENTRY_A + ENTRY_B, HEAD + ENTRY_B, HEAD),
        # a line the run changed, with the person's edit elsewhere in the file
        (b"a\nb\nc\nd\n", b"a\nB\nc\nd\n", b"a\nB\nc\nd\ne\n", b"a\nb\nc\nd\ne\n"),
        # lines the run removed go back between their neighbours
        (b"a\nb\nc\nd\n", b"a\nd\n", b"z\na\nd\n", b"z\na\nb\nc\nd\n"),
        # CRLF stays CRLF, byte for byte
        (b"a\r\nb\r\n", b"a\r\nb\r\nc\r\n", b"x\r\na\r\nb\r\nc\r\n", b"x\r\na\r\nb\r\n"),
        # the run's lines edited since: a conflict
        (HEAD, HEAD + ENTRY_A, HEAD + ENTRY_A.replace(b"A.", b"A, edited."), None),
        # something put between the neighbours of removed lines: where they go is a guess
        (b"a\nb\nc\n", b"a\nc\n", b"a\nnew\nc\n", None),
        # a blank line the run added, with its context gone: not taken from somewhere else
        (b"a\nb\n", b"a\n\nb\n", b"x\n\ny\n", None),
        # a last line without its newline would be glued to the next one
        (b"a", b"a\nb\n", b"a\nb\nc\n", None),
    ],
)
def test_revert_change_takes_out_only_the_runs_lines(
    before: bytes, after: bytes, now: bytes, reverted: bytes | None
) -> None:
    assert revert_change(before, after, now) == reverted


def test_a_revert_that_breaks_the_yaml_is_a_conflict() -> None:
    before = b"models:\n  - name: a\n"
    after = b"models:\n  - name: a\n    columns:\n"
    now = b"models:\n  - name: a\n    columns:\n      - name: id\n"  # someone's column under the run's key
    assert revert_change(before, after, now) == b"models:\n  - name: a\n      - name: id\n"
    assert revert_change(before, after, now, path="models/schema.yml") is None


def test_a_rollback_reverts_a_file_changed_since_and_says_so(project: ProjectPaths) -> None:
    changeset = Changeset()
    changeset.write_file(project, "models/keep.sql", "select 1\n-- the run's line\n")
    applied = changeset.apply(project)
    (project.root / "models" / "keep.sql").write_text("-- the person's line\nselect 1\n-- the run's line\n")
    done = applied.rollback(project)
    assert done.reverted == ["models/keep.sql"] and done.conflicts == []
    assert (project.root / "models" / "keep.sql").read_text() == "-- the person's line\nselect 1\n"
    assert (project.root / "models" / "keep.sql").stat().st_mode & 0o777 == 0o751  # the mode is kept
