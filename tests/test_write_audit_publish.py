"""Write, audit, publish on DuckDB: nothing a person reads changes until Verify passes, and
``ae undo`` puts back what a run replaced (graph/audit_run.py, tools/audit).

A small shop (tests/warehouse_projects.py) with a view, a table and an incremental model over it.
Every relation is compared as columns, row count and an order-free hash of its rows.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli import main
from agent.commands.planner import CommandPlanner
from agent.exit_codes import ExitCode
from agent.runner import Session
from agent.settings import load_settings
from agent.undo import undo
from tests.scripted_planner import ScriptedPlanner, writes
from tests.warehouse_projects import ADAPTERS, Shop, seeded_shop
from tools.audit.record import PUBLICATION_JOURNAL, Publication

MODELS = {
    "models/sources.yml": """\
version: 2
sources:
  - name: shop
    schema: shop
    description: The shop's own tables.
    tables:
      - name: orders
        description: One row per order.
""",
    "models/stg_orders.sql": "{{ config(materialized='view') }}\n"
    "select order_id, customer_id, status, amount from {{ source('shop', 'orders') }}\n",
    "models/order_totals.sql": "{{ config(materialized='table') }}\n"
    "select customer_id, count(*) as orders, sum(amount) as amount from {{ ref('stg_orders') }} group by 1\n",
    "models/order_log.sql": "{{ config(materialized='incremental', unique_key='order_id') }}\n"
    "select order_id, customer_id, amount from {{ ref('stg_orders') }}\n"
    "{% if is_incremental() %}where order_id > (select max(order_id) from {{ this }}){% endif %}\n",
    "models/schema.yml": """\
version: 2
models:
  - name: stg_orders
    description: One row per order.
    columns:
      - name: order_id
        description: The order.
        data_tests: [unique, not_null]
      - name: customer_id
        description: Who ordered.
      - name: status
        description: Where the order is.
      - name: amount
        description: What it cost.
  - name: order_totals
    description: One row per customer who ordered.
    columns:
      - name: customer_id
        description: The customer.
        data_tests: [unique]
      - name: orders
        description: How many orders.
      - name: amount
        description: What they cost.
  - name: order_log
    description: Every order ever seen, kept.
    columns:
      - name: order_id
        description: The order.
        data_tests: [unique]
      - name: customer_id
        description: Who ordered.
      - name: amount
        description: What it cost.
""",
}
RELATIONS = ("stg_orders", "order_totals", "order_log")
#: what a person's hand edit does to stg_orders: every order twice
DOUBLED = (
    "{{ config(materialized='view') }}\n"
    "select order_id, customer_id, status, amount from {{ source('shop', 'orders') }}\n"
    "union all\n"
    "select order_id, customer_id, status, amount from {{ source('shop', 'orders') }}\n"
)


@pytest.fixture(params=ADAPTERS)
def shop(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    with seeded_shop(request.param, tmp_path / "shop", monkeypatch) as shop:
        with Session(load_settings(shop.project, max_repairs=0)) as session:
            outcome = session.run("add the shop's models", planner=ScriptedPlanner([writes(MODELS)]))
        assert outcome.status == "success", outcome.reason
        yield shop


def state(shop: Shop) -> dict[str, tuple[list[str], int, str]]:
    """Each relation's columns, row count and row hash."""
    warehouse = shop.warehouse()
    found = {}
    for name in RELATIONS:
        printed = warehouse.fingerprint(f"{shop.schema}.{name}")
        columns = [c.name for c in warehouse.columns(f"{shop.schema}.{name}")]
        found[name] = (columns, printed.rows, printed.hash)
    return found


def audit_schemas(shop: Shop) -> set[str]:
    """Schemas a run's audit holds relations in (PostgreSQL: ``<schema>__ae_<run>``)."""
    return {r.schema_name for r in shop.warehouse().list_relations() if "__ae_" in r.schema_name}


