"""Which files the SQL run by the engine's dbt may reach: the project, and what its profile names.

A model is SQL the agent may have written, and DuckDB's file functions (``read_text``,
``read_csv``, ``COPY``, ``ATTACH``) reach every file this user can: ``/proc/<ae's pid>/environ``
(ae's API key), the home folder, other projects. Filtering the child's environment
(child_env.py) does not help: any process of the same user can read another's environ.

So every DuckDB database dbt-duckdb opens is confined once dbt-duckdb has set it up (the profile's
extensions loaded, secrets created, databases attached, plugins configured): DuckDB's
``allowed_directories`` and ``allowed_paths``, then ``enable_external_access = false``. From then
on DuckDB refuses any other file, URL or extension load, and SQL can neither turn external access
back on nor change the allowed lists. DuckDB resolves symbolic links before it checks, so a link
inside the project does not lead out. Measured on DuckDB 2.0.1 (tests/test_trust_sandbox.py).

Allowed:

- the project folder's top-level folders and files, each by name, except what holds ae's state,
  the repository, warehouses or secrets: ``.ae/`` and ``.git/`` (tools/paths.py), other DuckDB
  files, ``profiles.yml`` (and a folder of the project ``--profiles-dir`` names), ``.env*``, and
  dbt's target and log folders (compiled code, logs, values of environment variables: dbt writes
  them from Python, SQL has no business there);
- what the profile names: ``attach:`` paths, ``external_root`` unless it is the project folder
  itself, the folders its ``settings`` name (extension, secret and temp directories;
  ``allowed_directories`` and ``allowed_paths`` add to the lists);
- DuckDB's own files (the database, its WAL, its temp folder), which DuckDB allows by itself.

Not allowed, so the profile has to name it: data outside the project (a symbolic link that leads
out of it included), remote URLs, extensions not loaded by the profile's ``extensions:``, and a
file a model creates at the project's top level (dbt-duckdb's ``external`` materialization writes
to ``external_root``, whose default is the project folder itself: set one).

The configuration is not locked (``lock_configuration``): dbt-duckdb SETs the profile's
``settings`` on every cursor it opens, which a locked configuration refuses, and the settings that
matter here are fixed by ``enable_external_access = false`` already. DuckDB refuses to change
``temp_directory`` too once confined, so a profile's is applied to the database before confining
it, and left out of the per-cursor SETs with the confinement's own settings.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.paths import PROTECTED_DIRS, is_warehouse_name

#: top-level names no SQL may read: ae's state and the repository (as for the file tools), the
#: profile's credentials, dbt's generated output (its compiled SQL and logs keep the secrets a run rendered)
_EXCLUDED_NAMES = frozenset({*PROTECTED_DIRS, "profiles.yml", "target", "logs"})
_EXCLUDED_PREFIXES = (".env",)
#: profile settings naming folders DuckDB reads or writes
_FOLDER_SETTINGS = ("extension_directory", "secret_directory", "temp_directory")
#: profile settings DuckDB refuses to SET once external access is off: applied once, beforehand
_SET_BEFORE_CONFINING = ("temp_directory",)
_LIST_SETTINGS = ("allowed_directories", "allowed_paths")
#: MotherDuck names no local file
_NOT_A_PATH = ("md:", "motherduck:", ":memory:")


class ExternalAccessRequested(Exception):
    """The profile's ``settings`` ask DuckDB for unconfined file access, which ae does not grant."""


@dataclass(frozen=True)
class Allowed:
    """What DuckDB may open: folders (with everything under them) and single files."""

    directories: tuple[str, ...]
    paths: tuple[str, ...]


def _folder(path: str) -> str:
    """DuckDB matches allowed directories as prefixes: a trailing slash keeps ``/p/data`` from
    also allowing ``/p/data-private``."""
    return path.rstrip("/") + "/"


def _local(value: object, project_dir: Path) -> str | None:
    """A profile path as DuckDB sees it: relative to the project (dbt's working directory) and
    through symbolic links; a URL as it is; None for what names no file."""
    text = str(value or "")
    if not text or text.startswith(_NOT_A_PATH):
        return None
    if "://" in text:
        return text
    return str((project_dir / Path(text).expanduser()).resolve())


def project_entries(project_dir: Path, withheld: Iterable[Path] = ()) -> Allowed:
    """The project's top-level folders and files SQL may read (module docstring).

    Links are left out: DuckDB checks the file a link leads to, which is allowed only if it lies
    in an allowed entry itself. ``withheld`` are folders left out wherever they are: dbt's target
    and log folders under other names, the folder holding the profile.
    """
    root = project_dir.resolve()
    skipped = {Path(path).resolve() for path in withheld}
    directories: list[str] = []
    paths: list[str] = []
    for entry in os.scandir(root):
        name = entry.name
        if name in _EXCLUDED_NAMES or name.startswith(_EXCLUDED_PREFIXES) or root / name in skipped:
            continue
        if entry.is_dir(follow_symlinks=False):
            directories.append(_folder(str(root / name)))
        elif entry.is_file(follow_symlinks=False) and not is_warehouse_name(name):
            paths.append(str(root / name))
    return Allowed(tuple(sorted(directories)), tuple(sorted(paths)))


