"""The HTTP server's bearer token when the user gives none: made once, kept private, shown once.

HTTP always needs a token, loopback included: any local user can reach 127.0.0.1, and the server
runs dbt (a project's code) as the user who started it. With neither --token nor AE_MCP_TOKEN, the
first start generates one, prints it once on stderr and keeps it in ``$XDG_STATE_HOME/ae/mcp-token``
(by default ``~/.local/state/ae/mcp-token``): mode 0600, outside every project, so that a client
configured once keeps working across restarts. A token file that is a link, another user's, or
readable by others is refused rather than used: someone else may know the token.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from tools.errors import ConfigurationError
from tools.logs import register_secret

TOKEN_FILE = "mcp-token"


def token_path() -> Path:
    """Where a generated token is kept: the user's state folder, beside the queue's store."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "ae" / TOKEN_FILE


def _read_private(path: Path) -> str:
    info = path.lstat()
    problem = (
        "is not a plain file (a link or a folder)"
        if not stat.S_ISREG(info.st_mode)
        else f"belongs to another user (uid {info.st_uid})"
        if info.st_uid != os.getuid()
        else f"is readable or writable by others (mode {stat.S_IMODE(info.st_mode):o})"
        if info.st_mode & 0o077
        else None
    )
    token = path.read_text(encoding="utf-8").strip() if problem is None else ""
    if problem is not None or not token:
        raise ConfigurationError(
            f"the MCP token file {path} {problem or 'is empty'}, so the token may not be secret",
            hint="delete it to have a new token made at the next start, or pass --token",
        )
    return token


def server_token(notify: Callable[[str], None]) -> str:
    """The kept token (made and shown once when there is none yet); ``notify`` tells the user."""
    path = token_path()
    if path.exists() or path.is_symlink():
        token = _read_private(path)
        notify(f"ae mcp: HTTP clients must send 'Authorization: Bearer <token>', the token kept in {path}")
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:  # another server made it just now: use theirs
            return server_token(notify)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        notify(
            "ae mcp: made a bearer token for HTTP clients, shown only this once and kept in "
            f"{path}:\n  Authorization: Bearer {token}"
        )
    register_secret(token)
    return token