def test_a_hand_broken_model_whose_tests_fail_leaves_every_relation_as_it_was(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    before = state(shop)
    (shop.project / "models" / "stg_orders.sql").write_text(DOUBLED)

    code = main(["run", "/dbt-run --select stg_orders+", "--project", str(shop.project)])

    out = capsys.readouterr().out
    assert code == ExitCode.FAILED, out
    assert "tests: 3 passed, 1 failed" in out or "1 failed" in out, out
    assert state(shop) == before  # the doubled rows never reached a relation anyone reads
    assert not list((shop.project / ".ae").glob("**/*.duckdb.wal")) and not list(
        (shop.project / ".ae").glob("**/audit/*.duckdb")
    ), "the audit copy is dropped"
    assert not audit_schemas(shop)
    assert (shop.project / "models" / "stg_orders.sql").read_text() == DOUBLED  # the person's edit is theirs


def test_undo_restores_a_replaced_table_view_and_incremental_model(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = shop.warehouse()
    warehouse.execute(
        ["INSERT INTO shop.orders VALUES (31, 1, 'completed', 99.00), (32, 2, 'completed', 7.50)"]
    )
    (shop.project / "models" / "order_totals.sql").write_text(
        MODELS["models/order_totals.sql"].replace(
            "count(*) as orders", "count(*) as orders, max(order_id) as last_order"
        )
    )
    before = state(shop)

    assert main(["run", "/dbt-run --select stg_orders+", "--project", str(shop.project)]) == ExitCode.OK
    runs = sorted((shop.project / ".ae" / "runs").iterdir())
    run_id = runs[-1].name
    publication = Publication.model_validate_json((runs[-1] / PUBLICATION_JOURNAL).read_bytes())
    assert {r.relation: r.previous for r in publication.relations} == {
        "stg_orders": "view",
        "order_totals": "table",
        "order_log": "table",
    }
    after = state(shop)
    assert after["order_log"][1] == before["order_log"][1] + 2  # the incremental run appended
    assert "last_order" in after["order_totals"][0]
    capsys.readouterr()

    assert main(["undo", run_id, "--project", str(shop.project)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "restored 3 relation(s) the run replaced" in out, out
    assert state(shop) == before  # the incremental model's history included: restored, not rebuilt


def test_undo_of_an_older_run_whose_relation_a_newer_run_replaced_refuses_naming_it(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = shop.warehouse()
    warehouse.execute(["INSERT INTO shop.orders VALUES (31, 1, 'completed', 99.00)"])
    assert main(["run", "/dbt-run --select order_totals", "--project", str(shop.project)]) == ExitCode.OK
    older = sorted((shop.project / ".ae" / "runs").iterdir())[-1].name
    warehouse.execute(["INSERT INTO shop.orders VALUES (32, 2, 'completed', 7.50)"])
    assert main(["run", "/dbt-run --select order_totals", "--project", str(shop.project)]) == ExitCode.OK
    newer = sorted((shop.project / ".ae" / "runs").iterdir())[-1].name
    held = state(shop)
    capsys.readouterr()

    assert main(["undo", older, "--project", str(shop.project)]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert f"run {newer} replaced them again" in err and f"`ae undo {newer}` first" in err, err
    assert state(shop) == held


#: the child that resumes a run and is killed (SIGKILL) in the middle of the publish transaction,
#: after the first relation is replaced and before the commit
KILLED_IN_PUBLISH = """
import os, signal, sys
from pathlib import Path
import graph.phases.publish as phase
import tools.audit.duckdb_publish as file_publishing
from agent.commands.planner import CommandPlanner
from agent.runner import Session
from agent.settings import load_settings

if sys.argv[3] == "duckdb":  # in the transaction, after the first relation is replaced
    real = file_publishing._replace
    def replace_then_die(*args, **kwargs):
        real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    file_publishing._replace = replace_then_die
else:  # the journal says publishing; the one transaction never reaches the server
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    phase.publish_schema = die
with Session(load_settings(Path(sys.argv[1]))) as session:
    session.resume(sys.argv[2], planner=CommandPlanner())
"""


def test_a_kill_between_build_and_publish_publishes_nothing_then_resume_publishes_all(
    shop: Shop, tmp_path: Path
) -> None:
    shop.warehouse().execute(["INSERT INTO shop.orders VALUES (31, 1, 'completed', 99.00)"])
    before = state(shop)
    settings = load_settings(shop.project, max_repairs=0)
    with Session(settings, interrupt_after=["verify"]) as first:
        paused = first.run("/dbt-run --select stg_orders+", planner=CommandPlanner())
    assert paused.status == "paused"
    run_dir = shop.project / ".ae" / "runs" / paused.run_id
    copy = shop.project / ".ae" / "audit" / "warehouse.duckdb"
    assert state(shop) == before  # built and tested, unpublished
    assert copy.is_file() == (shop.adapter == "duckdb")
    assert bool(audit_schemas(shop)) == (shop.adapter == "postgres")  # a file copy, or schemas

    child = subprocess.run(
        [sys.executable, "-c", KILLED_IN_PUBLISH, str(shop.project), paused.run_id, shop.adapter],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    journal = Publication.model_validate_json((run_dir / PUBLICATION_JOURNAL).read_bytes())
    assert journal.state == "publishing"  # the journal says where it died
    assert state(shop) == before  # the transaction never committed: no relation half-published

    with Session(settings) as second:
        done = second.resume(paused.run_id, planner=CommandPlanner())
    assert done.status == "success", done.reason
    after = state(shop)
    assert after["order_log"][1] == before["order_log"][1] + 1 and after["stg_orders"][1] == 31
    assert Publication.model_validate_json((run_dir / PUBLICATION_JOURNAL).read_bytes()).state == "published"
    assert not (run_dir / "audit").exists() and not copy.exists() and not audit_schemas(shop)


HOOKED = {
    "models/hooked.sql": "{{ config(materialized='table', post_hook='delete from shop.orders') }}\n"
    "select 1 as n\n",
    "models/hooked.yml": """\
version: 2
models:
  - name: hooked
    description: A model whose hook empties a source.
    columns:
      - name: n
        description: One.
""",
}


def _orders(shop: Shop) -> int:
    return shop.warehouse().row_count("shop.orders")


def test_the_plans_code_harms_only_the_audit(shop: Shop) -> None:
    """A hook that empties a source. On DuckDB, even approved, it runs in the audit copy only (a
    separate file the plan's SQL cannot reach): the warehouse keeps every order. On PostgreSQL the
    audit target logs in as the user does, so the wall is the approval gate: unapproved, the run
    stops before anything runs."""
    orders = _orders(shop)
    approved = shop.adapter == "duckdb"
    with Session(load_settings(shop.project, max_repairs=0)) as session:
        outcome = session.run("add hooked", planner=ScriptedPlanner([writes(HOOKED)]), allow_code=approved)
    if approved:
        assert outcome.status == "success", outcome.reason
        assert "hooked" in {r.name for r in shop.warehouse().list_relations(shop.schema)}
    else:
        assert outcome.status == "awaiting_approval", outcome.reason  # the gate asks first
    assert _orders(shop) == orders


def test_a_resumed_run_whose_audit_copy_another_run_took_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One audit copy per DuckDB project (its partial parse stays warm): a run killed before Publish
    and resumed after another run built there fails, naming that run, instead of publishing what
    the other run left."""
    with seeded_shop("duckdb", tmp_path / "shop", monkeypatch) as shop:
        settings = load_settings(shop.project, max_repairs=0)
        with Session(settings) as session:
            assert session.run("add models", planner=ScriptedPlanner([writes(MODELS)])).status == "success"
        with Session(settings, interrupt_after=["verify"]) as first:
            paused = first.run("/dbt-run --select order_totals", planner=CommandPlanner())
        with Session(settings) as second:
            other = second.run("/dbt-run --select stg_orders", planner=CommandPlanner())
        assert other.status == "success", other.reason
        held = state(shop)
        with Session(settings) as third:
            resumed = third.resume(paused.run_id, planner=CommandPlanner())
        assert resumed.status == "failed"
        assert f"run {paused.run_id}'s audit copy is gone: run {other.run_id} has built" in resumed.reason
        assert state(shop) == held


def test_undo_of_a_run_stopped_before_publish_drops_its_audit_and_only_its_own(shop: Shop) -> None:
    """A run paused after Verify, as one killed there leaves it: built and tested in its audit,
    nothing published. ``ae undo`` drops that audit (the copy, or on PostgreSQL its schemas, named
    from the run's id, never from a file) and leaves another run's audit schemas and the
    warehouse's own relations as they were."""
    before = state(shop)
    settings = load_settings(shop.project, max_repairs=0)
    with Session(settings, interrupt_after=["verify"]) as session:
        paused = session.run("/dbt-run --select stg_orders+", planner=CommandPlanner())
    assert paused.status == "paused"
    others: set[str] = set()
    if shop.adapter == "postgres":
        assert audit_schemas(shop), "the paused run's audit schemas hold what it built"
        other = f"{shop.schema}__ae_0123456789ab"  # another stopped run's audit, not this one's
        shop.warehouse().execute([f"CREATE SCHEMA {other}", f"CREATE TABLE {other}.kept AS SELECT 1 AS n"])
        others = {other}

    undone = undo(settings, paused.run_id, notify=lambda _message: None)
    assert state(shop) == before
    assert audit_schemas(shop) == others
    assert not (shop.project / ".ae" / "runs" / paused.run_id / "audit").exists()
    assert not (shop.project / ".ae" / "audit" / "warehouse.duckdb").exists()
    if shop.adapter == "postgres":
        assert (
            undone is not None and "dropped the audit schema(s) the run left unpublished" in undone.describe()
        )
