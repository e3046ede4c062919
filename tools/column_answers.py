"""Column lineage as a tool answers it: JSON the model (or an MCP client) reads, nodes named as a
person names them (``stg_orders``, ``raw.orders``) instead of unique ids.

``ColumnLineageAnswer`` is a column's lineage upstream and downstream (``model_lineage`` with a
column); ``EditImpact`` is what an edit's changed columns reach downstream (the edit tools).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from tools.column_lineage import ColumnGraph, ColumnLineage, ColumnRef, Impact
from tools.errors import UnknownNode


class ColumnAt(BaseModel):
    node: str
    column: str
    #: models between it and the column asked about
    distance: int


class ColumnLineageAnswer(BaseModel):
    node: str
    column: str
    #: the columns it is computed from, nearest first
    upstream: list[ColumnAt]
    #: where the walk upstream ends: seed and source columns (``raw_payments.amount``)
    origins: list[str]
    #: the columns computed from it, nearest first
    downstream: list[ColumnAt]
    #: models that read it (or a column computed from it) in a join or a filter only
    readers: list[str]
    tests: list[str]
    exposures: list[str]
    complete: bool
    #: why the answer may miss something (SQL that could not be analysed, a budget reached)
    note: str | None = None


class EditImpact(BaseModel):
    """Downstream of the columns an edit changes: what to check before it is applied."""

    models: list[str]
    columns: list[str]
    tests: list[str]
    exposures: list[str]
    complete: bool
    note: str | None = None


def column_lineage(
    graph: ColumnGraph, unique_id: str, column: str, *, upstream: int, downstream: int
) -> ColumnLineageAnswer:
    """The lineage of ``unique_id.column``: columns up to ``upstream`` models up and ``downstream``
    models down (origins, tests and exposures are always all of them)."""
    known = graph.columns(unique_id) or []
    if column.lower() not in {c.lower() for c in known}:
        raise UnknownNode(
            f"{_name(graph, unique_id)} has no column {column!r}",
            hint=f"its columns: {', '.join(known) or 'unknown (its SQL could not be read)'}",
        )
    up, down = graph.upstream(unique_id, column), graph.downstream(unique_id, column)
    return ColumnLineageAnswer(
        node=_name(graph, unique_id),
        column=column.lower(),
        upstream=_within(graph, up, upstream),
        origins=[_column(graph, ref) for ref in up.origins],
        downstream=_within(graph, down, downstream),
        readers=_names(graph, down.readers),
        tests=_names(graph, down.tests),
        exposures=_names(graph, down.exposures),
        complete=up.complete and down.complete,
        note=_note([*up.unresolved, *down.unresolved], up.cut or down.cut, graph),
    )


def edit_impact(graph: ColumnGraph, impact: Impact | None) -> EditImpact | None:
    if impact is None:
        return None
    return EditImpact(
        models=_names(graph, impact.models),
        columns=[_column(graph, ref) for ref in impact.columns],
        tests=_names(graph, impact.tests),
        exposures=_names(graph, impact.exposures),
        complete=impact.cut is None and not impact.unresolved,
        note=_note(impact.unresolved, impact.cut, graph),
    )


def _within(graph: ColumnGraph, found: ColumnLineage, levels: int) -> list[ColumnAt]:
    return [
        ColumnAt(node=_name(graph, ref.node), column=ref.column, distance=distance)
        for ref, distance in found.columns
        if distance <= levels
    ]


def _name(graph: ColumnGraph, unique_id: str) -> str:
    node = graph.nodes.get(unique_id) or {}
    name = str(node.get("name") or unique_id)
    source = node.get("source_name") if node.get("resource_type") == "source" else None
    return f"{source}.{name}" if source else name


def _names(graph: ColumnGraph, unique_ids: Iterable[str]) -> list[str]:
    return [_name(graph, unique_id) for unique_id in unique_ids]


def _column(graph: ColumnGraph, ref: ColumnRef) -> str:
    return f"{_name(graph, ref.node)}.{ref.column}"


def _note(unresolved: Iterable[str], cut: str | None, graph: ColumnGraph) -> str | None:
    parts = []
    skipped = sorted(set(_names(graph, unresolved)))
    if skipped:
        parts.append(f"not analysed (SQL unreadable): {', '.join(skipped)}")
    if cut:
        parts.append(f"incomplete: {cut}")
    return "; ".join(parts) or None
