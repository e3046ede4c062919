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

from tools.errors import ConfigurationError

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
    #: the DuckDB file, resolved against the project dir (dbt runs with cwd there); None for others
    path: Path | None = None
    schema_name: str | None = None
    targets: list[str] = []
    #: the profiles.yml this came from
    profiles_file: Path | None = None


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


def read_target(
    project_dir: Path,
    target: str | None = None,
    profiles_dir: Path | None = None,
    *,
    profile: str | None = None,
) -> ProfileTarget:
    """The profile target dbt would use for this project (env_var() defaults are honoured).

    ``target``, ``profiles_dir`` and ``profile`` are the ``--target``, ``--profiles-dir`` and
    ``--profile`` overrides; None means dbt's own defaults (module docstring).
    """
    name = profile_name(project_dir, profile)
    location = find_profiles(project_dir, profiles_dir)
    profiles = _load_yaml(location.file)
    if name not in profiles:
        known = ", ".join(k for k in profiles if k != "config") or "none"
        raise ConfigurationError(
            f"profile {name!r} is not in {location.describe()}; profiles there: {known}",
            hint="add it, pass --profile, or point --profiles-dir at the right profiles.yml",
        )
    entry = profiles[name] if isinstance(profiles[name], dict) else {}
    outputs: dict[str, dict[str, Any]] = entry.get("outputs") or {}
    chosen = target or os.environ.get("DBT_TARGET") or _render_env(entry.get("target")) or "default"
    if chosen not in outputs:
        raise ConfigurationError(
            f"target {chosen!r} is not in profile {name!r} of {location.file}",
            hint=f"targets: {', '.join(outputs) or 'none'}",
        )
    output = {k: _render_env(v) for k, v in outputs[chosen].items()}
    path = None
    raw_path = str(output.get("path") or "")
    if output.get("type") == "duckdb" and raw_path and not raw_path.startswith(_NOT_A_FILE):
        raw = Path(raw_path).expanduser()
        path = raw if raw.is_absolute() else (project_dir / raw).resolve()
    return ProfileTarget(
        profile=name,
        target=str(chosen),
        type=str(output.get("type")),
        path=path,
        schema_name=output.get("schema"),
        targets=list(outputs),
        profiles_file=location.file,
    )
