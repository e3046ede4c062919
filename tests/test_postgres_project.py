"""The public jaffle_shop on a dbt-postgres profile in a temporary ``~/.dbt``, driven through ae's CLI
as a person drives it: ``ae doctor``, ``/data-quality-test`` from the profiled data, a profiled
``/dbt-model`` fact built in PostgreSQL, column lineage, and ``ae undo`` of the new model (its
relation dropped in PostgreSQL). The project is dbt-labs' as published (tests/change_what_exists.py's
FIXTURE), seeded and built by dbt once for the module; each test then reads or adds on its own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agent.cli import main
from agent.exit_codes import ExitCode
from agent.runner import Session
from agent.settings import load_settings
from tests.change_what_exists import FIXTURE
from tests.postgres import postgres_database
from tests.scripted_planner import ScriptedPlanner, writes
from tools.engine import DbtEngine

pytestmark = pytest.mark.postgres

SCHEMA = "dev"
PROFILE = """\
jaffle_shop:
  target: dev
  outputs:
    dev:
      type: postgres
      host: 127.0.0.1
      port: {port}
      user: {user}
      password: ""
      dbname: {database}
      schema: '{schema}'
      threads: 1
"""
#: PostgreSQL's integer XOR, which DuckDB's SQL does not have: the lint must read this model's SQL
#: as PostgreSQL (AE013 "compiled SQL parses"), or it blocks a model PostgreSQL builds
ORDER_PAIRS = {
    "models/order_pairs.sql": (
        "select order_id, order_id # 1 as paired_order_id from {{ ref('stg_orders') }}\n"
    ),
    "models/order_pairs.yml": """\
version: 2
models:
  - name: order_pairs
    description: Each order and the order it is paired with.
    columns:
      - name: order_id
        description: The order.
        data_tests: [unique, not_null]
      - name: paired_order_id
        description: The order's pair (its id with the lowest bit flipped).
""",
}


@dataclass(frozen=True)
class Jaffle:
    root: Path
    dsn: str

    @property
    def database(self) -> str:
        return self.dsn.rsplit("/", 1)[1]

    def relations(self, schema: str = SCHEMA) -> set[str]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "select table_name from information_schema.tables where table_schema = %s", (schema,)
            ).fetchall()
        return {str(name) for (name,) in rows}

    def schemas_like(self, pattern: str) -> list[str]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "select schema_name from information_schema.schemata where schema_name like %s", (pattern,)
            ).fetchall()
        return [str(name) for (name,) in rows]

    def columns(self, name: str) -> list[str]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "select column_name from information_schema.columns where table_schema = %s "
                "and table_name = %s order by ordinal_position",
                (SCHEMA, name),
            ).fetchall()
        return [str(column) for (column,) in rows]


def profiled_project(root: Path, home: Path, dsn: str, schema: str = SCHEMA) -> Path:
    """jaffle_shop copied to ``root``, its profile in ``home``/.dbt as dbt finds it by default."""
    shutil.copytree(FIXTURE, root)
    server = psycopg.conninfo.conninfo_to_dict(dsn)
    (home / ".dbt").mkdir(parents=True)
    (home / ".dbt" / "profiles.yml").write_text(
        PROFILE.format(
            port=server.get("port", 5432),
            user=server.get("user", "postgres"),
            database=server["dbname"],
            schema=schema.replace("'", "''"),
        )
    )
    return root


def at_home(mp: pytest.MonkeyPatch, home: Path) -> None:
    """A person's machine with ``home`` as HOME: ae's and dbt's settings only from files there."""
    mp.setenv("HOME", str(home))
    mp.setenv("AE_CONFIG", str(home / "ae.yml"))
    for name in (
        "DBT_PROFILES_DIR",
        "DBT_TARGET",
        "AE_PROTECTED_TARGETS",
        "AE_PROTECTED_SCHEMAS",
        "AE_STORE_URL",
        "ANTHROPIC_API_KEY",
    ):
        mp.delenv(name, raising=False)


@pytest.fixture(scope="module")
def jaffle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaffle]:
    base = tmp_path_factory.mktemp("jaffle_pg")
    with pytest.MonkeyPatch.context() as mp, postgres_database("ae_jaffle") as dsn:
        at_home(mp, base / "home")
        root = profiled_project(base / "jaffle_shop", base / "home", dsn)
        with DbtEngine(root) as engine:
            result = engine.run("build")
            assert result.success, [f"{n.name}: {n.message}" for n in result.failed_nodes]
        yield Jaffle(root, dsn)


