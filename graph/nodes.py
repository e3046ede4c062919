"""Which dbt nodes a changeset touches, and what a build of them builds, read from the parsed
manifest (tools/manifest.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tools.manifest import Manifest, Node

BUILDABLE = ("model", "seed", "snapshot")


def build_kinds(build_nodes: Iterable[str]) -> list[str]:
    """What the default ``build`` of these nodes (unique ids) builds: models and seeds, and snapshots
    only when the change defined one (a snapshot run records history nobody asked for)."""
    redefines_snapshot = any(uid.startswith("snapshot.") for uid in build_nodes)
    return [kind for kind in BUILDABLE if kind != "snapshot" or redefines_snapshot]


def touched_nodes(manifest: Manifest, paths: Iterable[str]) -> list[str]:
    """Unique ids of buildable nodes defined by, or documented/tested in, the given files."""
    wanted = set(paths)
    touched = [
        uid
        for uid, node in manifest.root(*BUILDABLE).items()
        if node.original_file_path in wanted or node.patch_path in wanted
    ]
    # a test file or YAML test touching a model also touches the tested model
    for test in manifest.of_type("test"):
        if test.original_file_path in wanted:
            touched += [d for d in test.depends_on if d.split(".")[0] in BUILDABLE]
    return sorted(set(touched))


def names(manifest: Manifest, unique_ids: Iterable[str]) -> list[str]:
    nodes = manifest.nodes
    return [nodes[uid].name for uid in unique_ids if uid in nodes]


#: config keys that label a node without changing what dbt builds for it
_LABELS = frozenset({"meta", "tags", "docs", "group"})


def _build_config(node: Node) -> dict[str, Any]:
    return {k: v for k, v in node.config.raw.items() if k not in _LABELS}


def ancestors(manifest: Manifest, unique_id: str) -> list[str]:
    """Unique ids of everything a node reads, directly or through other models: the models, seeds
    and snapshots between it and its sources, and the sources (a source's own parents are none)."""
    seen: set[str] = set()
    todo = [unique_id]
    while todo:
        node = manifest.nodes.get(todo.pop())
        for parent_id in node.depends_on if node else ():
            if parent_id not in seen and manifest.get(parent_id) is not None:
                seen.add(parent_id)
                todo.append(parent_id)
    return sorted(seen)


def upstream_tables(manifest: Manifest, unique_id: str) -> list[str]:
    """Relation names of the sources and seeds a node reads, directly or through other models."""
    return sorted(
        {
            parent.relation_name
            for uid in ancestors(manifest, unique_id)
            if (parent := manifest.get(uid)) is not None
            and parent.resource_type in {"source", "seed"}
            and parent.relation_name
        }
    )


def redefined(
    manifest: Manifest, unique_ids: Iterable[str], paths: Iterable[str], before: Manifest | None
) -> list[str]:
    """Of ``unique_ids``, the nodes a build must rebuild: those whose own definition file (SQL, CSV,
    snapshot YAML) is in ``paths``, and those whose build config (materialization, schema, keys...)
    differs from the project as it was (``before``; a config set in YAML). A model only described,
    labelled or tested in a touched YAML is not."""
    nodes = manifest.nodes
    old = before.nodes if before is not None else {}
    wanted = set(paths)

    def rebuilt(uid: str) -> bool:
        node = nodes.get(uid)
        if node is None:
            return False
        return node.original_file_path in wanted or (
            uid in old and _build_config(old[uid]) != _build_config(node)
        )

    return sorted(uid for uid in unique_ids if rebuilt(uid))


def new_tests(
    manifest: Manifest, before: Manifest | None, paths: Iterable[str], built: Iterable[str]
) -> list[str]:
    """Names of the tests a change added to models it does not rebuild (those run with their build):
    tests defined in the touched files that the project as it was (``before``) did not have."""
    if before is None:  # the change only added models: their tests run with them
        return []
    wanted, rebuilt, existed = set(paths), set(built), set(before.nodes)
    return sorted(
        test.name
        for test in manifest.of_type("test")
        if test.original_file_path in wanted
        and test.unique_id not in existed
        and test.attached_node not in rebuilt
    )


def listed_ids(manifest: Manifest, listed: Iterable[str], kinds: list[str]) -> set[str]:
    """Unique ids of the nodes ``dbt ls`` printed (dotted fqn, its default output) of these kinds."""
    wanted = set(listed)
    return {
        uid
        for uid, node in manifest.nodes.items()
        if node.resource_type in kinds and ".".join(node.fqn) in wanted
    }
