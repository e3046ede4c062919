"""Column-level lineage over a dbt project's compiled SQL: which columns a column is made from, and
every model column, test and exposure that depends on it.

Input is manifest-like (``from_manifest`` builds it from dbt's manifest): unique_id -> node with
``name``, ``resource_type``, ``compiled_code`` (models, snapshots, singular tests), ``columns`` (names,
or the manifest's mapping; a seed may give its CSV text as ``raw_code`` instead), ``depends_on``,
``relation_name``, and for tests ``attached_node``/``column_name``/``test_metadata``. A model's output
columns come from its compiled SQL (sqlglot ``qualify`` expands ``select *`` with the parents'
columns, computed the same way up to the seeds and sources); its edges come from ``sqlglot.lineage``
through CTEs, joins, aggregates and renames.

Two kinds of dependence are told apart: a column *derived* from another (its value is computed from
it) and a model or test that only *reads* it (in a join or a filter); both break when it is renamed.
Exposures name models, not columns, so an exposure is listed when it uses any model on the way.

Work is capped (``LineageBudget``: a deadline and a number of models analysed); a result cut short
says so in ``cut`` and is never presented as complete.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage as sqlglot_lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope

from tools.errors import UnknownNode
from tools.manifest import Manifest

_SQL_TYPES = frozenset({"model", "snapshot", "test", "analysis"})
_ANY_TYPE = "unknown"


@dataclass(frozen=True, order=True)
class ColumnRef:
    node: str
    column: str


@dataclass(frozen=True)
class LineageBudget:
    """How much one question may cost: wall-clock seconds and models analysed."""

    seconds: float = 20.0
    max_models: int = 500


@dataclass(frozen=True)
class ColumnLineage:
    focus: ColumnRef
    direction: Literal["upstream", "downstream"]
    #: every column reached, with its distance in models from the focus
    columns: tuple[tuple[ColumnRef, int], ...]
    #: upstream: where the lineage ends (seed and source columns, or nodes without SQL)
    origins: tuple[ColumnRef, ...] = ()
    #: downstream: models and tests that read a reached column in a join or filter without deriving
    #: an output from it
    readers: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    exposures: tuple[str, ...] = ()
    #: nodes whose SQL could not be analysed (their edges are missing from the answer)
    unresolved: tuple[str, ...] = ()
    #: why the walk stopped before its end, or None when it is complete
    cut: str | None = None

    @property
    def complete(self) -> bool:
        return self.cut is None and not self.unresolved


@dataclass(frozen=True)
class Impact:
    """What depends on some columns of a model: shown before an edit is applied."""

    columns: tuple[ColumnRef, ...]
    models: tuple[str, ...]
    tests: tuple[str, ...]
    exposures: tuple[str, ...]
    unresolved: tuple[str, ...] = ()
    cut: str | None = None

    def render(self, name: Callable[[str], str] | None = None) -> str:
        """One line per affected model, column, test and exposure; ``name`` turns a unique id into
        the name a person uses (the unique id itself without it)."""
        shown = name or str
        parts = [
            f"{len(self.models)} downstream model(s)",
            f"{len(self.columns)} column(s)",
            f"{len(self.tests)} test(s)",
            f"{len(self.exposures)} exposure(s)",
        ]
        lines = ["impact: " + ", ".join(parts)]
        lines += [f"  model {shown(m)}" for m in self.models]
        lines += [f"  column {shown(c.node)}.{c.column}" for c in self.columns]
        lines += [f"  test {shown(t)}" for t in self.tests]
        lines += [f"  exposure {shown(e)}" for e in self.exposures]
        if self.unresolved:
            lines.append("  not analysed (SQL unreadable): " + ", ".join(shown(u) for u in self.unresolved))
        if self.cut:
            lines.append(f"  incomplete: {self.cut}")
        return "\n".join(lines)


@dataclass
class _Analysis:
    outputs: list[str]
    #: output column -> the parent columns its value is computed from
    edges: dict[str, set[ColumnRef]]
    #: every parent column the SQL names anywhere (joins, filters, outputs)
    reads: set[ColumnRef]


class _Cut(Exception):
    pass


@dataclass
class _Clock:
    budget: LineageBudget
    started: float = field(default_factory=time.monotonic)
    analysed: int = 0

    def charge(self) -> None:
        if time.monotonic() - self.started > self.budget.seconds:
            raise _Cut(f"stopped at the {self.budget.seconds:g} s deadline")
        if self.analysed >= self.budget.max_models:
            raise _Cut(f"stopped after analysing {self.budget.max_models} models (the budget)")
        self.analysed += 1


def from_manifest(manifest: Manifest) -> dict[str, dict[str, Any]]:
    """The nodes, sources and exposures of dbt's manifest, by unique_id, as dbt wrote them (the graph
    reads compiled code and columns in every shape it accepts)."""
    sections = (manifest.nodes, manifest.sources, manifest.exposures)
    return {uid: dict(node.raw) for section in sections for uid, node in section.items()}


def _depends_on(node: Mapping[str, Any]) -> list[str]:
    depends = node.get("depends_on") or []
    if isinstance(depends, Mapping):
        depends = depends.get("nodes") or []
    return [str(d) for d in depends]


def _declared_columns(node: Mapping[str, Any]) -> list[str] | None:
    columns = node.get("columns")
    if isinstance(columns, Mapping) and columns:
        return [str(c.get("name", k)) if isinstance(c, Mapping) else str(k) for k, c in columns.items()]
    if isinstance(columns, Sequence) and not isinstance(columns, str) and columns:
        return [str(c) for c in columns]
    if node.get("resource_type") == "seed" and node.get("raw_code"):
        header = str(node["raw_code"]).splitlines()[0]
        return [h.strip().strip('"') for h in header.split(",") if h.strip()]
    return None


def _compiled(node: Mapping[str, Any]) -> str | None:
    if node.get("resource_type") not in _SQL_TYPES:
        return None
    sql = node.get("compiled_code") or node.get("compiled_sql") or node.get("compiled")
    return str(sql) if sql else None


def _parts(table: exp.Table) -> tuple[str, ...]:
    return tuple(part.name.lower() for part in table.parts)


def _set_columns(schema: dict[str, Any], parts: tuple[str, ...], columns: Sequence[str]) -> None:
    """``columns`` of the relation ``parts`` in sqlglot's nested schema mapping."""
    level = schema
    for part in parts[:-1]:
        level = level.setdefault(part, {})
    level[parts[-1]] = {c.lower(): _ANY_TYPE for c in columns}


