"""/data-quality-test writes a dbt unit test whose expected rows the warehouse computed, on DuckDB and
on PostgreSQL alike (agent/commands/unit_test_expected.py), and dbt's own ``dbt test`` passes it.

The shop (tests/warehouse_projects.py) gets a payments table whose name carries quotes and a
semicolon, read as a source; the model joins three inputs with a CASE and arithmetic over numeric,
date, timestamp, boolean and text columns. Nothing ae makes for the computation outlives it: no
``ae_unit_`` schema is left in the warehouse, whether the test was written, refused or failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.commands.planner import CommandPlanner
from agent.commands.unit_test_expected import SCRATCH_PREFIX
from graph.plan_spec import PlanRequest, PlanSpec
from tests.postgres import postgres_database
from tests.warehouse_projects import ORDERS, duckdb_project, postgres_project, seed
from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine
from tools.paths import ProjectPaths

#: a table name that is SQL of its own unless quoted, with capitals that only quoting keeps; no
#: quote character, which dbt itself does not escape (dbt-duckdb's relation names, dbt-postgres's
#: catalog query for a unit test's input); tests/test_retarget.py covers quotes in names
PAYMENTS = "Odd pay-ments; drop table orders --"
SOURCES = f"""\
version: 2
sources:
  - name: shop
    schema: shop
    tables:
      - name: orders
      - name: customers
      - name: payments
        identifier: '{PAYMENTS}'
"""
MODELS = {
    # a join of three inputs, a CASE on a boolean, arithmetic on numeric, a date from a timestamp
    "order_payments": """\
select
    o.order_id,
    c.tier,
    c.signup_date,
    p.paid_at,
    cast(p.paid_at as date) as paid_on,
    p.is_refund,
    case when p.is_refund then -p.amount else p.amount end as signed_amount,
    o.amount * 2 + 1 as doubled_plus_one,
    upper(o.status) || ' / ' || coalesce(p.note, 'none') as label
from {{ source('shop', 'orders') }} as o
left join {{ source('shop', 'customers') }} as c on c.customer_id = o.customer_id
left join {{ source('shop', 'payments') }} as p on p.order_id = o.order_id
""",
    # reads the shop's view by its name, not through source(): its rows would be live data
    "reads_live": """\
select o.order_id, case when o.amount > 10 then 'big' else 'small' end as size
from {{ source('shop', 'orders') }} as o
where o.order_id not in (select order_id from shop.big_orders)
""",
    # runs on the 30 orders; on 5 fixture rows the branch that casts a status to a number is taken
    "fails_on_rows": """\
