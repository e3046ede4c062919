"""In-place edits of existing models (tools/sql_edit): on dbt-labs' public jaffle_shop and on hostile
input, pure (the compiled SQL is rendered here the way dbt renders it); then with dbt and DuckDB for
real: orders made incremental equals its full refresh, and a rename across two models and tests builds."""

from __future__ import annotations

import difflib
import re
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.change_what_exists import (
    COLUMNS,
    FIXTURE,
    PROFILE,
    compiled,
    load_jaffle,
    manifest_nodes,
    read,
    relation,
    relations,
    render,
    simulate_incremental,
)
from tools.column_lineage import ColumnGraph, ModelLineage
from tools.errors import InvalidArguments
from tools.profiling import RelationProfile
from tools.sql_edit import (
    EditRefused,
    GrainRelation,
    SqlFile,
    add_column,
    choose_time_column,
    cte_output,
    extract_cte,
    grain_relation,
    make_incremental,
    rename_column,
    rename_everywhere,
    rename_in_yaml,
    rename_references,
    set_materialization,
)
from tools.warehouse import RelationRef

ORDERS = read("models/orders.sql")
CUSTOMERS = read("models/customers.sql")
STG_ORDERS = read("models/staging/stg_orders.sql")


def _changes(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed lines, added lines) of a diff."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")]


def _flat(sql: str) -> str:
    return " ".join(sql.split())


def _orders_incremental(**kwargs: Any) -> Any:
    arguments: dict[str, Any] = {
        "unique_key": "order_id",
        "time_column": "order_date",
        "relations": relations("stg_orders", "stg_payments"),
        "lookback": "3 days",
        **kwargs,
    }
    return make_incremental(ORDERS, compiled("orders"), **arguments)


#: what make_incremental adds to jaffle_shop's orders.sql on order_id, by order_date within 3 days,
#: and nothing else (tests/test_claude_edits.py expects the same of Claude's tool)
ORDERS_INCREMENTAL_LINES = [
    "{{",
    "  config(",
    "    materialized='incremental',",
    "    unique_key='order_id',",
    "    incremental_strategy='merge'",
    "  )",
    "}}",
    "",
    "    {% if is_incremental() %}",
    "        where order_date >= (",
    "            select max(this_model.order_date) - interval '3 days'",
    "            from {{ this }} as this_model",
    "        )",
    "    {% endif %}",
    "    {% if is_incremental() %}",
    "        where order_id in (select orders.order_id from orders)",
    "    {% endif %}",
]


# --- make_incremental ------------------------------------------------------------------------------


def test_orders_made_incremental_changes_only_the_config_and_the_filters() -> None:
    result = _orders_incremental()
    removed, added = _changes(ORDERS, result.text)
    assert removed == []
    assert added == ORDERS_INCREMENTAL_LINES
    # the payment pivot loop and every CTE are the user's bytes, in order
    assert "{% for payment_method in payment_methods -%}" in result.text
    assert result.description.startswith("make incremental (merge on order_id): the CTE orders re-reads")
    assert "the CTE payments reads only the rows of those order_ids" in result.description


def test_orders_made_incremental_compiles_as_before_on_a_full_run() -> None:
    result = _orders_incremental()
    assert _flat(render(result.text)) == _flat(render(ORDERS))
    incremental = render(result.text, incremental=True, this="orders")
    assert "where order_id in (select orders.order_id from orders)" in incremental
    assert f"from {relation('orders')} as this_model" in incremental


def _new_orders(con: duckdb.DuckDBPyConnection) -> None:
    """New orders and payments, a late status change and a late payment on recent orders, and a
    payment for an old order (outside any lookback)."""
    con.execute(
        f"insert into {relation('stg_orders')} values (100, 3, date '2018-04-10', 'placed'), "
        "(101, 7, date '2018-04-11', 'placed')"
    )
    con.execute(f"update {relation('stg_orders')} set status = 'shipped' where order_id = 99")
    con.execute(
        f"insert into {relation('stg_payments')} values (200, 100, 'coupon', 5), (201, 101, 'gift_card', 7), "
        "(202, 98, 'credit_card', 3)"
    )


def test_orders_incremental_run_equals_a_full_refresh() -> None:
    result = _orders_incremental()
    incremental, full = simulate_incremental(
        result.text, before=load_jaffle, after=_new_orders, unique_key="order_id"
    )
    assert len(full) == 101
    assert incremental == full


def test_payments_declared_before_orders_are_left_whole_and_the_run_still_equals_a_full_refresh() -> None:
    orders_cte = "orders as (\n\n    select * from {{ ref('stg_orders') }}\n\n),\n\n"
    payments_cte = "payments as (\n\n    select * from {{ ref('stg_payments') }}\n\n),\n\n"
    source = ORDERS.replace(orders_cte + payments_cte, payments_cte + orders_cte)
    result = make_incremental(
        source, render(source), unique_key="order_id", time_column="order_date",
        relations=relations("stg_orders", "stg_payments"), lookback="3 days",
    )  # fmt: skip
    assert result.text.count("{% if is_incremental() %}") == 1  # no filter can name orders before it exists
    incremental, full = simulate_incremental(
        result.text, before=load_jaffle, after=_new_orders, unique_key="order_id"
    )
    assert incremental == full


