"""Models as the edit tools and column lineage read them: the source text on disk, the SQL dbt
compiles it to, and the columns of every relation that SQL reads.

One ``dbt compile`` of a selection (through the run's engine, which writes only dbt's target folder)
gives the compiled SQL and a fresh manifest; the column graph (tools/column_lineage) runs over it,
with the columns of seeds, sources and snapshots from the warehouse port. A model's columns come
from its compiled SQL (the files as they are now, built or not), else from the warehouse.
Everything is read from the project on disk, so a model with pending changeset edits has no
compiled SQL that matches its text: editing one is refused, naming the way around.
"""

from __future__ import annotations

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
from tools.sql_edit import EditRefused, GrainRelation, Relations, SqlFile
from tools.warehouse_port import Warehouse, warehouse_for

#: what a model is changed with instead, named in refusals
BY_HAND = "edit_file"


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


def editable_model(ctx: ToolContext, manifest: Manifest, name: str) -> Node:
    """The project's own SQL model ``name``, with no pending edits of its file; a refusal the model
    can act on otherwise (a package's model, a Python model, a file this plan already changed)."""
    node = manifest.find_model(name, hint="list the models with dbt_ls (resource_type model)")
    if node.is_package:
        raise EditRefused(
            f"{name} is a model of the installed package {node.package_name}: ae reads a package's models "
            "but never edits them",
            hint=f"build a model of your own on it (ref('{name}')) and change that one",
        )
    if node.language != "sql":
        raise EditRefused(f"{name} is a {node.language} model; these edits read SQL", hint=f"use {BY_HAND}")
    path = node.original_file_path
    if ctx.changeset.pending(ctx.paths.normalise(path)) is not None:
        raise EditRefused(
            f"{path} already has pending edits in this plan; this tool reads the model as dbt compiles "
            "it from disk, so its edit would not see them",
            hint=f"make this change with {BY_HAND} on the pending text, or in a separate request",
        )
    return node


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


@dataclass
class CompiledProject:
    """The project compiled around a node: its manifest (with compiled SQL), the column graph over
    it, and the columns of what the compiled SQL reads."""

    ctx: ToolContext
    manifest: Manifest
    warehouse: Warehouse
    #: relation as dbt names it -> its columns in the warehouse (None: not there)
    _built: dict[str, list[str] | None] = field(default_factory=dict)
    _graph: ColumnGraph | None = None

    @classmethod
    def compile(cls, ctx: ToolContext, select: str) -> CompiledProject:
        """``dbt compile --select <select>`` on the project on disk; ``@<model>`` compiles the model,
        what is built from it and everything those read. A node that does not compile has no
        compiled SQL; the edits that need it say so."""
        engine = engine_of(ctx)
        result = engine.invoke(DbtCall(command="compile", select=[select]))
        compiled = {n.unique_id: n.compiled_sql for n in result.nodes if n.compiled_sql}
        manifest = Manifest.for_engine(engine).with_compiled(compiled)
        return cls(ctx, manifest, warehouse_for(engine))

    @property
    def dialect(self) -> str:
        return self.warehouse.dialect.sqlglot

    def node(self, unique_id: str) -> Node:
        node = self.manifest.get(unique_id)
        if node is None:
            raise DbtCompilationError(f"{unique_id} is not in the manifest dbt wrote just now")
        return node

    def source(self, node: Node) -> str:
        return disk_text(self.ctx, node)

    def compiled(self, node: Node) -> str:
        if not node.compiled_code:
            raise EditRefused(
                f"{node.name} does not compile on disk, so its SQL cannot be read",
                hint="see the error with dbt_compile and fix it with edit_file first",
            )
        return node.compiled_code

    def relations(self, node: Node) -> Relations:
        """The columns of every relation the node's compiled SQL reads (CTEs aside): a model's from
        its compiled SQL (the files as they are now, built or not), else from the warehouse; refused
        naming a relation whose columns neither says."""
        found: dict[str, list[str]] = {}
        for relation in _tables_read(self.compiled(node), self.dialect):
            parent = self._by_relation.get(_parts(relation, self.dialect))
            columns = None
            if parent is not None and parent.resource_type not in _BUILT_COLUMNS:
                columns = self.graph().columns(parent.unique_id)
            columns = columns or self._warehouse_columns(relation)
            if not columns:
                raise EditRefused(
                    f"the columns of {parent.label if parent else relation}, which {node.name} reads, are "
                    "not known: it is not built and its SQL cannot be read",
                    hint=f"it must be built first; until then change {node.name} with {BY_HAND}",
                )
            found[relation] = list(columns)
        return found

    def sql_file(self, node: Node) -> SqlFile:
        return SqlFile(
            node.original_file_path,
            node.name,
            self.source(node),
            self.compiled(node),
            node.relation_name if node.resource_type == "model" else None,
            self.relations(node),
        )

    def graph(self) -> ColumnGraph:
        """Column lineage over the compiled nodes, with the columns of the seeds, sources and
        snapshots they read as the warehouse has them."""
        if self._graph is None:
            nodes = from_manifest(self.manifest)
            read = {
                parent
                for node in self.manifest.nodes.values()
                if node.compiled_code
                for parent in node.depends_on
            }
            for unique_id in sorted(read):
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

    def time_column(self, grain: GrainRelation, model: str) -> str:
        """The column of the relation that drives ``model``'s grain that says how far a run has loaded,
        from its data: its last-change time, else its event time, of those the model outputs."""
        label = readable(grain.relation, self.manifest)
        if self._warehouse_columns(grain.relation) is None:
            raise EditRefused(
                f"{label} drives {model}'s grain and is not built, so its time column cannot be read from "
                "the data",
                hint="name time_column yourself: the column of that relation that says when a row changed",
            )
        profile = profile_relation(self.warehouse, grain.relation)
        candidates = [*profile.updated_at_candidates]
        candidates += [c for c in profile.timestamp_columns if c not in candidates]
        outputs = {c.lower() for c in grain.output_columns}
        chosen = next((c for c in candidates if c.lower() in outputs), None)
        if chosen is not None:
            return chosen
        if candidates:
            raise EditRefused(
                f"{label} drives {model}'s grain and records time in {', '.join(candidates)}, but {model} "
                "does not output it, so an incremental run could not tell how far it has loaded",
                hint=f"add it first (add_model_column parent={label} column={candidates[0]}) in a separate "
                "request, then make the model incremental",
            )
        raise EditRefused(
            f"{label}, which drives {model}'s grain, has no date or timestamp column, so an incremental run "
            "cannot tell new rows from old ones",
            hint="keep it a table, or add a last-change column upstream",
        )

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
