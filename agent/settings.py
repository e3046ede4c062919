"""All configuration in one place: environment (AE_*, ANTHROPIC_*) over the project's ``ae.yml``.

``Settings`` is the one pydantic-settings class; the small per-part objects the tools take
(retry and breaker policies, lint config) are derived from it, so tools never import agent code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agent.llm.pricing import DEFAULT_MODEL
from tools.engine import DbtEngine
from tools.errors import ConfigurationError
from tools.faults import FaultInjector
from tools.logs import register_secret
from tools.paths import STATE_DIR
from tools.resilience import BreakerPolicy, Resilience, RetryPolicy

PROJECT_CONFIG_FILE = "ae.yml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AE_", extra="ignore", populate_by_name=True)

    # --- the project and where runs are kept -------------------------------------------------------
    project_dir: Path = Path(".")
    target: str | None = None
    #: dbt's --profile and --profiles-dir; None leaves them to dbt's own search (tools/profiles.py)
    profile: str | None = None
    profiles_dir: Path | None = None
    protected_targets: list[str] = Field(default_factory=lambda: ["prod", "production"])
    #: None: SQLite at <project>/.ae/ae.sqlite; or a postgresql:// URL shared by several workers
    store_url: str | None = None

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
    max_tokens: int = 8192
    #: None leaves sampling to the model (current Claude models reject a non-default temperature)
    temperature: float | None = None
    llm_timeout_s: float = 120.0

    # --- budgets per run ---------------------------------------------------------------------------
    max_steps: int = 40
    max_run_tokens: int = 2_000_000
    max_cost_usd: float = 5.0
    max_wall_s: float = 1800.0
    max_repairs: int = Field(default=3, ge=0, description="Plan visits after the first, on failure")

    # --- the tool layer ----------------------------------------------------------------------------
    engine_timeout_s: float = 600.0
    #: `ae run` leaves its dbt process running this long for the next `ae run` on the project
    #: (dbt's import and first parse cost seconds per process); 0 gives each run its own
    engine_keep_alive_s: float = Field(default=300.0, ge=0)
    retry_attempts: int = 4
    retry_initial_wait_s: float = 0.5
    retry_max_wait_s: float = 8.0
    phase_restarts: int = Field(
        default=1, ge=0, description="Times a phase starts over when a transient fault outlasts its retries"
    )
    breaker_fail_max: int = 5
    breaker_reset_s: float = 30.0
    #: fraction of tool calls failed on purpose with a transient fault (evals' fault injection)
    fault_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_seed: int = 0

    # --- lint --------------------------------------------------------------------------------------
    lint: dict[str, Any] = Field(default_factory=dict)

    @field_validator("project_dir", "profiles_dir")
    @classmethod
    def _resolve(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

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

    def is_protected(self, target: str | None) -> bool:
        return (target or "") in self.protected_targets

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


def read_project_config(project_dir: Path) -> dict[str, Any]:
    """The project's ``ae.yml`` as a mapping (empty when absent)."""
    path = project_dir / PROJECT_CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must be a mapping of settings, got {type(data).__name__}")
    return data


def load_settings(project_dir: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings for a project: defaults < ae.yml < environment < explicit overrides (CLI flags)."""
    env_only = Settings()
    root = Path(project_dir).expanduser().resolve() if project_dir is not None else env_only.project_dir
    file_values = read_project_config(root)
    unknown = set(file_values) - set(Settings.model_fields)
    if unknown:
        raise ConfigurationError(
            f"{root / PROJECT_CONFIG_FILE}: unknown settings {sorted(unknown)}",
            hint=f"known settings: {', '.join(sorted(Settings.model_fields))}",
        )
    if file_values.get("profiles_dir") is not None:  # relative to the project, like the file itself
        file_values["profiles_dir"] = root / Path(str(file_values["profiles_dir"])).expanduser()
    env_values = env_only.model_dump(exclude_unset=True)
    merged = {**file_values, **env_values, **{k: v for k, v in overrides.items() if v is not None}}
    merged["project_dir"] = root
    settings = Settings.model_validate(merged)
    register_secret(settings.api_key)
    return settings
