"""Store URLs are recognised and rewritten in one place (tools/store_urls.py), for every store:
the run store, checkpoints, memory, the queue and ``ae doctor``."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.doctor import check_store
from agent.settings import load_settings
from tests.dbt_project_factory import write_tiny_project
from tools.logs import redact
from tools.store_urls import (
    is_postgres,
    normalise_store_url,
    psycopg_url,
    safe_url,
    sqlalchemy_url,
)

SPELLINGS = ("postgresql://ae@db:5432/x", "postgres://ae@db:5432/x", "postgresql+psycopg://ae@db:5432/x")


@pytest.mark.parametrize("url", SPELLINGS)
def test_every_postgres_spelling_is_postgres_in_each_drivers_form(url: str) -> None:
    assert is_postgres(url)
    assert psycopg_url(url) == "postgresql://ae@db:5432/x"
    assert sqlalchemy_url(url) == "postgresql+psycopg://ae@db:5432/x"


@pytest.mark.parametrize("url", [None, "", "sqlite:///tmp/ae.sqlite", "mysql://ae@db/x", "postgresql"])
def test_anything_else_is_not_postgres_and_is_left_alone(url: str | None) -> None:
    assert not is_postgres(url)
    if url:
        assert psycopg_url(url) == url and sqlalchemy_url(url) == url


def test_a_password_with_raw_at_signs_is_encoded_hidden_and_registered() -> None:
    normal = normalise_store_url("postgresql+psycopg://ae:Pa@ss/w0rd-xyz@db:5432/x")
    assert normal == "postgresql+psycopg://ae:Pa%40ss%2Fw0rd-xyz@db:5432/x"
    assert safe_url(normal) == "postgresql+psycopg://ae:***@db:5432/x"
    assert "w0rd-xyz" not in redact(f"connection to {normal} failed; password Pa@ss/w0rd-xyz")


@pytest.mark.parametrize("url", ["mysql://ae@db/x", "ae@db/x", "file:///etc/passwd"])
def test_a_scheme_ae_cannot_open_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="a store URL starts with one of"):
        normalise_store_url(url)


def test_doctor_reads_a_psycopg_url_as_postgres(tmp_path: Path) -> None:
    """Before: doctor knew only postgresql:// and postgres://, so this URL was checked as a missing
    SQLite file and reported OK."""
    project = write_tiny_project(tmp_path / "tiny")
    settings = load_settings(project, store_url="postgresql+psycopg://ae:s3cr3t-pw@127.0.0.1:1/ae")
    line = check_store(settings).render()  # nothing listens on port 1
    assert line.startswith("FAIL") and "cannot reach postgresql+psycopg://ae:***@127.0.0.1:1/ae" in line
    assert "s3cr3t-pw" not in line


@pytest.mark.postgres
def test_doctor_connects_to_postgres_through_a_psycopg_url(postgres_dsn: str, tmp_path: Path) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    url = postgres_dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    line = check_store(load_settings(project, store_url=url)).render()
    assert line.startswith("OK") and "postgres store postgresql+psycopg://" in line
