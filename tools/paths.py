"""Which paths the file tools may touch: inside the dbt project, never the warehouse or our own data.

Every path a tool receives comes from the model, so it is checked here before anything opens it:
it must stay inside the project root (after ``..`` and after following symlinks), and it may not
name a DuckDB file (reading it would fight dbt for the lock; writing it would corrupt it), ``.ae/``
(our run data) or ``.git/``.

ae's own run data under ``.ae/`` is never reached through a symbolic link: a link there (planted,
or carried over by a copy) could make ae read, print or write a file anywhere (``refuse_state_links``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tools.errors import ConfigurationError, InvalidArguments, PathRefused

WAREHOUSE_SUFFIXES = (".duckdb", ".duckdb.wal")
#: ae's run data inside a project: runs, reports, checkpoints, logs
STATE_DIR = ".ae"
PROTECTED_DIRS = frozenset({STATE_DIR, ".git"})


class StateLinkRefused(ConfigurationError):
    """A symbolic link inside ``.ae/`` (or a ``.ae`` leading out of its project): ae does not follow it."""

    hint = (
        "ae never follows a link under .ae/ (a planted or copied link could point anywhere): "
        "remove the link, and restore the real folder or file if there was one"
    )


def refuse_state_links(path: Path) -> None:
    """Refuse ``path`` when it, or a folder between the project's ``.ae`` and it, is a symbolic link.

    ``.ae`` itself may be a link only to a folder inside its own project. A path with no ``.ae``
    among its parts (a run folder a library caller keeps elsewhere) is not checked. The link's
    target is never named: the message must not tell a reader where it points.
    """
    parts = path.parts
    if STATE_DIR not in parts:
        return
    at = len(parts) - 1 - parts[::-1].index(STATE_DIR)  # the innermost: a project may sit in a .ae
    project = Path(*parts[:at])
    state = project / STATE_DIR
    if state.is_symlink() and not state.resolve().is_relative_to(project.resolve()):
        raise StateLinkRefused(f"{state} is a symbolic link that leads out of the project {project}")
    current = state
    for part in parts[at + 1 :]:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except FileNotFoundError:
            return  # nothing further exists, so nothing further can be a link
        if stat.S_ISLNK(mode):
            raise StateLinkRefused(f"{current} is a symbolic link")


def ensure_state_dir(project_root: Path) -> Path:
    """``<project>/.ae/``, created with a ``.gitignore`` of ``*`` so git leaves ae's run data out of the
    user's repository without ae editing the project's own ``.gitignore``. A ``.ae`` that is a link
    out of the project is refused (StateLinkRefused)."""
    state = project_root / STATE_DIR
    refuse_state_links(state)
    state.mkdir(parents=True, exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    return state


def is_warehouse_name(name: str) -> bool:
    return name.endswith(WAREHOUSE_SUFFIXES)


def recorded_location(root: Path, path: Path) -> str:
    """How a journal records a place: relative (POSIX) when it is inside ``root``, else absolute,
    so a copy of the project finds its own file instead of the original's."""
    real, base = path.resolve(), root.resolve()
    return PurePosixPath(real.relative_to(base)).as_posix() if real.is_relative_to(base) else str(real)


def inside_project(root: Path, relpath: str) -> Path:
    """The real path of ``relpath`` as a journal recorded it: relative, normalised (no ``.``, ``..``
    or empty part), and inside ``root`` after following symlinks. PathRefused saying why not."""
    base = root.resolve()
    pure = PurePosixPath(relpath)
    if not relpath or "\0" in relpath or pure.is_absolute() or pure.as_posix() != relpath:
        raise PathRefused(f"{relpath!r} is not a plain path relative to the project")
    if any(part in {".", ".."} for part in relpath.split("/")):
        raise PathRefused(f"{relpath!r} climbs with '..' or '.'")
    real = (base / pure).resolve()
    if not real.is_relative_to(base):
        raise PathRefused(f"{relpath!r} goes through a symlink that leads outside the project {base}")
    return real


@dataclass(frozen=True)
class ProjectPaths:
    """The project root and the files no file tool may open.

    ``warehouse_files`` holds explicitly named warehouse files (e.g. a DuckDB file outside the
    usual naming); any ``*.duckdb`` / ``*.duckdb.wal`` is refused whether listed or not.
    """

    root: Path
    warehouse_files: frozenset[Path] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # Resolved once so every containment check compares real paths (tmp dirs are often symlinks).
        object.__setattr__(self, "root", Path(self.root).resolve())
        object.__setattr__(
            self, "warehouse_files", frozenset(Path(p).resolve() for p in self.warehouse_files)
        )

    @classmethod
    def for_project(cls, root: str | Path, warehouse_files: Iterable[str | Path] = ()) -> ProjectPaths:
        return cls(root=Path(root), warehouse_files=frozenset(Path(p) for p in warehouse_files))

    def resolve(self, relpath: str, *, must_exist: bool) -> Path:
        """The real path inside the root for ``relpath``, or ``PathRefused`` saying why not."""
        if not relpath or not relpath.strip():
            raise PathRefused("an empty path was given; name a file relative to the project root")
        if "\0" in relpath:
            raise PathRefused(f"path {relpath!r} contains a NUL byte")
        given = Path(relpath)
        candidate = given if given.is_absolute() else self.root / given
        # Lexical check first so a `..` escape is reported as such, not as a symlink problem.
        lexical = Path(os.path.normpath(candidate))
        if not lexical.is_relative_to(self.root):
            how = "is an absolute path" if given.is_absolute() else "uses '..' to climb"
            raise PathRefused(f"path {relpath!r} {how} outside the project root {self.root}")
        real = candidate.resolve()
        if not real.is_relative_to(self.root):
            raise PathRefused(
                f"path {relpath!r} goes through a symlink that points outside the project root (to {real})"
            )
        for checked in (lexical, real):
            self._refuse_protected(relpath, checked)
        if must_exist and not real.exists():
            raise InvalidArguments(
                f"no file or directory at {relpath!r}", hint="use list_files to see what exists"
            )
        return real

    def relative(self, path: Path) -> str:
        """``path`` (inside the root) as a relative POSIX string, the form changesets store."""
        return PurePosixPath(path.relative_to(self.root)).as_posix()

    def normalise(self, relpath: str) -> str:
        """The canonical relative form of a path the tools were given (checked by ``resolve``)."""
        return self.relative(self.resolve(relpath, must_exist=False))

    def _refuse_protected(self, relpath: str, path: Path) -> None:
        parts = path.relative_to(self.root).parts
        hidden = PROTECTED_DIRS.intersection(parts)
        if hidden:
            raise PathRefused(
                f"path {relpath!r} is inside {sorted(hidden)[0]}/ (ae's run data or the git repository), "
                "which file tools may not touch"
            )
        if is_warehouse_name(path.name) or path in self.warehouse_files:
            raise PathRefused(
                f"path {relpath!r} is the warehouse file; query it with the SQL tools, never as a file"
            )
