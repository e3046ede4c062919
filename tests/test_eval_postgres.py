"""`ae eval --adapter postgres`: the oracle on core tasks in parallel workers, each copy of the
example in a database of its own on the test server, every one of them dropped afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from agent.exit_codes import ExitCode
from evals.cli import main
from evals.postgres_copies import database_of
from tests.postgres import POSTGRES_ADMIN_DSN, postgres_error

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

#: one with a reference copy (a cloned database) and a time advance; one with a snapshot
TASKS = ("incremental_fct_orders_merge", "snapshot_customers")


def test_the_oracle_scores_1_on_postgres_and_leaves_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if (error := postgres_error()) is not None:
        pytest.skip(f"PostgreSQL not reachable: {error}")
    server = psycopg.conninfo.conninfo_to_dict(POSTGRES_ADMIN_DSN)
    monkeypatch.setenv("PGHOST", str(server.get("host") or "127.0.0.1"))
    monkeypatch.setenv("PGPORT", str(server.get("port") or "5432"))
    monkeypatch.setenv("PGUSER", str(server.get("user") or "postgres"))
    out = tmp_path / "eval-out"
    argv = ["--agent", "oracle", "--adapter", "postgres", "--workers", "2", "--tasks", ",".join(TASKS)]
    code = main([*argv, "--out", str(out)])
    printed = capsys.readouterr()
    assert code == ExitCode.OK, printed.out + printed.err[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["adapter"] == "postgres"
    assert results["totals"]["passed"] == len(TASKS), printed.out
    assert results["totals"]["data_quality"] == 1.0 and results["totals"]["reliability"] == 1.0

    copies = [p.parent for p in (out / "work" / "oracle").glob("*/*/jaffle_shop/dbt_project.yml")]
    # the agent's copy of each task, and the reference's of the incremental one (a cloned database)
    assert len(copies) == len(TASKS) + 1
    for copy in copies:
        assert f'dbname: "{database_of(copy)}"' in (copy / "profiles.yml").read_text()
    with psycopg.connect(POSTGRES_ADMIN_DSN) as conn:
        left = {name for (name,) in conn.execute("select datname from pg_database").fetchall()}
    assert not {database_of(copy) for copy in copies} & left
