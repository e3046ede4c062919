"""What the command planner knows about the project: the parsed manifest and the warehouse's data.

One ``ProjectView`` per plan. The manifest comes from a real ``dbt parse`` (through the policy
layer) and the data from read-only profiling of built relations, so every choice a command makes
rests on the project and the warehouse as they are now. Nothing here writes to disk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from agent.commands.conventions import Conventions
from tools.changeset import Changeset
from tools.codegen import PropertyKind, load_yaml_mapping
from tools.context import ToolContext
from tools.engine import DbtCall, DbtResult
from tools.errors import InvalidArguments
from tools.layers import KINDS, entity_of, model_type_of
from tools.manifest import Manifest, Node, target_dir
from tools.package_entries import require_installed
from tools.profiling import (
    ForeignKeyMatch,
    RelationProfile,
    foreign_key_matches,
    profile_relation,
    suggest_foreign_keys,
)
from tools.warehouse import parse_relation_name
from tools.warehouse_port import RelationRef, Warehouse
from tools.yaml_edit import TestStyle, apply_test_style, detect_test_style, read_entry, upsert_entry

if TYPE_CHECKING:
    from agent.memory.recalled import Recall

T = TypeVar("T")


def _relation_key(database: str, schema: str, name: str) -> tuple[str, str, str]:
    return (database.lower(), schema.lower(), name.lower())


class ProjectView:
    """``manifest``: a manifest already parsed from the project as it is now (else one is parsed);
    ``recall``: what memory says about the project (agent/memory), followed where the project is silent."""

    def __init__(
        self, tools: ToolContext, manifest: Manifest | None = None, recall: Recall | None = None
    ) -> None:
        self.tools = tools
        self.recall = recall
        self.paths = tools.paths
        self.root = tools.paths.root
        self._manifest = manifest
        self._packages_checked = False

    # --- access through the policy layer ------------------------------------------------------------

    def _warehouse(self, name: str, fn: Callable[[], T], **arguments: Any) -> T:
        return self.tools.call("warehouse", name, fn, arguments)

    def dbt(self, call: DbtCall) -> DbtResult:
        """A dbt call of the plan. A project whose Hub or git packages are not installed is refused
        first, in one message naming them and the /dbt-package command that installs local copies:
        dbt would stop with "run dbt deps", which cannot work on this offline machine."""
        if not self._packages_checked:
            require_installed(self.root)
            self._packages_checked = True
        return self.tools.dbt(call)

    @property
    def manifest(self) -> Manifest:
        """The manifest of the project as it is on disk now (a fresh ``dbt parse`` on first use)."""
        if self._manifest is None:
            self.dbt(DbtCall(command="parse"))
            self._manifest = Manifest.load(self.root, self._target_path)
        return self._manifest

    def compile(self, selector: str) -> Manifest:
        """The project compiled for ``selector`` by one read-only ``dbt compile`` (which parses it as
        well, so no ``dbt parse`` goes before it): its manifest, holding the compiled SQL of the
        selected nodes, is the view's from now on. EmptySelection when ``selector`` matches nothing."""
        self.dbt(DbtCall(command="compile", select=[selector], read_only=True))
        self._manifest = Manifest.load(self.root, self._target_path)
        return self._manifest

    def forget_partial_parse(self) -> None:
        """Make the next ``dbt parse`` a full one. dbt's partial parse does not apply a YAML
        declaration written before its model's SQL file existed to the model when the SQL file
        appears (the YAML file is unchanged, so its patches are not read again): a model built to its
        declaration would parse with no description, columns or tests. Only dbt's own cache in its
        target folder is removed; dbt writes it again on the next parse."""
        cache = self.target_dir / "partial_parse.msgpack"
        if cache.is_file() and not cache.is_symlink():
            cache.unlink()

    @property
    def _target_path(self) -> str | None:
        return self.tools.engine.target_path if self.tools.engine else None

    @cached_property
    def target_dir(self) -> Path:
        """Where the engine's dbt writes its output (compiled SQL, the docs site, the manifest)."""
        return target_dir(self.root, self._target_path)

    @cached_property
    def dbt_project(self) -> dict[str, Any]:
        """``dbt_project.yml`` as data (dbt parsed it already, so it is valid YAML)."""
        path = self.root / "dbt_project.yml"
        return load_yaml_mapping(path.read_text(encoding="utf-8"), "dbt_project.yml")

    @cached_property
    def conventions(self) -> Conventions:
        remembered = self.recall.folders if self.recall else None
        return Conventions.read(self.models.values(), self.dbt_project, self.project_name, remembered)

    @cached_property
    def warehouse(self) -> Warehouse:
        """The target's warehouse behind the port: the data the planner profiles, on any adapter."""
        return self.tools.warehouse()

    @cached_property
    def _existing_relations(self) -> dict[tuple[str, str, str], RelationRef]:
        refs = self._warehouse("list_warehouse_relations", self.warehouse.list_relations)
        return {_relation_key(r.database, r.schema_name, r.name): r for r in refs}

    def schemas(self) -> list[str]:
        return sorted({ref.schema_name for ref in self._existing_relations.values()})

    def relations_in_schema(self, schema: str, database: str | None = None) -> list[RelationRef]:
        return [
            ref
            for key, ref in self._existing_relations.items()
            if key[1] == schema.lower() and (database is None or key[0] == database.lower())
        ]

    @cached_property
    def default_database(self) -> str:
        return self._warehouse("current_database", self.warehouse.current_database)

    def profile(self, relation: str, columns: list[str] | None = None) -> RelationProfile:
        return self._warehouse(
            "profile_columns",
            lambda: profile_relation(self.warehouse, relation, columns=columns),
            relation=relation,
            **({"columns": columns} if columns else {}),
        )

    def columns_of(self, relations: list[str]) -> dict[str, list[str]]:
        """The column names of each built relation of ``relations`` (dbt's relation names), in the
        warehouse's order, read in one recorded call; relations not built are left out."""
        built = [r for r in dict.fromkeys(relations) if self._built_relation(r)]
        if not built:
            return {}

        def read() -> dict[str, list[str]]:
            return {r: [c.name for c in self.warehouse.columns(r)] for r in built}

        return self._warehouse("relation_columns", read, relations=built)

    def suggest_foreign_keys(self, relation: str, parents: list[str]) -> list[ForeignKeyMatch]:
        if not parents:
            return []
        return self._warehouse(
            "suggest_foreign_keys",
            lambda: suggest_foreign_keys(self.warehouse, relation, parents),
            relation=relation,
            parents=parents,
        )

    def foreign_key(self, child: str, column: str, parent: str, parent_column: str) -> ForeignKeyMatch:
        return self._warehouse(
            "check_foreign_key",
            lambda: foreign_key_matches(self.warehouse, child, column, parent, parent_column),
            child=child,
            column=column,
            parent=parent,
            parent_column=parent_column,
        )

    # --- nodes ---------------------------------------------------------------------------------------

    @property
    def project_name(self) -> str:
        return self.manifest.project_name or ""

    @cached_property
    def models(self) -> dict[str, Node]:
        """The project's own models by name: what a command may edit (a package's are read-only)."""
        return self.manifest.named("model")

    @cached_property
    def snapshots(self) -> dict[str, Node]:
        return self.manifest.named("snapshot")

    @cached_property
    def seeds(self) -> dict[str, Node]:
        return self.manifest.named("seed")

    @cached_property
    def sources(self) -> list[Node]:
        """Every declared source table, installed packages' included (``source()`` reads them all)."""
        return list(self.manifest.sources.values())

    def model(self, name: str, *, create_hint: str, read_only: bool = False) -> Node:
        """The model named ``name``, or an error with close matches and how to create it. With
        ``read_only`` (a parent, read and never edited) it may be an installed package's."""
        node = self.manifest.find_model(name, hint=create_hint)
        if node.is_package and not read_only:
            raise InvalidArguments(
                f"{name} is a model of the installed package {node.package_name}: ae reads a package's "
                "models but never edits them",
                hint=f"build your own model on it: /dbt-model --name <name> --type <type> --from {name}",
            )
        return node

    def relation_of(self, node: Node) -> str:
        if not node.relation_name:
            raise InvalidArguments(
                f"{node.name} is {node.config.materialized or 'ephemeral'} and has no "
                "relation in the warehouse to read"
            )
        return node.relation_name

    def qualified_name(self, node: Node) -> str:
        """``database.schema.name`` in lower case, as profiling reports relations (for matching them)."""
        database, schema, name = parse_relation_name(self.relation_of(node))
        return ".".join(_relation_key(database or self.default_database, schema, name))

    def is_built(self, node: Node) -> bool:
        return bool(node.relation_name) and self._built_relation(str(node.relation_name))

    def _built_relation(self, relation: str) -> bool:
        database, schema, name = parse_relation_name(relation)
        return _relation_key(database or self.default_database, schema, name) in self._existing_relations

    def built_model(self, name: str, *, purpose: str, read_only: bool = False) -> Node:
        """A model that exists and is built; otherwise an error naming the command that fixes it.
        ``purpose`` says why its data is needed, as a clause ("fct_x is built on it").
        ``read_only``: it is only read (a parent), so an installed package's model will do."""
        create = f"/dbt-model --name {name} --type {model_type_of(name)}"
        node = self.model(name, create_hint=f"create it first: {create}", read_only=read_only)
        if not self.is_built(node):
            raise InvalidArguments(
                f"model {name} is not built yet, and {purpose}",
                hint=f"build it first: /dbt-run --select {name}",
            )
        return node

    def upstream_candidates(self, exclude: str) -> dict[str, Node]:
        """Built staging and intermediate models: what marts join and aggregate."""
        return {
            name: node
            for name, node in sorted(self.models.items())
            if name != exclude and node.layer in {"staging", "intermediate"} and self.is_built(node)
        }

    def marts_for_entity(self, entity: str) -> list[Node]:
        """Built mart models about an entity (dim_customers for customer), dimensions first."""
        found = [
            node
            for name, node in self.models.items()
            if node.layer == "marts" and entity_of(name) == entity and self.is_built(node)
        ]
        dimension = KINDS["dimension"].prefix
        return sorted(found, key=lambda n: (not n.name.startswith(dimension), n.name))

    def unique_columns(self, node: Node) -> set[str]:
        """Columns of ``node`` that a ``unique`` test in the project covers."""
        return {
            test.column_name
            for test in self.manifest.tests_of(node.unique_id)
            if test.generic_test == "unique" and test.column_name
        }

    def descendants(self, node: Node) -> set[str]:
        """Names of the models built, directly or not, from ``node`` (its ``+`` selection, minus itself)."""
        nodes = self.manifest.nodes
        return {
            nodes[uid].name
            for uid in self.manifest.descendants(node.unique_id)
            if uid in nodes and nodes[uid].resource_type == "model"
        }

    def source_table(self, source_name: str, table: str) -> Node | None:
        return next((s for s in self.sources if s.source_name == source_name and s.name == table), None)

    def sources_named(self, table: str) -> list[Node]:
        return [s for s in self.sources if s.name.lower() == table.lower()]

    # --- properties files ------------------------------------------------------------------------------

    def read_text(self, changeset: Changeset, path: str) -> str | None:
        return changeset.view(self.paths, path)

    def properties_path(self, node: Node | None, default: str) -> str:
        """The YAML that documents a node now (its patch file), else ``default``."""
        return (node.patch_path if node else None) or default

    def properties_file(self, node: Node) -> str:
        """The YAML that documents the model ``node``: its patch file, else the file its folder
        documents models in (a shared ``schema.yml`` there gets the entry, see ``Conventions``)."""
        folder = str(PurePosixPath(node.original_file_path).parent)
        return self.properties_path(node, self.conventions.properties_file_for(folder, node.name))

    @cached_property
    def test_style(self) -> TestStyle:
        """How this project writes data tests (``tests:`` or ``data_tests:``, ``arguments:`` or not),
        read from the YAML files that document its own nodes and sources (a package's paths are
        relative to the package, and its habits are not the project's)."""
        documented = [n.documentation_file for n in self.manifest.every() if not n.is_package]
        files = sorted({p for p in documented if p and p.endswith((".yml", ".yaml"))})
        texts = [(self.root / p).read_text(encoding="utf-8") for p in files if (self.root / p).is_file()]
        return detect_test_style(texts)

    def existing_entry(
        self, changeset: Changeset, path: str, kind: PropertyKind, name: str
    ) -> dict[str, Any] | None:
        return read_entry(self.read_text(changeset, path), kind, name, path)

    def write_entry(
        self, changeset: Changeset, path: str, kind: PropertyKind, entry: Mapping[str, Any]
    ) -> None:
        """Merge ``entry`` into the properties file at ``path`` in the project's test style, changing
        only what differs: the file's other entries, comments and layout stay as they were."""
        styled = apply_test_style(entry, self.test_style)
        changeset.write_file(
            self.paths, path, upsert_entry(self.read_text(changeset, path), kind, styled, path)
        )
