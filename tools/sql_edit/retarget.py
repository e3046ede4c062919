"""A compiled query pointed at other tables: each relation it reads swapped for a stand-in, judged on
the parsed SQL (sqlglot, the warehouse's dialect), never by replacing text.

A unit test's expected rows come from the model's compiled SQL run on fixture tables only: every
relation the SQL reads must be one the caller maps, or its rows would come from live data unnoticed.
So a relation not in the map is refused; a CTE's name and a table function are not relations.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from tools.errors import InvalidArguments

#: a relation's parts as the warehouse resolves them (case folded as the dialect folds it)
Parts = tuple[str, ...]


def parts_of(relation: str | exp.Table, dialect: str) -> Parts:
    """``relation``'s parts as the dialect resolves them: unquoted names folded, quoted kept (on
    PostgreSQL); every name folded on a case-insensitive dialect (DuckDB)."""
    try:
        table = exp.to_table(relation, dialect=dialect) if isinstance(relation, str) else relation
    except SqlglotError as exc:  # an unclosed quote fails in the tokenizer
        raise InvalidArguments(f"{relation!r} is not a relation name: {exc}") from exc
    normalized = normalize_identifiers(table.copy(), dialect=dialect)
    return tuple(part.name for part in normalized.parts)


def retarget(sql: str, dialect: str, targets: Mapping[str, exp.Table]) -> str:
    """``sql`` (one query) with each relation named by a key of ``targets`` (spelled as dbt compiled
    it) reading the table given instead; InvalidArguments for a relation not in ``targets``."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (SqlglotError, RecursionError) as exc:
        raise InvalidArguments(f"the compiled SQL does not parse: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise InvalidArguments("the compiled SQL is not a single query")
    tree = statements[0]
    by_parts = {parts_of(name, dialect): table for name, table in targets.items()}
    ctes = {parts_of(exp.to_table(cte.alias_or_name), dialect) for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function (generate_series, unnest ...): the read-only guard judges it
        parts = parts_of(table, dialect)
        if len(parts) == 1 and parts in ctes:
            continue
        target = by_parts.get(parts)
        if target is None:
            raise InvalidArguments(
                f"the compiled SQL reads {table.sql(dialect=dialect)}, which is not one of the model's "
                "inputs: its rows would come from the live warehouse, not from fixture rows",
                hint="read every relation through ref() or source(), so the unit test can give its rows",
            )
        if table.args.get("alias") is None:
            # a column qualified by the table's name (orders.amount) still finds it under the stand-in
            table.set("alias", exp.TableAlias(this=table.this.copy()))
        for part in ("this", "db", "catalog"):
            value = target.args.get(part)
            table.set(part, value.copy() if value is not None else None)
    return tree.sql(dialect=dialect)
