"""The test PostgreSQL server: a database of its own per use, mandatory when AE_REQUIRE_POSTGRES=1 (CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_ADMIN_DSN = os.environ.get("AE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_error() -> str | None:
    """Why the server does not answer; None when it does."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN_DSN, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        return str(exc)
    return None


@contextmanager
def postgres_database(prefix: str = "ae_test") -> Iterator[str]:
    """A fresh database's DSN, dropped after. Skips when no server answers, unless
    AE_REQUIRE_POSTGRES=1 (CI), where it fails instead."""
    import psycopg

    error = postgres_error()
    if error is not None:
        if os.environ.get("AE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (AE_REQUIRE_POSTGRES=1) but did not answer: {error}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_DSN}: {error}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
