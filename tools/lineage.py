"""Lineage of a dbt node from dbt's manifest: what it reads from and what reads from it.

The manifest's ``parent_map``/``child_map`` already hold the DAG (models, seeds, snapshots,
sources, exposures, metrics ...); this walks them breadth-first to a depth in each direction.
Data tests hang off every tested model and would drown the picture, so they are left out unless
asked for.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tools.errors import InvalidArguments, UnknownNode
from tools.manifest import Manifest, ManifestLike, as_manifest, load_manifest

# load_manifest lived here: validate, runner, trust_gate and the warehouse tools import it from here
__all__ = ["MAX_DEPTH", "Lineage", "LineageEdge", "LineageNode", "lineage", "load_manifest"]

_TEST_TYPES = frozenset({"test", "unit_test"})
#: deeper requests are cut to this many hops (a 1500-model chain asked for 2000)
MAX_DEPTH = 100
#: past this many levels a line shows its level number instead of indenting further
MAX_INDENT = 8
#: the rendered tree stops here: it goes to a person's terminal or a model's context
MAX_RENDERED_CHARS = 50_000


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class LineageNode(_Frozen):
    unique_id: str
    #: the name a person uses: ``stg_orders``, or ``raw.orders`` for a source table
    name: str
    resource_type: str
    #: hops from the focus node (0 for the node itself)
    distance: int


class LineageEdge(_Frozen):
    parent: str
    child: str


class Lineage(_Frozen):
    node: LineageNode
    upstream: list[LineageNode]
    downstream: list[LineageNode]
    edges: list[LineageEdge]
    upstream_depth: int
    downstream_depth: int
    #: the depth asked for when it was more than MAX_DEPTH (then the depths above are MAX_DEPTH)
    depth_asked: int | None = None

    def render_text(self) -> str:
        """The lineage as an indented tree, parents above (``<-``) and children below (``->``)."""
        nodes = {n.unique_id: n for n in [self.node, *self.upstream, *self.downstream]}
        parents: dict[str, list[str]] = {}
        children: dict[str, list[str]] = {}
        for edge in self.edges:
            parents.setdefault(edge.child, []).append(edge.parent)
            children.setdefault(edge.parent, []).append(edge.child)
        lines = [f"{self.node.name}  [{self.node.resource_type}: {self.node.unique_id}]"]
        for title, depth, links, arrow in (
            ("upstream", self.upstream_depth, parents, "<-"),
            ("downstream", self.downstream_depth, children, "->"),
        ):
            capped = f"; capped at {MAX_DEPTH}, {self.depth_asked} was asked for" if self.depth_asked else ""
            lines.append(f"{title} (depth {depth}{capped}):")
            lines += _render_tree(self.node.unique_id, links, nodes, arrow) or ["  (none)"]
        return _within_size(lines)


def _render_tree(
    root: str, links: dict[str, list[str]], nodes: dict[str, LineageNode], arrow: str
) -> list[str]:
    """Depth-first with an explicit stack (a long chain overflowed Python's recursion limit)."""
    lines: list[str] = []
    expanded: set[str] = set()

    def linked(node_id: str, level: int) -> list[tuple[str, int]]:
        # reversed onto the stack, so they come off in name order
        ordered = sorted(links.get(node_id, []), key=lambda uid: nodes[uid].name)
        return [(uid, level) for uid in reversed(ordered)]

    stack = linked(root, 1)
    while stack:
        node_id, level = stack.pop()
        node = nodes[node_id]
        # a DAG reaches some nodes by several paths: show each once in full, later mentions short
        repeat = node_id in expanded
        suffix = "  (see above)" if repeat and links.get(node_id) else ""
        lines.append(f"{_indent(level)}{arrow} {node.name}  [{node.resource_type}]{suffix}")
        if not repeat:
            expanded.add(node_id)
            stack += linked(node_id, level + 1)
    return lines


def _indent(level: int) -> str:
    """Indentation that stops growing: deep levels are numbered (it grew quadratically: 827 KB)."""
    if level <= MAX_INDENT:
        return "  " * level
    return "  " * MAX_INDENT + f"[{level}] "


def _within_size(lines: list[str]) -> str:
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line) + 1
        if size > MAX_RENDERED_CHARS:
            cut = len(lines) - len(kept)
            kept.append(
                f"... {cut} more lines cut at {MAX_RENDERED_CHARS} characters; ask for a smaller depth"
            )
            break
        kept.append(line)
    return "\n".join(kept)


