"""What ``dbt deps`` installed during a run, recorded so that a rollback or an undo takes it back.

``dbt deps`` writes ``package-lock.yml`` (created, or rewritten when ``packages.yml`` changed) and
re-creates the packages folder (``packages-install-path``, ``dbt_packages`` by default) with one
entry per package: a link to a local package, a copied folder otherwise. The record holds the lock
file as it was (a ``PriorFile``, so a lock changed since is reverted line by line or kept) and the
folder's entries before the run's first ``deps``; once ``deps`` returns, the entries it added. A
rollback removes those entries (a link is unlinked, never followed) and the folder when the run made
it. A record without ``added`` is a ``deps`` that never returned: every entry not there before goes.

The record is read back as untrusted: its folder must be a plain path inside the project (not
``.ae``, ``.git`` or the warehouse), and each entry a plain name in it.
"""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.changeset import PriorFile, Restore
from tools.errors import PathRefused
from tools.journal import ProjectStamp
from tools.paths import ProjectPaths, inside_project

LOCK_FILE = "package-lock.yml"
DEFAULT_INSTALL_DIR = "dbt_packages"


class InstalledPackages(ProjectStamp):
    #: the packages folder relative to the project; "" when it is outside (not ae's to clean)
    install_dir: str = ""
    #: whether the folder existed before the run's first ``deps``
    dir_existed: bool = True
    #: its entries then
    before: list[str]
    #: the entries ``deps`` added; None while it runs (or when it never returned)
    added: list[str] | None = None
    lock: PriorFile


def install_dir_of(root: Path) -> str:
    """The project's packages folder as dbt_project.yml sets it, relative; "" when it is not a plain
    folder inside the project (an absolute path, one that climbs out, a value that is not text)."""
    try:
        loaded = yaml.safe_load((root / "dbt_project.yml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        loaded = None
    configured = loaded.get("packages-install-path") if isinstance(loaded, dict) else None
    folder = DEFAULT_INSTALL_DIR if configured is None else str(configured).rstrip("/")
    try:
        inside_project(root, folder)
        ProjectPaths.for_project(root).resolve(folder, must_exist=False)  # not .ae, .git, a warehouse
    except PathRefused:
        return ""
    return folder


def _entries(folder: Path | None) -> set[str]:
    return {entry.name for entry in folder.iterdir()} if folder is not None and folder.is_dir() else set()


def before_deps(root: Path) -> InstalledPackages:
    """The record written before the run's first ``deps`` (write-ahead: a crash inside deps still
    leaves what to take back: the lock file's ``after`` is unknown, so it is restored whatever it holds)."""
    folder = install_dir_of(root)
    place = root / folder if folder else None
    return InstalledPackages.stamped(
        root,
        install_dir=folder,
        dir_existed=place is not None and place.is_dir(),
        before=sorted(_entries(place)),
        lock=PriorFile.of_bytes(LOCK_FILE, root / LOCK_FILE, None).model_copy(update={"after_known": False}),
    )


def after_deps(record: InstalledPackages, root: Path) -> InstalledPackages:
    """``record`` completed once ``deps`` returned: the entries it added and the lock file it left."""
    place = root / record.install_dir if record.install_dir else None
    lock = root / LOCK_FILE
    return record.model_copy(
        update={
            "added": sorted(_entries(place) - set(record.before)),
            "lock": record.lock.written(lock.read_bytes() if lock.is_file() else None),
        }
    )


@dataclass(frozen=True)
class PackagesUndo:
    """A checked record: where its entries and lock file are in this project."""

    record: InstalledPackages
    folder: Path | None
    lock: Path

    @classmethod
    def checked(cls, record: InstalledPackages, paths: ProjectPaths) -> PackagesUndo:
        """PathRefused saying which entry is not this project's to touch."""
        if record.lock.path != LOCK_FILE:
            raise PathRefused(f"{record.lock.path!r} is not {LOCK_FILE}")
        folder = None
        if record.install_dir:
            inside_project(paths.root, record.install_dir)
            folder = paths.resolve(record.install_dir, must_exist=False)
        for name in [*record.before, *(record.added or [])]:
            if not name or "/" in name or "\0" in name or name in {".", ".."}:
                raise PathRefused(f"{name!r} is not the name of an entry of {record.install_dir}")
        return cls(record, folder, paths.resolve(LOCK_FILE, must_exist=False))

    def removed(self) -> list[str]:
        """The entries a rollback removes: what ``deps`` added (all new ones when it never returned)."""
        if self.folder is None:
            return []
        now = _entries(self.folder)
        added = self.record.added if self.record.added is not None else now - set(self.record.before)
        return sorted(now.intersection(added))

    def take_back(self) -> tuple[list[str], Restore]:
        """Remove the added entries (and the folder the run made, once empty), put the lock file back;
        returns the entries removed and what became of the lock file."""
        gone = self.removed()
        if self.folder is not None:
            for name in gone:
                entry = self.folder / name
                if stat.S_ISDIR(entry.lstat().st_mode):
                    shutil.rmtree(entry)  # a copied package: rmtree unlinks links inside, never follows
                else:
                    entry.unlink()  # a link to a local package: the package itself stays
            made = not self.record.dir_existed and self.folder.is_dir()
            if made and not any(self.folder.iterdir()):
                self.folder.rmdir()
        return gone, self.record.lock.restore(self.lock)
