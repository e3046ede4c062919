"""What every edit returns: the new text, one line saying what changed, and what it may affect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tools.column_lineage import Impact, ModelLineage


@dataclass(frozen=True)
class EditResult:
    """One model's new text. ``warnings`` are what a person should know before applying it (a join
    whose rows an incremental run will not refresh, Jinja that names the renamed column ...)."""

    text: str
    description: str
    warnings: tuple[str, ...] = ()
    #: downstream models, columns, tests and exposures of the columns the edit changes (when lineage
    #: was given); None when the edit changes no existing column or no lineage was given
    impact: Impact | None = None


@dataclass(frozen=True)
class ExtractResult:
    """``extract_cte``: the model's new text and the new model's."""

    text: str
    new_model: str
    new_model_text: str
    description: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectEdit:
    """Edits across files, for one changeset: path -> the file's whole new text."""

    files: dict[str, str]
    description: str
    #: (model name, old column, new column) of every output column that changed name
    renamed: tuple[tuple[str, str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    impact: Impact | None = None
    #: what changed in each file, one line each
    details: tuple[str, ...] = ()


def impact_of(lineage: ModelLineage | None, columns: Sequence[str]) -> Impact | None:
    """The downstream impact of changing ``columns`` of the model, when its lineage is known."""
    if lineage is None or not columns:
        return None
    return lineage.graph.impact(lineage.unique_id, columns)