def test_windows_line_endings_and_bare_relation_names() -> None:
    source = ORDERS.replace("\n", "\r\n")
    bare = {"stg_orders": COLUMNS[relation("stg_orders")], "stg_payments": COLUMNS[relation("stg_payments")]}
    result = make_incremental(
        source, render(source), unique_key="order_id", time_column="order_date", relations=bare
    )
    assert "\n" not in result.text.replace("\r\n", "")
    assert result.text.replace("\r\n", "\n") == _orders_incremental(lookback="1 day").text


FOLDED = """\
{{ config(materialized='table') }}

with payments as (
    select * from {{ ref('payment_events') }}
)

select
    order_id,
    max(paid_at) as last_paid_at,
    count(*) as payment_count,
    sum(amount) as amount
from payments
group by order_id
"""
FOLDED_RELATIONS = {relation("payment_events"): ["event_id", "order_id", "paid_at", "amount"]}


def _events(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"create table {relation('payment_events')} as select i as event_id, i % 10 as order_id, "
        "timestamp '2024-01-01' + to_hours(i) as paid_at, i as amount from range(1, 50) t(i)"
    )


def _more_events(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"insert into {relation('payment_events')} select i, i % 10, timestamp '2024-01-01' + to_hours(i), i "
        "from range(50, 53) t(i)"
    )


def test_rows_folded_per_key_are_re_read_whole_for_each_key_with_a_new_row() -> None:
    result = make_incremental(
        FOLDED, render(FOLDED), unique_key="order_id", time_column="paid_at", relations=FOLDED_RELATIONS,
        lookback=None,
    )  # fmt: skip
    assert (
        "where order_id in (select order_id from {{ ref('payment_events') }} where paid_at >= "
        "( select max(this_model.last_paid_at) from {{ this }} as this_model ))" in _flat(result.text)
    )
    assert "materialized='incremental'" in result.text and "materialized='table'" not in result.text
    incremental, full = simulate_incremental(
        result.text, before=_events, after=_more_events, unique_key="order_id"
    )
    assert incremental == full
    # what a plain time filter would have done: the three new events alone, summed per key
    plain = result.text.replace("order_id in (select order_id from {{ ref('payment_events') }} where ", "(")
    wrong, _ = simulate_incremental(plain, before=_events, after=_more_events, unique_key="order_id")
    assert wrong != full


def test_an_existing_config_call_is_edited_argument_by_argument() -> None:
    source = (
        '{{\n    config(\n        materialized="table",\n        tags=["nightly"],\n    )\n}}\n\n' + ORDERS
    )
    result = make_incremental(
        source, render(source), unique_key="order_id", time_column="order_date",
        relations=relations("stg_orders", "stg_payments"), on_schema_change="append_new_columns",
    )  # fmt: skip
    head = result.text.split("{% set")[0]
    assert head == (
        '{{\n    config(\n        materialized="incremental",\n        tags=["nightly"],\n'
        '        unique_key="order_id",\n        incremental_strategy="merge",\n'
        '        on_schema_change="append_new_columns",\n    )\n}}\n\n'
    )


def test_an_existing_where_gets_the_filter_with_and_and_an_or_is_kept_whole() -> None:
    source = (
        "select order_id, order_date from {{ ref('stg_orders') }} -- placed ones too\n"
        "where status = 'completed' or status = 'placed'\n"
    )
    result = make_incremental(
        source, render(source), unique_key="order_id", time_column="order_date",
        relations=relations("stg_orders"), lookback=None,
    )  # fmt: skip
    body = result.text.split("}}\n\n", 1)[1]
    assert body == (
        "select order_id, order_date from {{ ref('stg_orders') }} -- placed ones too\n"
        "where (status = 'completed' or status = 'placed')\n"
        "{% if is_incremental() %}\n"
        "    and order_date >= (\n"
        "        select max(this_model.order_date)\n"
        "        from {{ this }} as this_model\n"
        "    )\n"
        "{% endif %}\n"
    )


def test_a_lookup_joined_on_another_key_is_kept_with_a_warning() -> None:
    source = (
        "select o.order_id, o.order_date, c.first_name\n"
        "from {{ ref('stg_orders') }} as o\n"
        "left join {{ ref('stg_customers') }} as c on o.customer_id = c.customer_id\n"
    )
    result = make_incremental(
        source, render(source), unique_key="order_id", time_column="order_date",
        relations=relations("stg_orders", "stg_customers"),
    )  # fmt: skip
    assert (
        "where o.order_date >= ( select max(this_model.order_date) - interval '1 day' "
        "from {{ this }} as this_model )" in _flat(result.text)
    )
    assert any("stg_customers" in w and "full refresh" in w for w in result.warnings)


def test_the_lookback_can_be_a_var_a_run_widens() -> None:
    result = _orders_incremental(lookback="2 days", lookback_var="ae_incremental_lookback")
    assert "interval '{{ var('ae_incremental_lookback', '2 days') }}'" in result.text


def test_impact_lists_what_depends_on_the_model() -> None:
    nodes = manifest_nodes({name: read(path) for name, path in _all_models().items()})
    nodes["exposure.jaffle_shop.board"] = {
        "name": "board", "resource_type": "exposure", "depends_on": {"nodes": ["model.jaffle_shop.orders"]},
    }  # fmt: skip
    lineage = ModelLineage(ColumnGraph(nodes), "model.jaffle_shop.orders")
    result = _orders_incremental(lineage=lineage)
    assert result.impact is not None and result.impact.exposures == ("exposure.jaffle_shop.board",)


