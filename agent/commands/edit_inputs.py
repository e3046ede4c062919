"""What an in-place edit of a model reads: the project compiled around the model, the columns of the
relations each compiled query reads, and the column lineage that lists an edit's impact.

One read-only ``dbt compile --select @<model>`` (the model, everything built from it, and everything
those read) gives the compiled SQL of every file an edit or a rename can touch, and parses the
project on the way, so no ``dbt parse`` goes before it. Columns come from the compiled SQL where
sqlglot can read it (the files as they are now, built or not), else from the warehouse; seeds,
sources and snapshots, which have no SQL to read columns from (or, for snapshots, more columns than
their SQL), always from the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from agent.commands.existing import Existing, find_existing, refuse_package
from agent.commands.naming import is_identifier
from agent.commands.project import ProjectView
from tools.column_lineage import ColumnGraph, ModelLineage, from_manifest
from tools.errors import EmptySelection, InvalidArguments, UnknownNode
from tools.layers import model_type_of
from tools.manifest import Manifest, Node, close_matches
from tools.sql_edit import SqlFile

#: resource types whose columns are read from the warehouse, not from SQL
_WAREHOUSE_COLUMNS = frozenset({"seed", "source", "snapshot"})


def checked_model_name(name: str, flag: str = "--name") -> str:
    if not is_identifier(name):
        raise InvalidArguments(
            f"{flag} {name!r} is not a model name (lower case letters, digits and _)",
            hint="e.g. orders, stg_payments, fct_orders",
        )
    return name


def compile_around(view: ProjectView, selector: str, name: str) -> Manifest | None:
    """The project compiled for ``selector``; None when it selects nothing (``name`` is no node)."""
    try:
        return view.compile(selector)
    except EmptySelection:
        return None


def column_graph(view: ProjectView) -> ColumnGraph:
    """Column lineage over the view's (compiled) manifest, with the columns of seeds, sources and
    snapshots as they are built (a source's YAML may declare a few of its columns, a seed none)."""
    manifest = view.manifest
    nodes: dict[str, Mapping[str, Any]] = dict(from_manifest(manifest))
    # only what the compiled SQL reads: a project's other sources are never asked about
    wanted = {uid for n in manifest.nodes.values() if n.compiled_code for uid in (n.unique_id, *n.depends_on)}
    read = [
        n
        for uid in sorted(wanted)
        if (n := manifest.get(uid)) is not None
        and n.resource_type in _WAREHOUSE_COLUMNS
        and n.relation_name
        and uid in nodes
    ]
    built = view.columns_of([str(n.relation_name) for n in read])
    for node in read:
        columns = built.get(str(node.relation_name))
        if columns is not None:
            nodes[node.unique_id] = {**nodes[node.unique_id], "columns": columns, "compiled_code": None}
    return ColumnGraph(nodes, dialect=manifest.adapter_type or "duckdb")


@dataclass
class EditInputs:
    """The model an edit changes, in its project compiled around it."""

    view: ProjectView
    node: Node

    @classmethod
    def for_model(cls, view: ProjectView, name: str, command: str) -> EditInputs:
        """The project's own model ``name``, compiled with what it reads and what reads it; refused
        (nothing written) for a package's model, a YAML-only declaration, or no model at all."""
        checked_model_name(name)
        compile_around(view, f"@{name}", name)
        existing = find_existing(view, name)
        if existing is None:
            raise _no_model(view, name, command)
        if existing.kind == "package":
            raise refuse_package(existing)
        if existing.kind == "declared" or existing.node is None:
            raise _declared_only(existing, command)
        node = existing.node
        if node.language != "sql":
            raise InvalidArguments(f"{name} is a {node.language} model; {command} edits SQL models only")
        if node.compiled_code is None:
            raise InvalidArguments(
                f"dbt compile gave no SQL for {name} ({node.original_file_path}), so it cannot be edited "
                "on its syntax tree",
                hint=f"check that it compiles: /dbt-compile --select {name}",
            )
        return cls(view, node)

    # --- text ------------------------------------------------------------------------------------------

    def source(self, node: Node | None = None) -> str:
        """A file's text as the edit sees it (the changeset's pending text wins)."""
        path = (node or self.node).original_file_path
        text = self.view.read_text(self.view.tools.changeset, path)
        if text is None:
            raise InvalidArguments(f"{path} is in the manifest but not on disk; run the command again")
        return text

    @property
    def manifest(self) -> Manifest:
        return self.view.manifest

    @property
    def compiled(self) -> str:
        return str(self.node.compiled_code)

    # --- columns -----------------------------------------------------------------------------------------

    @cached_property
    def graph(self) -> ColumnGraph:
        return column_graph(self.view)

    def name_of(self, unique_id: str) -> str:
        """The name a person uses for a node of the project (its unique id when it has none)."""
        node = self.manifest.get(unique_id)
        return node.label if node is not None else unique_id

    @cached_property
    def _labels(self) -> dict[str, str]:
        return {
            str(n.relation_name): n.label
            for n in self.manifest.every()
            if n.relation_name and n.resource_type != "test"
        }

    def readable(self, text: str) -> str:
        """``text`` (an edit's description or warning) with relation names as dbt renders them
        (``"db"."main"."stg_orders"``) replaced by the names a person uses (``stg_orders``)."""
        for relation, label in self._labels.items():
            if relation in text:
                text = text.replace(relation, label)
        return text

    def readers(self) -> str:
        """The models and exposures that read the model directly, for an edit that changes none of
        its existing columns (so column lineage has nothing to follow)."""
        children = [self.manifest.get(uid) for uid in self.manifest.children(self.node.unique_id)]
        names = sorted(
            f"{c.resource_type} {c.label}" for c in children if c is not None and c.resource_type != "test"
        )
        return ", ".join(names) or "nothing"

    @property
    def lineage(self) -> ModelLineage:
        return ModelLineage(self.graph, self.node.unique_id)

    def relations(self, node: Node | None = None) -> dict[str, list[str]]:
        """The columns of every relation ``node``'s compiled SQL reads (its parents), by relation name."""
        node = node or self.node
        parents = [
            parent
            for uid in node.depends_on
            if (parent := self.manifest.get(uid)) is not None and parent.relation_name
        ]
        if node.config.materialized == "incremental" and node.relation_name:
            # compiled as an incremental run, it reads its own table ({{ this }}) too
            parents.append(node)
        found: dict[str, list[str]] = {}
        missing: list[Node] = []
        for parent in parents:
            computed = (
                None if parent.resource_type in _WAREHOUSE_COLUMNS else self.graph.columns(parent.unique_id)
            )
            if computed:
                found[str(parent.relation_name)] = list(computed)
            else:
                missing.append(parent)
        built = self.view.columns_of([str(p.relation_name) for p in missing])
        for parent in missing:
            columns = built.get(str(parent.relation_name))
            if columns is None:
                raise InvalidArguments(
                    f"the columns of {parent.label}, which {node.name} reads, are not known: "
                    "it is not built and its SQL cannot be read",
                    hint=f"build it first: /dbt-run --select {parent.name}",
                )
            found[str(parent.relation_name)] = columns
        return found

    def sql_file(self, node: Node) -> SqlFile:
        return SqlFile(
            path=node.original_file_path,
            name=node.name,
            source=self.source(node),
            compiled=str(node.compiled_code),
            relation=node.relation_name if node.resource_type != "test" else None,
            relations=self.relations(node),
        )

    def downstream_files(self) -> list[SqlFile]:
        """The project's own models and singular tests built from the model, as a rename reads them."""
        return [
            self.sql_file(node)
            for uid in sorted(self.manifest.descendants(self.node.unique_id))
            if (node := self.manifest.nodes.get(uid)) is not None
            and not node.is_package
            and node.compiled_code is not None
            and (node.resource_type == "model" or (node.resource_type == "test" and not node.generic_test))
        ]

    def parent_named(self, name: str) -> Node:
        """The parent of the model that ``name`` names (a model, seed or snapshot name, or a source's
        ``source_name.table``); refused naming what the model does read."""
        parents = [p for uid in self.node.depends_on if (p := self.manifest.get(uid)) is not None]
        for parent in parents:
            if name.lower() in {parent.name.lower(), parent.label.lower()}:
                return parent
        reads = ", ".join(p.label for p in parents) or "nothing"
        raise InvalidArguments(
            f"{self.node.name} does not read {name} (it reads {reads})",
            hint="name one of the relations it reads, or add the join by hand",
        )


def _no_model(view: ProjectView, name: str, command: str) -> UnknownNode:
    models = [m.name for m in view.manifest.of_type("model")]
    create = f"/dbt-model --name {name} --type {model_type_of(name)}"
    return UnknownNode(
        f"no model named {name!r} in the project{close_matches(name, models)}",
        hint=f"{command} edits a model that exists; to create one: {create}",
    )


def _declared_only(existing: Existing, command: str) -> InvalidArguments:
    return InvalidArguments(
        f"{existing.name} is declared in {existing.path} but has no SQL yet, so {command} has nothing "
        "to edit; nothing was written or built",
        hint=f"build it to its declaration first: /dbt-model --name {existing.name} "
        f"--type {model_type_of(existing.name)} --from PARENT",
    )
