"""/model-edit: change a model that exists, in place, one operation per command.

``--add-column PARENT.COLUMN [--as NAME]``, ``--rename-column OLD:NEW``, ``--materialized
view|table|incremental`` (incremental with ``--unique-key``, the /incremental-model path) or
``--extract CTE --as int_NAME``. Flags are checked before dbt is asked anything; then the project is
compiled around the model (agent/commands/edit_inputs.py) and the edit is made on the model's syntax
tree, every byte it does not change kept (tools/sql_edit). The plan's answer lists what the edit
affects downstream (models, columns, tests, exposures) before anything is applied. Package models
and YAML-only declarations are refused: nothing of a package is ever edited, and a declaration has
no SQL to edit yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from agent.commands.catalog import COMMANDS
from agent.commands.column_edit import plan_add_column, plan_rename
from agent.commands.edit_inputs import EditInputs, checked_model_name
from agent.commands.extract_edit import plan_extract
from agent.commands.incremental_edit import plan_incremental_edit
from agent.commands.parser import ParsedCommand, usage_error
from agent.commands.project import ProjectView
from graph.plan_spec import PlanSpec
from tools.errors import InvalidArguments
from tools.sql_edit import set_materialization

Operation = Literal["add-column", "rename-column", "materialized", "extract"]
OPERATIONS: tuple[Operation, ...] = ("add-column", "rename-column", "materialized", "extract")
_SPEC = COMMANDS["model-edit"]
#: a column, CTE or relation name ae writes into SQL: plain, so it needs no quoting (any case)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class EditRequest:
    name: str
    operation: Operation
    #: add-column: (parent, column); rename-column: (old, new); extract: (cte, new model); materialized:
    #: (kind,)
    values: tuple[str, ...]
    alias: str | None = None
    unique_key: str | None = None


def _refuse(problem: str) -> InvalidArguments:
    return usage_error(_SPEC, problem)


def _identifier(value: str, what: str) -> str:
    if not _NAME.fullmatch(value):
        raise _refuse(
            f"{what} {value!r} is not a plain name (letters, digits and _, not starting with a digit)"
        )
    return value


def _operation(cmd: ParsedCommand) -> Operation:
    given = [op for op in OPERATIONS if cmd.text(op) is not None]
    if len(given) != 1:
        shown = ", ".join(f"--{op}" for op in given) if given else "none"
        raise _refuse(
            f"give exactly one of --add-column, --rename-column, --materialized, --extract (got {shown})"
        )
    return given[0]


def parse_edit(cmd: ParsedCommand) -> EditRequest:
    """The edit a /model-edit line asks for, every value checked before anything is read."""
    name = checked_model_name(cmd.required_text("name"))
    operation = _operation(cmd)
    value = cmd.required_text(operation)
    alias, unique_key = cmd.text("as"), cmd.text("unique-key")
    if alias is not None and operation not in ("add-column", "extract"):
        raise _refuse("--as names an added column (--add-column) or an extracted model (--extract)")
    if unique_key is not None and not (operation == "materialized" and value == "incremental"):
        raise _refuse("--unique-key goes with --materialized incremental")
    if operation == "add-column":
        parent, dot, column = value.rpartition(".")
        if not dot or not parent:
            raise _refuse(f"--add-column takes PARENT.COLUMN (e.g. stg_orders.status), not {value!r}")
        for part in parent.split("."):
            _identifier(part, "--add-column's parent")
        values: tuple[str, ...] = (parent, _identifier(column, "--add-column's column"))
    elif operation == "rename-column":
        old, colon, new = value.partition(":")
        if not colon:
            raise _refuse(f"--rename-column takes OLD:NEW (e.g. amount:amount_usd), not {value!r}")
        values = (_identifier(old, "the old column name"), _identifier(new, "the new column name"))
        if old.lower() == new.lower():
            raise _refuse(f"--rename-column {value!r} renames {old} to itself")
    elif operation == "extract":
        if alias is None:
            raise _refuse("--extract needs --as NAME: the name of the new intermediate model")
        values = (_identifier(value, "--extract's CTE"), _identifier(alias, "--as"))
    else:
        values = (value,)
    if alias is not None:
        _identifier(alias, "--as")
    if unique_key is not None:
        _identifier(unique_key, "--unique-key")
    return EditRequest(name, operation, values, alias, unique_key)


def _materialized(inputs: EditInputs, kind: str, unique_key: str | None) -> PlanSpec:
    node = inputs.node
    if kind == "incremental":
        if unique_key is None:
            raise InvalidArguments(
                f"an incremental {node.name} needs a unique key to merge re-read rows on, and a filter "
                "chosen from its data",
                hint=f"/incremental-model --name {node.name} --unique-key KEY (or /model-edit --name "
                f"{node.name} --materialized incremental --unique-key KEY)",
            )
        return plan_incremental_edit(inputs, unique_key=unique_key, strategy="merge")
    if node.config.materialized == kind:
        raise InvalidArguments(
            f"{node.name} is already materialized as {kind}; nothing to change", hint="nothing was written"
        )
    project, view = inputs.project, inputs.view
    result = set_materialization(project.source(node), kind, lineage=project.lineage(node))
    view.tools.changeset.write_file(view.paths, node.original_file_path, result.text)
    answer = [
        f"{node.name} ({node.original_file_path}): {result.description} (was {node.config.materialized})."
    ]
    if node.config.materialized == "incremental":
        answer.append(
            f"its is_incremental() filter stays in the file and selects nothing while it is a {kind}"
        )
    if result.impact is not None:
        answer.append(f"rebuilt, with what reads it; {result.impact.render(project.label)}")
    answer.append(f"files: {node.original_file_path}")
    return PlanSpec(summary=f"materialize {node.name} as {kind}", answer="\n".join(answer))


def model_edit(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    request = parse_edit(cmd)
    inputs = EditInputs.for_model(view, request.name, "/model-edit")
    if request.operation == "add-column":
        parent, column = request.values
        return plan_add_column(inputs, parent, column, request.alias)
    if request.operation == "rename-column":
        old, new = request.values
        return plan_rename(inputs, old, new)
    if request.operation == "extract":
        cte, new_model = request.values
        return plan_extract(inputs, cte, new_model)
    return _materialized(inputs, request.values[0], request.unique_key)