def test_grain_relation_names_the_relation_the_key_comes_from_and_its_output_columns() -> None:
    found = grain_relation(
        compiled("orders"), unique_key="order_id", relations=relations("stg_orders", "stg_payments")
    )
    assert found.relation == relation("stg_orders") and found.key == "order_id"
    # every stg_orders column orders outputs as it is: where the time column can be
    assert found.output_columns == ("order_id", "customer_id", "order_date", "status")
    folded = grain_relation(render(FOLDED), unique_key="order_id", relations=FOLDED_RELATIONS)
    assert folded.relation == relation("payment_events")
    assert "paid_at" in folded.output_columns  # max(paid_at) keeps track of how far it loaded
    with pytest.raises(EditRefused, match="computed on its way"):
        grain_relation(
            "select coalesce(order_id, customer_id) as order_id from " + relation("stg_orders"),
            unique_key="order_id",
            relations=relations("stg_orders"),
        )


def test_a_staging_model_that_casts_its_key_and_time_is_made_incremental_on_its_source() -> None:
    staging = (
        "select\n    cast(id as integer) as order_id,\n    cast(order_date as date) as order_date,\n"
        "    status\nfrom {{ ref('raw_orders') }}\n"
    )
    columns = {relation("raw_orders"): ["id", "user_id", "order_date", "status"]}
    found = grain_relation(render(staging), unique_key="order_id", relations=columns)
    assert (found.relation, found.key, found.output_columns) == (
        relation("raw_orders"),
        "id",
        ("id", "order_date", "status"),
    )
    result = make_incremental(
        staging, render(staging), unique_key="order_id", time_column="order_date", relations=columns
    )
    assert result.text.endswith(
        "{% if is_incremental() %}\n"
        "    where order_date >= (\n"
        "        select max(this_model.order_date) - interval '1 day'\n"
        "        from {{ this }} as this_model\n"
        "    )\n"
        "{% endif %}\n"
    )


def _profile(timestamps: list[str], updated: list[str]) -> RelationProfile:
    ref = RelationRef(database="memory", schema_name="main", name="stg_orders", kind="view")
    return RelationProfile(
        relation=ref, row_count=0, columns=[], key_candidates=[], timestamp_columns=timestamps,
        updated_at_candidates=updated,
    )  # fmt: skip


def test_the_time_column_is_the_last_change_time_else_the_event_time_that_the_model_outputs() -> None:
    grain = GrainRelation(relation("stg_orders"), "order_id", ("order_id", "order_date", "updated_at"))
    chosen = partial(
        choose_time_column, grain, model="orders", label="stg_orders", adding=lambda column: f"add {column}"
    )
    assert chosen(_profile(["order_date", "updated_at"], ["updated_at"])) == "updated_at"
    assert chosen(_profile(["order_date"], [])) == "order_date"
    with pytest.raises(EditRefused) as missing:
        chosen(_profile(["shipped_at"], ["changed_at"]))
    assert "records time in changed_at, shipped_at, but orders does not output it" in str(missing.value)
    assert "add it first (add changed_at)" in str(missing.value)
    with pytest.raises(EditRefused, match="has no date or timestamp column"):
        chosen(_profile([], []))


def test_impact_renders_names_for_unique_ids() -> None:
    nodes = manifest_nodes({name: read(path) for name, path in _all_models().items()})
    impact = ColumnGraph(nodes).impact("model.jaffle_shop.stg_payments", ["amount"])
    shown = impact.render(lambda uid: uid.rsplit(".", 1)[-1])
    assert "  model customers" in shown and "  model orders" in shown
    assert "  column customers.customer_lifetime_value" in shown
    assert "model.jaffle_shop" not in shown
    assert "model.jaffle_shop.orders" in impact.render()


def _all_models() -> dict[str, str]:
    from tests.change_what_exists import MODELS

    return MODELS


SELECT_ORDERS = "select order_id, order_date from {{ ref('stg_orders') }}"
JOIN_PAYMENTS = "join {{ ref('stg_payments') }} p on o.order_id = p.order_id"


