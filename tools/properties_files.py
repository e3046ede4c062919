"""The project's own properties files (YAML under its model, seed, snapshot, test and analysis paths)
and the models they declare.

dbt's manifest has no node for a model declared only in YAML (it warns that the patch matches
nothing), so a declaration waiting for its SQL is read here, from the files themselves. A rename
reads the same files for every entry and test that names the column. Links are never followed: a
file reached through one may be anything on the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

YAML_SUFFIXES = (".yml", ".yaml")
#: folders of dbt_project.yml that hold properties files naming models
_PATH_KEYS = ("model-paths", "seed-paths", "snapshot-paths", "test-paths", "analysis-paths")
_DEFAULT_PATHS = {"model-paths": ["models"], "seed-paths": ["seeds"], "snapshot-paths": ["snapshots"]}

#: a file's text as the caller sees it (a changeset's pending text wins over the disk), None if absent
ReadText = Callable[[str], str | None]


def _folders(read: ReadText) -> list[str]:
    """dbt_project.yml's folders that hold properties files (dbt's defaults where it names none)."""
    try:
        loaded = yaml.safe_load(read("dbt_project.yml") or "")
    except yaml.YAMLError:
        loaded = None  # dbt refuses the project; nothing to read here
    project = loaded if isinstance(loaded, dict) else {}
    folders: list[str] = []
    for key in _PATH_KEYS:
        listed = project.get(key) or _DEFAULT_PATHS.get(key, [])
        folders += [str(f).strip("/") for f in listed] if isinstance(listed, list) else []
    return list(dict.fromkeys(folders))


def disk_reader(root: Path) -> ReadText:
    """Files as they are on disk under ``root`` (None: absent or not text)."""

    def read(path: str) -> str | None:
        try:
            return (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    return read


def properties_files(root: Path, read: ReadText, pending: Iterable[str] = ()) -> list[str]:
    """The project's own YAML files that may hold properties, relative to ``root``, sorted: those on
    disk reached through no link, and the ``pending`` paths (files a changeset creates) under the
    same folders. ``read`` gives dbt_project.yml's text (as the caller sees it)."""
    folders = _folders(read)
    found: set[str] = set()
    for folder in folders:
        top = root / folder
        if top.is_symlink() or not top.is_dir():
            continue
        for file in top.rglob("*"):
            if file.suffix in YAML_SUFFIXES and _plain_file(file, root):
                found.add(file.relative_to(root).as_posix())
    for path in pending:
        pure = PurePosixPath(path)
        if pure.suffix in YAML_SUFFIXES and any(pure.is_relative_to(folder) for folder in folders):
            found.add(path)
    return sorted(found)


def _plain_file(path: Path, root: Path) -> bool:
    """A regular file reached through no link, below the project root."""
    current = path
    while current != root:
        if current.is_symlink():
            return False
        current = current.parent
    return path.is_file()


def files_naming(files: Iterable[str], read: ReadText, words: Iterable[str]) -> dict[str, str]:
    """Path -> text of the ``files`` whose text names any of ``words`` (as a plain substring: a
    cheap first cut, the caller reads the YAML)."""
    wanted = [w for w in words if w]
    found: dict[str, str] = {}
    for path in files:
        text = read(path)
        if text is not None and any(word in text for word in wanted):
            found[path] = text
    return found


def model_entries(text: str) -> Iterator[Mapping[str, Any]]:
    """The ``models:`` entries of a properties file's text; none when it does not load (dbt parse
    reports a broken file; it is not one of the project's properties files then)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    models = data.get("models") if isinstance(data, dict) else None
    for entry in models if isinstance(models, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            yield entry


def declarations(files: Iterable[str], read: ReadText, name: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(file, entry) of every ``models:`` entry named ``name`` in ``files``."""
    return [
        (path, entry)
        for path, text in files_naming(files, read, [name]).items()
        for entry in model_entries(text)
        if entry["name"] == name
    ]
