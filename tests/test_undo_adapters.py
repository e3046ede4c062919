"""The journal of created relations and ``ae undo``'s drop of them, on DuckDB and on PostgreSQL (and,
in the same run, Verify's incremental proof in the run's audit).

A run that adds a model publishes its relation; the journal records where (graph/phases/publish.py):
the DuckDB file, or the PostgreSQL server and database. ``ae undo`` drops it there, through the
warehouse port, and only there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli import main
from agent.exit_codes import ExitCode
from agent.runner import Session
from agent.settings import load_settings
from graph.progress import ProgressEvent
from graph.transaction import RELATIONS_JOURNAL, built_relations, record_built_relations
from tests.scripted_planner import ScriptedPlanner, writes
from tests.warehouse_projects import ADAPTERS, ORDERS, Shop, seeded_shop
from tools.paths import ensure_state_dir
from tools.warehouse_undo import server_of

NEW_MODEL = {
    "models/sources.yml": """\
version: 2
sources:
  - name: shop
    schema: shop
    description: The shop's raw tables.
    tables:
      - name: customers
        description: One row per customer.
""",
    "models/customer_tiers.sql": """\
{{ config(materialized='incremental', unique_key='customer_id') }}
select customer_id, tier, signup_date from {{ source('shop', 'customers') }}
{% if is_incremental() %}
where signup_date > (select max(signup_date) from {{ this }})
{% endif %}
""",
    "models/customer_tiers.yml": """\
version: 2
models:
  - name: customer_tiers
    description: Each customer's tier.
    columns:
      - name: customer_id
        description: The customer.
        data_tests: [unique, not_null]
      - name: tier
        description: The customer's tier.
      - name: signup_date
        description: When the customer signed up.
""",
}


@pytest.fixture(params=ADAPTERS)
def shop(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    with seeded_shop(request.param, tmp_path / "shop", monkeypatch) as shop:
        yield shop


def _orders(shop: Shop) -> int:
    return int(str(shop.ctx.warehouse().read(["select count(*) from shop.orders"])[0].rows[0][0]))


def _plant(shop: Shop, created: list[str], *, server: str | None = None) -> None:
    """A relations journal as Execute writes it, of run X."""
    target = shop.ctx.profile_target()
    built = built_relations(
        shop.project,
        target.path,
        "dev",
        created,
        [],
        adapter=shop.adapter,
        server=server if server is not None else server_of(target),
    )
    record_built_relations(ensure_state_dir(shop.project) / "runs" / "X", built)


@pytest.mark.slow
def test_undo_of_a_new_model_drops_its_relation(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    events: list[ProgressEvent] = []
    with Session(load_settings(shop.project, max_repairs=0), emit=events.append) as session:
        outcome = session.run("add customer_tiers", planner=ScriptedPlanner([writes(NEW_MODEL)]))
    assert outcome.status == "success", outcome.reason
    said = [e.message for e in events if e.phase == "verify"]
    # proved where the warehouse is never written: a copy of the DuckDB file, a scratch database
    assert any(m.startswith("customer_tiers: incremental matches") for m in said), said
    schema = "public" if shop.adapter == "postgres" else "main"
    created = shop.qualified(schema, "customer_tiers")
    assert created in shop.relations()
    journal = shop.project / ".ae" / "runs" / outcome.run_id / RELATIONS_JOURNAL
    recorded = json.loads(journal.read_text())
    assert recorded["created"] == [created] and recorded["adapter"] == shop.adapter
    assert bool(recorded["server"]) == (shop.adapter == "postgres")

    assert main(["undo", outcome.run_id, "--project", str(shop.project)]) == ExitCode.OK
    assert f"dropped 1 relation(s) the run created: {created}" in capsys.readouterr().out
    assert created not in shop.relations()
    assert not (shop.project / "models" / "customer_tiers.sql").exists()
    assert _orders(shop) == len(ORDERS)


def test_a_journals_hostile_names_reach_no_sql(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    """A planted name is only ever matched against the relations listed: one that names no relation
    is left alone; a real relation with quotes and semicolons in its name is dropped, quoted."""
    odd = 'odd"; drop table shop.orders; --'
    warehouse = shop.ctx.warehouse()
    warehouse.execute([f"CREATE TABLE {warehouse.dialect.relation(None, 'shop', odd)} AS SELECT 1 AS n"])
    hostile = shop.qualified("shop", 'orders"; drop table shop.orders; --')
    real = shop.qualified("shop", odd)
    assert real in shop.relations()
    _plant(shop, [hostile, real])

    assert main(["undo", "X", "--project", str(shop.project)]) == ExitCode.OK
    assert f"dropped 1 relation(s) the run created: {real}" in capsys.readouterr().out
    assert real not in shop.relations()
    assert _orders(shop) == len(ORDERS)


@pytest.mark.postgres
def test_undo_refuses_a_server_the_profile_no_longer_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with seeded_shop("postgres", tmp_path / "shop", monkeypatch) as shop:
        orders = shop.qualified("shop", "orders")
        _plant(shop, [orders], server="postgres://10.0.0.1:5432/elsewhere")
        assert main(["undo", "X", "--project", str(shop.project)]) == ExitCode.REFUSED
        err = capsys.readouterr().err
        assert "the run built in postgres://10.0.0.1:5432/elsewhere" in err
        assert f"at {server_of(shop.ctx.profile_target())}" in err
        assert orders in shop.relations()


@pytest.mark.slow
def test_a_failed_run_drops_what_it_built(shop: Shop) -> None:
    """A run whose Verify fails (no repairs left) leaves no relation behind: it built in an audit
    that it drops, so there is nothing to roll back in the warehouse."""
    failing = {
        **NEW_MODEL,
        "models/customer_tiers.yml": NEW_MODEL["models/customer_tiers.yml"].replace(
            "description: The customer's tier.",
            "description: The customer's tier.\n        data_tests:\n"
            "          - accepted_values:\n              arguments:\n                values: ['gold']",
        ),
    }
    events: list[ProgressEvent] = []
    with Session(load_settings(shop.project, max_repairs=0), emit=events.append) as session:
        outcome = session.run("add customer_tiers", planner=ScriptedPlanner([writes(failing)]))
    assert outcome.status == "failed" and outcome.reason.startswith("verify failed"), outcome.reason
    created = shop.qualified("public" if shop.adapter == "postgres" else "main", "customer_tiers")
    # built and tested in the run's audit (a copy, or schemas of its own): it never reached the warehouse
    assert not any("dropped" in e.message for e in events)
    assert created not in shop.relations()
    assert not (shop.project / "models" / "customer_tiers.sql").exists()
