"""Durable run files: written so a crash never leaves half a record, read so damage is a message.

A JSON document (``applied.json``, ``relations.json``) is replaced whole: written to a temporary
file beside it, fsynced, then renamed over the old one, so a reader sees the old record or the new
one, never a mix. A JSON-lines log (``calls.jsonl``) is appended one whole line per ``write``; a
crash can still leave a partial last line, which the reader skips and counts instead of failing.
"""

from __future__ import annotations

import errno
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from tools.errors import AeError, ConfigurationError, InvalidArguments

M = TypeVar("M", bound=BaseModel)

_NEW_FILE_MODE = 0o666  # narrowed by the process umask, like any newly created file


class DamagedJournal(ConfigurationError):
    """A run file that exists but cannot be read back: truncated, edited, or not ae's."""


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, record.model_dump_json().encode("utf-8"))
    except OSError as exc:
        raise environment_error(exc, path) from exc


def load(path: Path, model: type[M], *, what_to_do: str) -> M | None:
    """The record at ``path``; None when there is none; ``DamagedJournal`` naming the file if unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, _NEW_FILE_MODE)
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
    if not path.exists():
        return read
    for line in path.read_bytes().split(b"\n"):
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
