"""dbt unit tests (``unit_tests:``) for a model with logic, from a few real rows of its inputs.

A model earns one when its SQL has logic a data test cannot pin: a CASE, an aggregation, or an
incremental filter. The fixture rows are a few real rows of each input, read through the read-only
query tool; the expected rows are what the model's compiled SQL returns on exactly those rows. The
test so pins what the logic does today on realistic rows, and a change that alters those rows fails
it. For an incremental model the test runs the incremental branch (``is_incremental`` overridden
to true, a few of the model's own rows as ``this``), since the full-refresh branch is a plain select.

The expected rows are computed through the warehouse port on any adapter (``_expected``): each
input's fixture rows are loaded, with the input's column types, into a table of a scratch schema;
the compiled SQL, its relations swapped for those tables (tools/sql_edit/retarget.py), runs as a
read-only query; the schema is dropped whatever happens. The scratch schema lives in the warehouse
itself, so the SQL runs in the adapter's own dialect; on DuckDB it lives in a throwaway DuckDB file
instead, which leaves the user's file untouched and unlocked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue

from agent.commands.project import ProjectView
from agent.commands.unit_test_expected import Fixture, expected_rows
from tools.engine import DbtCall
from tools.errors import InvalidArguments, NotOnAdapter
from tools.manifest import Node
from tools.warehouse_port import ColumnInfo, QueryResult
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
    #: the input's columns as the catalog types them (the scratch table's types)
    columns: list[ColumnInfo]
    rows: QueryResult

    @property
    def fixture(self) -> Fixture:
        return Fixture(self.relation, self.columns, self.rows.rows)


def _given_name(view: ProjectView, uid: str) -> tuple[str, Node] | None:
    node = view.manifest.get(uid)
    if node is None or node.resource_type not in {"model", "seed", "snapshot", "source"}:
        return None
    if node.resource_type == "source":
        return f"source('{node.source_name}', '{node.name}')", node
    return f"ref('{node.name}')", node


def _literal(view: ProjectView, value: JsonValue) -> str:
    """A sampled value as SQL: text quoted by the warehouse's dialect, numbers as they are."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return view.warehouse.dialect.literal(str(value))


def _sample(
    view: ProjectView,
    relation: str,
    columns: list[ColumnInfo],
    related: tuple[str, list[JsonValue]] | None = None,
) -> QueryResult:
    """A few rows of ``relation``, ordered by every column (the same rows each time); with
    ``related`` (column, values), rows whose column holds one of the values, so a child's fixture
    rows belong to the parent rows already chosen."""
    dialect = view.warehouse.dialect
    where = ""
    if related is not None and (values := [v for v in related[1] if v is not None]):
        listed = ", ".join(_literal(view, v) for v in values)
        where = f" where {dialect.ident(related[0])} in ({listed})"
    order = ", ".join(dialect.comparable(dialect.ident(c.name), c.type) for c in columns)
    sql = f"select * from {relation}{where} order by {order} limit {FIXTURE_ROWS}"
    rows = view.tools.call(
        "warehouse",
        "run_query",
        lambda: view.warehouse.query(sql, limit=FIXTURE_ROWS),
        {"sql": sql},
    )
    if rows.values_truncated:
        raise InvalidArguments(
            f"{relation} holds values too long to write as fixture rows",
            hint="write the unit test by hand, with shorter values",
        )
    return rows


def _rows(result: QueryResult) -> list[dict[str, Any]]:
    """Rows as the YAML writes them: the port's JSON values (dates and timestamps as ISO text, exact
    decimals as text), which dbt casts back to each column's type."""
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _input(view: ProjectView, given: str, relation: str, first: _Input | None) -> _Input:
    columns = view.tools.call(
        "warehouse", "describe_columns", lambda: view.warehouse.columns(relation), {"relation": relation}
    )
    rows = _sample(view, relation, columns)
    # the first input's first column is its key (ae lists keys first): other inputs holding that
    # column get rows of the same keys, so joins and aggregates in the fixture have something to do
    if first is not None and (key := first.rows.columns[0]) in rows.columns:
        rows = _sample(view, relation, columns, (key, [row[0] for row in first.rows.rows]))
    if [c.name for c in columns] != rows.columns:
        raise InvalidArguments(f"{relation}'s catalog columns are not the columns its rows have")
    return _Input(given, relation, columns, rows)


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
        inputs.append(_input(view, given, relation, inputs[0] if inputs else None))
    own = view.relation_of(node)
    incremental = own in compiled  # dbt rendered is_incremental() true: the filter reads {{ this }}
    if incremental:
        inputs.append(_input(view, "this", own, None))
    entry: dict[str, Any] = {
        "name": unit_test_name(name),
        "model": name,
        "description": f"Pins {', '.join(pinned)} of {name} on {FIXTURE_ROWS} real rows of each input; "
        "the expected rows are what the model returned on them when the test was written.",
    }
    if incremental:
        entry["overrides"] = {"macros": {"is_incremental": True}}
    entry["given"] = [{"input": i.given, "rows": _rows(i.rows)} for i in inputs]
    expected = view.tools.call(
        "warehouse",
        "unit_test_expected_rows",
        lambda: expected_rows(view.warehouse, [i.fixture for i in inputs], compiled),
        {"model": name},
    )
    entry["expect"] = {"rows": _rows(expected)}
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
