"""Test-wide fixtures: real Postgres when it answers (mandatory in CI), and no real API calls."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.no_real_api"]

# `ae run` keeps its dbt process running for the next run (agent/settings.py engine_keep_alive_s);
# tests must not leave such servers behind, so it is off unless a test turns it on.
os.environ["AE_ENGINE_KEEP_ALIVE_S"] = "0"

POSTGRES_ADMIN_DSN = os.environ.get("AE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_error() -> str | None:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN_DSN, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A fresh database for this test session, dropped at the end.

    Skips when no server answers, unless AE_REQUIRE_POSTGRES=1 (CI), where it fails instead.
    """
    import psycopg

    error = _postgres_error()
    if error is not None:
        if os.environ.get("AE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (AE_REQUIRE_POSTGRES=1) but did not answer: {error}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_DSN}: {error}")
    name = f"ae_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