select o.order_id, case when m.top < 10 then cast(o.status as integer) end as broken
from {{ source('shop', 'orders') }} as o
cross join (select max(order_id) as top from {{ source('shop', 'orders') }}) as m
""",
}


def _payments_sql() -> list[str]:
    table = 'shop."' + PAYMENTS.replace('"', '""') + '"'

    def row(i: int) -> str:
        paid_at = f"CAST('2024-03-{i:02d} {i:02d}:30:00' AS timestamp)"
        refund = "TRUE" if i % 3 == 0 else "FALSE"
        note = "NULL" if i % 4 == 0 else f"'it''s {i}'"
        return f"({i}, {i}, {paid_at}, {refund}, CAST({i * 2.25:.2f} AS decimal(10, 2)), {note})"

    return [
        f"CREATE TABLE {table} (payment_id integer, order_id integer, paid_at timestamp, "
        "is_refund boolean, amount decimal(10, 2), note varchar(40))",
        f"INSERT INTO {table} VALUES {', '.join(row(i) for i in range(1, 13))}",
    ]


@dataclass(frozen=True)
class Shop:
    adapter: str
    root: Path
    engine: DbtEngine
    ctx: ToolContext

    def plan(self, line: str) -> PlanSpec:
        spec = CommandPlanner().plan(PlanRequest(request=line), self.ctx)
        spec.changeset.apply(self.ctx.paths)
        return spec

    def scratch_schemas(self) -> list[str]:
        [result] = self.ctx.warehouse().read(["select schema_name from information_schema.schemata"])
        return [str(s) for [s] in result.rows if str(s).startswith(SCRATCH_PREFIX)]

    def unit_test(self, model: str) -> dict[str, Any]:
        text = (self.root / "models" / f"{model}.yml").read_text()
        [test] = yaml.safe_load(text)["unit_tests"]
        return dict(test)


def _shop(engine: DbtEngine, adapter: str) -> Shop:
    models = engine.project_dir / "models"
    (models / "sources.yml").write_text(SOURCES)
    for name, sql in MODELS.items():
        (models / f"{name}.sql").write_text(sql)
    ctx = ToolContext(paths=ProjectPaths.for_project(engine.project_dir), target="dev", engine=engine)
    seed(ctx.warehouse())
    ctx.warehouse().execute(_payments_sql())
    result = ctx.dbt(DbtCall(command="run", select=list(MODELS)))
    assert result.success, [f"{n.name}: {n.status} {n.message}" for n in result.nodes]
    return Shop(adapter, engine.project_dir, engine, ctx)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    root = tmp_path_factory.mktemp(request.param) / "shop"
    if request.param == "postgres":
        with postgres_database("ae_unit") as dsn, DbtEngine(postgres_project(root, dsn)) as engine:
            yield _shop(engine, "postgres")
    else:
        with DbtEngine(duckdb_project(root)) as engine:
            yield _shop(engine, "duckdb")


def test_the_warehouse_computes_expected_rows_that_dbt_passes(shop: Shop) -> None:
    spec = shop.plan("/data-quality-test --model order_payments --tests not_null")
    assert "+ unit test order_payments_logic_on_sample_rows" in str(spec.answer), spec.answer
    test = shop.unit_test("order_payments")
    given = {g["input"]: g["rows"] for g in test["given"]}
    assert set(given) == {
        "source('shop', 'orders')",
        "source('shop', 'customers')",
        "source('shop', 'payments')",
    }
    assert {type(row["is_refund"]) for row in given["source('shop', 'payments')"]} == {bool}
    expected = test["expect"]["rows"]
    assert expected and {"signed_amount", "paid_on", "label"} <= set(expected[0])
    # what the model's logic did to the fixture rows, checked against the rows themselves
    payments = {row["order_id"]: row for row in given["source('shop', 'payments')"]}
    for row in expected:
        payment = payments.get(row["order_id"])
        if payment is not None:
            sign = -1 if payment["is_refund"] else 1
            assert float(row["signed_amount"]) == sign * float(payment["amount"])
    result = shop.engine.run("test", select=["test_type:unit"])
    unit = {n.name: n.status for n in result.nodes if n.resource_type == "unit_test"}
    assert unit == {"order_payments_logic_on_sample_rows": "pass"}, [
        (n.name, n.status, n.message) for n in result.nodes
    ]
    assert shop.scratch_schemas() == []
    # the payments table's name was quoted wherever ae wrote it, never run
    [orders] = shop.ctx.warehouse().read(["select count(*) from shop.orders"])
    assert int(str(orders.rows[0][0])) == len(ORDERS)


def test_sql_reading_a_relation_that_is_no_input_is_refused(shop: Shop) -> None:
    spec = shop.plan("/data-quality-test --model reads_live --tests not_null")
    answer = str(spec.answer)
    assert "- no unit test: the compiled SQL reads shop.big_orders, which is not one of the model's" in answer
    assert "unit_tests" not in (shop.root / "models" / "reads_live.yml").read_text()
    assert shop.scratch_schemas() == []


def test_sql_that_fails_on_the_fixture_rows_leaves_no_scratch_schema(shop: Shop) -> None:
    spec = shop.plan("/data-quality-test --model fails_on_rows --tests not_null")
    answer = str(spec.answer)
    why = f"the model's SQL did not run on its fixture rows in a scratch schema on {shop.adapter}"
    assert f"- no unit test: {why}" in answer, answer
    assert shop.scratch_schemas() == []
