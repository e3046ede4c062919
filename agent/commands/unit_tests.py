"""dbt unit tests (``unit_tests:``) for a model with logic, from a few real rows of its inputs.

A model earns one when its SQL has logic a data test cannot pin: a CASE, an aggregation, or an
incremental filter. The fixture rows are a few real rows of each input, read through the read-only
query tool; the expected rows are what the model's compiled SQL returns on exactly those rows,
computed in a scratch in-memory DuckDB whose tables carry the inputs' names and column types. The
test so pins what the logic does today on realistic rows, and a change that alters those rows fails
it. For an incremental model the test runs the incremental branch (``is_incremental`` overridden
to true, a few of the model's own rows as ``this``), since the full-refresh branch is a plain select.

The expected rows come from DuckDB: this module serves DuckDB warehouses (ae's default); on another
adapter it says so (``NotOnAdapter``), and the command writes its data tests without the unit test.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from agent.commands.project import ProjectView
from tools.engine import DbtCall
from tools.errors import InvalidArguments, NotOnAdapter
from tools.manifest import Node
from tools.warehouse import QueryResult, parse_relation_name, quote_identifier
from tools.yaml_edit import read_section_item, upsert_section_item

#: rows read from each input: enough to exercise a CASE or a group, few enough to read in a review
FIXTURE_ROWS = 5
_LOGIC = {
    "a CASE expression": re.compile(r"\bcase\b", re.IGNORECASE),
    "an aggregation": re.compile(r"\bgroup\s+by\b", re.IGNORECASE),
    "an incremental filter": re.compile(r"\bis_incremental\s*\(\s*\)"),
}


def unit_test_name(model: str) -> str:
    return f"{model}_logic_on_sample_rows"


def logic_of(sql: str) -> list[str]:
    """What in the model's SQL a unit test should pin (empty: a plain select, nothing to pin)."""
    return [what for what, pattern in _LOGIC.items() if pattern.search(sql)]


@dataclass(frozen=True)
class _Input:
    #: how dbt's unit test names it: ref('x'), source('s', 't') or this
    given: str
    relation: str
    rows: QueryResult


def _given_name(view: ProjectView, uid: str) -> tuple[str, Node] | None:
    node = view.manifest.get(uid)
    if node is None or node.resource_type not in {"model", "seed", "snapshot", "source"}:
        return None
    if node.resource_type == "source":
        return f"source('{node.source_name}', '{node.name}')", node
    return f"ref('{node.name}')", node


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'" if isinstance(value, str) else str(value)


def _sample(view: ProjectView, relation: str, related: tuple[str, list[Any]] | None = None) -> QueryResult:
    """A few rows of ``relation``; with ``related`` (column, values), rows whose column holds one of
    the values, so a child's fixture rows belong to the parent rows already chosen."""
    where = ""
    if related is not None and (values := [v for v in related[1] if v is not None]):
        where = f" where {quote_identifier(related[0])} in ({', '.join(_literal(v) for v in values)})"
    sql = f"select * from {relation}{where} order by all limit {FIXTURE_ROWS}"
    return view.tools.call(
        "warehouse",
        "run_query",
        lambda: view.warehouse.query(sql, limit=FIXTURE_ROWS),
        {"sql": sql},
    )


