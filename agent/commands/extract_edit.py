"""/model-edit --extract CTE --as int_NAME: a CTE of a model becomes an intermediate model of its own.

The CTE keeps its name in the model and now selects from ``ref('int_NAME')`` (tools/sql_edit
``extract_cte``: the body moves as written, Jinja and the ``{% set %}`` it uses included). The new
model goes where the project keeps its intermediate models (``Conventions``), with a YAML entry in
the file that folder uses: its columns as the CTE compiles (a Jinja loop's columns written out), and
the column it groups by tested as its key.
"""

from __future__ import annotations

from agent.commands.column_facts import ColumnFacts, generated_test_reasons, generated_tests
from agent.commands.descriptions import column_description
from agent.commands.edit_inputs import EditInputs, checked_model_name
from agent.commands.existing import find_existing
from agent.commands.naming import grain_entity
from graph.plan_spec import PlanSpec
from tools.codegen import ColumnDoc, resource_entry
from tools.errors import InvalidArguments
from tools.sql_edit import cte_output, extract_cte


def plan_extract(inputs: EditInputs, cte: str, new_name: str) -> PlanSpec:
    view, project, node = inputs.view, inputs.project, inputs.node
    checked_model_name(new_name, "--as")
    taken = find_existing(view, new_name)
    if taken is not None:
        raise InvalidArguments(
            f"a model named {new_name} already exists ({taken.path}); the extracted CTE needs a new name",
            hint="choose another --as name",
        )
    result = extract_cte(project.source(node), cte=cte, new_model=new_name, dialect=project.dialect)
    output = cte_output(
        project.compiled(node), cte=cte, relations=project.relations(node), dialect=project.dialect
    )
    folder = view.conventions.folder_for("intermediate")
    sql = f"{folder}/{new_name}.sql"
    yml = view.conventions.properties_file_for(folder, new_name)
    entity = grain_entity(new_name, output.grain)
    columns = []
    for column in output.columns:
        key = column == output.grain
        # GROUP BY makes the key unique by construction; Verify's tests hold it to not null as well
        facts = ColumnFacts(name=column, type="", never_null=key, unique=key, is_key=key)
        columns.append(
            ColumnDoc(
                column,
                column_description(facts, entity),
                tuple(generated_tests(facts)),
                test_reasons=generated_test_reasons(facts),
            )
        )
    grain = f"one row per {entity} (key {output.grain})" if output.grain else "the rows of the CTE"
    description = (
        f"Intermediate model {new_name}: the CTE {cte} of {node.name}, extracted; "
        f"{grain}. {node.name} reads it with ref('{new_name}')."
    )
    changeset = view.tools.changeset
    changeset.write_file(view.paths, node.original_file_path, result.text)
    changeset.write_file(view.paths, sql, result.new_model_text)
    view.write_entry(changeset, yml, "models", resource_entry(new_name, description, columns))
    answer = [
        f"{node.name} ({node.original_file_path}): {result.description}.",
        f"{sql}: the new model ({len(output.columns)} columns: {', '.join(output.columns)}); "
        f"documented in {yml}" + (f", {output.grain} tested unique and not null" if output.grain else ""),
        *(f"note: {project.readable(w)}" for w in result.warnings),
        f"impact: {node.name} outputs the same columns and rows; read by {inputs.readers()}, unchanged",
        f"files: {node.original_file_path}, {sql}, {yml}",
    ]
    return PlanSpec(summary=f"extract the CTE {cte} of {node.name} into {new_name}", answer="\n".join(answer))
