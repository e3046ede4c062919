"""All configuration in one place: the user's config file, the project's ``ae.yml``, the environment
(AE_*, ANTHROPIC_*) and the CLI.

``Settings`` is the one pydantic-settings class; the small per-part objects the tools take
(retry and breaker policies, lint config) are derived from it, so tools never import agent code.

Precedence, lowest first: defaults < the user's config file (``$AE_CONFIG``, else
``$XDG_CONFIG_HOME/ae/config.yml``, else ``~/.config/ae/config.yml``) < the project's ``ae.yml`` <
environment < CLI flags.

Except for protection. The settings that decide what is protected (``PROTECTION_SETTINGS``) come
only from the user: defaults, their config file, the environment, the CLI. ``ae.yml`` lives in the
project, where the agent writes, so it may *add* to them and never remove anything: the result is
the user's list plus ``ae.yml``'s, never ``ae.yml``'s alone. A model that writes
``protected_targets: []`` into ``ae.yml`` changes nothing.

And except for the settings that send secrets, choose where data goes or run code
(``USER_ONLY_SETTINGS``: the API key and base URL, the embedding function, the store and memory
URLs, the profiles folder). A project is untrusted input (a cloned repository, a file a plan
wrote), so ``ae.yml`` may not set them at all: one that does is a ConfigurationError (exit 5) naming
the file, the setting and where to set it instead. An error rather than a warning, because ignoring
the line would change silently where ae sends requests or keeps its state (a team's shared store
quietly replaced by a local file, a company proxy by the public API); the error costs one move.

And except for the budgets (``BUDGET_SETTINGS``: steps, tokens, cost, wall time, repairs). They
decide how much of the user's money and time a run may spend, so ``ae.yml`` may only tighten them:
each is the stricter of the user's value and the project's (for ``max_cost_usd``, 0 turns the cost
budget off, which is never stricter). A project that writes ``max_cost_usd: 0`` changes nothing.

A bad value is a ConfigurationError naming where it came from (the file or the variable), the
setting, the value (hidden for secrets) and what is expected, never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from agent.launcher import DEFAULT_KEEP_ALIVE_S
from agent.llm.pricing import DEFAULT_MODEL
from tools.audit.history import DEFAULT_KEEP
from tools.engine import DbtEngine
from tools.errors import ConfigurationError
from tools.faults import FaultInjector
from tools.logs import redact, register_secret
from tools.paths import STATE_DIR
from tools.profiles import read_profile
from tools.protection import Protection, protection_of
from tools.resilience import BreakerPolicy, Resilience, RetryPolicy
from tools.store_urls import normalise_store_url

PROJECT_CONFIG_FILE = "ae.yml"
USER_CONFIG_ENV = "AE_CONFIG"
#: settings the project's ae.yml may add to but never narrow (module docstring)
PROTECTION_SETTINGS = frozenset({"protected_targets", "protected_schemas"})
#: settings a project's ae.yml may not set (module docstring), each with what it decides
USER_ONLY_SETTINGS: dict[str, str] = {
    "anthropic_api_key": "whose API account the model is called with",
    "anthropic_base_url": "the server your API key is sent to",
    "memory_embedding": "code ae imports and runs",
    "store_url": "where run reports and checkpoints, which hold your data, are written",
    "memory_url": "where ae's memory of the project is written",
    "profiles_dir": "which profiles.yml (warehouse credentials) dbt uses",
    "model_price": "the price the cost budget counts with",
}
#: settings the project's ae.yml may only tighten (module docstring)
BUDGET_SETTINGS = frozenset({"max_steps", "max_run_tokens", "max_cost_usd", "max_wall_s", "max_repairs"})
#: settings whose values never appear in a message
SECRET_SETTINGS = frozenset({"anthropic_api_key", "store_url", "memory_url"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AE_", extra="ignore", populate_by_name=True)

    # --- the project and where runs are kept -------------------------------------------------------
    project_dir: Path = Path(".")
    target: str | None = None
    #: dbt's --profile and --profiles-dir; None leaves them to dbt's own search (tools/profiles.py)
    profile: str | None = None
    profiles_dir: Path | None = None
    #: targets whose location needs approval to build on, whatever target writes there
    protected_targets: list[str] = Field(default_factory=lambda: ["prod", "production"])
    #: schemas protected on any warehouse (and their ``<schema>_*`` custom schemas), even when no
    #: protected target is left in the profile to say where prod is
    protected_schemas: list[str] = Field(default_factory=lambda: ["prod", "production"])
    #: None: SQLite at <project>/.ae/ae.sqlite; or a postgresql:// URL shared by several workers
    store_url: str | None = None
    #: where ae remembers the project across runs (agent/memory); None: the store_url's database,
    #: else SQLite at <project>/.ae/memory.sqlite
    memory_url: str | None = None
    #: how memories are ranked: ``hashed`` (offline n-grams) or an installed ``ae.embeddings`` entry
    #: point (tools/memory/embedding.py): a name, or the ``module:function`` it registers
    memory_embedding: str = "hashed"
    #: False: runs neither recall nor learn (``ae memory`` still reads and corrects what is stored)
    memory: bool = True

    # --- the LLM --------------------------------------------------------------------------------------
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("anthropic_api_key", "ANTHROPIC_API_KEY", "AE_ANTHROPIC_API_KEY"),
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("anthropic_base_url", "ANTHROPIC_BASE_URL", "AE_ANTHROPIC_BASE_URL"),
    )
    model: str = DEFAULT_MODEL
    max_tokens: int = Field(default=8192, gt=0)
    #: None leaves sampling to the model (current Claude models reject a non-default temperature)
    temperature: float | None = None
    llm_timeout_s: float = Field(default=120.0, gt=0)

    # --- budgets per run ---------------------------------------------------------------------------
    max_steps: int = Field(default=40, gt=0)
    max_run_tokens: int = Field(default=2_000_000, gt=0)
    max_cost_usd: float = Field(default=5.0, ge=0)
    max_wall_s: float = Field(default=1800.0, gt=0)
    #: USD per million tokens for a model with no price on file (input, output, cache_write,
    #: cache_read), e.g. AE_MODEL_PRICE='{"input": 2, "output": 10, "cache_write": 2.5, "cache_read": 0.2}'
    model_price: dict[str, float] | None = None
    max_repairs: int = Field(default=3, ge=0, description="Plan visits after the first, on failure")

    # --- the tool layer ----------------------------------------------------------------------------
    engine_timeout_s: float = Field(default=600.0, gt=0)
    #: `ae run` leaves its dbt process running this long for the next `ae run` on the project
    #: (dbt's import and first parse cost seconds per process); 0 gives each run its own. The run
    #: server (agent/launcher.py) starts before any settings load, so it follows only the
    #: environment's AE_ENGINE_KEEP_ALIVE_S, with the same default
    engine_keep_alive_s: float = Field(default=DEFAULT_KEEP_ALIVE_S, ge=0)
    retry_attempts: int = Field(default=4, ge=1)
    retry_initial_wait_s: float = Field(default=0.5, ge=0)
    retry_max_wait_s: float = Field(default=8.0, ge=0)
    phase_restarts: int = Field(
        default=1, ge=0, description="Times a phase starts over when a transient fault outlasts its retries"
    )
    breaker_fail_max: int = Field(default=5, ge=1)
    breaker_reset_s: float = Field(default=30.0, ge=0)
    #: fraction of tool calls failed on purpose with a transient fault (evals' fault injection)
    fault_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_seed: int = 0

    # --- the warehouse ------------------------------------------------------------------------------
    #: build and test in an audit copy, publish only what passed (graph/audit_run.py); False builds
    #: straight in the warehouse as dbt does, so a failing test leaves its data there
    audit_builds: bool = True
    #: runs per project whose replaced relations are kept for ``ae undo`` (tools/audit/history.py)
    warehouse_history_runs: int = Field(default=DEFAULT_KEEP, ge=0)

    # --- lint --------------------------------------------------------------------------------------
    lint: dict[str, Any] = Field(default_factory=dict)

    @field_validator("project_dir", "profiles_dir")
    @classmethod
    def _resolve(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("model_price")
    @classmethod
    def _complete_price(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        wanted = {"input", "output", "cache_write", "cache_read"}
        if value is not None and set(value) != wanted:
            raise ValueError(
                f"a model price names exactly {', '.join(sorted(wanted))} (USD per million tokens)"
            )
        return value

    @field_validator("store_url", "memory_url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        return normalise_store_url(value) if value else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings

    # --- derived -----------------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.project_dir / STATE_DIR

    @property
    def api_key(self) -> str | None:
        return self.anthropic_api_key.get_secret_value() if self.anthropic_api_key else None

    def protection(self, target: str | None = None) -> Protection:
        """Whether ``target`` (else ``self.target``, else the profile's default) is protected, and why.

        Read from the profile as dbt resolves it now, so a profile edited to point dev at prod's
        schema is protected on the next run (tools/protection.py).
        """
        profile = read_profile(
            self.project_dir, target or self.target, self.profiles_dir, profile=self.profile
        )
        return protection_of(
            profile.target,
            profile.targets,
            protected_targets=self.protected_targets,
            protected_schemas=self.protected_schemas,
        )

    def open_engine(self, target: str | None = None, *, shared: bool = False) -> DbtEngine:
        """The dbt engine for this project; ``target`` (else ``self.target``) is an explicit --target.

        Only explicit choices reach dbt's arguments, so ae's runs share dbt's partial parse with
        the person's own ``dbt`` runs (tools/engine/engine.py). ``shared``: a one-shot process's
        engine, kept for the next one for ``engine_keep_alive_s``.
        """
        return DbtEngine(
            self.project_dir,
            target=target or self.target,
            profile=self.profile,
            profiles_dir=self.profiles_dir,
            timeout_s=self.engine_timeout_s,
            keep_alive_s=self.engine_keep_alive_s if shared else 0.0,
        )

    def resilience(self) -> Resilience:
        return Resilience(
            retry=RetryPolicy(
                attempts=self.retry_attempts,
                initial_wait=self.retry_initial_wait_s,
                max_wait=self.retry_max_wait_s,
            ),
            breaker=BreakerPolicy(fail_max=self.breaker_fail_max, reset_timeout=self.breaker_reset_s),
            faults=FaultInjector(self.fault_rate, self.fault_seed) if self.fault_rate > 0 else None,
        )


def user_config_path() -> Path:
    """The user's own config file: outside every project, so no run can write it."""
    explicit = os.environ.get(USER_CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "ae" / "config.yml"


def read_config_file(path: Path) -> dict[str, Any]:
    """A settings file (``ae.yml`` or the user's config) as a mapping; empty when absent.

    Unknown settings are an error (a typo would otherwise be silently ignored); a relative
    ``profiles_dir`` is relative to the file that names it.
    """
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{path} is not UTF-8 text (byte {exc.start} cannot be read)",
            hint="save it as UTF-8 YAML, or remove it",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigurationError(f"{path} is not valid YAML{where}", hint="fix or remove it") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must be a mapping of settings, got {type(data).__name__}")
    unknown = set(data) - set(Settings.model_fields)
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown settings {sorted(map(str, unknown))}",
            hint=f"known settings: {', '.join(sorted(Settings.model_fields))}",
        )
    if data.get("profiles_dir") is not None:
        data["profiles_dir"] = path.parent / Path(str(data["profiles_dir"])).expanduser()
    return data


def _env_name(field: str) -> str:
    """The environment variable that set ``field`` (its alias when it has one set)."""
    alias = Settings.model_fields[field].validation_alias
    names = [str(a) for a in alias.choices] if isinstance(alias, AliasChoices) else []
    return next((n for n in names if n.isupper() and n in os.environ), f"AE_{field.upper()}")


def _where_to_set(field: str) -> str:
    """The places the user sets ``field`` in: the environment variable(s) and the CLI flag there is."""
    alias = Settings.model_fields[field].validation_alias
    names = [str(a) for a in alias.choices] if isinstance(alias, AliasChoices) else []
    variable = next((n for n in names if n.isupper() and not n.startswith("AE_")), f"AE_{field.upper()}")
    flag = " or --profiles-dir" if field == "profiles_dir" else ""
    return f"{variable}{flag}"


def _refuse_user_only(project_file: Path, values: dict[str, Any]) -> None:
    """ae.yml may not set what sends secrets, chooses where data goes or runs code (module docstring)."""
    refused = sorted(set(values) & USER_ONLY_SETTINGS.keys())
    if not refused:
        return
    what = "; ".join(f"{name} decides {USER_ONLY_SETTINGS[name]}" for name in refused)
    places = "; ".join(f"{name}: {_where_to_set(name)}" for name in refused)
    raise ConfigurationError(
        f"{project_file} sets {', '.join(refused)}, which only you may set, never a project: {what}",
        hint=f"remove {'it' if len(refused) == 1 else 'them'} from {project_file}; set "
        f"{'it' if len(refused) == 1 else 'them'} yourself instead, in {user_config_path()} or with "
        f"{places}",
    )


def _bad_settings(exc: ValidationError, source_of: dict[str, str]) -> ConfigurationError:
    """One message for every bad value: where it came from, the setting, the value, what is expected."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        value = "(hidden)" if field in SECRET_SETTINGS else redact(repr(error.get("input")))
        where = source_of.get(field, "the settings")
        problems.append(f"{where}: {field} = {value}: {error['msg'].lower()}")
    return ConfigurationError(
        "bad settings: " + "; ".join(problems),
        hint="fix the value where it is set, or remove it to use the default",
    )


def _environment_values() -> dict[str, Any]:
    """The settings the environment sets (AE_*, ANTHROPIC_*), validated one source at a time so
    that an error names the variable."""
    try:
        return Settings().model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise _bad_settings(exc, {f: _env_name(f) for f in Settings.model_fields}) from None
    except SettingsError as exc:  # a list or mapping variable that is not JSON
        field = str(exc).split('"')[1] if '"' in str(exc) else "?"
        raise ConfigurationError(
            f"{_env_name(field) if field in Settings.model_fields else 'an AE_ variable'} is not valid JSON",
            hint="lists and mappings are written as JSON there, e.g. AE_PROTECTED_TARGETS='[\"prod\"]'",
        ) from None


def _stricter(key: str, user: float, project: float) -> float:
    """The stricter of two budget values; a cost budget of 0 is off, so any other value is stricter."""
    if key == "max_cost_usd" and 0 in (user, project):
        return project if user == 0 else user
    return min(user, project)


def load_settings(project_dir: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings for a project: defaults < user config < ae.yml < environment < explicit overrides
    (CLI flags), except that ae.yml only adds to the protection settings (module docstring)."""
    env_values = _environment_values()
    root = (
        Path(project_dir).expanduser().resolve()
        if project_dir is not None
        else Path(env_values.get("project_dir", ".")).expanduser().resolve()
    )
    user_file = user_config_path()
    project_file = root / PROJECT_CONFIG_FILE
    project_values = read_config_file(project_file)
    _refuse_user_only(project_file, project_values)
    project_adds = {k: v for k, v in project_values.items() if k in PROTECTION_SETTINGS}
    project_limits = {k: v for k, v in project_values.items() if k in BUDGET_SETTINGS}
    layers = [
        (str(user_file), read_config_file(user_file)),
        (
            str(project_file),
            {k: v for k, v in project_values.items() if k not in PROTECTION_SETTINGS | BUDGET_SETTINGS},
        ),
        ("the environment", {k: v for k, v in env_values.items() if k != "project_dir"}),
        ("the command line", {k: v for k, v in overrides.items() if v is not None}),
    ]
    merged: dict[str, Any] = {}
    source_of: dict[str, str] = {}
    for name, values in layers:
        merged |= values
        source_of |= {k: _env_name(k) if name == "the environment" else name for k in values}
    merged["project_dir"] = root
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise _bad_settings(exc, source_of) from None
    try:  # validated on their own so that an error names ae.yml
        added = Settings.model_validate(project_adds | project_limits)
    except ValidationError as exc:
        raise _bad_settings(
            exc, dict.fromkeys(PROTECTION_SETTINGS | BUDGET_SETTINGS, str(project_file))
        ) from None
    union = {
        key: [*getattr(settings, key), *(v for v in getattr(added, key) if v not in getattr(settings, key))]
        for key in project_adds
    }
    tighter = {key: _stricter(key, getattr(settings, key), getattr(added, key)) for key in project_limits}
    settings = settings.model_copy(update=union | tighter)
    register_secret(settings.api_key)
    return settings