def _plain(value: Any) -> Any:
    """A value as the YAML fixture writes it (dbt casts it back to the column's type)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return str(value)
    return value


def _rows(columns: list[str], rows: list[list[Any]] | list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def _expected(inputs: list[_Input], compiled_sql: str) -> list[dict[str, Any]]:
    """The compiled model run on the fixture rows alone, in a scratch DuckDB shaped like the warehouse."""
    with duckdb.connect(":memory:") as scratch:
        for attached in sorted({parse_relation_name(i.relation)[0] or "memory" for i in inputs} - {"memory"}):
            scratch.execute(f"attach ':memory:' as {quote_identifier(attached)}")
        for given in inputs:
            database, schema, name = parse_relation_name(given.relation)
            where = f"{quote_identifier(database or 'memory')}.{quote_identifier(schema)}"
            scratch.execute(f"create schema if not exists {where}")
            table = f"{where}.{quote_identifier(name)}"
            columns = ", ".join(
                f"{quote_identifier(c)} {t}"
                for c, t in zip(given.rows.columns, given.rows.types, strict=True)
            )
            scratch.execute(f"create table if not exists {table} ({columns})")
            if given.rows.rows:
                marks = ", ".join("?" for _ in given.rows.columns)
                scratch.executemany(f"insert into {table} values ({marks})", given.rows.rows)
        result = scratch.execute(compiled_sql)
        names = [d[0] for d in result.description or []]
        return _rows(names, result.fetchall())


def _compiled(view: ProjectView, name: str) -> str:
    result = view.dbt(DbtCall(command="compile", select=[name]))
    sql = next((n.compiled_sql for n in result.nodes if n.name == name and n.compiled_sql), None)
    if sql is None:
        raise InvalidArguments(
            f"dbt compile gave no SQL for {name}", hint=f"run: dbt compile --select {name}"
        )
    return sql


def unit_test_entry(view: ProjectView, node: Node) -> tuple[dict[str, Any], list[str]] | None:
    """The model's ``unit_tests:`` entry and what it pins, or None when its SQL has no logic to pin."""
    name = node.name
    pinned = logic_of(node.raw_code)
    if not pinned:
        return None
    if view.warehouse.adapter != "duckdb":
        # the model's SQL is run on the sampled rows in a scratch DuckDB (``_expected``)
        raise NotOnAdapter(
            view.warehouse.adapter,
            "a unit test's expected rows (ae computes them in DuckDB)",
            hint=f"write {unit_test_name(name)} by hand: given rows of each input, and the rows expected",
        )
    compiled = _compiled(view, name)
    inputs: list[_Input] = []
    for uid in node.depends_on:
        found = _given_name(view, uid)
        if found is None:
            continue
        given, upstream = found
        if not upstream.relation_name:
            # an ephemeral input has no rows to sample; dbt wants its fixture as SQL (format: sql)
            raise InvalidArguments(
                f"{name} reads {upstream.name}, which is ephemeral: ae cannot sample rows for its "
                "unit test fixture",
                hint=f"write the unit test by hand (given: input ref('{upstream.name}'), format: sql)",
            )
        relation = view.relation_of(upstream)
        rows = _sample(view, relation)
        # the first input's first column is its key (ae lists keys first): other inputs holding that
        # column get rows of the same keys, so joins and aggregates in the fixture have something to do
        if inputs and (key := inputs[0].rows.columns[0]) in rows.columns:
            keys = [row[0] for row in inputs[0].rows.rows]
            rows = _sample(view, relation, (key, keys))
        inputs.append(_Input(given, relation, rows))
    own = view.relation_of(node)
    incremental = own in compiled  # dbt rendered is_incremental() true: the filter reads {{ this }}
    if incremental:
        inputs.append(_Input("this", own, _sample(view, own)))
    entry: dict[str, Any] = {
        "name": unit_test_name(name),
        "model": name,
        "description": f"Pins {', '.join(pinned)} of {name} on {FIXTURE_ROWS} real rows of each input; "
        "the expected rows are what the model returned on them when the test was written.",
    }
    if incremental:
        entry["overrides"] = {"macros": {"is_incremental": True}}
    entry["given"] = [{"input": i.given, "rows": _rows(i.rows.columns, i.rows.rows)} for i in inputs]
    entry["expect"] = {"rows": _expected(inputs, compiled)}
    return entry, pinned


@dataclass(frozen=True)
class UnitTestNote:
    """What happened to a model's unit test, for the answer: ``written`` when this change adds it."""

    written: bool
    text: str


def add_unit_test(view: ProjectView, node: Node, path: str) -> UnitTestNote | None:
    """Write the model's unit test into ``path`` (its properties YAML); None when it has no logic."""
    changeset = view.tools.changeset
    current = view.read_text(changeset, path)
    name = unit_test_name(node.name)
    # an existing test keeps its expectations: re-recording them from today's output would erase the
    # very difference it exists to catch
    if read_section_item(current, "unit_tests", name, path) is not None:
        return UnitTestNote(False, f"unit test {name} in {path} is already there; kept as written")
    try:
        found = unit_test_entry(view, node)
    except (InvalidArguments, NotOnAdapter) as why:
        # the data tests asked for still go in; the answer says why the logic is not pinned
        return UnitTestNote(False, f"no unit test: {why}")
    if found is None:
        return None
    entry, pinned = found
    text = upsert_section_item(current, "unit_tests", entry, path, header={"version": 2})
    changeset.write_file(view.paths, path, text)
    fixtures = sum(len(given["rows"]) for given in entry["given"])
    return UnitTestNote(
        True,
        f"unit test {entry['name']} in {path}: pins {', '.join(pinned)} on {fixtures} fixture rows, "
        f"expecting {len(entry['expect']['rows'])} row(s)",
    )