def profile_named(creds: Any, project_dir: Path) -> Allowed:
    """What a dbt-duckdb profile (its rendered credentials) names: attachments, external root,
    the folders and lists of its settings."""
    directories: list[str] = []
    paths: list[str] = []
    for attachment in creds.attach or []:
        path = _local(attachment.path, project_dir)
        if path is not None:
            paths += [path] if "://" in path else [path, f"{path}.wal"]
    external_root = _local(creds.external_root, project_dir)
    if external_root is not None and Path(external_root) != project_dir.resolve():
        # the project folder itself (dbt-duckdb's default) would open .ae/, profiles.yml, ...
        directories.append(_folder(external_root))
    settings = creds.settings or {}
    for key in _FOLDER_SETTINGS:
        folder = _local(settings.get(key), project_dir)
        if folder is not None:
            directories.append(_folder(folder))
    for key, bucket in zip(_LIST_SETTINGS, (directories, paths), strict=True):
        listed = settings.get(key) or []
        for item in [listed] if isinstance(listed, str) else listed:
            path = _local(item, project_dir)
            if path is not None:
                bucket.append(_folder(path) if bucket is directories else path)
    return Allowed(tuple(directories), tuple(paths))


def confine(conn: Any, allowed: Allowed) -> None:
    """Limit ``conn``'s database to ``allowed``; irreversible from SQL (module docstring)."""
    conn.execute("SET allowed_directories = ?", [list(allowed.directories)])
    conn.execute("SET allowed_paths = ?", [list(allowed.paths)])
    conn.execute("SET enable_external_access = false")


def _external_access_on(conn: Any) -> bool:
    row = conn.execute("SELECT current_setting('enable_external_access')").fetchone()
    return bool(row and row[0])


def _settings_before_confining(creds: Any, conn: Any) -> None:
    """Apply the profile's settings DuckDB refuses once confined; refuse a profile asking for
    external access."""
    settings = creds.settings or {}
    asked = settings.get("enable_external_access")
    if asked is not None and str(asked).strip().lower() not in {"false", "0", "no", "off"}:
        raise ExternalAccessRequested(
            "the profile's settings turn on DuckDB's enable_external_access; ae keeps it off so that "
            "SQL reaches only the project and what the profile names. Remove that setting, and list "
            "folders outside the project under settings.allowed_directories instead"
        )
    for key in _SET_BEFORE_CONFINING:
        if key in settings:
            conn.execute(f"SET {key} = ?", [str(settings[key])])


def _per_cursor(creds: Any, cursor: Any) -> Any:
    """``creds`` for dbt-duckdb's per-cursor SETs: on a confined database, without the settings
    DuckDB would refuse (applied once already, or part of the confinement). A copy: dbt-duckdb
    compares credentials to decide whether to reopen the database."""
    settings = creds.settings or {}
    fixed = {*_SET_BEFORE_CONFINING, *_LIST_SETTINGS, "enable_external_access"}
    if not fixed & set(settings) or _external_access_on(cursor):
        return creds
    trimmed = copy.copy(creds)
    trimmed.settings = {key: value for key, value in settings.items() if key not in fixed}
    return trimmed


def confine_duckdb(project_dir: Path, withheld: Iterable[Path]) -> Callable[[], None]:
    """Confine every database dbt-duckdb sets up until the returned function undoes it.

    dbt-duckdb opens its database in ``Environment.initialize_db`` and prepares each cursor in
    ``Environment.initialize_cursor`` (classmethods every local and MotherDuck environment
    inherits); both are wrapped for one invocation, as ``duckdb.connect`` is for a read-only one
    (tools/engine/child.py). A database already opened without external access (that read-only
    open) stays as it is: stricter than this. Without dbt-duckdb there is nothing to confine.
    """
    try:
        from dbt.adapters.duckdb.environments import Environment
    except ImportError:
        return lambda: None
    real_db = Environment.__dict__["initialize_db"]
    real_cursor = Environment.__dict__["initialize_cursor"]
    withheld = tuple(withheld)

    def initialize_db(cls: type, creds: Any, plugins: Any = None) -> Any:
        conn = real_db.__func__(cls, creds, plugins)
        if not _external_access_on(conn):
            return conn
        _settings_before_confining(creds, conn)
        named = profile_named(creds, project_dir)
        in_project = project_entries(project_dir, withheld)
        confine(
            conn,
            Allowed(
                directories=(*in_project.directories, *named.directories),
                paths=(*in_project.paths, *named.paths),
            ),
        )
        return conn

    def initialize_cursor(cls: type, creds: Any, cursor: Any, *args: Any, **kwargs: Any) -> Any:
        return real_cursor.__func__(cls, _per_cursor(creds, cursor), cursor, *args, **kwargs)

    Environment.initialize_db = classmethod(initialize_db)  # type: ignore[method-assign, assignment]
    Environment.initialize_cursor = classmethod(initialize_cursor)  # type: ignore[method-assign, assignment]

    def restore() -> None:
        Environment.initialize_db = real_db  # type: ignore[method-assign]
        Environment.initialize_cursor = real_cursor  # type: ignore[method-assign]

    return restore
