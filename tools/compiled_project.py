"""Models as an in-place edit and column lineage read them: the source text on disk, the SQL dbt
compiles it to, the columns of every relation that SQL reads, and the column graph over the project.
The /commands (agent/commands/edit_inputs.py) and the planner's tools (tools/edit_tools.py,
``model_lineage``) both read through here, each after its own ``dbt compile``.

Columns come from the compiled SQL where sqlglot can read it (the files as they are now, built or
not), else from the warehouse; seeds, sources and snapshots, which have no SQL to read columns from
(or, for snapshots, more columns than their SQL), always from the warehouse (through its port, so
any adapter). Everything is read from the project on disk: a model with pending changeset edits has
no compiled SQL that matches its text, so the planner's tools refuse to edit one.

A refusal says what to do in the words of whoever asked (``Hints``): a /command's user runs
commands, the planner calls tools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from tools.column_lineage import ColumnGraph, ModelLineage, from_manifest
from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine
from tools.errors import AeError, Channel, ConfigurationError, DbtCompilationError
from tools.manifest import Manifest, Node
from tools.profiling import profile_relation
from tools.sql_edit import EditRefused, GrainRelation, Relations, SqlFile, choose_time_column
from tools.warehouse_port import Warehouse, warehouse_for


@dataclass(frozen=True)
class Hints:
    """What a refusal tells its reader to do, as format strings in the caller's words."""

    #: a parent ``{name}`` of ``{model}`` whose columns neither its SQL nor the warehouse gives
    unbuilt_parent: str
    #: ``{model}`` that does not compile
    fix_compile: str
    #: the relation ``{name}`` that drives ``{model}``'s grain is not built, so no time column can be
    #: read from its data
    unbuilt_driver: str
    #: how to add ``{parent}.{column}`` to ``{model}``
    add_column: str


#: the planner's words: its tools (a plan cannot build anything before Execute)
PLANNER_HINTS = Hints(
    unbuilt_parent="it must be built first; until then change {model} with edit_file",
    fix_compile="see the error with dbt_compile and fix it with edit_file first",
    unbuilt_driver="name time_column yourself: the column of {name} that says when a row changed",
    add_column="add_model_column model={model} parent={parent} column={column}, in a request of its own",
)


def engine_of(ctx: ToolContext) -> DbtEngine:
    if ctx.engine is None:
        raise ConfigurationError("no dbt engine in this tool context", hint="open the run through a Session")
    return ctx.engine


def parsed_manifest(ctx: ToolContext) -> Manifest:
    """The manifest the run's dbt last wrote, parsed first when there is none (without an engine:
    the one on disk, as it is)."""
    if ctx.engine is None:
        return Manifest.load(ctx.paths.root)
    engine = ctx.engine
    manifest = Manifest.for_engine(engine, missing_ok=True)
    if manifest.is_empty:
        engine.run("parse")
        manifest = Manifest.for_engine(engine)
    return manifest


def disk_text(ctx: ToolContext, node: Node) -> str:
    """The node's file as it is on disk (what dbt compiled), pending edits aside."""
    path = ctx.paths.resolve(node.original_file_path, must_exist=False)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EditRefused(f"{node.original_file_path} ({node.name}) is not on disk") from None
    except UnicodeDecodeError:
        raise EditRefused(f"{node.original_file_path} ({node.name}) is not UTF-8 text") from None


#: resource types whose columns come from the warehouse: no SQL says them (a snapshot's adds dbt's own)
_BUILT_COLUMNS = frozenset({"seed", "source", "snapshot"})


@dataclass(frozen=True)
class TimeColumn:
    """The column an incremental filter reads to tell how far a run has loaded."""

    column: str
    #: the relation it is read from, as a person names it
    relation: str
    #: what the data says it records: ``last-change time`` or ``event time``
    kind: str


