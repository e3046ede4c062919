"""What Claude is told about the project's own habits before it plans, so its files follow them.

The system prompt describes ae's default layout (``models/staging/<source>``, ``models/marts``, one
YAML per model, ``data_tests:`` with ``arguments:``). A user's project often differs; the same facts the
command planner follows (``Conventions``, the test style) are written out here and sent with the
request, and they win over the defaults.
"""

from __future__ import annotations

from agent.commands.project import ProjectView
from tools.layers import Layer

_LAYERS: tuple[Layer, ...] = ("staging", "intermediate", "marts")


def project_brief(view: ProjectView) -> str:
    """A short Markdown section on where files go and how tests and configs are written here."""
    conventions = view.conventions
    lines = ["# This project's conventions (they override the defaults of the system prompt)", ""]
    for layer in _LAYERS:
        folder = conventions.folder_for(layer)
        lines.append(
            f"- New {layer} models go in `{folder}/`, documented in "
            f"`{conventions.properties_file_for(folder, '<model>')}`."
        )
    style = view.test_style
    nesting = (
        "with a generic test's arguments under `arguments:`"
        if style.arguments
        else "with a generic test's arguments directly under the test name (no `arguments:`)"
    )
    lines.append(f"- Data tests are listed under `{style.key}:`, {nesting}.")
    for folder, materialized in sorted(conventions.configured_materializations().items()):
        lines.append(
            f"- `dbt_project.yml` makes models under `{folder or 'models'}/` {materialized}: "
            "do not repeat that in a model's config()."
        )
    if view.seeds:
        lines.append(
            f"- Raw inputs include seeds ({', '.join(sorted(view.seeds)[:8])}): staging models read them "
            "with ref(), as they read sources with source()."
        )
    return "\n".join(lines)
