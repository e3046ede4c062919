"""The changeset: file operations recorded during Plan, applied (and undone) transactionally later.

Plan never writes to disk. Its edit tools record into a ``Changeset``, and every read goes through
``Changeset.view`` so the planner sees its own pending edits. Validate then calls ``apply``, which
keeps the exact prior bytes and mode of every path it touches in an ``AppliedChangeset``; that
record is a pydantic model, so it can be stored with the run and used to roll back even after the
process restarts (``model_dump_json`` / ``model_validate_json``).

A stored record is read back as untrusted: its paths are relative to the project it is rolled back
in (a copy undoes its own files), and every one must be a plain relative path inside that project,
or nothing of the record is rolled back.

Text is UTF-8 and written exactly as given: no newline translation, so CRLF files stay CRLF.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from tools.errors import InvalidArguments, PathRefused
from tools.journal import DamagedJournal, ProjectStamp, write_atomic
from tools.logs import get_logger
from tools.paths import ProjectPaths, inside_project
from tools.revert_merge import revert_change

log = get_logger("ae.changeset")


class FileChange(BaseModel):
    """One pending operation; ``op`` says what it does relative to the disk when it was recorded."""

    op: Literal["create", "modify", "delete"]
    path: str = Field(description="relative to the project root, POSIX separators")
    content: str | None = None


class Changeset(BaseModel):
    """At most one change per path, in the order paths were first touched."""

    changes: list[FileChange] = Field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def touched_paths(self) -> list[str]:
        return [change.path for change in self.changes]

    def pending(self, path: str) -> FileChange | None:
        """The recorded change for a normalised relative path, if any."""
        return next((change for change in self.changes if change.path == path), None)

    # --- recording ---------------------------------------------------------------------------

    def write_file(self, paths: ProjectPaths, path: str, content: str) -> FileChange | None:
        """Record ``content`` as the file's full text. None when that is exactly what is on disk."""
        rel = paths.normalise(path)
        _refuse_directory(paths, rel)
        return self._record(paths, rel, content)

    def edit_file(self, paths: ProjectPaths, path: str, old: str, new: str) -> FileChange | None:
        """Replace the one occurrence of ``old`` with ``new`` in the file as this changeset sees it."""
        rel = paths.normalise(path)
        if not old:
            raise InvalidArguments("`old` is empty; give the exact text to replace")
        if old == new:
            raise InvalidArguments("`old` and `new` are identical; there is nothing to change")
        current = self.view(paths, rel)
        if current is None:
            raise InvalidArguments(f"cannot edit {rel!r}: no such file", hint="use write_file to create it")
        matches = current.count(old)
        if matches != 1:
            where = "does not occur" if matches == 0 else f"occurs {matches} times"
            raise InvalidArguments(
                f"the text to replace {where} in {rel!r}; it must occur exactly once",
                hint="copy it exactly from read_file and include enough surrounding lines to be unique",
            )
        return self._record(paths, rel, current.replace(old, new, 1))

    def delete_file(self, paths: ProjectPaths, path: str) -> FileChange | None:
        rel = paths.normalise(path)
        if self.view(paths, rel) is None:
            raise InvalidArguments(f"cannot delete {rel!r}: no such file")
        return self._record(paths, rel, None)

    def _record(self, paths: ProjectPaths, rel: str, content: str | None) -> FileChange | None:
        # The op is decided against the disk, so a write that restores the original text simply
        # drops the pending change and the diff never shows no-op entries.
        on_disk = _disk_bytes(paths, rel)
        wanted = None if content is None else content.encode("utf-8")
        change: FileChange | None
        if wanted == on_disk:
            change = None
        elif content is None:
            change = FileChange(op="delete", path=rel)
        else:
            change = FileChange(op="create" if on_disk is None else "modify", path=rel, content=content)
        index = next((i for i, c in enumerate(self.changes) if c.path == rel), None)
        if index is None and change is not None:
            self.changes.append(change)
        elif index is not None and change is None:
            del self.changes[index]
        elif index is not None and change is not None:
            self.changes[index] = change
        return change

    # --- reading -----------------------------------------------------------------------------

    def view(self, paths: ProjectPaths, path: str) -> str | None:
        """The text the file will have once applied (pending changes win over disk); None if absent."""
        rel = paths.normalise(path)
        change = self.pending(rel)
        if change is not None:
            return change.content
        _refuse_directory(paths, rel)
        data = _disk_bytes(paths, rel)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArguments(f"{rel!r} is not a UTF-8 text file") from exc

    def diff(self, paths: ProjectPaths, path: str | None = None) -> str:
        """A unified diff against the disk with git-style headers (all changes, or one path)."""
        wanted = None if path is None else paths.normalise(path)
        changes = [c for c in self.changes if wanted is None or c.path == wanted]
        return "".join(_file_diff(paths, change) for change in changes)

    def is_applied(self, paths: ProjectPaths) -> bool:
        """True when the disk already holds this changeset's result (so a resumed run must not reapply)."""
        return all(
            _disk_bytes(paths, c.path) == (None if c.content is None else c.content.encode("utf-8"))
            for c in self.changes
        )

    # --- applying ----------------------------------------------------------------------------

    def apply(self, paths: ProjectPaths) -> AppliedChangeset:
        """Write every change to disk, or none: a failure midway rolls back and re-raises."""
        applied = AppliedChangeset.stamped(paths.root)
        try:
            for change in self.changes:
                target = paths.resolve(change.path, must_exist=False)
                applied.priors.append(PriorFile.capture(change.path, target, after=change.content))
                if change.content is None:
                    target.unlink(missing_ok=True)
                    continue
                for created in _create_parents(target.parent):
                    applied.created_dirs.append(paths.relative(created))
                write_atomic(target, change.content.encode("utf-8"), mode=None)
        except BaseException:
            log.warning("changeset_apply_failed", written=len(applied.priors), total=len(self.changes))
            applied.rollback(paths)
            raise
        log.info("changeset_applied", paths=self.touched_paths())
        return applied


