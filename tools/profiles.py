"""Finding a dbt project's profile exactly as dbt does, and reading the target it would use.

dbt looks for ``profiles.yml`` in ``--profiles-dir``, else ``$DBT_PROFILES_DIR``, else the current
directory if it holds one, else ``~/.dbt/`` (dbt.cli.resolvers.default_profiles_dir); the first
source that is *set* wins, with no fallback. ae runs dbt with the working directory at the
project, so "current directory" is the project folder here. The profile name comes from
``--profile``, else ``$DBT_PROFILE``, else ``dbt_project.yml``; the target from ``--target``, else
``$DBT_TARGET``, else the profile's ``target:``, else ``default`` (dbt.config.profile).

Everything that needs the profile (the engine's arguments, the warehouse path, ``ae doctor``) goes
through ``find_profiles`` / ``read_target`` so that ae and dbt never disagree about it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from tools.errors import ConfigurationError, UnknownTarget

PROFILES_FILE = "profiles.yml"
_ENV_VAR = re.compile(r"""\{\{\s*env_var\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]*)['"]\s*)?\)\s*\}\}""")
#: DuckDB paths that name no local file: in-memory and MotherDuck databases
_NOT_A_FILE = (":memory:", "md:", "motherduck:")
_HINT = "create it, or say where it is with --profiles-dir (or DBT_PROFILES_DIR)"


@dataclass(frozen=True)
class ProfilesLocation:
    """Where ``profiles.yml`` was found, by which rule, and every file looked at before it."""

    file: Path
    source: str  # "--profiles-dir", "DBT_PROFILES_DIR", "the project folder" or "~/.dbt"
    looked_at: tuple[Path, ...]

    @property
    def directory(self) -> Path:
        return self.file.parent

    def describe(self) -> str:
        """``/home/me/.dbt/profiles.yml (via ~/.dbt; looked at /p/profiles.yml first)``."""
        skipped = [str(p) for p in self.looked_at if p != self.file]
        first = f"; looked at {', '.join(skipped)} first" if skipped else ""
        return f"{self.file} (via {self.source}{first})"


class ProfileTarget(BaseModel):
    profile: str
    target: str
    type: str
    #: the DuckDB file, resolved against the project dir (dbt runs with cwd there) and through
    #: symlinks; None for other warehouses and for in-memory or MotherDuck DuckDB
    path: Path | None = None
    schema_name: str | None = None
    #: ``database`` (``dbname`` for Postgres, ``project`` for BigQuery) as the profile gives it
    database: str | None = None
    #: the server: ``host`` (``account`` for Snowflake) and ``port``; None for DuckDB
    host: str | None = None
    port: str | None = None
    targets: list[str] = []
    #: the profiles.yml this came from
    profiles_file: Path | None = None


@dataclass(frozen=True)
class Profile:
    """One profile of a profiles.yml: every target it defines, and the one dbt would use."""

    name: str
    chosen: str
    targets: dict[str, ProfileTarget]

    @property
    def target(self) -> ProfileTarget:
        return self.targets[self.chosen]


def _candidates(project_dir: Path, profiles_dir: Path | None) -> list[tuple[str, Path]]:
    """dbt's search order; an explicit flag or DBT_PROFILES_DIR is the only place dbt looks."""
    if profiles_dir is not None:
        return [("--profiles-dir", profiles_dir.expanduser().resolve())]
    env_dir = os.environ.get("DBT_PROFILES_DIR")
    if env_dir:
        return [("DBT_PROFILES_DIR", Path(env_dir).expanduser().resolve())]
    return [("the project folder", project_dir.resolve()), ("~/.dbt", Path.home() / ".dbt")]


def find_profiles(project_dir: Path, profiles_dir: Path | None = None) -> ProfilesLocation:
    """The ``profiles.yml`` dbt would read for this project; ConfigurationError naming every file tried."""
    looked_at: list[Path] = []
    for source, directory in _candidates(project_dir, profiles_dir):
        file = directory / PROFILES_FILE
        looked_at.append(file)
        if file.is_file():
            return ProfilesLocation(file=file, source=source, looked_at=tuple(looked_at))
    raise ConfigurationError(
        f"no {PROFILES_FILE} found; looked at, in order: {', '.join(map(str, looked_at))}", hint=_HINT
    )


def _render_env(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return _ENV_VAR.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        # only the position: yaml's own message quotes the offending line, which may hold a password
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigurationError(f"{path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must be a mapping, got {type(data).__name__}")
    return data


def profile_name(project_dir: Path, profile: str | None = None) -> str:
    """The profile dbt would load: ``--profile``, then DBT_PROFILE, then dbt_project.yml's ``profile:``."""
    chosen = profile or os.environ.get("DBT_PROFILE")
    if chosen:
        return chosen
    project_file = project_dir / "dbt_project.yml"
    if not project_file.is_file():
        raise ConfigurationError(
            f"{project_dir} has no dbt_project.yml", hint="point --project at a dbt project"
        )
    name = _render_env(_load_yaml(project_file).get("profile"))
    if not name:
        raise ConfigurationError(
            f"{project_file} names no profile", hint="add `profile: <name>` to it or pass --profile"
        )
    return str(name)


def _line_of(path: Path, keys: tuple[str, ...]) -> str:
    """`` (line N)`` of the value at ``keys`` in a YAML file, or "" when it cannot be found."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return ""
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return ""
        node = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
    return f" (line {node.start_mark.line + 1})" if node is not None else ""


def _mapping(value: Any, path: Path, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    """``value`` when it is a mapping; else a ConfigurationError naming the file, line and key."""
    if isinstance(value, dict):
        return value
    # the type only, never the value: it may be a password written in the wrong place
    raise ConfigurationError(
        f"{path}{_line_of(path, keys)}: {'.'.join(keys)} must be a mapping of {what}, "
        f"got {type(value).__name__}",
        hint="see https://docs.getdbt.com/docs/core/connect-data-platform/profiles.yml",
    )


def _first(output: dict[str, Any], *keys: str) -> str | None:
    """The first of ``keys`` the output sets, as text (adapters name the same thing differently)."""
    return next((str(output[k]) for k in keys if output.get(k) not in (None, "")), None)


def _profile_target(
    project_dir: Path, output: dict[str, Any], *, profile: str, name: str, targets: list[str], file: Path
) -> ProfileTarget:
    output = {k: _render_env(v) for k, v in output.items()}
    path = None
    raw_path = str(output.get("path") or "")
    if output.get("type") == "duckdb" and raw_path and not raw_path.startswith(_NOT_A_FILE):
        # resolved through symlinks too: a link to the prod file is the prod file
        path = (project_dir / Path(raw_path).expanduser()).resolve()
    return ProfileTarget(
        profile=profile,
        target=name,
        type=str(output.get("type")),
        path=path,
        schema_name=_first(output, "schema", "dataset"),
        database=_first(output, "database", "dbname", "project"),
        host=_first(output, "host", "account"),
        port=_first(output, "port"),
        targets=targets,
        profiles_file=file,
    )


def read_profile(
    project_dir: Path,
    target: str | None = None,
    profiles_dir: Path | None = None,
    *,
    profile: str | None = None,
) -> Profile:
    """Every target of the profile dbt would use for this project, and the one it would pick.

    ``target``, ``profiles_dir`` and ``profile`` are the ``--target``, ``--profiles-dir`` and
    ``--profile`` overrides; None means dbt's own defaults (module docstring). env_var() defaults
    are honoured. A profile of the wrong shape is a ConfigurationError naming the file and line.
    """
    name = profile_name(project_dir, profile)
    location = find_profiles(project_dir, profiles_dir)
    file = location.file
    profiles = _load_yaml(file)
    if name not in profiles:
        known = ", ".join(k for k in profiles if k != "config") or "none"
        raise ConfigurationError(
            f"profile {name!r} is not in {location.describe()}; profiles there: {known}",
            hint="add it, pass --profile, or point --profiles-dir at the right profiles.yml",
        )
    entry = _mapping(profiles[name], file, (name,), "settings (target, outputs)")
    outputs = _mapping(entry.get("outputs") or {}, file, (name, "outputs"), "targets")
    chosen = str(target or os.environ.get("DBT_TARGET") or _render_env(entry.get("target")) or "default")
    if chosen not in outputs:
        default = _render_env(entry.get("target")) or next(iter(outputs), "")
        raise UnknownTarget(
            f"target {chosen!r} is not in profile {name!r} of {file}, whose targets are "
            f"{', '.join(map(str, outputs)) or 'none'}",
            hint=f"pass one of them, e.g. --target {default}"
            if outputs
            else "add the target to profiles.yml",
        )
    names = [str(t) for t in outputs]
    targets = {
        str(t): _profile_target(
            project_dir,
            _mapping(o, file, (name, "outputs", str(t)), "settings"),
            profile=name,
            name=str(t),
            targets=names,
            file=file,
        )
        for t, o in outputs.items()
    }
    return Profile(name=name, chosen=chosen, targets=targets)


def read_target(
    project_dir: Path,
    target: str | None = None,
    profiles_dir: Path | None = None,
    *,
    profile: str | None = None,
) -> ProfileTarget:
    """The profile target dbt would use for this project (``read_profile``'s chosen one)."""
    return read_profile(project_dir, target, profiles_dir, profile=profile).target
