"""Which dbt nodes a changeset touches, read from the parsed manifest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

BUILDABLE = ("model", "seed", "snapshot")


def _patch_file(node: Mapping[str, Any]) -> str | None:
    # patch_path looks like "jaffle_shop://models/staging/_stg.yml"
    patch = node.get("patch_path")
    return patch.split("://", 1)[1] if isinstance(patch, str) and "://" in patch else None


def project_nodes(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The root project's models, seeds and snapshots (not those of installed packages)."""
    project = manifest.get("metadata", {}).get("project_name")
    return {
        uid: node
        for uid, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") in BUILDABLE and (project is None or node.get("package_name") == project)
    }


def touched_nodes(manifest: Mapping[str, Any], paths: Iterable[str]) -> list[str]:
    """Unique ids of buildable nodes defined by, or documented/tested in, the given files."""
    wanted = set(paths)
    touched = [
        uid
        for uid, node in project_nodes(manifest).items()
        if node.get("original_file_path") in wanted or _patch_file(node) in wanted
    ]
    # a test file or YAML test touching a model also touches the tested model
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "test" and node.get("original_file_path") in wanted:
            touched += [
                d for d in node.get("depends_on", {}).get("nodes", []) if d.split(".")[0] in BUILDABLE
            ]
    return sorted(set(touched))


def names(manifest: Mapping[str, Any], unique_ids: Iterable[str]) -> list[str]:
    nodes = manifest.get("nodes", {})
    return [nodes[uid]["name"] for uid in unique_ids if uid in nodes]


def incremental_models(manifest: Mapping[str, Any], unique_ids: Iterable[str]) -> list[str]:
    nodes = manifest.get("nodes", {})
    return [
        uid
        for uid in unique_ids
        if uid in nodes and nodes[uid].get("config", {}).get("materialized") == "incremental"
    ]


#: config keys that label a node without changing what dbt builds for it
_LABELS = frozenset({"meta", "tags", "docs", "group"})


def _build_config(node: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (node.get("config") or {}).items() if k not in _LABELS}


def upstream_tables(manifest: Mapping[str, Any], unique_id: str) -> list[str]:
    """Relation names of the sources and seeds a node reads, directly or through other models."""
    nodes, sources = manifest.get("nodes", {}), manifest.get("sources", {})
    seen: set[str] = set()
    tables: set[str] = set()
    todo = [unique_id]
    while todo:
        node = nodes.get(todo.pop(), {})
        for parent in node.get("depends_on", {}).get("nodes", []):
            if parent in seen:
                continue
            seen.add(parent)
            table = sources.get(parent) or (nodes.get(parent) if parent.startswith("seed.") else None)
            if table is not None and table.get("relation_name"):
                tables.add(str(table["relation_name"]))
            elif parent in nodes:
                todo.append(parent)
    return sorted(tables)


def redefined(
    manifest: Mapping[str, Any],
    unique_ids: Iterable[str],
    paths: Iterable[str],
    before: Mapping[str, Any] | None,
) -> list[str]:
    """Of ``unique_ids``, the nodes a build must rebuild: those whose own definition file (SQL, CSV,
    snapshot YAML) is in ``paths``, and those whose build config (materialization, schema, keys...)
    differs from the project as it was (``before``; a config set in YAML). A model only described,
    labelled or tested in a touched YAML is not."""
    nodes = manifest.get("nodes", {})
    old = (before or {}).get("nodes", {})
    wanted = set(paths)
    return sorted(
        uid
        for uid in unique_ids
        if nodes.get(uid, {}).get("original_file_path") in wanted
        or (uid in old and uid in nodes and _build_config(old[uid]) != _build_config(nodes[uid]))
    )


def new_tests(
    manifest: Mapping[str, Any], before: Mapping[str, Any] | None, paths: Iterable[str], built: Iterable[str]
) -> list[str]:
    """Names of the tests a change added to models it does not rebuild (those run with their build):
    tests defined in the touched files that the project as it was (``before``) did not have."""
    if before is None:  # the change only added models: their tests run with them
        return []
    wanted, rebuilt, existed = set(paths), set(built), set(before.get("nodes", {}))
    return sorted(
        str(node["name"])
        for uid, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") == "test"
        and node.get("original_file_path") in wanted
        and uid not in existed
        and node.get("attached_node") not in rebuilt
    )
