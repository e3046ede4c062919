"""Column lineage as ae answers it, nodes named as a person names them (``stg_orders``,
``raw.orders``) instead of unique ids: JSON the planner (or an MCP client) reads, and the same answer
as text for a /command's plan.

``ColumnLineageAnswer`` is a column's lineage upstream and downstream (``model_lineage`` with a
column, ``/model-lineage --column``); ``EditImpact`` is what an edit's changed columns reach
downstream (the edit tools).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from tools.column_lineage import ColumnGraph, ColumnLineage, ColumnRef, Impact
from tools.errors import UnknownNode

#: resource types a column's lineage starts from: their columns are data, not SQL
_DATA = frozenset({"seed", "source", "snapshot"})


class ColumnAt(BaseModel):
    node: str
    column: str
    #: models between it and the column asked about
    distance: int

    def where(self) -> str:
        return f"{self.distance} model{'s' if self.distance > 1 else ''} away"

    def render(self) -> str:
        return f"{self.node}.{self.column} ({self.where()})"


class UpstreamColumn(ColumnAt):
    #: where the walk upstream ends at this column: what it starts from (``seed``, ``source``,
    #: ``snapshot``, or a node whose SQL was not read); None on the way
    starts: str | None = None

    def where(self) -> str:
        away = super().where()
        return away if self.starts is None else f"{away}; where it starts: {self.starts}"


class ColumnLineageAnswer(BaseModel):
    node: str
    column: str
    #: the columns it is computed from, nearest first
    upstream: list[UpstreamColumn]
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

    def render_text(self) -> str:
        """The answer as a person reads it in a plan."""
        lines = [
            f"column {self.node}.{self.column}",
            "  upstream: the columns it is computed from",
            *(f"    {c.render()}" for c in self.upstream),
            *(["    none"] if not self.upstream else []),
            "  downstream: the columns computed from it",
            *(f"    {c.render()}" for c in self.downstream),
            *(["    none"] if not self.downstream else []),
            f"  read (in a join or filter) by: {', '.join(self.readers) or 'none'}",
            f"  tests on it: {', '.join(self.tests) or 'none'}",
            f"  exposures using it: {', '.join(self.exposures) or 'none'}",
        ]
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)


class EditImpact(BaseModel):
    """Downstream of the columns an edit changes: what to check before it is applied."""

    models: list[str]
    columns: list[str]
    tests: list[str]
    exposures: list[str]
    complete: bool
    note: str | None = None


def column_lineage(
    graph: ColumnGraph,
    unique_id: str,
    column: str,
    *,
    upstream: int | None = None,
    downstream: int | None = None,
) -> ColumnLineageAnswer:
    """The lineage of ``unique_id.column``: columns up to ``upstream`` models up and ``downstream``
    models down (None: all of them; origins, tests and exposures are always all of them). A column
    the node does not have is refused; a node whose columns are not known (SQL that cannot be read)
    is answered as far as its lineage goes, and the note says what was not analysed."""
    known = graph.columns(unique_id)
    if known is not None and column.lower() not in {c.lower() for c in known}:
        raise UnknownNode(
            f"{_name(graph, unique_id)} has no column {column!r}", hint=f"its columns: {', '.join(known)}"
        )
    up, down = graph.upstream(unique_id, column), graph.downstream(unique_id, column)
    starts = set(up.origins)
    return ColumnLineageAnswer(
        node=_name(graph, unique_id),
        column=column.lower(),
        upstream=[
            UpstreamColumn(
                node=_name(graph, ref.node),
                column=ref.column,
                distance=distance,
                starts=_starts(graph, ref.node) if ref in starts else None,
            )
            for ref, distance in _within(up, upstream)
        ],
        origins=[_column(graph, ref) for ref in up.origins],
        downstream=[
            ColumnAt(node=_name(graph, ref.node), column=ref.column, distance=distance)
            for ref, distance in _within(down, downstream)
        ],
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


def _within(found: ColumnLineage, levels: int | None) -> list[tuple[ColumnRef, int]]:
    return [(ref, distance) for ref, distance in found.columns if levels is None or distance <= levels]


def _starts(graph: ColumnGraph, unique_id: str) -> str:
    kind = str((graph.nodes.get(unique_id) or {}).get("resource_type") or "node")
    return kind if kind in _DATA else f"a {kind} whose SQL was not read"


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
