"""/model-lineage --column: one column's lineage, upstream to the seeds and sources it starts from and
downstream to every column, test and exposure that depends on it, as a person reads it.

The project is compiled around the node (one read-only ``dbt compile --select @<node>``, which parses
it too: it takes the place of the plain lineage's ``dbt parse``, so the command still makes one dbt
call) and the column is followed through the compiled SQL; the answer is the planner's
``model_lineage`` answer (tools/column_answers.py), in text.
"""

from __future__ import annotations

import re

from agent.commands.edit_inputs import compile_around, compiled_project
from agent.commands.naming import is_identifier
from agent.commands.project import ProjectView
from tools.column_answers import column_lineage
from tools.errors import InvalidArguments

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
    compile_around(view, f"@{selector}")


def column_lineage_answer(view: ProjectView, unique_id: str, column: str) -> str:
    """The column's lineage, upstream and downstream, for the plan's answer."""
    if not is_identifier(column):
        raise InvalidArguments(f"--column {column!r} is not a column name", hint="e.g. customer_id")
    return column_lineage(compiled_project(view).graph(), unique_id, column).render_text()