@pytest.mark.parametrize(
    ("source", "arguments", "reason"),
    [
        (
            "select coalesce(o.order_id, p.order_id) as order_id, o.order_date\n"
            "from {{ ref('stg_orders') }} o full " + JOIN_PAYMENTS,
            {},
            "order_id is computed on its way",
        ),
        (SELECT_ORDERS, {"time_column": "updated_at"}, "no column 'updated_at'"),
        ("select order_id, status from {{ ref('stg_orders') }}", {}, "does not output"),
        (
            "select o.order_id, o.order_date, p.amount from {{ ref('stg_orders') }} o right " + JOIN_PAYMENTS,
            {},
            "RIGHT or FULL",
        ),
        (
            "select order_id, order_date, row_number() over (order by order_date) as n\n"
            "from {{ ref('stg_orders') }}",
            {},
            "spans rows of several",
        ),
        (
            "{{ config(materialized='incremental') }}\n" + SELECT_ORDERS + "\n"
            "{% if is_incremental() %}where order_date > '2018-01-01'{% endif %}",
            {},
            "already has an is_incremental() filter",
        ),
        (
            "{{ config(tags=['a']) }}\n{{ config(materialized='table') }}\n" + SELECT_ORDERS,
            {},
            "calls config() 2 times",
        ),
        (
            "{{ config(materialized=var('mat', 'table')) }}\n" + SELECT_ORDERS,
            {},
            "materialized is set by an expression",
        ),
        (SELECT_ORDERS + " {{ 'where status is not null' }}", {}, "compiles to a different shape"),
        (
            SELECT_ORDERS + "\n{% if target.name == 'dev' %}where true{% endif %}",
            {},
            "inside the {% if %} block",
        ),
        (SELECT_ORDERS.replace("')", "'"), {}, "Jinja does not parse"),
        ("{% for x in [1] %}" + SELECT_ORDERS, {}, "Jinja leaves {% for %} at line 1 open"),
    ],
)
def test_make_incremental_refuses_what_it_cannot_do_safely(
    source: str, arguments: dict[str, Any], reason: str
) -> None:
    with pytest.raises(EditRefused, match=re.escape(reason)):
        make_incremental(
            source, _safe_render(source), relations=relations("stg_orders", "stg_payments"),
            **{"unique_key": "order_id", "time_column": "order_date", **arguments},
        )  # fmt: skip


def _safe_render(source: str) -> str:
    try:
        return render(source)
    except Exception:  # the test is about the source's Jinja, which does not render
        return "select 1 as order_id"


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"strategy": "append"}, "append would add a second copy"),
        ({"lookback": "1 day'); drop table orders; --"}, "not a number and a unit"),
        ({"lookback_var": "x') }}{{ run_query('drop"}, "not a plain name"),
        ({"on_schema_change": "drop"}, "on_schema_change must be one of"),
    ],
)
def test_make_incremental_rejects_bad_arguments_before_reading_anything(
    arguments: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidArguments) as caught:
        make_incremental("not even sql {{", "", unique_key="k", time_column="t", relations={}, **arguments)
    assert reason in str(caught.value)
    assert not isinstance(caught.value, EditRefused)


def test_hostile_sql_comments_quotes_and_a_cte_named_like_a_keyword() -> None:
    source = (
        "-- select * from somewhere_else\n"
        'with "select" as (\n'
        "    /* from the staging model, from where */\n"
        "    select \"order_id\", order_date from {{ ref('stg_orders') }} -- from x\n"
        "),\n"
        '"Final Orders" as (select * from "select")\n'
        'select * from "Final Orders"\n'
    )
    result = make_incremental(
        source, render(source), unique_key="order_id", time_column="order_date",
        relations=relations("stg_orders"), lookback=None,
    )  # fmt: skip
    removed, added = _changes(source, result.text)
    assert removed == []
    assert added[-6:] == [
        "    {% if is_incremental() %}",
        "        where order_date >= (",
        "            select max(this_model.order_date)",
        "            from {{ this }} as this_model",
        "        )",
        "    {% endif %}",
    ]
    # the filter follows the trailing comment, which stays on its line
    assert "{{ ref('stg_orders') }} -- from x\n    {% if is_incremental() %}" in result.text


# --- set_materialization -----------------------------------------------------------------------------


def test_set_materialization_edits_the_value_in_place_in_the_file_s_quote_style() -> None:
    source = '{{ config(materialized="table", tags=["x"]) }}\nselect 1 as id\n'
    result = set_materialization(source, "view")
    assert result.text == '{{ config(materialized="view", tags=["x"]) }}\nselect 1 as id\n'
    assert set_materialization(result.text, "view").text == result.text


def test_set_materialization_adds_a_config_call_or_an_argument() -> None:
    assert (
        set_materialization(STG_ORDERS, "table").text == "{{ config(materialized='table') }}\n\n" + STG_ORDERS
    )
    assert set_materialization("{{ config(tags=['x']) }}\nselect 1", "view").text == (
        "{{ config(tags=['x'], materialized='view') }}\nselect 1"
    )
    assert (
        set_materialization("{{ config() }}\nselect 1", "view").text
        == "{{ config(materialized='view') }}\nselect 1"
    )


def test_set_materialization_refuses_incremental_without_a_filter_and_hostile_input() -> None:
    with pytest.raises(EditRefused, match="re-inserts every row"):
        set_materialization(STG_ORDERS, "incremental")
    with pytest.raises(InvalidArguments, match="not a plain name"):
        set_materialization(STG_ORDERS, "table') }}{{ run_query('drop table x')")
    with pytest.raises(EditRefused, match=re.escape("inside the {% if %} block")):
        set_materialization(
            "{% if target.name == 'prod' %}{{ config(materialized='table') }}{% endif %}\nselect 1", "view"
        )
    with pytest.raises(EditRefused, match="not name=value"):
        set_materialization("{{ config(**{'materialized': 'table'}) }}\nselect 1", "view")


# --- add_column --------------------------------------------------------------------------------------


def test_add_column_is_brought_through_the_cte_that_lists_columns() -> None:
    raw = {relation("raw_orders"): [*COLUMNS[relation("raw_orders")], "_loaded_at"]}
    result = add_column(
        STG_ORDERS, render(STG_ORDERS), parent="raw_orders", column="_loaded_at", relations=raw
    )
    removed, added = _changes(STG_ORDERS, result.text)
    assert (removed, added) == (["        status"], ["        status,", "        _loaded_at"])
    assert result.description == (
        "add raw_orders._loaded_at to the model's output (listed in renamed; passed on by select * in source)"
    )


