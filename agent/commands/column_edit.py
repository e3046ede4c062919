"""/model-edit's column operations: add a parent's column, rename an output column everywhere.

Both edits are made as the planner's tools make them (tools/model_edits.py). An added column is
written where the model names its output and brought up through its CTEs; its YAML entry joins the
model's existing entry, described and tested by the rules a new model's columns follow
(agent/commands/column_facts.py, descriptions.py). A rename changes the model, every downstream
model and singular test that reads the column, and every YAML entry and test that names it, in one
changeset; exposures, which live outside dbt, are listed for a person to change.

A model whose output columns change and that is incremental is rebuilt with --full-refresh: an
incremental run keeps the table it has, so a new or renamed column would never reach it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from agent.commands.column_facts import (
    ColumnFacts,
    facts_from_profile,
    generated_test_reasons,
    generated_tests,
)
from agent.commands.descriptions import column_description
from agent.commands.edit_inputs import EditInputs
from graph.plan_spec import Operation, PlanSpec
from tools.codegen import ColumnDoc, column_entry, test_kind
from tools.column_lineage import Impact
from tools.layers import entity_of
from tools.manifest import Node
from tools.model_edits import add_parent_column, rename


def full_refresh_of(inputs: EditInputs, models: Iterable[str]) -> tuple[list[Operation] | None, str | None]:
    """Operations that rebuild ``models`` (and what reads them) from scratch when one is incremental,
    with the line that says why; (None, None) when the default build will do."""
    incremental = sorted(
        name
        for name in set(models)
        if (node := inputs.view.models.get(name)) is not None and node.config.materialized == "incremental"
    )
    if not incremental:
        return None, None
    select = sorted(f"{name}+" for name in set(models))
    why = (
        f"{', '.join(incremental)} is incremental: an incremental run keeps the columns its table has, so "
        f"this change is built with --full-refresh ({' '.join(select)})"
    )
    return [Operation(command="build", select=select, full_refresh=True)], why


def _exposure_notes(inputs: EditInputs, impact: Impact | None, old: str) -> list[str]:
    if impact is None:
        return []
    names = [inputs.project.label(uid) for uid in impact.exposures]
    return [
        f"exposure {name} uses {inputs.node.name} on the way: ae cannot see inside it, so change the "
        f"queries or fields it reads as {old} by hand"
        for name in names
    ]


# --- add a column -------------------------------------------------------------------------------------


def _facts(inputs: EditInputs, parent: Node, column: str, name: str, joined: bool) -> ColumnFacts:
    """What the parent's data says of the column (its YAML description kept); a parent that is not
    built gives only the description."""
    documented = parent.columns.get(column) or parent.columns.get(column.lower())
    described = (documented.description if documented else "") or None
    if not inputs.view.is_built(parent):
        return ColumnFacts(name=name, type="", never_null=False, description=described)
    profile = inputs.view.profile(inputs.view.relation_of(parent), columns=[column]).columns[0]
    # read through a join the row can miss: not_null and unique cannot be promised from the parent
    return facts_from_profile(profile, name=name, may_gain_nulls=joined, description=described)


def plan_add_column(inputs: EditInputs, parent_name: str, column: str, alias: str | None) -> PlanSpec:
    view, project, node = inputs.view, inputs.project, inputs.node
    added = add_parent_column(project, node, parent_name, column, alias)
    parent, spelled = added.parent, added.column
    changeset = view.tools.changeset
    changeset.write_file(view.paths, node.original_file_path, added.result.text)
    name = alias or spelled
    facts = _facts(inputs, parent, spelled, name, joined=added.joined)
    tests = generated_tests(facts)
    doc = ColumnDoc(
        name,
        column_description(facts, entity_of(node.name)),
        tuple(tests),
        test_reasons=generated_test_reasons(facts),
    )
    # its entry where it has one, else the file its folder documents models in
    folder = str(PurePosixPath(node.original_file_path).parent)
    yml = view.properties_path(node, view.conventions.properties_file_for(folder, node.name))
    view.write_entry(changeset, yml, "models", {"name": node.name, "columns": [column_entry(doc)]})
    operations, rebuilt = full_refresh_of(inputs, [node.name])
    shown = ", ".join(test_kind(t) for t in tests) or "none"
    answer = [
        f"{node.name} ({node.original_file_path}): {project.readable(added.result.description)}.",
        f"{yml}: column {name} added to {node.name}'s entry ({doc.description!r}; tests: {shown})"
        + ("" if view.is_built(parent) else f"; {parent.name} is not built, so nothing was profiled"),
        f"impact: no existing column of {node.name} changes; read by {inputs.readers()} (a model that "
        f"selects * from it gains {name})",
        *([rebuilt] if rebuilt else []),
        f"files: {node.original_file_path}, {yml}",
    ]
    return PlanSpec(
        summary=f"add {parent.label}.{spelled} to {node.name}" + (f" as {alias}" if alias else ""),
        operations=operations,
        answer="\n".join(answer),
    )


# --- rename a column ----------------------------------------------------------------------------------


def plan_rename(inputs: EditInputs, old: str, new: str) -> PlanSpec:
    view, project = inputs.view, inputs.project
    edit = rename(project, inputs.node, old, new)
    for path, text in edit.files.items():
        view.tools.changeset.write_file(view.paths, path, text)
    operations, rebuilt = full_refresh_of(inputs, [model for model, _, _ in edit.renamed])
    answer = [
        f"{edit.description}, in one change:",
        *(f"  {line}" for line in edit.details),
        *(f"note: {project.readable(w)}" for w in edit.warnings),
        *_exposure_notes(inputs, edit.impact, old),
        *([edit.impact.render(project.label)] if edit.impact is not None else []),
        *([rebuilt] if rebuilt else []),
        f"files: {', '.join(edit.files)}",
    ]
    return PlanSpec(
        summary=f"rename {inputs.node.name}.{old} to {new} everywhere it is used",
        operations=operations,
        answer="\n".join(answer),
    )
