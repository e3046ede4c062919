"""What the command planner knows about the project: the parsed manifest and the warehouse's data.

One ``ProjectView`` per plan. The manifest comes from a real ``dbt parse`` (through the policy
layer) and the data from read-only profiling of built relations, so every choice a command makes
rests on the project and the warehouse as they are now. Nothing here writes to disk.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agent.commands.conventions import Conventions
from agent.commands.naming import model_type_of
from tools.changeset import Changeset
from tools.codegen import PropertyKind, load_yaml_mapping
from tools.context import ToolContext
from tools.engine import DbtCall
from tools.errors import InvalidArguments, UnknownNode
from tools.layers import entity_of, layer_of
from tools.lineage import load_manifest
from tools.profiling import (
    ForeignKeyMatch,
    RelationProfile,
    foreign_key_matches,
    profile_relation,
    suggest_foreign_keys,
)
from tools.warehouse import RelationRef, list_relations, parse_relation_name
from tools.yaml_edit import TestStyle, apply_test_style, detect_test_style, read_entry, upsert_entry

if TYPE_CHECKING:
    from agent.memory.recalled import Recall

T = TypeVar("T")
Node = Mapping[str, Any]


def close_matches(word: str, candidates: list[str]) -> str:
    """`` (did you mean a, b?)`` for the candidates closest to ``word``, or nothing."""
    found = difflib.get_close_matches(word, candidates, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(found)}?)" if found else ""


def _relation_key(database: str, schema: str, name: str) -> tuple[str, str, str]:
    return (database.lower(), schema.lower(), name.lower())


class ProjectView:
    """``manifest``: a manifest already parsed from the project as it is now (else one is parsed);
    ``recall``: what memory says about the project (agent/memory), followed where the project is silent."""

    def __init__(
        self, tools: ToolContext, manifest: dict[str, Any] | None = None, recall: Recall | None = None
    ) -> None:
        self.tools = tools
        self.recall = recall
        self.paths = tools.paths
        self.root = tools.paths.root
        self._manifest = manifest

    # --- access through the policy layer ------------------------------------------------------------

    def _warehouse(self, name: str, fn: Callable[[], T], **arguments: Any) -> T:
        return self.tools.call("warehouse", name, fn, arguments)

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest of the project as it is on disk now (a fresh ``dbt parse`` on first use)."""
        if self._manifest is None:
            self.tools.dbt(DbtCall(command="parse"))
            target_path = getattr(self.tools.engine, "target_path", None) or "target"
            self._manifest = load_manifest(self.root / target_path / "manifest.json")
        return self._manifest

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
    def db_path(self) -> Path:
        return self.tools.duckdb_file("the command planner, which profiles the data,")

    @cached_property
    def _existing_relations(self) -> dict[tuple[str, str, str], RelationRef]:
        refs = self._warehouse("list_warehouse_relations", lambda: list_relations(self.db_path))
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
        return self.db_path.stem

    def profile(self, relation: str) -> RelationProfile:
        return self._warehouse(
            "profile_columns", lambda: profile_relation(self.db_path, relation), relation=relation
        )

    def suggest_foreign_keys(self, relation: str, parents: list[str]) -> list[ForeignKeyMatch]:
        if not parents:
            return []
        return self._warehouse(
            "suggest_foreign_keys",
            lambda: suggest_foreign_keys(self.db_path, relation, parents),
            relation=relation,
            parents=parents,
        )

    def foreign_key(self, child: str, column: str, parent: str, parent_column: str) -> ForeignKeyMatch:
        return self._warehouse(
            "check_foreign_key",
            lambda: foreign_key_matches(self.db_path, child, column, parent, parent_column),
            child=child,
            column=column,
            parent=parent,
            parent_column=parent_column,
        )

    # --- nodes ---------------------------------------------------------------------------------------

    @property
    def project_name(self) -> str:
        return str(self.manifest.get("metadata", {}).get("project_name", ""))

    def _own(self, section: str, resource_type: str) -> dict[str, Node]:
        return {
            str(node["name"]): node
            for node in (self.manifest.get(section) or {}).values()
            if node.get("resource_type") == resource_type and node.get("package_name") == self.project_name
        }

    @cached_property
    def models(self) -> dict[str, Node]:
        return self._own("nodes", "model")

    @cached_property
    def snapshots(self) -> dict[str, Node]:
        return self._own("nodes", "snapshot")

    @cached_property
    def seeds(self) -> dict[str, Node]:
        return self._own("nodes", "seed")

    @cached_property
    def sources(self) -> list[Node]:
        return list((self.manifest.get("sources") or {}).values())

    def model(self, name: str, *, create_hint: str) -> Node:
        """The model named ``name``, or an error with close matches and how to create it."""
        if name in self.models:
            return self.models[name]
        raise UnknownNode(
            f"no model named {name!r} in the project{close_matches(name, sorted(self.models))}",
            hint=create_hint,
        )

    def relation_of(self, node: Node) -> str:
        relation = node.get("relation_name")
        if not relation:
            raise InvalidArguments(
                f"{node.get('name')} is {node.get('config', {}).get('materialized', 'ephemeral')} and has no "
                "relation in the warehouse to read"
            )
        return str(relation)

    def qualified_name(self, node: Node) -> str:
        """``database.schema.name`` in lower case, as profiling reports relations (for matching them)."""
        database, schema, name = parse_relation_name(self.relation_of(node))
        return ".".join(_relation_key(database or self.default_database, schema, name))

    def is_built(self, node: Node) -> bool:
        if not node.get("relation_name"):
            return False
        database, schema, name = parse_relation_name(str(node["relation_name"]))
        return _relation_key(database or self.default_database, schema, name) in self._existing_relations

    def built_model(self, name: str, *, purpose: str) -> Node:
        """A model that exists and is built; otherwise an error naming the command that fixes it."""
        create = f"/dbt-model --name {name} --type {model_type_of(name)}"
        node = self.model(name, create_hint=f"create it first: {create}")
        if not self.is_built(node):
            raise InvalidArguments(
                f"model {name} is not built yet, and {purpose} reads its data",
                hint=f"build it first: /dbt-run --select {name}",
            )
        return node

    def upstream_candidates(self, exclude: str) -> dict[str, Node]:
        """Built staging and intermediate models: what marts join and aggregate."""
        return {
            name: node
            for name, node in sorted(self.models.items())
            if name != exclude and layer_of(node) in {"staging", "intermediate"} and self.is_built(node)
        }

    def marts_for_entity(self, entity: str) -> list[Node]:
        """Built mart models about an entity (dim_customers for customer), dimensions first."""
        found = [
            node
            for name, node in self.models.items()
            if layer_of(node) == "marts" and entity_of(name) == entity and self.is_built(node)
        ]
        return sorted(found, key=lambda n: (not str(n["name"]).startswith("dim_"), str(n["name"])))

    def unique_columns(self, node: Node) -> set[str]:
        """Columns of ``node`` that a ``unique`` test in the project covers."""
        uid = node.get("unique_id")
        return {
            str(test.get("column_name"))
            for test in (self.manifest.get("nodes") or {}).values()
            if test.get("resource_type") == "test"
            and test.get("attached_node") == uid
            and (test.get("test_metadata") or {}).get("name") == "unique"
            and test.get("column_name")
        }

    def descendants(self, node: Node) -> set[str]:
        """Names of the models built, directly or not, from ``node`` (its ``+`` selection, minus itself)."""
        children: Mapping[str, list[str]] = self.manifest.get("child_map") or {}
        seen: set[str] = set()
        frontier = [str(node.get("unique_id"))]
        while frontier:  # iterative: real projects have deep chains
            for child in children.get(frontier.pop(), []):
                if child not in seen:
                    seen.add(child)
                    frontier.append(child)
        nodes = self.manifest.get("nodes") or {}
        return {str(nodes[uid]["name"]) for uid in seen if uid in nodes and uid.startswith("model.")}

    def source_table(self, source_name: str, table: str) -> Node | None:
        return next(
            (s for s in self.sources if s.get("source_name") == source_name and s.get("name") == table), None
        )

    def sources_named(self, table: str) -> list[Node]:
        return [s for s in self.sources if str(s.get("name", "")).lower() == table.lower()]

    # --- properties files ------------------------------------------------------------------------------

    def read_text(self, changeset: Changeset, path: str) -> str | None:
        return changeset.view(self.paths, path)

    def properties_path(self, node: Node | None, default: str) -> str:
        """The YAML that documents a node now (its patch file), else ``default``."""
        patch = node.get("patch_path") if node else None
        if isinstance(patch, str) and "://" in patch:
            return patch.split("://", 1)[1]
        return default

    @cached_property
    def test_style(self) -> TestStyle:
        """How this project writes data tests (``tests:`` or ``data_tests:``, ``arguments:`` or not),
        read from the YAML files that document its nodes and sources."""
        documented = [self.properties_path(n, "") for n in self.manifest.get("nodes", {}).values()]
        documented += [str(s.get("original_file_path") or "") for s in self.sources]
        files = sorted({p for p in documented if p.endswith((".yml", ".yaml"))})
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
