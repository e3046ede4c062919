"""Unix sockets only this user can reach, for the processes ae keeps warm between commands.

Whoever can connect to such a socket runs dbt (tools/engine/process.py) or ae (agent/run_server.py)
as this user, so the sockets live in a folder only this user can enter (``socket_folder``).
Standard library only: the ``ae`` launcher imports it before anything else.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: variables that differ between shells without changing what a warm process would do
ENV_NOT_KEYED = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})
#: the socket folder's name in the user's runtime or cache folder
SOCKET_FOLDER = "ae-engines"
#: a Unix socket's path must fit in sockaddr_un.sun_path (108 bytes on Linux, with its NUL)
_MAX_SOCKET_PATH = 107


class SocketFolderRefused(Exception):
    """No folder private to this user for the shared engine's sockets (the engine uses a private
    child instead); the message names the folder and what is wrong with it."""


def _not_private(folder: Path) -> str | None:
    """Why ``folder`` is not private to this user, or None when it is.

    Private: a real folder (a symbolic link is refused, not followed), owned by this user, that no
    group or other user may read, write or enter. Checked on an O_NOFOLLOW descriptor of the folder
    itself, so nothing can swap the folder between the check and the answer.
    """
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return "it does not exist"
    except OSError:
        kind = "a symbolic link" if folder.is_symlink() else "not a folder"
        return f"it is {kind}"
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    if info.st_uid != os.getuid():
        return f"it belongs to user id {info.st_uid}, not to this user ({os.getuid()})"
    if info.st_mode & 0o077:
        return f"other users may reach it (mode {stat.filemode(info.st_mode)})"
    return None


def _runtime_dir() -> Path | None:
    """``$XDG_RUNTIME_DIR`` when set and private (as the XDG spec requires), else None."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime or not os.path.isabs(runtime) or _not_private(Path(runtime)) is not None:
        return None
    return Path(runtime)


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()


def _private_folder(folder: Path) -> Path:
    """``folder``, made if missing; SocketFolderRefused unless it is private (``_not_private``)."""
    try:
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass  # checked below, like one we just made
    except OSError as exc:
        raise SocketFolderRefused(f"cannot create {folder}: {exc.strerror or exc}") from None
    reason = _not_private(folder)
    if reason is not None:
        raise SocketFolderRefused(f"{folder} is not private to this user: {reason}")
    return folder


def _fits(folder: Path) -> bool:
    return len(os.fsencode(folder / f"{'0' * 24}.sock")) <= _MAX_SOCKET_PATH


def _recorded_temp_folder(private: Path) -> Path:
    """A private folder with a short path, for when ``private`` is too deep for a socket path.

    Made by ``mkdtemp`` (a random name, created mode 700 in one step, so no one can make it first)
    and its path recorded in ``private``, where only this user writes, for the next processes; a
    recorded folder that is gone or no longer private (the temp cleaner removed it and another user
    took the name) is replaced.
    """
    record = private / "temp-folder"
    with open(private / "temp-folder.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(OSError, UnicodeDecodeError):
            recorded = Path(record.read_text(encoding="utf-8").strip())
            if recorded.is_absolute() and _not_private(recorded) is None:
                return recorded
        folder = Path(tempfile.mkdtemp(prefix=f"{SOCKET_FOLDER}-"))
        staged = record.with_suffix(".new")
        staged.write_text(str(folder), encoding="utf-8")
        os.replace(staged, record)
        return folder


def socket_folder() -> Path:
    """A folder only this user can enter: whoever can reach the socket can run dbt as us.

    ``$XDG_RUNTIME_DIR/ae-engines`` when the runtime folder is set and private, else
    ``~/.cache/ae-engines`` (``$XDG_CACHE_HOME``): both under folders only this user writes, so no
    other user can create the folder first or plant a link in its place, as they could in the
    shared temporary folder. When that path is too deep for a Unix socket (108 bytes), a private
    temporary folder recorded there (``_recorded_temp_folder``). SocketFolderRefused when a folder
    is not private (``_not_private``) or every candidate is too deep.
    """
    folder = _private_folder((_runtime_dir() or _cache_dir()) / SOCKET_FOLDER)
    if not _fits(folder):
        folder = _recorded_temp_folder(folder)
    if not _fits(folder):
        raise SocketFolderRefused(f"{folder} is too deep for a Unix socket path")
    return folder


@contextlib.contextmanager
def spawn_lock(socket_path: Path) -> Iterator[None]:
    """Serialises starting and stopping a server for one socket across processes."""
    with open(socket_path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def connect(path: Path) -> socket.socket | None:
    """A connection to the server listening at ``path``; None when none listens there."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    return conn


def listen(path: Path, backlog: int) -> tuple[socket.socket, int]:
    """A socket listening at ``path`` that only this user may connect to, and the socket file's
    inode (whose socket it is, when the server leaves: ``stop_listening``)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)  # the socket is ours alone
    try:
        listener.bind(str(path))
    finally:
        os.umask(previous)
    listener.listen(backlog)
    return listener, path.stat().st_ino


def stop_listening(listener: socket.socket, path: Path, inode: int) -> None:
    """Close ``listener`` and remove its socket file, unless another server's has replaced it;
    under the spawn lock, so no client starts a new server while this one leaves."""
    with spawn_lock(path):
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino == inode:
                path.unlink()