def _own_columns(tree: exp.Expr, node: Mapping[str, Any]) -> list[str] | None:
    """A model's output names read from its own SQL (``select *`` followed into the CTE it reads), or
    its declared columns: what the model's table holds when its SQL reads it back."""
    ctes = {cte.alias.lower(): cte.this for cte in tree.find_all(exp.CTE)}
    select: exp.Expr | None = tree
    for _ in range(len(ctes) + 1):
        if not isinstance(select, exp.Select):
            break
        if not any(isinstance(s, exp.Star) for s in select.selects):
            return [s.alias_or_name for s in select.selects]
        source = select.args.get("from_") or select.args.get("from")
        table = source.this if source is not None else None
        select = ctes.get(table.name.lower()) if isinstance(table, exp.Table) and not table.db else None
    return _declared_columns(node)


class ColumnGraph:
    """Lazy column lineage over a project: each model's SQL is analysed once, when first needed."""

    def __init__(
        self,
        nodes: Mapping[str, Mapping[str, Any]],
        *,
        dialect: str = "duckdb",
        budget: LineageBudget | None = None,
    ) -> None:
        self.nodes = nodes
        self.dialect = dialect
        self.budget = budget or LineageBudget()
        self._children: dict[str, list[str]] = {}
        self._by_relation: dict[tuple[str, ...], str] = {}
        for unique_id, node in nodes.items():
            for parent in _depends_on(node):
                self._children.setdefault(parent, []).append(unique_id)
            relation = node.get("relation_name")
            if relation and node.get("resource_type") not in ("test", "unit_test"):
                try:
                    self._by_relation[_parts(exp.to_table(str(relation), dialect=dialect))] = unique_id
                except SqlglotError:
                    continue
        self._analyses: dict[str, _Analysis | None] = {}

    def find(self, name: str) -> str:
        """The unique_id of a node given by unique_id or by name (models first)."""
        if name in self.nodes:
            return name
        matches = [
            u for u, n in self.nodes.items() if n.get("name") == name and n.get("resource_type") != "test"
        ]
        matches.sort(key=lambda u: self.nodes[u].get("resource_type") != "model")
        if not matches:
            raise UnknownNode(
                f"no node named {name!r} in the project", hint="dbt ls lists the names of the project's nodes"
            )
        return matches[0]

    def columns(self, unique_id: str) -> list[str] | None:
        """The node's columns: a model's from its SQL, a seed's or source's as declared."""
        if _compiled(self.nodes.get(unique_id, {})) is not None:
            analysis = self._analyse(unique_id, _Clock(self.budget))
            if analysis is not None and analysis.outputs:
                return analysis.outputs
        node = self.nodes.get(unique_id)
        return _declared_columns(node) if node is not None else None

    # analysis

    def _analyse(self, unique_id: str, clock: _Clock) -> _Analysis | None:
        if unique_id in self._analyses:
            return self._analyses[unique_id]
        # parents first, without recursion: a chain of a thousand models is walked as a list
        pending = [unique_id]
        while pending:
            current = pending[-1]
            if current in self._analyses:
                pending.pop()
                continue
            waiting = [
                p for p in _depends_on(self.nodes[current])
                if p in self.nodes and p not in self._analyses and _compiled(self.nodes[p]) is not None
                and p not in pending
            ]  # fmt: skip
            if waiting:
                pending.extend(waiting)
                continue
            pending.pop()
            clock.charge()
            self._analyses[current] = self._analyse_one(current)
        return self._analyses[unique_id]

    def _analyse_one(self, unique_id: str) -> _Analysis | None:
        node = self.nodes[unique_id]
        sql = _compiled(node)
        if sql is None:
            return None
        try:
            tree = sqlglot.parse_one(sql, read=self.dialect)
            ctes = {cte.alias.lower() for cte in tree.find_all(exp.CTE)}
            schema: dict[str, Any] = {}
            relations: dict[tuple[str, ...], str] = {}
            for table in tree.find_all(exp.Table):
                parts = _parts(table)
                if len(parts) == 1 and parts[0] in ctes:
                    continue
                parent = self._by_relation.get(parts)
                if parent == unique_id:
                    # an incremental model compiled as an incremental run reads itself ({{ this }}):
                    # not lineage, but qualify needs the columns it selects from there
                    _set_columns(schema, parts, _own_columns(tree, node) or [])
                    continue
                columns = self.columns(parent) if parent is not None else None
                if parent is None or columns is None:
                    continue
                relations[parts] = parent
                _set_columns(schema, parts, columns)
            qualified = qualify(
                tree, dialect=self.dialect, schema=schema, validate_qualify_columns=False,
                quote_identifiers=False, identify=False,
            )  # fmt: skip
            root = build_scope(qualified)
            if root is None or not isinstance(qualified, exp.Query):
                return None
            nodes = sqlglot_lineage(
                None, qualified, schema=schema, dialect=self.dialect, scope=root, copy=False
            )
        except (SqlglotError, ValueError, KeyError, RecursionError):  # sqlglot's ways of failing on SQL
            return None
        edges: dict[str, set[ColumnRef]] = {}
        for column, top in nodes.items():
            edges[column] = {
                ColumnRef(relations[_parts(leaf.expression)], leaf.name.rsplit(".", 1)[-1].strip('"'))
                for leaf in top.walk()
                if isinstance(leaf.expression, exp.Table) and _parts(leaf.expression) in relations
            }
        reads = {
            ColumnRef(relations[_parts(source)], column.name)
            for scope in root.traverse()
            for column in scope.columns
            if (found := scope.selected_sources.get(column.table)) is not None
            and isinstance(source := found[1], exp.Table)
            and _parts(source) in relations
        }
        outputs = [s.alias_or_name for s in qualified.selects if not isinstance(s, exp.Star)]
        return _Analysis(outputs, edges, reads | {r for refs in edges.values() for r in refs})

    # questions

    def upstream(self, node: str, column: str) -> ColumnLineage:
        """Every column ``node.column`` is computed from, back to seeds and sources."""
        focus = ColumnRef(self.find(node), column.lower())
        clock = _Clock(self.budget)
        reached: dict[ColumnRef, int] = {}
        origins: set[ColumnRef] = set()
        unresolved: set[str] = set()
        queue = deque([(focus, 0)])
        cut = None
        try:
            while queue:
                ref, distance = queue.popleft()
                if _compiled(self.nodes.get(ref.node, {})) is None:
                    origins.add(ref)
                    continue
                analysis = self._analyse(ref.node, clock)
                if analysis is None:
                    unresolved.add(ref.node)
                    continue
                for parent in sorted(_lookup(analysis.edges, ref.column)):
                    if parent not in reached:
                        reached[parent] = distance + 1
                        queue.append((parent, distance + 1))
        except _Cut as stop:
            cut = str(stop)
        return ColumnLineage(
            focus, "upstream", tuple(sorted(reached.items(), key=lambda i: (i[1], i[0]))),
            origins=tuple(sorted(origins)), unresolved=tuple(sorted(unresolved)), cut=cut,
        )  # fmt: skip

    def downstream(self, node: str, column: str) -> ColumnLineage:
        return self._downstream(ColumnRef(self.find(node), column.lower()), [column.lower()])

    def impact(self, node: str, columns: Iterable[str]) -> Impact:
        """What depends on ``columns`` of ``node``: the downstream answer for all of them at once."""
        wanted = [c.lower() for c in columns]
        found = self._downstream(ColumnRef(self.find(node), wanted[0] if wanted else ""), wanted)
        models = sorted({ref.node for ref, _ in found.columns} | set(found.readers))
        return Impact(
            tuple(ref for ref, _ in found.columns), tuple(models), found.tests, found.exposures,
            found.unresolved, found.cut,
        )  # fmt: skip

    def _downstream(self, focus: ColumnRef, columns: Sequence[str]) -> ColumnLineage:
        clock = _Clock(self.budget)
        starts = [ColumnRef(focus.node, c) for c in columns]
        reached: dict[ColumnRef, int] = {}
        readers: set[str] = set()
        tests: set[str] = set()
        unresolved: set[str] = set()
        models_on_the_way = {focus.node}
        queue = deque((start, 0) for start in starts)
        cut = None
        try:
            while queue:
                ref, distance = queue.popleft()
                for child in self._children.get(ref.node, []):
                    node = self.nodes[child]
                    if node.get("resource_type") in ("test", "unit_test"):
                        if self._tests_column(child, ref, clock):
                            tests.add(child)
                        continue
                    if _compiled(node) is None:
                        continue
                    analysis = self._analyse(child, clock)
                    if analysis is None:
                        unresolved.add(child)
                        continue
                    derived = [out for out, parents in analysis.edges.items() if ref in parents]
                    for out in derived:
                        target = ColumnRef(child, out)
                        if target not in reached and target not in starts:
                            reached[target] = distance + 1
                            models_on_the_way.add(child)
                            queue.append((target, distance + 1))
                    if not derived and ref in analysis.reads:
                        readers.add(child)
        except _Cut as stop:
            cut = str(stop)
        exposures = {
            child
            for model in models_on_the_way | readers
            for child in self._children.get(model, [])
            if self.nodes[child].get("resource_type") == "exposure"
        }
        return ColumnLineage(
            focus, "downstream", tuple(sorted(reached.items(), key=lambda i: (i[1], i[0]))),
            readers=tuple(sorted(readers - tests)), tests=tuple(sorted(tests)),
            exposures=tuple(sorted(exposures)), unresolved=tuple(sorted(unresolved)), cut=cut,
        )  # fmt: skip

    def _tests_column(self, unique_id: str, ref: ColumnRef, clock: _Clock) -> bool:
        """Whether a test node checks ``ref``: a column test on it, a relationships test whose
        ``field`` it is, or a singular test whose SQL reads it."""
        test = self.nodes[unique_id]
        if test.get("attached_node") == ref.node and str(test.get("column_name") or "").lower() == ref.column:
            return True
        metadata = test.get("test_metadata") or {}
        kwargs = metadata.get("kwargs") or {}
        if (
            metadata.get("name") == "relationships"
            and test.get("attached_node") != ref.node  # the `to` side: the model the test refers to
            and str(kwargs.get("field", "")).lower() == ref.column
        ):
            return True
        if _compiled(test) is not None and not metadata:
            analysis = self._analyse(unique_id, clock)
            return analysis is not None and ref in analysis.reads
        return False


def _lookup(edges: Mapping[str, set[ColumnRef]], column: str) -> set[ColumnRef]:
    for name, parents in edges.items():
        if name.lower() == column:
            return parents
    return set()


@dataclass(frozen=True)
class ModelLineage:
    """A model within its project's column graph: what an edit passes to get its impact listed."""

    graph: ColumnGraph
    unique_id: str
