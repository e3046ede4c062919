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
from tools.sql_edit import choose_time_column, grain_relation, make_incremental
from tools.sql_edit.incremental import OnSchemaChange, Strategy

#: an incremental table whose columns drift from its SQL fails the run instead of silently keeping
#: the old columns (dbt's default, ``ignore``, drops a new column without a word)
ON_SCHEMA_CHANGE: OnSchemaChange = "fail"


def _relation_node(inputs: EditInputs, relation: str) -> Node | None:
    parents = (inputs.manifest.get(uid) for uid in inputs.node.depends_on)
    return next((p for p in parents if p is not None and p.relation_name == relation), None)


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
    view, node = inputs.view, inputs.node
    key_note = _key_checked(view, node, unique_key)
    if node.config.materialized == "incremental":
        raise InvalidArguments(
            f"{node.name} is already incremental (unique_key {node.config.raw.get('unique_key')}); making it "
            "incremental again would add a second filter",
            hint=f"change its config() and is_incremental() filter by hand in {node.original_file_path}",
        )
    relations = inputs.relations()
    dialect = inputs.graph.dialect
    grain = grain_relation(inputs.compiled, unique_key=unique_key, relations=relations, dialect=dialect)
    driver = _relation_node(inputs, grain.relation)
    label = driver.label if driver is not None else grain.relation
    if driver is None or not view.is_built(driver):
        raise InvalidArguments(
            f"{label} drives {node.name}'s grain and is not built, so its time column cannot be read "
            "from the data",
            hint=f"build it first: /dbt-run --select +{label}",
        )
    profile = view.profile(grain.relation)
    adding = f"/model-edit --name {node.name} --add-column {label}.{{column}}"
    time_column = choose_time_column(grain, profile, model=node.name, label=label, adding=adding)
    result = make_incremental(
        inputs.source(),
        inputs.compiled,
        unique_key=unique_key,
        time_column=time_column,
        relations=relations,
        strategy=cast(Strategy, strategy),
        on_schema_change=ON_SCHEMA_CHANGE,
        lookback=DEFAULT_LOOKBACK,
        lookback_var=LOOKBACK_VAR,
        dialect=dialect,
        lineage=inputs.lineage,
    )
    view.tools.changeset.write_file(view.paths, node.original_file_path, result.text)
    kind = "last-change time" if time_column in profile.updated_at_candidates else "event time"
    answer = [
        f"{node.name} ({node.original_file_path}) made incremental in place: "
        f"{inputs.readable(result.description)}.",
        f"time column: {label}.{time_column}, its {kind} in the data; the lookback is the var "
        f"{LOOKBACK_VAR} (default {DEFAULT_LOOKBACK}); on_schema_change={ON_SCHEMA_CHANGE}.",
        key_note,
        "Only the config() call and the is_incremental() filters change: every other line, Jinja loop, "
        "column and value of the model is kept.",
        *(f"note: {inputs.readable(w)}" for w in result.warnings),
    ]
    if result.impact is not None:
        answer.append(result.impact.render(inputs.name_of))
    answer.append(f"files: {node.original_file_path}")
    return PlanSpec(
        summary=f"make {node.name} incremental in place ({strategy} on {unique_key})",
        answer="\n".join(answer),
    )
