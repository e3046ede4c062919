"""Helpers for the tests of in-place model edits and column lineage (issue 24): the public jaffle_shop
fixture, its models rendered the way dbt compiles them (refs become relation names, config() renders
nothing), and an incremental run simulated in DuckDB (merge on the unique key)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import jinja2

FIXTURE = Path(__file__).parent / "fixtures" / "change_what_exists" / "jaffle_shop"
#: the dbt-duckdb profile of a fixture's copy named ``name``: its warehouse file beside it
PROFILE = """\
{name}:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: {name}.duckdb
      threads: 1
      keep_open: false
"""
MODELS = {
    "stg_customers": "models/staging/stg_customers.sql",
    "stg_orders": "models/staging/stg_orders.sql",
    "stg_payments": "models/staging/stg_payments.sql",
    "customers": "models/customers.sql",
    "orders": "models/orders.sql",
}
SEEDS = ("raw_customers", "raw_orders", "raw_payments")


def relation(name: str) -> str:
    """How dbt-duckdb names a model of an in-memory warehouse."""
    return f'"memory"."main"."{name}"'


def read(path: str) -> str:
    return (FIXTURE / path).read_text()


def render(source: str, *, incremental: bool = False, this: str = "this_model") -> str:
    """The model's SQL as ``dbt compile`` renders it (``config()`` renders nothing)."""

    def ref(*names: str, **_: Any) -> str:
        return relation(names[-1])

    def var(_name: str, default: Any = None) -> Any:
        return default

    context: dict[str, Any] = {
        "ref": ref,
        "source": lambda _source, table: relation(table),
        "config": lambda *_, **__: "",
        "is_incremental": lambda: incremental,
        "this": relation(this),
        "var": var,
        "target": {"name": "dev", "type": "duckdb"},
    }
    return jinja2.Environment().from_string(source).render(**context)


def seed_columns(name: str) -> list[str]:
    return read(f"seeds/{name}.csv").splitlines()[0].split(",")


#: the columns of every relation of the fixture, as dbt builds them
COLUMNS: dict[str, list[str]] = {
    **{relation(seed): seed_columns(seed) for seed in SEEDS},
    relation("stg_customers"): ["customer_id", "first_name", "last_name"],
    relation("stg_orders"): ["order_id", "customer_id", "order_date", "status"],
    relation("stg_payments"): ["payment_id", "order_id", "payment_method", "amount"],
    relation("customers"): [
        "customer_id", "first_name", "last_name", "first_order", "most_recent_order", "number_of_orders",
        "customer_lifetime_value",
    ],
    relation("orders"): [
        "order_id", "customer_id", "order_date", "status", "credit_card_amount", "coupon_amount",
        "bank_transfer_amount", "gift_card_amount", "amount",
    ],
}  # fmt: skip


def relations(*names: str) -> dict[str, list[str]]:
    return {relation(n): COLUMNS[relation(n)] for n in names}


def compiled(name: str) -> str:
    return render(read(MODELS[name]), this=name)


def simulate_incremental(
    model: str,
    *,
    before: Callable[[duckdb.DuckDBPyConnection], None],
    after: Callable[[duckdb.DuckDBPyConnection], None],
    unique_key: str,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(rows after an incremental run, rows of a full refresh) of ``model``'s text: built in full on
    the data ``before`` creates, then run incrementally (dbt's merge: rows with a re-read key are
    replaced) on the data ``after`` changes."""
    with duckdb.connect() as con:
        before(con)
        con.execute(f"create table {relation('this_model')} as {render(model)}")
        after(con)
        con.execute(f"create temp table fresh as {render(model, incremental=True)}")
        con.execute(
            f"delete from {relation('this_model')} where {unique_key} in (select {unique_key} from fresh)"
        )
        con.execute(f"insert into {relation('this_model')} by name select * from fresh")
        incremental = con.execute(f"select * from {relation('this_model')} order by all").fetchall()
        full = con.execute(f"select * from ({render(model)}) order by all").fetchall()
    return incremental, full


def load_jaffle(con: duckdb.DuckDBPyConnection) -> None:
    """The fixture's seeds and staging models as tables."""
    for seed in SEEDS:
        con.execute(
            f"create table {relation(seed)} as select * from read_csv('{FIXTURE / 'seeds' / seed}.csv')"
        )
    for name in ("stg_customers", "stg_orders", "stg_payments"):
        con.execute(f"create or replace table {relation(name)} as {compiled(name)}")


def manifest_nodes(models: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """A manifest-like mapping of the fixture (seeds and ``models``: name -> source text)."""
    nodes: dict[str, dict[str, Any]] = {}
    for seed in SEEDS:
        nodes[f"seed.jaffle_shop.{seed}"] = {
            "name": seed,
            "resource_type": "seed",
            "raw_code": read(f"seeds/{seed}.csv"),
            "relation_name": relation(seed),
        }
    for name, text in models.items():
        parents = [
            f"seed.jaffle_shop.{p}" if p in SEEDS else f"model.jaffle_shop.{p}"
            for p in dict.fromkeys([*SEEDS, *MODELS, *models])
            if f"ref('{p}')" in text
        ]
        nodes[f"model.jaffle_shop.{name}"] = {
            "name": name,
            "resource_type": "model",
            "compiled_code": render(text, this=name),
            "depends_on": {"nodes": parents},
            "relation_name": relation(name),
        }
    return nodes
