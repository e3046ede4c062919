"""/incremental-model (and /model-edit --materialized incremental) on a model that exists: made
incremental in place, never regenerated.

Only the model's ``config()`` call and ``is_incremental()`` filters change (tools/sql_edit
``make_incremental``): the filter goes on the relation the unique key is read from, which drives the
model's grain, and re-reads its rows within a lookback of the newest loaded. The time column is
chosen from the data: that relation's last-change column when its profile finds one, else its event
time, as long as the model outputs it (an incremental run reads how far it loaded from its own
table). Verify then proves the incremental result equals a full refresh.
"""

from __future__ import annotations

from typing import cast

from agent.commands.edit_inputs import EditInputs
from agent.commands.model_files import DEFAULT_LOOKBACK, LOOKBACK_VAR
from agent.commands.project import ProjectView
from graph.plan_spec import PlanSpec
from tools.errors import InvalidArguments
from tools.manifest import Node
from tools.model_edits import incremental, time_column_of
from tools.sql_edit.incremental import OnSchemaChange, Strategy

#: an incremental table whose columns drift from its SQL fails the run instead of silently keeping
#: the old columns (dbt's default, ``ignore``, drops a new column without a word)
ON_SCHEMA_CHANGE: OnSchemaChange = "fail"


def _key_checked(view: ProjectView, node: Node, key: str) -> str:
    """What the built table says of the key; refused when its data shows the key does not identify rows."""
    if not view.is_built(node):
        return f"unique_key {key}: {node.name} is not built yet; its tests check the key when it is"
    column = view.profile(view.relation_of(node), columns=[key]).columns[0]
    if not column.is_unique:
        raise InvalidArguments(
            f"--unique-key {key} does not identify rows of {node.name}: {column.distinct} distinct values "
            f"and {column.nulls} nulls in {column.rows} rows, so a merge would collapse or duplicate rows",
            hint="name the column that is unique and never null in the model",
        )
    return f"unique_key {key}: unique and not null in the {column.rows} rows built now"


def plan_incremental_edit(inputs: EditInputs, *, unique_key: str, strategy: str) -> PlanSpec:
    """The model made incremental in place, with what it affects listed before anything is applied."""
    view, project, node = inputs.view, inputs.project, inputs.node
    key_note = _key_checked(view, node, unique_key)
    if node.config.materialized == "incremental":
        raise InvalidArguments(
            f"{node.name} is already incremental (unique_key {node.config.raw.get('unique_key')}); making it "
            "incremental again would add a second filter",
            hint=f"change its config() and is_incremental() filter by hand in {node.original_file_path}",
        )
    time = time_column_of(project, node, unique_key)
    result = incremental(
        project,
        node,
        unique_key=unique_key,
        time_column=time.column,
        strategy=cast(Strategy, strategy),
        on_schema_change=ON_SCHEMA_CHANGE,
        lookback=DEFAULT_LOOKBACK,
        lookback_var=LOOKBACK_VAR,
    )
    view.tools.changeset.write_file(view.paths, node.original_file_path, result.text)
    answer = [
        f"{node.name} ({node.original_file_path}) made incremental in place: "
        f"{project.readable(result.description)}.",
        f"time column: {time.relation}.{time.column}, its {time.kind} in the data; the lookback is the var "
        f"{LOOKBACK_VAR} (default {DEFAULT_LOOKBACK}); on_schema_change={ON_SCHEMA_CHANGE}.",
        key_note,
        "Only the config() call and the is_incremental() filters change: every other line, Jinja loop, "
        "column and value of the model is kept.",
        *(f"note: {project.readable(w)}" for w in result.warnings),
    ]
    if result.impact is not None:
        answer.append(result.impact.render(project.label))
    answer.append(f"files: {node.original_file_path}")
    return PlanSpec(
        summary=f"make {node.name} incremental in place ({strategy} on {unique_key})",
        answer="\n".join(answer),
    )
