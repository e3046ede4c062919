"""A compiled query's relations swapped for stand-ins on the parsed SQL (tools/sql_edit/retarget.py):
names with quotes stay names, CTEs and table functions are no relations, anything else unmapped is
refused."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from tools.errors import InvalidArguments
from tools.sql_edit.retarget import retarget

STAND_IN = exp.table_("input_1", db="ae_unit_0", quoted=True)
#: a relation name with both quote characters, a statement and a comment in it
ODD = '"db"."shop"."o\'dd ""pay""; drop table x --"'


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_a_quoted_name_is_swapped_whole_and_keeps_its_name_as_alias(dialect: str) -> None:
    sql = f"with paid as (select * from {ODD}) select p.amount, paid.amount from paid join {ODD} as p on true"
    out = retarget(sql, dialect, {ODD: STAND_IN})
    # one query still, reading the stand-in twice and the CTE: the name's statement stayed a name
    tables = [t.sql(dialect=dialect) for t in sqlglot.parse_one(out, read=dialect).find_all(exp.Table)]
    assert sorted(t.split(" AS ")[0] for t in tables) == ['"ae_unit_0"."input_1"'] * 2 + ["paid"]
    assert 'FROM paid JOIN "ae_unit_0"."input_1" AS p' in out
    # unaliased, the stand-in answers to the table's name, for columns qualified with it
    unaliased = retarget(f"select 1 from {ODD}", dialect, {ODD: STAND_IN})
    assert unaliased.endswith('FROM "ae_unit_0"."input_1" AS "o\'dd ""pay""; drop table x --"')


def test_a_relation_that_is_no_input_is_refused() -> None:
    sql = f"select * from {ODD} where id in (select id from shop.other)"
    with pytest.raises(InvalidArguments, match=r"reads shop\.other, which is not one of the model's inputs"):
        retarget(sql, "postgres", {ODD: STAND_IN})


def test_case_folds_as_the_dialect_folds() -> None:
    # PostgreSQL keeps a quoted name's case: "Orders" is not orders
    with pytest.raises(InvalidArguments, match="not one of the model's inputs"):
        retarget('select * from "db"."shop"."Orders"', "postgres", {'"db"."shop"."orders"': STAND_IN})
    assert "input_1" in retarget(
        "select * from db.shop.ORDERS", "postgres", {'"db"."shop"."orders"': STAND_IN}
    )
    # DuckDB resolves names case-insensitively, quoted or not
    assert "input_1" in retarget('select * from "DB"."Shop"."Orders"', "duckdb", {"db.shop.orders": STAND_IN})


def test_table_functions_are_no_relations_and_sql_that_is_no_query_is_refused() -> None:
    out = retarget("select * from generate_series(1, 3) as g", "postgres", {})
    assert "GENERATE_SERIES" in out.upper()
    with pytest.raises(InvalidArguments, match="not a single query"):
        retarget("select 1; select 2", "postgres", {})
    with pytest.raises(InvalidArguments, match="not a single query"):
        retarget("drop table x", "postgres", {})