@dataclass
class CompiledProject:
    """The project compiled around a node: its manifest (with compiled SQL), the column graph over
    it, and the columns of what the compiled SQL reads."""

    ctx: ToolContext
    manifest: Manifest
    warehouse: Warehouse
    hints: Hints = PLANNER_HINTS
    #: relation as dbt names it -> its columns in the warehouse (None: not there)
    _built: dict[str, list[str] | None] = field(default_factory=dict)
    _graph: ColumnGraph | None = None

    @classmethod
    def compile(cls, ctx: ToolContext, select: str, hints: Hints = PLANNER_HINTS) -> CompiledProject:
        """``dbt compile --select <select>`` on the project on disk; ``@<model>`` compiles the model,
        what is built from it and everything those read. A node that does not compile has no
        compiled SQL; the edits that need it say so."""
        engine = engine_of(ctx)
        result = engine.invoke(DbtCall(command="compile", select=[select]))
        compiled = {n.unique_id: n.compiled_sql for n in result.nodes if n.compiled_sql}
        manifest = Manifest.for_engine(engine).with_compiled(compiled)
        return cls(ctx, manifest, warehouse_for(engine), hints)

    @classmethod
    def of(cls, ctx: ToolContext, manifest: Manifest, hints: Hints) -> CompiledProject:
        """Over a manifest the caller compiled already (the /commands compile through their view)."""
        return cls(ctx, manifest, warehouse_for(engine_of(ctx)), hints)

    @property
    def dialect(self) -> str:
        return self.warehouse.dialect.sqlglot

    def node(self, unique_id: str) -> Node:
        node = self.manifest.get(unique_id)
        if node is None:
            raise DbtCompilationError(f"{unique_id} is not in the manifest dbt wrote just now")
        return node

    def label(self, unique_id: str) -> str:
        """The name a person uses for a node of the project (its unique id when it has none)."""
        node = self.manifest.get(unique_id)
        return node.label if node is not None else unique_id

    def readable(self, text: str) -> str:
        return readable(text, self.manifest)

    # --- a model's text ------------------------------------------------------------------------------

    def source(self, node: Node) -> str:
        return disk_text(self.ctx, node)

    def compiled(self, node: Node) -> str:
        if not node.compiled_code:
            raise EditRefused(
                f"dbt compile gave no SQL for {node.name} ({node.original_file_path}), so it cannot be "
                "edited on its syntax tree",
                hint=self.hints.fix_compile.format(model=node.name),
            )
        return node.compiled_code

    def sql_file(self, node: Node) -> SqlFile:
        return SqlFile(
            node.original_file_path,
            node.name,
            self.source(node),
            self.compiled(node),
            node.relation_name if node.resource_type == "model" else None,
            self.relations(node),
        )

    # --- columns ---------------------------------------------------------------------------------------

    def columns(self, node: Node) -> list[str] | None:
        """A node's columns: a model's from its compiled SQL, else (and for seeds, sources and
        snapshots always) from the warehouse; None when neither says."""
        computed = None if node.resource_type in _BUILT_COLUMNS else self.graph().columns(node.unique_id)
        if computed:
            return list(computed)
        return self._warehouse_columns(node.relation_name) if node.relation_name else None

    def relations(self, node: Node) -> Relations:
        """The columns of every relation the node's compiled SQL reads (CTEs aside; an incremental
        model compiled as an incremental run reads its own table too); refused naming a relation
        whose columns neither its SQL nor the warehouse says."""
        found: dict[str, list[str]] = {}
        for relation in _tables_read(self.compiled(node), self.dialect):
            parent = self._by_relation.get(_parts(relation, self.dialect))
            columns = self.columns(parent) if parent is not None else self._warehouse_columns(relation)
            if not columns:
                name = parent.label if parent is not None else relation
                raise EditRefused(
                    f"the columns of {name}, which {node.name} reads, are not known: it is not built and "
                    "its SQL cannot be read",
                    hint=self.hints.unbuilt_parent.format(name=name, model=node.name),
                )
            found[relation] = columns
        return found

    def graph(self) -> ColumnGraph:
        """Column lineage over the compiled nodes, with the columns of the seeds, sources and
        snapshots among them or read by them as the warehouse has them (a source's YAML may declare
        a few of its columns, a seed none)."""
        if self._graph is None:
            nodes = from_manifest(self.manifest)
            compiled = [node for node in self.manifest.nodes.values() if node.compiled_code]
            # only what the compiled SQL reads: a project's other sources are never asked about
            wanted = {uid for node in compiled for uid in (node.unique_id, *node.depends_on)}
            for unique_id in sorted(wanted & nodes.keys()):
                node = self.manifest.get(unique_id)
                if node is None or node.resource_type not in _BUILT_COLUMNS or not node.relation_name:
                    continue
                columns = self._warehouse_columns(node.relation_name)
                if columns is not None:
                    nodes[unique_id] = {**nodes[unique_id], "columns": columns, "compiled_code": None}
            self._graph = ColumnGraph(nodes, dialect=self.dialect)
        return self._graph

    def lineage(self, node: Node) -> ModelLineage:
        return ModelLineage(self.graph(), node.unique_id)

    # --- what an edit reads around the model -------------------------------------------------------

    def parent_named(self, node: Node, name: str) -> Node:
        """The parent of ``node`` that ``name`` names (a model, seed or snapshot name, or a source's
        ``source_name.table``), with a relation to read; refused naming what ``node`` does read."""
        parents = [p for uid in node.depends_on if (p := self.manifest.get(uid)) is not None]
        found = next((p for p in parents if name.lower() in {p.name.lower(), p.label.lower()}), None)
        if found is None:
            reads = ", ".join(sorted(p.label for p in parents)) or "nothing"
            raise EditRefused(
                f"{node.name} does not read {name} (it reads {reads})",
                hint="name one of the relations it reads, or add the join by hand",
            )
        if not found.relation_name:
            raise EditRefused(
                f"{name} is ephemeral: it has no relation whose columns can be read",
                hint=f"add the column by hand where {node.name} reads {name}",
            )
        return found

    def files_using(self, node: Node, column: str) -> list[SqlFile]:
        """The SQL of the models and singular tests below ``node`` that may use ``column`` (they name
        it, or select ``*`` and pass it on), as a rename reads them; refused when one ae may not edit
        (a package's model, a snapshot, a Python model) names it."""
        names = re.compile(rf"\b{re.escape(column)}\b", re.IGNORECASE)
        files = []
        for unique_id in sorted(self.manifest.descendants(node.unique_id)):
            child = self.node(unique_id)
            if child.resource_type not in ("model", "snapshot", "test") or child.generic_test:
                continue
            code = child.compiled_code or child.raw_code
            editable = child.resource_type in ("model", "test") and not child.is_package
            if not editable or child.language != "sql":
                if names.search(code):
                    raise EditRefused(
                        f"{child.name} ({_kind(child)}) uses {column}, and ae does not edit it",
                        hint=f"keep the name, or rename {column} by hand in every file that uses it",
                    )
                continue
            if names.search(code) or "*" in code:
                files.append(self.sql_file(child))
        return files

    def time_column(self, grain: GrainRelation, model: str) -> TimeColumn:
        """The column of the relation that drives ``model``'s grain that says how far a run has
        loaded, from its data (tools/sql_edit ``choose_time_column``)."""
        label = self.readable(grain.relation)
        if self._warehouse_columns(grain.relation) is None:
            raise EditRefused(
                f"{label} drives {model}'s grain and is not built, so its time column cannot be read from "
                "the data",
                hint=self.hints.unbuilt_driver.format(name=label, model=model),
            )
        profile = profile_relation(self.warehouse, grain.relation)

        def adding(column: str) -> str:
            return self.hints.add_column.format(model=model, parent=label, column=column)

        column = choose_time_column(grain, profile, model=model, label=label, adding=adding)
        kind = "last-change time" if column in profile.updated_at_candidates else "event time"
        return TimeColumn(column, label, kind)

    @cached_property
    def _by_relation(self) -> dict[tuple[str, ...], Node]:
        return {
            _parts(node.relation_name, self.dialect): node
            for node in self.manifest.every()
            if node.relation_name and node.resource_type != "test"
        }

    def _warehouse_columns(self, relation: str) -> list[str] | None:
        if relation not in self._built:
            try:
                self._built[relation] = [c.name for c in self.warehouse.columns(relation)]
            except AeError as exc:
                if exc.channel != Channel.MODEL:  # an unreachable warehouse is not a missing relation
                    raise
                self._built[relation] = None
        return self._built[relation]


