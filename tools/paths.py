"""Which paths the file tools may touch: inside the dbt project, never the warehouse or our own data.

Every path a tool receives comes from the model, so it is checked here before anything opens it:
it must stay inside the project root (after ``..`` and after following symlinks), and it may not
name a DuckDB file (reading it would fight dbt for the lock; writing it would corrupt it), ``.ae/``
(our run data) or ``.git/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tools.errors import InvalidArguments, PathRefused

WAREHOUSE_SUFFIXES = (".duckdb", ".duckdb.wal")
#: ae's run data inside a project: runs, reports, checkpoints, logs
STATE_DIR = ".ae"
PROTECTED_DIRS = frozenset({STATE_DIR, ".git"})


def ensure_state_dir(project_root: Path) -> Path:
    """``<project>/.ae/``, created with a ``.gitignore`` of ``*`` so git leaves ae's run data out of the
    user's repository without ae editing the project's own ``.gitignore``."""
    state = project_root / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    return state


def is_warehouse_name(name: str) -> bool:
    return name.endswith(WAREHOUSE_SUFFIXES)


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