Restore = Literal["restored", "reverted", "kept"]


class PriorFile(BaseModel):
    """A path exactly as it was before apply (its bytes and mode, or that it did not exist), and what
    apply put there, so a rollback can tell the run's bytes from someone else's and, in a file changed
    since, take out only the run's own lines (tools/revert_merge.py)."""

    path: str
    existed: bool
    content_b64: str | None = None
    mode: int | None = None
    #: sha256 of the bytes apply wrote; None when apply deleted the path, or in a journal from
    #: before this field existed (then a rollback restores without checking)
    after_sha256: str | None = None
    after_known: bool = False
    #: the bytes apply wrote (None: deleted, or a journal from before this field existed, whose
    #: files changed since are kept whole)
    after_b64: str | None = None

    @classmethod
    def capture(cls, rel: str, target: Path, *, after: str | None = None) -> PriorFile:
        """The path as it is now; ``after`` is the text the change will leave (None: deleted)."""
        written = None if after is None else after.encode("utf-8")
        return cls.of_bytes(rel, target, written)

    @classmethod
    def of_bytes(cls, rel: str, target: Path, after: bytes | None) -> PriorFile:
        """The path as it is now, and ``after``: the bytes something will leave there (None: none)."""
        if not target.is_file():
            return cls(path=rel, existed=False).written(after)
        return cls(
            path=rel,
            existed=True,
            content_b64=base64.b64encode(target.read_bytes()).decode("ascii"),
            mode=target.stat().st_mode & 0o7777,
        ).written(after)

    def written(self, after: bytes | None) -> PriorFile:
        """This record, saying that ``after`` is what was left at the path (None: nothing)."""
        return self.model_copy(
            update={
                "after_sha256": None if after is None else _sha256(after),
                "after_b64": None if after is None else base64.b64encode(after).decode("ascii"),
                "after_known": True,
            }
        )

    def _before(self) -> bytes | None:
        return base64.b64decode(self.content_b64) if self.content_b64 is not None else None

    def changed_since(self, target: Path) -> bool:
        """Whether someone (another run, the person) changed ``target`` after this run wrote it."""
        current = target.read_bytes() if target.is_file() else None
        if current == self._before():
            return False  # never written (a failure midway), or already restored
        return self.after_known and (None if current is None else _sha256(current)) != self.after_sha256

    def undo_deletes(self, target: Path) -> bool:
        """Whether restoring removes ``target``: the run created it and nobody changed it since."""
        return not self.existed and target.is_file() and not self.changed_since(target)

    def reverted(self, target: Path) -> bytes | None:
        """The bytes ``target``, changed since this run wrote it, gets with only the run's own change
        taken out; None when that cannot be done cleanly (then the newer file is kept whole). Only for
        a file that existed before and after the run: a file the run created or deleted is its own."""
        before = self._before()
        if before is None or self.after_b64 is None or not target.is_file() or target.is_symlink():
            return None
        after = base64.b64decode(self.after_b64)
        if _sha256(after) != self.after_sha256:
            return None  # a record whose text and digest disagree was edited: trust neither
        return revert_change(before, after, target.read_bytes(), path=self.path)

    def restore(self, target: Path) -> Restore:
        """Put ``target`` (this path, checked) back: ``restored``; ``reverted`` when it changed since
        the apply and only the run's own lines came out; ``kept`` (left alone) when they could not."""
        if self.changed_since(target):
            reverted = self.reverted(target)
            if reverted is None:
                return "kept"  # theirs is newer, and the run's lines are tangled with it
            write_atomic(target, reverted, mode=None)
            return "reverted"
        before = self._before()
        if before == (target.read_bytes() if target.is_file() else None):
            return "restored"  # never written (a failure midway), or already restored
        if before is not None:
            # permission bits only: a journal cannot make a restored file setuid
            write_atomic(target, before, mode=None if self.mode is None else self.mode & 0o777)
        elif target.is_file() or target.is_symlink():
            target.unlink()
        return "restored"


