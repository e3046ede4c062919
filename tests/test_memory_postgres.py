"""Memory across runs on a real PostgreSQL store (its own database, dropped after; see conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import load_settings
from tests.dbt_project_factory import write_tiny_project
from tests.test_memory import run_memory_scenarios

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_memory_on_postgres(postgres_dsn: str, tmp_path: Path) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    settings = load_settings(project, store_url=postgres_dsn, max_repairs=2, retry_attempts=2)
    run_memory_scenarios(settings)
    assert not (settings.state_dir / "memory.sqlite").exists()  # nothing went to SQLite