def readable(text: str, manifest: Manifest) -> str:
    """``text`` (an edit's description, warning or refusal) with relation names as dbt renders them
    (``"db"."main"."stg_orders"``) replaced by the names a person uses (``stg_orders``)."""
    for node in manifest.every():
        if node.relation_name and node.resource_type != "test" and node.relation_name in text:
            text = text.replace(node.relation_name, node.label)
    return text


def _kind(node: Node) -> str:
    if node.is_package:
        return f"a {node.resource_type} of the installed package {node.package_name}"
    return f"a {node.language} {node.resource_type}"


def _parts(relation: str, dialect: str) -> tuple[str, ...]:
    try:
        return tuple(part.name.lower() for part in exp.to_table(relation, dialect=dialect).parts)
    except SqlglotError:
        return (relation.lower(),)


def _tables_read(compiled: str, dialect: str) -> list[str]:
    """The relations a compiled query reads, as written (``"db"."main"."stg_orders"``), CTEs aside."""
    try:
        tree = sqlglot.parse_one(compiled, read=dialect)
    except (SqlglotError, RecursionError) as exc:
        raise EditRefused(f"the compiled SQL does not parse: {str(exc).splitlines()[0]}") from exc
    ctes = {cte.alias.lower() for cte in tree.find_all(exp.CTE)}
    found: dict[str, None] = {}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function (read_csv(...)): nothing of the project's
        if not table.db and table.name.lower() in ctes:
            continue
        found[".".join(part.sql(dialect=dialect) for part in table.parts)] = None
    return list(found)