# --- manifest access ------------------------------------------------------------------------------


def _entries(manifest: Manifest) -> dict[str, LineageNode]:
    """Every node the graph may mention, with its display name (distance filled in later)."""
    return {
        node.unique_id: LineageNode(
            unique_id=node.unique_id, name=node.label, resource_type=node.resource_type, distance=0
        )
        for node in manifest.every()
    }


def _resolve(node: str, entries: dict[str, LineageNode]) -> LineageNode:
    if node in entries:
        return entries[node]
    matches = [entry for entry in entries.values() if entry.name == node]
    if not matches:
        # a bare table name still finds a source table when nothing else has that name
        matches = [
            entry
            for entry in entries.values()
            if entry.resource_type == "source" and entry.name.split(".", 1)[1] == node
        ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(sorted(entry.unique_id for entry in matches))
        raise UnknownNode(f"{node!r} is ambiguous: it names {ids}", hint="pass one of these unique ids")
    known = sorted({entry.name for entry in entries.values()} | set(entries))
    close = difflib.get_close_matches(node, known, n=5, cutoff=0.6)
    suggestion = f" Close matches: {', '.join(close)}." if close else ""
    raise UnknownNode(
        f"no node named {node!r} in the manifest.{suggestion}",
        hint="give a unique id (model.pkg.name), a model/seed/snapshot/exposure name or source_name.table",
    )


def _walk(
    start: str,
    graph: Callable[[str], list[str]],
    depth: int,
    keep: set[str],
    upstream: bool,
) -> tuple[dict[str, int], list[LineageEdge]]:
    """Breadth-first: the shortest distance to each reachable node within ``depth``, and the edges."""
    distances: dict[str, int] = {}
    edges: list[LineageEdge] = []
    queue = deque([(start, 0)])
    while queue:
        current, distance = queue.popleft()
        if distance == depth:
            continue
        for neighbour in graph(current):
            if neighbour not in keep:
                continue
            edges.append(
                LineageEdge(parent=neighbour, child=current)
                if upstream
                else LineageEdge(parent=current, child=neighbour)
            )
            if neighbour != start and neighbour not in distances:
                distances[neighbour] = distance + 1
                queue.append((neighbour, distance + 1))
    return distances, edges


def lineage(
    manifest: ManifestLike | Path,
    node: str,
    *,
    upstream: int = 1,
    downstream: int = 1,
    include_tests: bool = False,
) -> Lineage:
    """Nodes up to ``upstream`` hops above and ``downstream`` hops below ``node``, with the edges.

    ``node`` is a unique id (``model.jaffle_shop.stg_orders``), a name (``stg_orders``) or
    ``source_name.table`` for a source table.
    """
    if upstream < 0 or downstream < 0:
        raise InvalidArguments(f"depths must not be negative (upstream={upstream}, downstream={downstream})")
    asked = max(upstream, downstream)
    upstream, downstream = min(upstream, MAX_DEPTH), min(downstream, MAX_DEPTH)
    data = Manifest.read(manifest) if isinstance(manifest, Path) else as_manifest(manifest)
    entries = _entries(data)
    focus = _resolve(node, entries)
    keep = {uid for uid, entry in entries.items() if include_tests or entry.resource_type not in _TEST_TYPES}
    up, up_edges = _walk(focus.unique_id, data.parents, upstream, keep, upstream=True)
    down, down_edges = _walk(focus.unique_id, data.children, downstream, keep, upstream=False)

    def at_distance(found: dict[str, int]) -> list[LineageNode]:
        ordered = sorted(found.items(), key=lambda item: (item[1], entries[item[0]].name))
        return [entries[uid].model_copy(update={"distance": dist}) for uid, dist in ordered]

    return Lineage(
        node=focus,
        upstream=at_distance(up),
        downstream=at_distance(down),
        edges=up_edges + down_edges,
        upstream_depth=upstream,
        downstream_depth=downstream,
        depth_asked=asked if asked > MAX_DEPTH else None,
    )
