"""The packages a project declares, read as an offline machine must see them.

dbt reads ``packages:`` from ``packages.yml``, or from ``dependencies.yml`` when there is no
``packages.yml``. Hub (``package: dbt-labs/dbt_utils``), git, tarball and private entries are
downloaded by ``dbt deps``; only ``local:`` entries install without the network, which this machine
does not have. And ``dbt deps`` deletes the whole install folder (``dbt_packages/``) before it
installs, so a hub package installed earlier is lost by any later ``dbt deps`` run here.

This module says, from the files alone (no dbt), which entries need the network and which of those
are installed now, in one message that names each package and the command that replaces it with a
local copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from tools.errors import ConfigurationError

#: the files dbt reads packages from, in the order it prefers them
PACKAGE_FILES = ("packages.yml", "dependencies.yml")
DEFAULT_INSTALL_PATH = "dbt_packages"
EntryKind = Literal["hub", "git", "tarball", "private", "local"]


@dataclass(frozen=True)
class PackageEntry:
    """One item of a ``packages:`` list."""

    #: the file that declares it (packages.yml or dependencies.yml)
    file: str
    kind: EntryKind
    #: what the entry names: dbt-labs/dbt_utils, a git URL, a tarball URL, a local path
    source: str
    #: the package's dbt project name as dbt installs it (dbt_packages/<name>)
    name: str

    @property
    def needs_network(self) -> bool:
        return self.kind != "local"


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # dbt reports an unreadable file itself, with its line


def _name_of(kind: EntryKind, item: dict[str, Any], source: str) -> str:
    """dbt_utils for dbt-labs/dbt_utils, https://.../dbt-utils.git and a tarball named dbt_utils."""
    if kind == "tarball" and isinstance(item.get("name"), str):
        return str(item["name"])
    last = source.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    return last.replace("-", "_") if kind != "local" else last


def entry_of(item: Any, file: str) -> PackageEntry | None:
    """One item of a ``packages:`` list as an entry (None: not one dbt would install)."""
    if not isinstance(item, dict):
        return None
    key = next((k for k in ("local", "package", "git", "tarball", "private") if k in item), None)
    source = item.get(key) if key else None
    if key is None or not isinstance(source, str) or not source.strip():
        return None
    kind: EntryKind = "hub" if key == "package" else key  # type: ignore[assignment]
    return PackageEntry(file=file, kind=kind, source=source, name=_name_of(kind, item, source))


def packages_file(root: Path) -> str:
    """The file whose ``packages:`` dbt installs: packages.yml when it exists, else dependencies.yml
    when it has a ``packages:`` list, else packages.yml (where a new one goes)."""
    if (root / "packages.yml").is_file():
        return "packages.yml"
    data = _load(root / "dependencies.yml")
    return "dependencies.yml" if isinstance(data, dict) and data.get("packages") else "packages.yml"


def entries_in(text: str | None, file: str) -> list[PackageEntry]:
    """The entries of a ``packages:`` list in ``text`` (the file's content); what is not one is left out."""
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return []
    items = data.get("packages") if isinstance(data, dict) else None
    found = [entry_of(item, file) for item in items] if isinstance(items, list) else []
    return [entry for entry in found if entry is not None]


def declared_packages(root: Path) -> list[PackageEntry]:
    file = packages_file(root)
    path = root / file
    return entries_in(path.read_text(encoding="utf-8"), file) if path.is_file() else []


def install_folder(root: Path) -> Path:
    """Where ``dbt deps`` installs (dbt_project.yml's ``packages-install-path``, inside the project)."""
    project = _load(root / "dbt_project.yml")
    given = project.get("packages-install-path") if isinstance(project, dict) else None
    folder = (root / given).resolve() if isinstance(given, str) and given.strip() else None
    inside = folder is not None and folder.is_relative_to(root.resolve())
    return folder if folder is not None and inside else root / DEFAULT_INSTALL_PATH


def is_installed(root: Path, entry: PackageEntry) -> bool:
    return (install_folder(root) / entry.name / "dbt_project.yml").is_file()


def network_entries(entries: list[PackageEntry]) -> list[PackageEntry]:
    return [entry for entry in entries if entry.needs_network]


def offline_problem(
    root: Path, entries: list[PackageEntry], local_now: Mapping[str, str] | None = None
) -> str | None:
    """Why ``dbt deps`` cannot install ``entries`` here (None: they are all local), in one line:
    each package that needs the network, which of them are installed now (deps would delete them),
    and the one /dbt-package command that replaces them with local copies (with ``local_now``, the
    packages already being made local, name -> path, in it too)."""
    remote = network_entries(entries)
    if not remote:
        return None
    lost = [e for e in remote if is_installed(root, e)]
    missing = [e for e in remote if e not in lost]
    parts = []
    if missing:
        named = ", ".join(f"{e.name} ({e.source} in {e.file})" for e in missing)
        parts.append(f"{named} must be downloaded, and this machine is offline")
    if lost:
        named = ", ".join(f"{e.name} (installed now, from {e.source})" for e in lost)
        parts.append(
            f"dbt deps deletes {install_folder(root).name}/ before it installs, so {named} would be "
            "lost: it cannot be downloaded again here"
        )
    wanted = {**(local_now or {}), **{e.name: f"path/to/{e.name}" for e in remote}}
    command = f"/dbt-package --name {','.join(wanted)} --local {','.join(wanted.values())}"
    return "; ".join(parts) + f"; replace {'it' if len(remote) == 1 else 'them'} with a local copy: {command}"


def require_installed(root: Path) -> None:
    """Refuse, in one message, a project whose declared packages that need the network are not
    installed: dbt would stop at its parse with "run dbt deps", which cannot work offline."""
    missing = [e for e in network_entries(declared_packages(root)) if not is_installed(root, e)]
    problem = offline_problem(root, missing)
    if problem is not None:
        raise ConfigurationError(f"the project needs packages that are not installed: {problem}")
