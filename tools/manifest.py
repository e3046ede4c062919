"""dbt's manifest as ae reads it: found where the engine's dbt wrote it, read once, seen through
small typed views.

Every module that needs the project's graph (its models, sources and tests, what reads what, a
model's layer and columns) asks a ``Manifest`` instead of walking dbt's JSON, so each of those facts
is worked out in one place. A node of an installed package (``dbt_packages/<pkg>``) is a node like
any other, marked ``is_package``: ae reads it (a package model can be a parent, it shows in lineage)
and never edits it. The JSON stays reachable (``Manifest.raw``, ``Node.raw``) for the few readers
that need dbt's full shape, such as the lint, which reads configs it does not know in advance.

The file is where the engine's dbt writes it: ``--target-path`` as the engine passes it, else
``DBT_TARGET_PATH`` (dbt reads it, and the engine passes ``DBT_*`` through), else ``target``.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from tools.errors import ConfigurationError, UnknownNode
from tools.layers import AnyLayer, is_base_path, layer_of_path

MANIFEST_FILE = "manifest.json"
DEFAULT_TARGET_PATH = "target"
#: sections whose entries the manifest's parent_map/child_map can mention, in dbt's order
GRAPH_SECTIONS = (
    "nodes",
    "sources",
    "exposures",
    "metrics",
    "semantic_models",
    "saved_queries",
    "unit_tests",
    "functions",
)


class EngineLike(Protocol):
    """What finding dbt's output needs of an engine (tools/engine/engine.py ``DbtEngine``)."""

    @property
    def project_dir(self) -> Path: ...

    @property
    def target_path(self) -> str | None: ...


def target_dir(project_dir: Path, target_path: str | None = None) -> Path:
    """dbt's target folder for the project: ``target_path`` as the engine passes it to dbt, else
    ``DBT_TARGET_PATH``, else ``target`` (relative to the project; an absolute one stays as given)."""
    return project_dir / (target_path or os.environ.get("DBT_TARGET_PATH") or DEFAULT_TARGET_PATH)


def manifest_file(project_dir: Path, target_path: str | None = None) -> Path:
    return target_dir(project_dir, target_path) / MANIFEST_FILE


def load_manifest(path: Path) -> dict[str, Any]:
    """dbt's manifest at ``path`` as JSON, or a ConfigurationError saying how to get a good one."""
    if not path.is_file():
        raise ConfigurationError(
            f"dbt manifest {path} not found", hint=f"run dbt parse first (it writes {path.name})"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"dbt manifest {path} is unreadable: {exc}", hint="run dbt parse again to rewrite it"
        ) from exc
    if not isinstance(manifest, dict) or "parent_map" not in manifest:
        raise ConfigurationError(f"{path} is not a dbt manifest (no parent_map)", hint="run dbt parse first")
    return manifest


