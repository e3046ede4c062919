"""Test-wide fixtures: real Postgres when it answers (mandatory in CI), and no real API calls."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.postgres import postgres_database

pytest_plugins = ["tests.no_real_api"]

# `ae run` keeps its dbt process running for the next run (agent/settings.py engine_keep_alive_s);
# tests must not leave such servers behind, so it is off unless a test turns it on.
os.environ["AE_ENGINE_KEEP_ALIVE_S"] = "0"


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A fresh database for this test session, dropped at the end (tests/postgres.py)."""
    with postgres_database() as dsn:
        yield dsn
