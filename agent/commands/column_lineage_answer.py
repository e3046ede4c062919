"""/model-lineage --column: one column's lineage, upstream to the seeds and sources it starts from and
downstream to every column, test and exposure that depends on it, as a person reads it.

The project is compiled around the node (one read-only ``dbt compile --select @<node>``, which parses
it too: it takes the place of the plain lineage's ``dbt parse``, so the command still makes one dbt
call) and the column is followed through the compiled SQL (tools/column_lineage.py).
"""

from __future__ import annotations

import re

from agent.commands.edit_inputs import column_graph, compile_around
from agent.commands.naming import is_identifier
from agent.commands.project import ProjectView
from tools.column_lineage import ColumnLineage, ColumnRef
from tools.errors import InvalidArguments
from tools.manifest import Manifest

#: a node name dbt can select as it is written (any case: a model is named after its file)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def compile_for_lineage(view: ProjectView, node: str) -> None:
    """Compile the node, what it reads and what reads it. A name that is no plain name, or that
    selects nothing, is not compiled: the lineage names it (with the closest names) from a parse."""
    parts = node.split(".")
    if not all(_PLAIN.fullmatch(part) for part in parts):
        return
    # a source table (raw.orders) is selected by its method; a unique id by its last part
    selector = f"source:{node}" if len(parts) == 2 else parts[-1]
    compile_around(view, f"@{selector}", node)


def _label(manifest: Manifest, ref: ColumnRef) -> str:
    node = manifest.get(ref.node)
    return f"{node.label if node is not None else ref.node}.{ref.column}"


def _names(manifest: Manifest, unique_ids: tuple[str, ...]) -> str:
    return ", ".join(n.label if (n := manifest.get(u)) is not None else u for u in unique_ids) or "none"


def _reached(manifest: Manifest, found: ColumnLineage, *, origins: bool) -> list[str]:
    starts = set(found.origins)
    lines = []
    for ref, distance in found.columns:
        where = f"{distance} model{'s' if distance > 1 else ''} away"
        if origins and ref in starts:
            node = manifest.get(ref.node)
            where += f"; where it starts: {node.resource_type if node is not None else 'no SQL'}"
        lines.append(f"    {_label(manifest, ref)} ({where})")
    return lines or ["    none"]


def _gaps(manifest: Manifest, found: ColumnLineage) -> list[str]:
    lines = []
    if found.unresolved:
        lines.append(f"    not analysed (SQL sqlglot cannot read): {_names(manifest, found.unresolved)}")
    if found.cut:
        lines.append(f"    incomplete: {found.cut}")
    return lines


def column_lineage_answer(view: ProjectView, unique_id: str, column: str) -> str:
    """The column's lineage, upstream and downstream, for the plan's answer."""
    if not is_identifier(column):
        raise InvalidArguments(f"--column {column!r} is not a column name", hint="e.g. customer_id")
    manifest = view.manifest
    graph = column_graph(view)
    columns = graph.columns(unique_id)
    name = manifest.get(unique_id)
    label = name.label if name is not None else unique_id
    if columns is not None and column.lower() not in {c.lower() for c in columns}:
        raise InvalidArguments(f"{label} has no column {column!r}", hint=f"its columns: {', '.join(columns)}")
    up, down = graph.upstream(unique_id, column), graph.downstream(unique_id, column)
    lines = [
        f"column {label}.{column.lower()}",
        "  upstream: the columns it is computed from",
        *_reached(manifest, up, origins=True),
        *_gaps(manifest, up),
        "  downstream: the columns computed from it",
        *_reached(manifest, down, origins=False),
        f"  read (in a join or filter) by: {_names(manifest, down.readers)}",
        f"  tests on it: {_names(manifest, down.tests)}",
        f"  exposures using it: {_names(manifest, down.exposures)}",
        *_gaps(manifest, down),
    ]
    return "\n".join(lines)
