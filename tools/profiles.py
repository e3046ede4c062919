"""Reading a dbt profile's target, for the checks that need to know where the warehouse is."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from tools.errors import ConfigurationError

_ENV_VAR = re.compile(r"""\{\{\s*env_var\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]*)['"]\s*)?\)\s*\}\}""")


class ProfileTarget(BaseModel):
    profile: str
    target: str
    type: str
    #: the DuckDB file, resolved against the project dir (dbt runs with cwd there); None for others
    path: Path | None = None
    schema_name: str | None = None
    targets: list[str] = []


def _render_env(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return _ENV_VAR.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)


def read_target(
    project_dir: Path, target: str | None = None, profiles_dir: Path | None = None
) -> ProfileTarget:
    """The profile target dbt would use for this project (env_var() defaults are honoured)."""
    project_file = project_dir / "dbt_project.yml"
    if not project_file.is_file():
        raise ConfigurationError(
            f"{project_dir} has no dbt_project.yml", hint="point --project at a dbt project"
        )
    project = yaml.safe_load(project_file.read_text(encoding="utf-8")) or {}
    profile_name = project.get("profile")
    profiles_file = (profiles_dir or project_dir) / "profiles.yml"
    if not profiles_file.is_file():
        profiles_file = Path.home() / ".dbt" / "profiles.yml"
    if not profiles_file.is_file():
        raise ConfigurationError(
            f"no profiles.yml in {project_dir} or ~/.dbt", hint="create one for the project"
        )
    profiles = yaml.safe_load(profiles_file.read_text(encoding="utf-8")) or {}
    if profile_name not in profiles:
        raise ConfigurationError(f"profile {profile_name!r} is not in {profiles_file}")
    profile = profiles[profile_name]
    outputs: dict[str, dict[str, Any]] = profile.get("outputs") or {}
    chosen = target or _render_env(profile.get("target")) or "dev"
    if chosen not in outputs:
        raise ConfigurationError(
            f"target {chosen!r} is not in profile {profile_name!r}", hint=f"targets: {', '.join(outputs)}"
        )
    output = {k: _render_env(v) for k, v in outputs[chosen].items()}
    path = None
    if output.get("type") == "duckdb" and output.get("path") and output["path"] != ":memory:":
        raw = Path(str(output["path"])).expanduser()
        path = raw if raw.is_absolute() else (project_dir / raw).resolve()
    return ProfileTarget(
        profile=str(profile_name),
        target=str(chosen),
        type=str(output.get("type")),
        path=path,
        schema_name=output.get("schema"),
        targets=list(outputs),
    )