def test_add_column_with_an_alias_through_a_join_is_qualified() -> None:
    parents = {**relations("stg_customers", "stg_orders", "stg_payments")}
    parents[relation("stg_customers")] = [*parents[relation("stg_customers")], "email"]
    result = add_column(
        CUSTOMERS,
        render(CUSTOMERS),
        parent="stg_customers",
        column="email",
        alias="contact",
        relations=parents,
    )
    removed, added = _changes(CUSTOMERS, result.text)
    assert removed == ["        customer_payments.total_amount as customer_lifetime_value"]
    assert added == [
        "        customer_payments.total_amount as customer_lifetime_value,",
        "        customers.email as contact",
    ]


def test_add_column_on_one_line_and_after_a_comment() -> None:
    one_line = "select id, name from {{ ref('people') }}\n"
    people = {relation("people"): ["id", "name", "age"]}
    assert add_column(one_line, render(one_line), parent="people", column="age", relations=people).text == (
        "select id, name, age from {{ ref('people') }}\n"
    )
    commented = "select\n    id,\n    name -- as written\nfrom {{ ref('people') }}\n"
    assert add_column(commented, render(commented), parent="people", column="age", relations=people).text == (
        "select\n    id,\n    name, -- as written\n    age\nfrom {{ ref('people') }}\n"
    )


@pytest.mark.parametrize(
    ("source", "parent", "column", "alias", "reason"),
    [
        (CUSTOMERS, "raw_orders", "id", None, "does not read"),
        (CUSTOMERS, "stg_customers", "emial", None, "has no column 'emial'"),
        (CUSTOMERS, "stg_customers", "first_name", "given", "already outputs stg_customers.first_name"),
        (CUSTOMERS, "stg_orders", "status", "first_name", "already has an output column named first_name"),
        (CUSTOMERS, "stg_orders", "status", None, "customer_orders aggregates its rows"),
        ("select * from {{ ref('stg_orders') }}", "stg_orders", "status", None, "already outputs"),
        (
            "with o as (select order_id, customer_id from {{ ref('stg_orders') }}),\n"
            "c as (select customer_id from {{ ref('stg_customers') }})\n"
            "select * from o join c using (customer_id)",
            "stg_customers",
            "first_name",
            "name",
            "`select *` over a join",
        ),
        (
            "select order_id{% for c in ['status'] %}, {{ c }}{% endfor %} from {{ ref('stg_orders') }}",
            "stg_orders",
            "order_date",
            None,
            "inside the {% for %} block",
        ),
        (
            "select order_id from {{ ref('stg_orders') }}",
            "stg_orders",
            "order date",
            None,
            "not a plain column name",
        ),
    ],
)
def test_add_column_refuses(source: str, parent: str, column: str, alias: str | None, reason: str) -> None:
    parents = relations("stg_customers", "stg_orders", "stg_payments", "raw_orders")
    with pytest.raises(InvalidArguments) as caught:
        add_column(source, render(source), parent=parent, column=column, alias=alias, relations=parents)
    assert reason in str(caught.value)


# --- rename ------------------------------------------------------------------------------------------


def test_rename_changes_the_alias_or_adds_one() -> None:
    parents = relations("stg_customers", "stg_orders", "stg_payments")
    alias = rename_column(
        CUSTOMERS, render(CUSTOMERS), old="customer_lifetime_value", new="lifetime_value", relations=parents
    )
    assert _changes(CUSTOMERS, alias.text) == (
        ["        customer_payments.total_amount as customer_lifetime_value"],
        ["        customer_payments.total_amount as lifetime_value"],
    )
    bare = rename_column(CUSTOMERS, render(CUSTOMERS), old="first_name", new="given_name", relations=parents)
    assert _changes(CUSTOMERS, bare.text) == (
        ["        customers.first_name,"],
        ["        customers.first_name as given_name,"],
    )


def test_rename_keeps_a_quoted_identifier_quoted() -> None:
    source = "select id as \"Order Id\" from {{ ref('people') }}\n"
    result = rename_column(
        source, render(source), old="Order Id", new="order_key", relations={relation("people"): ["id"]}
    )
    assert result.text == "select id as order_key from {{ ref('people') }}\n"