def close_matches(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean a, b?)`` for the candidates closest to ``word``, or nothing."""
    found = difflib.get_close_matches(word, sorted(set(candidates)), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(found)}?)" if found else ""


# --- typed views -----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _optional(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def patch_file(patch_path: Any) -> str | None:
    """The file of a dbt ``patch_path`` (``jaffle_shop://models/staging/_stg.yml``), relative to
    the node's package; None when there is none."""
    if isinstance(patch_path, str) and "://" in patch_path:
        return patch_path.split("://", 1)[1]
    return None


@dataclass(frozen=True, eq=False)
class Column:
    name: str
    description: str
    data_type: str | None
    #: the types of its constraints (``not_null``, ``unique``, ``primary_key``, ``foreign_key`` ...)
    constraints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Constraint:
    """A constraint of a contract: its type and, for a model-level one, the columns it names."""

    type: str
    columns: tuple[str, ...]


def _constraints(value: Any) -> list[Constraint]:
    entries = [_mapping(c) for c in value] if isinstance(value, list) else []
    return [Constraint(str(c.get("type")), _strings(c.get("columns"))) for c in entries if c]


@dataclass(frozen=True, eq=False)
class NodeConfig:
    """The resolved config ae decides on; ``raw`` holds all of it (meta, tags, contract, ...)."""

    materialized: str | None
    schema: str | None
    unique_key: str | tuple[str, ...] | None
    incremental_strategy: str | None
    on_schema_change: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> NodeConfig:
        key = config.get("unique_key")
        return cls(
            materialized=_optional(config.get("materialized")),
            schema=_optional(config.get("schema")),
            unique_key=_strings(key) if isinstance(key, list) else _optional(key),
            incremental_strategy=_optional(config.get("incremental_strategy")),
            on_schema_change=_optional(config.get("on_schema_change")),
            raw=config,
        )


@dataclass(frozen=True, eq=False)
class Node:
    """One entry of the manifest: a model, seed, snapshot, test, source, exposure, macro, ...

    Paths (``original_file_path``, ``patch_path``) are relative to the node's package: the project
    root for the project's own nodes, ``dbt_packages/<pkg>`` for a package's.
    """

    unique_id: str
    name: str
    resource_type: str
    package_name: str
    #: a node of an installed package: read (a parent, a lineage entry), never edited
    is_package: bool
    original_file_path: str
    #: the YAML that documents the node (None: none does)
    patch_path: str | None
    description: str
    config: NodeConfig
    database: str | None
    schema: str | None
    alias: str | None
    #: where it is in the warehouse (None: ephemeral, a test, a macro ...)
    relation_name: str | None
    columns: Mapping[str, Column]
    #: unique ids of the nodes it reads (its parents)
    depends_on: tuple[str, ...]
    depends_on_macros: tuple[str, ...]
    fqn: tuple[str, ...]
    raw_code: str
    compiled_code: str | None
    #: a source table's source (``raw`` of ``raw.orders``)
    source_name: str | None
    #: a data test's model, column and generic test (``unique``, ``not_null``, ``relationships`` ...)
    attached_node: str | None
    column_name: str | None
    generic_test: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def of(cls, unique_id: str, raw: Mapping[str, Any], project_name: str | None = None) -> Node:
        """The view of the manifest entry ``raw``; ``project_name`` tells the project's nodes from
        packages' (None: every node is the project's)."""
        depends = _mapping(raw.get("depends_on"))
        package = _text(raw.get("package_name"))
        columns = {
            str(name): Column(
                str(name),
                _text(_mapping(info).get("description")),
                _optional(_mapping(info).get("data_type")),
                tuple(c.type for c in _constraints(_mapping(info).get("constraints"))),
            )
            for name, info in _mapping(raw.get("columns")).items()
        }
        return cls(
            unique_id=unique_id,
            name=_text(raw.get("name")) or unique_id.rsplit(".", 1)[-1],
            resource_type=_text(raw.get("resource_type")) or unique_id.split(".", 1)[0],
            package_name=package,
            is_package=project_name is not None and bool(package) and package != project_name,
            original_file_path=_text(raw.get("original_file_path")),
            patch_path=patch_file(raw.get("patch_path")),
            description=_text(raw.get("description")),
            config=NodeConfig.of(_mapping(raw.get("config"))),
            database=_optional(raw.get("database")),
            schema=_optional(raw.get("schema")),
            alias=_optional(raw.get("alias")),
            relation_name=_optional(raw.get("relation_name")),
            columns=columns,
            depends_on=_strings(depends.get("nodes")),
            depends_on_macros=_strings(depends.get("macros")),
            fqn=_strings(raw.get("fqn")),
            raw_code=_text(raw.get("raw_code")),
            compiled_code=_optional(raw.get("compiled_code")),
            source_name=_optional(raw.get("source_name")),
            attached_node=_optional(raw.get("attached_node")),
            column_name=_optional(raw.get("column_name")),
            generic_test=_optional(_mapping(raw.get("test_metadata")).get("name")),
            raw=raw,
        )

    @property
    def label(self) -> str:
        """The name a person uses: ``stg_orders``, or ``raw.orders`` for a source table."""
        return f"{self.source_name}.{self.name}" if self.resource_type == "source" else self.name

    @property
    def layer(self) -> AnyLayer:
        """staging, intermediate, marts or other, from its folder and name (tools/layers.py)."""
        return layer_of_path(self.original_file_path, self.name)

    @property
    def is_base_model(self) -> bool:
        """A base model: the raw half of a staging pair (``staging/base/`` or ``base_``)."""
        return self.resource_type == "model" and is_base_path(self.original_file_path, self.name)

    @property
    def language(self) -> str:
        """``sql`` or ``python`` (a node dbt wrote without one is SQL)."""
        language = self.raw.get("language", "sql")
        return language if isinstance(language, str) else ""

    @property
    def constraints(self) -> list[Constraint]:
        """Its model-level constraints (a column's own are on its ``Column``)."""
        return _constraints(self.raw.get("constraints"))

    @property
    def macro_sql(self) -> str:
        """A macro's text (``{% macro ... %} ... {% endmacro %}``); empty for any other node."""
        return _text(self.raw.get("macro_sql"))

    @property
    def test_kwargs(self) -> Mapping[str, Any]:
        """A generic data test's arguments (``column_name``, ``to``, ``field``, ``combination_of_columns``
        ...)."""
        return _mapping(_mapping(self.raw.get("test_metadata")).get("kwargs"))

    @property
    def meta(self) -> list[Mapping[str, Any]]:
        """Its ``meta``, where dbt puts it: the node's own, and its config's (both may hold keys)."""
        return [_mapping(self.raw.get("meta")), _mapping(self.config.raw.get("meta"))]

    @property
    def documentation_file(self) -> str | None:
        """The file a person documents it in: its patch file, or a source's own YAML."""
        return self.patch_path or (self.original_file_path if self.resource_type == "source" else None)

    @property
    def undocumented_columns(self) -> list[str]:
        return [name for name, column in self.columns.items() if not column.description.strip()]

    @property
    def is_documented(self) -> bool:
        """A description, declared columns, and a description for each of them."""
        return bool(self.description.strip() and self.columns and not self.undocumented_columns)

    @property
    def declares_freshness(self) -> bool:
        """A source with a warn_after or error_after count (in its config, or dbt's older field)."""
        rules = (_mapping(self.config.raw.get("freshness")), _mapping(self.raw.get("freshness")))
        return any(
            _mapping(rule.get(key)).get("count") for rule in rules for key in ("warn_after", "error_after")
        )

    @property
    def is_latest_version(self) -> bool:
        """True unless it is an older version of a versioned model (``ref`` picks the latest)."""
        version, latest = self.raw.get("version"), self.raw.get("latest_version")
        return version is None or latest is None or str(version) == str(latest)

    @property
    def loaded_at_field(self) -> str | None:
        return _optional(self.raw.get("loaded_at_field")) or _optional(self.config.raw.get("loaded_at_field"))


class Manifest:
    """A parsed project: its nodes as typed views, indexed once, and the graph between them.

    Build it with ``Manifest.load`` (or ``for_engine``) once per phase and pass it on; the views are
    made on first use and kept. It never changes: ``with_compiled`` gives a new one.
    """

    def __init__(self, raw: Mapping[str, Any], *, path: Path | None = None) -> None:
        self.raw = raw
        #: the file it was read from (None: built in memory)
        self.path = path
        self._views: dict[str, dict[str, Node]] = {}

    # --- loading ----------------------------------------------------------------------------------

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(load_manifest(path), path=path)

    @classmethod
    def load(cls, project_dir: Path, target_path: str | None = None, *, missing_ok: bool = False) -> Manifest:
        """The manifest dbt last wrote for the project (see ``target_dir``). ``missing_ok``: an empty
        one when dbt has not written one; a damaged file is an error either way."""
        path = manifest_file(project_dir, target_path)
        if missing_ok and not path.exists():
            return cls({}, path=path)
        return cls.read(path)

    @classmethod
    def for_engine(cls, engine: EngineLike, *, missing_ok: bool = False) -> Manifest:
        """The manifest the engine's dbt last wrote (its project and ``--target-path``)."""
        return cls.load(engine.project_dir, engine.target_path, missing_ok=missing_ok)

    @property
    def is_empty(self) -> bool:
        """True when nothing was parsed (``load(missing_ok=True)`` found no file)."""
        return not self.raw

    @property
    def project_name(self) -> str | None:
        name = _mapping(self.raw.get("metadata")).get("project_name")
        return name if isinstance(name, str) else None

    @property
    def adapter_type(self) -> str:
        """The warehouse's dbt adapter (``duckdb``, ``postgres`` ...); empty when dbt did not say."""
        return _text(_mapping(self.raw.get("metadata")).get("adapter_type"))

    def reread(self) -> Manifest:
        """The manifest dbt has written since to this one's file: a ``dbt compile --vars`` parses the
        project with those vars and rewrites it (configs and bodies from ``var()`` as they resolve)."""
        if self.path is None:
            raise ValueError("a manifest built in memory has no file to read again")
        return Manifest.read(self.path)

    def with_compiled(self, compiled: Mapping[str, str]) -> Manifest:
        """This manifest with ``compiled_code`` set for the nodes in ``compiled`` (unique id -> SQL),
        as ``dbt compile`` gives it and ``dbt parse`` leaves it out; the rest is shared, not copied."""
        raw_nodes = _mapping(self.raw.get("nodes"))
        nodes = dict(raw_nodes)
        for uid, sql in compiled.items():
            if uid in raw_nodes and sql:
                nodes[uid] = {**raw_nodes[uid], "compiled_code": sql}
        return Manifest({**self.raw, "nodes": nodes}, path=self.path)

    # --- nodes ------------------------------------------------------------------------------------

    def _section(self, section: str) -> dict[str, Node]:
        """The views of one section of dbt's manifest, made once."""
        if section not in self._views:
            project = self.project_name
            self._views[section] = {
                str(uid): Node.of(str(uid), raw, project)
                for uid, raw in _mapping(self.raw.get(section)).items()
                if isinstance(raw, Mapping)
            }
        return self._views[section]

    @property
    def nodes(self) -> Mapping[str, Node]:
        """dbt's ``nodes``: models, seeds, snapshots, tests, analyses, by unique id."""
        return self._section("nodes")

    @property
    def sources(self) -> Mapping[str, Node]:
        return self._section("sources")

    @property
    def exposures(self) -> Mapping[str, Node]:
        return self._section("exposures")

    @property
    def macros(self) -> Mapping[str, Node]:
        return self._section("macros")

    @cached_property
    def _graph_entries(self) -> dict[str, Node]:
        entries: dict[str, Node] = {}
        for section in GRAPH_SECTIONS:
            entries.update(self._section(section))
        # a resource type newer than this code still shows up, named from its unique id
        for uid in _mapping(self.raw.get("parent_map")):
            if uid not in entries:
                entries[uid] = Node.of(uid, {})
        return entries

    def get(self, unique_id: str) -> Node | None:
        """The node, source, exposure, metric ... or macro with this unique id."""
        return self._graph_entries.get(unique_id) or self.macros.get(unique_id)

    def every(self) -> Iterator[Node]:
        """Everything the graph can mention: nodes, sources, exposures, metrics, ... (not macros)."""
        return iter(self._graph_entries.values())

    def of_type(self, *resource_types: str, packages: bool = True) -> list[Node]:
        """Nodes of these resource types (sources, exposures and macros included), the project's
        only when ``packages`` is False."""
        wanted = set(resource_types)
        return [
            node
            for node in [*self._graph_entries.values(), *self.macros.values()]
            if node.resource_type in wanted and (packages or not node.is_package)
        ]

    def root(self, *resource_types: str) -> dict[str, Node]:
        """The project's own nodes of these types by unique id (not those of installed packages)."""
        return {node.unique_id: node for node in self.of_type(*resource_types, packages=False)}

    def named(self, resource_type: str) -> dict[str, Node]:
        """The project's own nodes of one type by name (a versioned model: its latest version): what
        ae may create or edit."""
        return {
            node.name: node for node in self.of_type(resource_type, packages=False) if node.is_latest_version
        }

    def find_model(self, name: str, *, hint: str = "") -> Node:
        """The model ``name`` reads as ``ref('name')``: the project's own, else the one installed
        package's that has it (a versioned model: its latest version); else UnknownNode naming the
        closest models."""
        models = [m for m in self.of_type("model") if m.is_latest_version]
        own = [m for m in models if m.name == name and not m.is_package]
        found = own or [m for m in models if m.name == name]
        if len(found) == 1:
            return found[0]
        if found:
            ids = ", ".join(sorted(m.unique_id for m in found))
            raise UnknownNode(
                f"model name {name!r} is ambiguous: {ids} all have it",
                hint="dbt refuses an ambiguous ref too: keep one of them",
            )
        raise UnknownNode(
            f"no model named {name!r} in the project{close_matches(name, (m.name for m in models))}",
            hint=hint,
        )

    # --- the graph ----------------------------------------------------------------------------------

    def parents(self, unique_id: str) -> list[str]:
        """Unique ids of what the node reads (dbt's parent_map)."""
        return list(_strings(_mapping(self.raw.get("parent_map")).get(unique_id)))

    def children(self, unique_id: str) -> list[str]:
        """Unique ids of what reads the node, its tests included (dbt's child_map)."""
        return list(_strings(_mapping(self.raw.get("child_map")).get(unique_id)))

    def descendants(self, unique_id: str) -> set[str]:
        """Unique ids of everything built, directly or not, from the node (minus itself)."""
        seen: set[str] = set()
        frontier = [unique_id]
        while frontier:  # iterative: real projects have deep chains
            for child in self.children(frontier.pop()):
                if child not in seen:
                    seen.add(child)
                    frontier.append(child)
        seen.discard(unique_id)
        return seen

    @cached_property
    def _tests_by_node(self) -> dict[str, list[Node]]:
        found: dict[str, list[Node]] = {}
        for node in self.nodes.values():
            if node.resource_type == "test" and node.attached_node:
                found.setdefault(node.attached_node, []).append(node)
        return found

    def tests_of(self, unique_id: str) -> list[Node]:
        """The data tests attached to the node (its columns' and its own), in manifest order."""
        return list(self._tests_by_node.get(unique_id, []))


#: what the modules still reading dbt's JSON pass: wrapped on the way in, until each holds a Manifest
ManifestLike = Manifest | Mapping[str, Any]


def as_manifest(manifest: ManifestLike) -> Manifest:
    return manifest if isinstance(manifest, Manifest) else Manifest(manifest)