@dataclass(frozen=True)
class RolledBack:
    """What a rollback did with files changed since the apply."""

    #: kept whole: the run's own lines could not be taken out cleanly
    conflicts: list[str] = field(default_factory=list)
    #: the run's own lines taken out, everything newer kept
    reverted: list[str] = field(default_factory=list)


class AppliedChangeset(ProjectStamp):
    """What ``apply`` replaced, enough to undo it byte for byte, also from another process."""

    priors: list[PriorFile] = Field(default_factory=list)
    #: directories apply created, parents before children
    created_dirs: list[str] = Field(default_factory=list)

    def targets(self, paths: ProjectPaths, *, source: str) -> dict[str, Path]:
        """Every path of the record in ``paths``' project, checked; DamagedJournal naming ``source``
        and the entry when one is not a plain relative path inside it (then nothing is undone)."""
        checked: dict[str, Path] = {}
        for rel in [*(prior.path for prior in self.priors), *self.created_dirs]:
            try:
                inside_project(paths.root, rel)  # the plain relative form ae records
                real = paths.resolve(rel, must_exist=False)  # and never .ae/, .git/ or the warehouse
            except PathRefused as exc:
                raise DamagedJournal(
                    f"{source} names {rel!r}, which is not this project's to touch ({exc.message}); "
                    "nothing of it was undone",
                    hint="a journal ae wrote holds plain paths inside its project: this one was edited "
                    "or planted. Restore the files from version control (`git status`) and delete it",
                ) from None
            checked[rel] = real
        return checked

    def rollback(self, paths: ProjectPaths, *, source: str = "the applied changeset") -> RolledBack:
        """Put every touched path of ``paths``' project back as it was; a path changed since keeps the
        newer lines (``RolledBack``). Every path is checked before any is touched (``targets``).

        Safe to run twice (e.g. after a crash midway).
        """
        targets = self.targets(paths, source=source)
        done = {p.path: p.restore(targets[p.path]) for p in reversed(self.priors)}
        conflicts = [path for path, how in done.items() if how == "kept"]
        for rel in reversed(self.created_dirs):
            directory = targets[rel]
            if not directory.is_dir():
                continue
            try:
                directory.rmdir()
            except OSError:
                # Something else put files there since apply; leaving them beats deleting them.
                log.warning("rollback_kept_directory", path=rel, reason="not empty")
        if conflicts:
            log.warning("rollback_kept_newer_files", paths=conflicts)
        reverted = [path for path, how in done.items() if how == "reverted"]
        log.info("changeset_rolled_back", paths=[p.path for p in self.priors], reverted=reverted)
        return RolledBack(conflicts=conflicts, reverted=reverted)

    def reverted_files(self, paths: ProjectPaths, *, source: str) -> dict[str, bytes]:
        """Each file changed since the apply whose run's own lines come out cleanly: the bytes the
        rollback leaves there (nothing is written)."""
        targets = self.targets(paths, source=source)
        found: dict[str, bytes] = {}
        for prior in self.priors:
            target = targets[prior.path]
            if prior.changed_since(target) and (text := prior.reverted(target)) is not None:
                found[prior.path] = text
        return found


# --- helpers -----------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _disk_bytes(paths: ProjectPaths, rel: str) -> bytes | None:
    target = paths.root / rel
    return target.read_bytes() if target.is_file() else None


def _refuse_directory(paths: ProjectPaths, rel: str) -> None:
    if (paths.root / rel).is_dir():
        raise InvalidArguments(f"{rel!r} is a directory, not a file")


def _create_parents(directory: Path) -> Iterator[Path]:
    """Create ``directory`` and its missing ancestors, outermost first, yielding each once made.

    A generator so the caller has recorded every directory made before a later ``mkdir`` fails.
    """
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir()
        yield path


def _file_diff(paths: ProjectPaths, change: FileChange) -> str:
    old_bytes = _disk_bytes(paths, change.path)
    old = "" if old_bytes is None else old_bytes.decode("utf-8", errors="replace")
    hunks = difflib.unified_diff(
        _diff_lines(old),
        _diff_lines(change.content or ""),
        fromfile="/dev/null" if old_bytes is None else f"a/{change.path}",
        tofile="/dev/null" if change.content is None else f"b/{change.path}",
    )
    return f"diff --git a/{change.path} b/{change.path}\n" + "".join(hunks)


def _diff_lines(text: str) -> list[str]:
    # Split on "\n" only (str.splitlines also splits on form feeds and other separators, which
    # would produce a diff that does not apply); a CRLF line keeps its "\r".
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    if not lines[-1]:
        lines.pop()
    else:
        # git's marker, so the diff still applies and shows the missing final newline.
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines
