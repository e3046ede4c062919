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

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel

from tools.errors import ConfigurationError, UnknownTarget

if TYPE_CHECKING:
    import jinja2

PROFILES_FILE = "profiles.yml"
PROJECT_FILE = "dbt_project.yml"
#: dbt renders a string as Jinja when it holds one of these (dbt.clients.jinja._HAS_RENDER_CHARS_PAT)
_JINJA = re.compile(r"({[{%#]|[#}%]})")
#: a whole value that is one ``env_var('NAME')`` / ``env_var('NAME', 'default')``: dbt's native
#: rendering returns that string unchanged, so it is rendered here without importing dbt's Jinja
_PLAIN_ENV_VAR = re.compile(
    r"""\{\{\s*env_var\(\s*(['"])([^'"]+)\1\s*(?:,\s*(['"])([^'"]*)\3\s*)?\)\s*\}\}"""
)
#: dbt's stand-in for a ``DBT_ENV_SECRET_*`` value while Jinja runs (dbt.constants.SECRET_PLACEHOLDER)
_SECRET_PREFIX = "DBT_ENV_SECRET_"
_SECRET_PLACEHOLDER = "$$$DBT_SECRET_START$$${}$$$DBT_SECRET_END$$$"
_SECRET_IN_RENDERED = re.compile(re.escape(_SECRET_PLACEHOLDER).replace(r"\{\}", f"({_SECRET_PREFIX}.*)"))
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


class _Unknown:
    """A value that could not be rendered (an unset ``env_var`` without default, a Jinja error)."""

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


#: dbt would fail on this value, so what it names is unknown: "" for a location, which protection
#: treats as matching any other location (the safe side)
UNKNOWN: Any = _Unknown()


class _MissingEnvVar(Exception):
    pass


class ProfileRenderer:
    """Renders profile and project values as dbt does, one value at a time.

    dbt renders every string of the chosen target with its native Jinja (dbt.config.renderer:
    ``ProfileRenderer``, ``get_rendered(value, ctx, native=True)``): ``"{{ env_var('P') | int }}"``
    becomes the number, ``"{{ 'prod' }}"`` the text. This renders each value with dbt_common's own
    environment and filters (as_number, as_bool, as_native, as_text, and Jinja's lower, int, ...),
    with dbt's ``env_var`` (the variable, else the default, else an error). Unlike dbt, a value that
    fails (prod's password unset in a dev shell) makes only that value UNKNOWN, never the profile.

    ``env_var`` sees what the dbt child sees (tools/engine/child_env.py), not ae's own environment:
    ``ANTHROPIC_*`` and ``AE_*`` never reach dbt. dbt's other context members (``var``, ``modules``,
    ...) are not offered: a value using one is UNKNOWN rather than guessed (a guess could say "dev"
    where dbt says "prod"). dbt_common's Jinja costs ~0.3 s to import, so it is imported only for a
    value that needs more than a plain ``{{ env_var('X', 'default') }}``.
    """

    def __init__(self, config_files: list[Path]) -> None:
        self._config_files = config_files

    @functools.cached_property
    def _environment(self) -> Mapping[str, str]:
        from tools.engine.child_env import child_environment

        return child_environment(os.environ, self._config_files)

    def render(self, value: Any) -> Any:
        """``value`` as dbt renders it (lists and mappings value by value), UNKNOWN where it fails."""
        if isinstance(value, dict):
            return {key: self.render(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.render(item) for item in value]
        if not isinstance(value, str) or not _JINJA.search(value):
            return value
        plain = _PLAIN_ENV_VAR.fullmatch(value)
        try:
            if plain is not None:
                return self._env_var(plain.group(2), plain.group(4))
            return self._render_jinja(value)
        except Exception:  # any failure of the project's Jinja, including a missing variable
            return UNKNOWN

    @staticmethod
    def _env_var(name: str, default: str | None) -> str:
        """A plain ``env_var`` call: its name is in the profile, so the child has it unless ae
        withholds it (tools/engine/child_env.py)."""
        from tools.engine.child_env import is_passed

        if name in os.environ and is_passed(name, os.environ[name], {name}):
            return os.environ[name]
        if default is not None:
            return default
        raise _MissingEnvVar(name)

    def _render_jinja(self, text: str) -> Any:
        environment = _native_environment()
        env = self._environment

        def env_var(name: str, default: Any = None) -> Any:
            # dbt hands Jinja a placeholder for a secret, swapped for the value after rendering,
            # so that filters cannot change (or print) the secret itself
            if name in env and name.startswith(_SECRET_PREFIX):
                return _SECRET_PLACEHOLDER.format(name)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise _MissingEnvVar(name)

        context = {"env_var": env_var}
        rendered = environment.from_string(text, globals=context).render(context)
        if _SECRET_PREFIX not in str(rendered):
            return rendered
        found = _SECRET_IN_RENDERED.search(str(rendered))
        if found is None:
            return UNKNOWN  # dbt itself renders such a value as None
        return str(rendered).replace(found.group(0), env[found.group(1)])


@functools.cache
def _native_environment() -> jinja2.Environment:
    """dbt_common's native sandboxed environment, where an undefined name is an error."""
    import jinja2
    from dbt_common.clients.jinja import get_environment

    environment = get_environment(native=True)
    environment.undefined = jinja2.StrictUndefined
    return environment


def _text_of(path: Path) -> str:
    """A configuration file's text; a binary or non-UTF-8 file is a ConfigurationError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{path} is not UTF-8 text (byte {exc.start} cannot be decoded); dbt cannot read it either",
            hint="restore the file from version control, or save it as UTF-8 YAML",
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None


def load_yaml_mapping(path: Path) -> dict[str, Any]:
    """A profiles.yml or dbt_project.yml as a mapping; anything else a ConfigurationError naming the
    file (and only the position of a YAML error: its text may hold a password)."""
    try:
        data = yaml.safe_load(_text_of(path)) or {}
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
    project_file = project_dir / PROJECT_FILE
    if not project_file.is_file():
        raise ConfigurationError(
            f"{project_dir} has no {PROJECT_FILE}", hint="point --project at a dbt project"
        )
    raw = load_yaml_mapping(project_file).get("profile")
    name = ProfileRenderer([project_file]).render(raw)
    if name is UNKNOWN:
        raise ConfigurationError(
            f"{project_file}: its `profile:` could not be rendered (an env_var that is not set?)",
            hint="set the variable, or pass --profile",
        )
    if not name:
        raise ConfigurationError(
            f"{project_file} names no profile", hint="add `profile: <name>` to it or pass --profile"
        )
    return str(name)


def _line_of(path: Path, keys: tuple[str, ...]) -> str:
    """`` (line N)`` of the value at ``keys`` in a YAML file, or "" when it cannot be found."""
    try:
        node = yaml.compose(_text_of(path))
    except (yaml.YAMLError, ConfigurationError):
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
    """The first of ``keys`` the output sets, as text (adapters name the same thing differently);
    "" when that value is UNKNOWN."""
    for key in keys:
        value = output.get(key)
        if value is UNKNOWN:
            return ""
        if value not in (None, ""):
            return str(value)
    return None


def _profile_target(
    project_dir: Path, output: dict[str, Any], *, profile: str, name: str, targets: list[str], file: Path
) -> ProfileTarget:
    path = None
    raw_path = str(output.get("path") or "")
    if output.get("type") == "duckdb" and raw_path and not raw_path.startswith(_NOT_A_FILE):
        # resolved through symlinks too: a link to the prod file is the prod file
        path = (project_dir / Path(raw_path).expanduser()).resolve()
    return ProfileTarget(
        profile=profile,
        target=name,
        type=str(output.get("type") or ""),
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
    ``--profile`` overrides; None means dbt's own defaults (module docstring). Every target's
    values are rendered as dbt renders them (``ProfileRenderer``); one that cannot be is UNKNOWN
    ("" in the ProfileTarget's text fields). A profile of the wrong shape is a ConfigurationError
    naming the file and line.
    """
    name = profile_name(project_dir, profile)
    location = find_profiles(project_dir, profiles_dir)
    file = location.file
    profiles = load_yaml_mapping(file)
    if name not in profiles:
        known = ", ".join(k for k in profiles if k != "config") or "none"
        raise ConfigurationError(
            f"profile {name!r} is not in {location.describe()}; profiles there: {known}",
            hint="add it, pass --profile, or point --profiles-dir at the right profiles.yml",
        )
    entry = _mapping(profiles[name], file, (name,), "settings (target, outputs)")
    outputs = _mapping(entry.get("outputs") or {}, file, (name, "outputs"), "targets")
    renderer = ProfileRenderer([file, project_dir / PROJECT_FILE])
    default = renderer.render(entry.get("target"))
    chosen = str(target or os.environ.get("DBT_TARGET") or default or "default")
    if chosen not in outputs:
        default = default or next(iter(outputs), "")
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
            renderer.render(_mapping(o, file, (name, "outputs", str(t)), "settings")),
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
    """The profile target dbt would use for this project (``read_profile``'s chosen one); a
    ConfigurationError when it names a database or schema that dbt cannot write safely."""
    chosen = read_profile(project_dir, target, profiles_dir, profile=profile).target
    _refuse_unquotable(chosen)
    return chosen


#: the quote characters dbt adapters put around names (", and BigQuery's backtick)
_QUOTES = ('"', "`")


def _refuse_unquotable(target: ProfileTarget) -> None:
    """dbt adapters write a schema or database name between quotes without escaping any inside it
    (dbt-postgres runs ``create schema if not exists "<schema>"``), so a quote in the name ends the
    name and the rest runs as SQL: refused before dbt is asked to build anything there."""
    for kind, name in (("schema", target.schema_name), ("database", target.database)):
        quote = next((q for q in _QUOTES if name and q in name), None)
        if quote is not None:
            raise ConfigurationError(
                f"target {target.target!r} of profile {target.profile!r} names {kind} {name!r}, which "
                f"holds a {quote}: dbt writes the name between quotes without escaping it, so what "
                "follows would run as SQL",
                hint=f"rename the {kind} in {target.profiles_file} (letters, digits and _ are safe)",
            )
