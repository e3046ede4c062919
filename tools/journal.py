"""Durable run files: written so a crash never leaves half a record, read so damage is a message.

A JSON document (``applied.json``, ``relations.json``) is replaced whole: written to a temporary
file beside it, fsynced, then renamed over the old one, so a reader sees the old record or the new
one, never a mix. A JSON-lines log (``calls.jsonl``) is appended one whole line per ``write``; a
crash can still leave a partial last line, which the reader skips and counts instead of failing.

Nothing here follows a symbolic link inside ``.ae/`` (tools/paths.refuse_state_links): a run
folder or journal that is a link is refused, and files are opened with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import errno
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ValidationError

from tools.errors import AeError, ConfigurationError, InvalidArguments
from tools.paths import StateLinkRefused, refuse_state_links

M = TypeVar("M", bound=BaseModel)

_NEW_FILE_MODE = 0o666  # narrowed by the process umask, like any newly created file


class DamagedJournal(ConfigurationError):
    """A run file that exists but cannot be read back: truncated, edited, or not ae's."""


class ProjectStamp(BaseModel):
    """Which project wrote a journal: its resolved root then, and the root folder's identity.

    A journal's paths are relative and are read against the project it is read in, never against
    this root, so a copied project undoes its own files. The stamp only says whether the project
    reading it is the one that wrote it (the same folder, or the same folder moved: same device and
    inode; a copy has a new inode), which decides whether a place outside the project, such as a
    warehouse the original shares, is this project's to touch.
    """

    root: str = ""
    #: ``device:inode`` of the root folder; "" in a journal written by an older ae
    root_id: str = ""

    @classmethod
    def stamped(cls, root: Path, **fields: Any) -> Self:
        """A record of this kind with ``fields``, stamped with the project at ``root``."""
        return cls(root=str(root.resolve()), root_id=_folder_id(root), **fields)

    def written_in(self, root: Path) -> bool:
        """Whether the project at ``root`` is the one that wrote this journal."""
        return str(root.resolve()) == self.root or (bool(self.root_id) and self.root_id == _folder_id(root))


def _folder_id(root: Path) -> str:
    status = root.stat()
    return f"{status.st_dev}:{status.st_ino}"


def write_atomic(target: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``target`` with ``data`` via a temporary file and ``os.replace``.

    ``mode=None`` keeps the mode of the file being replaced, or gives a new file the umask default.
    """
    if mode is None and target.is_file():
        mode = target.stat().st_mode & 0o7777
    tmp = target.with_name(f".{target.name[:200]}.{uuid.uuid4().hex[:8]}.ae-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save(path: Path, record: BaseModel) -> None:
    """Write one JSON record atomically (creating its folder); a full or read-only disk is named."""
    refuse_state_links(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, record.model_dump_json().encode("utf-8"))
    except OSError as exc:
        raise environment_error(exc, path) from exc


def read_state_file(path: Path) -> bytes | None:
    """The bytes of ae's own file at ``path``, never through a link; None when there is none."""
    refuse_state_links(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # made a link since the check above
            raise StateLinkRefused(f"{path} is a symbolic link") from None
        raise environment_error(exc, path) from exc
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def load(path: Path, model: type[M], *, what_to_do: str) -> M | None:
    """The record at ``path``; None when there is none; ``DamagedJournal`` naming the file if unreadable."""
    data = read_state_file(path)
    if data is None:
        return None
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        reason = "it is empty" if not data.strip() else f"{first['msg'].lower()} ({len(data)} bytes)"
        raise DamagedJournal(f"{path} is damaged and cannot be read: {reason}", hint=what_to_do) from None


def append_line(path: Path, line: str) -> None:
    """Append one record as one ``write``; starts on a fresh line if a crash left a partial one."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    refuse_state_links(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, _NEW_FILE_MODE)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # never glue a new record onto a torn one
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise environment_error(exc, path) from exc


@dataclass
class LinesRead(Generic[M]):
    records: list[M] = field(default_factory=list)
    #: lines that did not parse (a torn last line after a crash, or damage), skipped
    skipped: int = 0


def read_lines(path: Path, model: type[M]) -> LinesRead[M]:
    """Every readable record of a JSON-lines file; unreadable lines are skipped and counted."""
    read: LinesRead[M] = LinesRead()
    data = read_state_file(path)
    if data is None:
        return read
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            read.records.append(model.model_validate_json(line))
        except ValidationError:
            read.skipped += 1
    return read


# errno -> what it means for ae's files, and what the person can do about it
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: ("the disk is full", "free some space"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space"),
    errno.EROFS: ("the file system is read-only", "run ae where the project folder is writable"),
    errno.EACCES: ("permission denied", "make it writable by this user (chmod/chown)"),
    errno.EPERM: ("the file is immutable or not ours", "check `lsattr` / `chattr -i` and its owner"),
    errno.EIO: ("an I/O error", "check the disk"),
}


def environment_error(exc: OSError, path: Path | None = None) -> ConfigurationError:
    """A clear error for an OS fault on ae's or the project's files (disk full, read-only, ...)."""
    where = exc.filename or path or "a file"
    meaning, fix = _ENVIRONMENT_ERRNOS.get(exc.errno or 0, (exc.strerror or str(exc), "check the file"))
    return ConfigurationError(f"cannot use {where}: {meaning}", hint=f"{fix}, then run the command again")


#: errnos that mean the path itself is unusable: the caller (the model) can pick another
_BAD_PATH_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.EILSEQ})


def os_fault(exc: OSError) -> AeError:
    """An OS error met by a tool: a bad path goes back to the model; anything else stops the run."""
    if exc.errno in _BAD_PATH_ERRNOS:
        name = str(exc.filename or "")
        shown = name if len(name) <= 80 else f"{name[:40]}...{name[-20:]} ({len(name)} characters)"
        return InvalidArguments(
            f"cannot use the path {shown}: {exc.strerror}", hint="use a shorter, plain path"
        )
    return environment_error(exc)