def ae_run(jaffle: Jaffle, request: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["run", request, "--project", str(jaffle.root), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_doctor_names_the_postgres_adapter_and_passes(
    jaffle: Jaffle, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = main(["doctor", "--project", str(jaffle.root)])
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    assert "dbt-postgres 1.11." in out, out
    assert "postgres target 'dev'" in out and ".dbt/profiles.yml" in out, out
    assert "FAIL" not in out, out


def test_data_quality_tests_come_from_the_profiled_data(
    jaffle: Jaffle, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = ae_run(jaffle, "/data-quality-test --model orders --tests not_null,relationships", capsys)
    assert code == ExitCode.OK, report
    answer = report["answer"]
    # chosen from the data PostgreSQL holds: columns with no nulls get not_null; the project's own
    # relationships test on customer_id is recognised, not added twice
    assert answer.startswith("orders: 99 rows profiled; 2 test(s) added in models/schema.yml"), answer
    assert "+ not_null on order_date" in answer and "+ not_null on status" in answer, answer
    assert (
        "already there: not_null on order_id, not_null on customer_id, relationships on customer_id" in answer
    )
    # the model's CASE and aggregation are pinned by a unit test whose expected rows PostgreSQL
    # computed (in a scratch schema, gone after), and dbt passes it
    assert "+ unit test orders_logic_on_sample_rows in models/schema.yml" in answer, answer
    # with a unit test, Verify runs the model's tests, the new ones among them
    ran = {t["name"]: t["status"] for t in report["verification"]["tests"]}
    new = {"not_null_orders_order_date", "not_null_orders_status", "orders_logic_on_sample_rows"}
    assert new <= set(ran) and set(ran.values()) == {"pass"}, ran
    assert jaffle.schemas_like("ae\\_unit\\_%") == []


def test_lineage_reaches_the_raw_column(jaffle: Jaffle, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = ae_run(jaffle, "/model-lineage --model customers --column customer_lifetime_value", capsys)
    assert code == ExitCode.OK, report
    assert "raw_payments.amount" in report["answer"], report


@pytest.mark.slow
def test_a_profiled_fact_is_built_in_postgres_and_undone(
    jaffle: Jaffle, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = ae_run(jaffle, "/dbt-model --name fct_payments --type fact", capsys)
    assert code == ExitCode.OK, report
    answer = report["answer"]
    assert answer.startswith("fct_payments: one row per payment of stg_payments (113 rows), key payment_id")
    assert "joins stg_orders on order_id = order_id (all 113 non-null values match)" in answer, answer
    assert jaffle.columns("fct_payments") == [
        "payment_id", "order_id", "payment_method", "amount", "customer_id", "order_date", "order_status",
    ]  # fmt: skip
    with psycopg.connect(jaffle.dsn) as conn:
        assert conn.execute("select count(*) from dev.fct_payments").fetchone() == (113,)

    capsys.readouterr()
    assert main(["undo", report["run_id"], "--project", str(jaffle.root)]) == ExitCode.OK
    created = f"{jaffle.database}.dev.fct_payments"
    assert f"dropped 1 relation(s) the run created: {created}" in capsys.readouterr().out
    assert "fct_payments" not in jaffle.relations()
    assert {"orders", "customers", "raw_payments"} <= jaffle.relations()


@pytest.mark.slow
def test_a_new_model_in_postgres_sql_passes_the_lint_and_its_undo_drops_it(
    jaffle: Jaffle, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(load_settings(jaffle.root, max_repairs=0)) as session:
        outcome = session.run("add order_pairs", planner=ScriptedPlanner([writes(ORDER_PAIRS)]))
    assert outcome.status == "success", outcome.reason
    assert "order_pairs" in jaffle.relations()

    capsys.readouterr()
    assert main(["undo", outcome.run_id, "--project", str(jaffle.root)]) == ExitCode.OK
    assert (
        f"dropped 1 relation(s) the run created: {jaffle.database}.dev.order_pairs" in capsys.readouterr().out
    )
    assert "order_pairs" not in jaffle.relations()
    assert not (jaffle.root / "models" / "order_pairs.sql").exists()


def test_a_profile_schema_with_a_quote_is_refused_and_one_with_a_semicolon_is_quoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """dbt-postgres pastes the profile's schema between quotes unescaped: a quote in it would run the
    rest as SQL (dropping ``public.canary`` here), so ae refuses it before dbt runs. A semicolon stays
    inside the quotes, and ae's own queries of that schema quote it too."""
    with postgres_database("ae_hostile") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create table public.canary (n integer)")
        home = tmp_path / "quoted-home"
        at_home(monkeypatch, home)
        quoted = profiled_project(tmp_path / "quoted", home, dsn, 'dev"; drop table public.canary; --')
        assert main(["doctor", "--project", str(quoted)]) == ExitCode.FAILED
        profile = next(line for line in capsys.readouterr().out.splitlines() if " profile " in line)
        assert (
            profile.startswith("FAIL") and "without escaping it, so what follows would run as SQL" in profile
        )
        assert main(["run", "/dbt-run --select orders", "--project", str(quoted)]) == ExitCode.ENVIRONMENT
        assert 'holds a "' in capsys.readouterr().err
        assert Jaffle(quoted, dsn).relations("public") == {"canary"}

        home = tmp_path / "semicolon-home"
        at_home(monkeypatch, home)
        odd = "dev; drop table public.canary --"
        semicolon = profiled_project(tmp_path / "semicolon", home, dsn, odd)
        with DbtEngine(semicolon) as engine:
            assert engine.run("build").success
        jaffle = Jaffle(semicolon, dsn)
        code, report = ae_run(jaffle, "/data-quality-test --model orders --tests not_null", capsys)
        assert code == ExitCode.OK, report
        assert "orders: 99 rows profiled" in report["answer"], report
        assert "orders" in jaffle.relations(odd)
        assert jaffle.relations("public") == {"canary"}