@pytest.mark.parametrize(
    ("source", "old", "new", "reason"),
    [
        (ORDERS, "credit_card_amount", "card", "Jinja names it"),
        (ORDERS, "amount", "status", "already has an output column named status"),
        (ORDERS, "amonut", "x", "no output column 'amonut'"),
        (ORDERS, "amount", "amount; drop table x", "not a plain column name"),
        (
            "select order_id as id, status from {{ ref('stg_orders') }} order by id",
            "id",
            "order_key",
            "uses the alias id in its ORDER",
        ),
    ],
)
def test_rename_refuses(source: str, old: str, new: str, reason: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        rename_column(
            source, render(source), old=old, new=new, relations=relations("stg_orders", "stg_payments")
        )
    assert reason in str(caught.value)


def _jaffle_files(models: dict[str, str] | None = None) -> list[SqlFile]:
    from tests.change_what_exists import MODELS

    texts = {name: read(path) for name, path in MODELS.items()} | (models or {})
    nodes = manifest_nodes(texts)
    files = []
    for name, text in texts.items():
        node = nodes[f"model.jaffle_shop.{name}"]
        parents = [nodes[p]["relation_name"] for p in node["depends_on"]["nodes"]]
        path = MODELS.get(name, f"models/{name}.sql")
        files.append(
            SqlFile(path, name, text, node["compiled_code"], relation(name), {p: COLUMNS[p] for p in parents})
        )
    return files


def _yaml_files() -> dict[str, str]:
    return {p: read(p) for p in ("models/schema.yml", "models/staging/schema.yml")}


def test_rename_everywhere_follows_references_into_a_jinja_loop_and_the_yaml() -> None:
    files = _jaffle_files()
    target = next(f for f in files if f.name == "stg_payments")
    edit = rename_everywhere(
        target, old="payment_method", new="method", project=files, yaml_files=_yaml_files()
    )
    assert set(edit.files) == {
        "models/staging/stg_payments.sql",
        "models/orders.sql",
        "models/staging/schema.yml",
    }
    removed, added = _changes(ORDERS, edit.files["models/orders.sql"])
    # the reference inside the pivot loop, renamed once where it is written; the loop's Jinja kept
    assert removed[0].startswith("        sum(case when payment_method = '{{ payment_method }}' then amount")
    assert added == [removed[0].replace("when payment_method =", "when method =")]
    assert any("Jinja loop" in w for w in edit.warnings)
    staging = read("models/staging/schema.yml")
    assert _changes(staging, edit.files["models/staging/schema.yml"]) == (
        ["      - name: payment_method"],
        ["      - name: method"],
    )
    assert edit.renamed == (("stg_payments", "payment_method", "method"),)


def test_rename_lists_its_impact_when_given_the_lineage() -> None:
    files = _jaffle_files()
    graph = ColumnGraph(manifest_nodes({f.name: f.source for f in files}))
    target = next(f for f in files if f.name == "stg_payments")
    edit = rename_everywhere(
        target, old="amount", new="amount_usd", project=files, yaml_files=_yaml_files(),
        lineage=ModelLineage(graph, "model.jaffle_shop.stg_payments"),
    )  # fmt: skip
    assert edit.impact is not None
    assert edit.impact.models == ("model.jaffle_shop.customers", "model.jaffle_shop.orders")
    assert len(edit.impact.columns) == 6  # orders' amount and four pivot columns, customer_lifetime_value


def test_rename_keeps_downstream_names_and_cascades_through_select_star() -> None:
    mirror = "select * from {{ ref('stg_orders') }}\n"
    report = "select order_date, count(*) as n from {{ ref('orders_mirror') }} group by order_date\n"
    files = _jaffle_files()
    COLUMNS[relation("orders_mirror")] = COLUMNS[relation("stg_orders")]
    try:
        files += _jaffle_files({"orders_mirror": mirror, "mirror_report": report})[-2:]
        yaml_text = (
            'version: 2\nmodels:\n  - name: orders_mirror\n    columns:\n      - name: "order_date"  # kept\n'
        )
        target = next(f for f in files if f.name == "stg_orders")
        edit = rename_everywhere(
            target,
            old="order_date",
            new="ordered_on",
            project=files,
            yaml_files={"models/mirror.yml": yaml_text},
        )
    finally:
        del COLUMNS[relation("orders_mirror")]
    assert "orders.ordered_on as order_date," in edit.files["models/orders.sql"]
    assert "min(ordered_on) as first_order" in edit.files["models/customers.sql"]
    assert "models/orders_mirror.sql" not in edit.files  # select * passes the new name on ...
    assert edit.files["models/mirror_report.sql"] == (
        "select ordered_on as order_date, count(*) as n from {{ ref('orders_mirror') }} group by ordered_on\n"
    )
    assert edit.files["models/mirror.yml"].endswith(
        '      - name: "ordered_on"  # kept\n'
    )  # ... and its YAML
    assert ("orders_mirror", "order_date", "ordered_on") in edit.renamed


def test_rename_references_refuses_what_it_cannot_follow() -> None:
    parents = relations("stg_orders", "stg_customers")
    using = "select * from {{ ref('stg_orders') }} join {{ ref('stg_customers') }} using (customer_id)"
    with pytest.raises(EditRefused, match="USING"):
        rename_references(
            using, render(using), upstream="stg_orders", old="customer_id", new="c", relations=parents
        )
    hidden = "select order_id, {{ 'status' }} from {{ ref('stg_orders') }}"
    with pytest.raises(EditRefused, match="Jinja writes the others"):
        rename_references(
            hidden, render(hidden), upstream="stg_orders", old="status", new="state", relations=parents
        )
    untouched = "select order_id from {{ ref('stg_orders') }}"
    assert (
        rename_references(
            untouched, render(untouched), upstream="stg_orders", old="status", new="s", relations=parents
        )
        is None
    )


def test_rename_in_yaml_changes_names_and_relationships_fields_only() -> None:
    text = (
        "version: 2\n"
        "models:\n"
        "  - name: stg_orders\n"
        "    data_tests:\n"
        "      - dbt_utils.unique_combination_of_columns:\n"
        "          combination_of_columns: [order_id, 'status']\n"
        "    columns:\n"
        "      - name: status   # as loaded\n"
        "        data_tests: [not_null]\n"
        "  - name: orders\n"
        "    columns:\n"
        "      - name: status\n"
        "      - name: order_state\n"
        "        data_tests:\n"
        "          - relationships:\n"
        "              arguments: {to: \"ref('stg_orders')\", field: status}\n"
    )
    renamed = rename_in_yaml(text, "schema.yml", model="stg_orders", old="status", new="state")
    assert _changes(text, renamed) == (
        ["          combination_of_columns: [order_id, 'status']", "      - name: status   # as loaded",
         "              arguments: {to: \"ref('stg_orders')\", field: status}"],
        ["          combination_of_columns: [order_id, 'state']", "      - name: state   # as loaded",
         "              arguments: {to: \"ref('stg_orders')\", field: state}"],
    )  # fmt: skip
    with pytest.raises(EditRefused, match="not valid YAML"):
        rename_in_yaml("models: [", "bad.yml", model="a", old="b", new="c")
    shared = "models:\n  - name: a\n    columns:\n      - name: &col b\n"
    shared += "  - name: c\n    columns:\n      - name: *col\n"
    with pytest.raises(EditRefused, match="YAML anchor"):
        rename_in_yaml(shared, "anchored.yml", model="a", old="b", new="d")


def test_sql_nested_past_the_parser_s_depth_is_refused_not_crashed() -> None:
    deep = "select " + "(" * 5000 + "1" + ")" * 5000 + " as x from {{ ref('stg_orders') }}"
    with pytest.raises(EditRefused, match="nested too deeply"):
        add_column(
            deep, "select 1 as x", parent="stg_orders", column="status", relations=relations("stg_orders")
        )


# --- extract_cte -------------------------------------------------------------------------------------


def test_extract_cte_moves_the_body_with_its_jinja_and_its_import_cte() -> None:
    result = extract_cte(ORDERS, cte="order_payments", new_model="int_order_payments")
    assert result.new_model_text.startswith(
        "{% set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] %}\n\n"
        "with payments as (\n\n    select * from {{ ref('stg_payments') }}\n\n)\n\nselect\n    order_id,\n"
    )
    assert "    {% for payment_method in payment_methods -%}\n" in result.new_model_text
    removed, added = _changes(ORDERS, result.text)
    assert added == ["    select * from {{ ref('int_order_payments') }}"]
    assert "payments as (" in removed and "    select * from {{ ref('stg_payments') }}" in removed
    assert "order_payments as (" not in removed  # the CTE keeps its name: the rest of orders is untouched
    # the new model and the edited orders compute what orders computed
    with duckdb.connect() as con:
        load_jaffle(con)
        con.execute(f"create table {relation('int_order_payments')} as {render(result.new_model_text)}")
        before = con.execute(f"select * from ({render(ORDERS)}) order by all").fetchall()
        after = con.execute(f"select * from ({render(result.text)}) order by all").fetchall()
    assert before == after and len(after) == 99


def test_cte_output_writes_out_a_jinja_loop_s_columns_and_finds_the_grain() -> None:
    output = cte_output(
        compiled("orders"), cte="order_payments", relations=relations("stg_orders", "stg_payments")
    )
    assert output.columns == (
        "order_id", "credit_card_amount", "coupon_amount", "bank_transfer_amount", "gift_card_amount",
        "total_amount",
    )  # fmt: skip
    assert output.grain == "order_id"
    assert (
        cte_output(compiled("orders"), cte="final", relations=relations("stg_orders", "stg_payments")).grain
        is None
    )
    with pytest.raises(EditRefused, match="no CTE 'nope'"):
        cte_output(compiled("orders"), cte="nope", relations=relations("stg_orders", "stg_payments"))


def test_extract_cte_keeps_the_model_s_enabled_switch() -> None:
    source = (
        "{{ config(materialized='table', enabled=var('use_orders', true)) }}\n"
        "with o as (select * from {{ ref('stg_orders') }} where status != 'returned')\nselect * from o\n"
    )
    result = extract_cte(source, cte="o", new_model="int_kept_orders")
    assert result.new_model_text == (
        "{{ config(enabled=var('use_orders', true)) }}\n\n"
        "select * from {{ ref('stg_orders') }} where status != 'returned'\n"
    )
    assert result.text == source.replace(
        "select * from {{ ref('stg_orders') }} where status != 'returned'",
        "select * from {{ ref('int_kept_orders') }}",
    )


@pytest.mark.parametrize(
    ("source", "cte", "name", "reason"),
    [
        (ORDERS, "final", "int_final", "reads the CTE(s) order_payments"),
        (ORDERS, "nope", "int_x", "has no CTE 'nope'"),
        (ORDERS, "orders", "int-orders", "not a plain column name"),
        ("with a as (select * from {{ this }}) select * from a", "a", "int_a", "uses {{ this }}"),
        (
            "{% macro m() %}1{% endmacro %}with a as (select {{ m() }} as x) select * from a",
            "a",
            "int_a",
            "calls the macro m",
        ),
    ],
)
def test_extract_cte_refuses(source: str, cte: str, name: str, reason: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        extract_cte(source, cte=cte, new_model=name)
    assert reason in str(caught.value)


# --- for real: dbt and DuckDB ------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "jaffle_shop"
    shutil.copytree(FIXTURE, root)
    (root / "profiles.yml").write_text(PROFILE.format(name="jaffle_shop"))
    monkeypatch.chdir(root)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    return root


def _dbt(root: Path, *args: str) -> Any:
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(
        [
            *args,
            "--project-dir",
            str(root),
            "--profiles-dir",
            str(root),
            "--no-send-anonymous-usage-stats",
            "--quiet",
        ]
    )
    assert result.success, result.exception
    return result


def _manifest(root: Path) -> dict[str, Any]:
    import json

    nodes: dict[str, Any] = json.loads((root / "target" / "manifest.json").read_text())["nodes"]
    return nodes


def _warehouse_columns(root: Path) -> dict[str, list[str]]:
    with duckdb.connect(str(root / "jaffle_shop.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select table_catalog, table_schema, table_name, column_name from information_schema.columns "
            "order by table_name, ordinal_position"
        ).fetchall()
    columns: dict[str, list[str]] = {}
    for catalog, schema, table, column in rows:
        columns.setdefault(f'"{catalog}"."{schema}"."{table}"', []).append(column)
    return columns


def _rows(root: Path, table: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "jaffle_shop.duckdb"), read_only=True) as con:
        return con.execute(f"select * from {table} order by all").fetchall()


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not {"target", "logs"} & set(p.relative_to(root).parts) and p.suffix != ".duckdb"
        and not p.name.endswith(".wal")
    }  # fmt: skip


@pytest.mark.slow
def test_dbt_orders_made_incremental_equals_its_full_refresh(project: Path) -> None:
    _dbt(project, "build")
    orders = _manifest(project)["model.jaffle_shop.orders"]
    result = make_incremental(
        (project / "models" / "orders.sql").read_text(), orders["compiled_code"], unique_key="order_id",
        time_column="order_date", relations=_warehouse_columns(project), lookback="3 days",
    )  # fmt: skip
    (project / "models" / "orders.sql").write_text(result.text)
    _dbt(project, "build")  # the first incremental run, on the table the full build made
    with (project / "seeds" / "raw_orders.csv").open("a") as orders_csv:
        orders_csv.write("100,3,2018-04-10,placed\n101,7,2018-04-12,placed\n")
    raw_orders = (project / "seeds" / "raw_orders.csv").read_text()
    (project / "seeds" / "raw_orders.csv").write_text(
        raw_orders.replace("99,85,2018-04-09,placed", "99,85,2018-04-09,shipped")
    )
    with (project / "seeds" / "raw_payments.csv").open("a") as payments_csv:
        payments_csv.write("114,100,coupon,500\n115,101,gift_card,700\n116,98,credit_card,300\n")
    _dbt(project, "build")  # the second incremental run: new orders, a late status, late payments
    incremental = _rows(project, "main.orders")
    _dbt(project, "build", "--full-refresh", "--select", "orders")
    full = _rows(project, "main.orders")
    assert len(full) == 101
    assert incremental == full
    assert next(r for r in full if r[0] == 99)[3] == "shipped"


@pytest.mark.slow
def test_dbt_rename_across_two_models_a_singular_test_and_yaml_tests(project: Path) -> None:
    staging_yml = project / "models" / "staging" / "schema.yml"
    staging_yml.write_text(
        staging_yml.read_text()
        + "      - name: order_id\n        tests:\n          - not_null\n          - relationships:\n"
        "              to: ref('stg_orders')\n              field: order_id\n"
    )
    (project / "tests").mkdir()
    (project / "tests" / "assert_payments_have_orders.sql").write_text(
        "select p.order_id from {{ ref('stg_payments') }} p\n"
        "left join {{ ref('stg_orders') }} o on p.order_id = o.order_id\nwhere o.order_id is null\n"
    )
    _dbt(project, "build")
    manifest = _manifest(project)
    columns = _warehouse_columns(project)
    files = []
    for node in manifest.values():
        if (
            node["resource_type"] in ("model", "test")
            and node.get("compiled_code")
            and not node.get("test_metadata")
        ):
            parents = [manifest[p]["relation_name"] for p in node["depends_on"]["nodes"]]
            files.append(
                SqlFile(
                    node["original_file_path"], node["name"],
                    (project / node["original_file_path"]).read_text(),
                    node["compiled_code"], node["relation_name"], {p: columns[p] for p in parents},
                )
            )  # fmt: skip
    yaml_files = {
        p.relative_to(project).as_posix(): p.read_text() for p in (project / "models").rglob("*.yml")
    }
    before = _files(project)
    target = next(f for f in files if f.name == "stg_payments")
    edit = rename_everywhere(target, old="order_id", new="order_key", project=files, yaml_files=yaml_files)
    assert set(edit.files) == {
        "models/staging/stg_payments.sql", "models/orders.sql", "models/customers.sql",
        "tests/assert_payments_have_orders.sql", "models/staging/schema.yml",
    }  # fmt: skip
    for path, text in edit.files.items():
        (project / path).write_text(text)
    _dbt(project, "build")
    after = _files(project)
    assert {p for p in before if before[p] != after[p]} == set(edit.files)
    assert "order_key" in [c for c in _warehouse_columns(project)['"jaffle_shop"."main"."stg_payments"']]
    assert len(_rows(project, "main.orders")) == 99
