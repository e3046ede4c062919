"""The in-place edits of an existing model as the /commands and the planner's tools both make them:
what each reads from the project compiled around the model (tools/compiled_project.py) and hands to
tools/sql_edit. Each caller records the result in its changeset and says it in its own words.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.compiled_project import CompiledProject, TimeColumn
from tools.manifest import Node
from tools.properties_files import files_naming, properties_files
from tools.sql_edit import (
    EditRefused,
    EditResult,
    ProjectEdit,
    add_column,
    grain_relation,
    make_incremental,
    rename_everywhere,
)
from tools.sql_edit.incremental import OnSchemaChange, Strategy


def time_column_of(project: CompiledProject, node: Node, unique_key: str) -> TimeColumn:
    """The time column an incremental ``node`` on ``unique_key`` filters by, from the data of the
    relation that drives its grain (``CompiledProject.time_column``)."""
    grain = grain_relation(
        project.compiled(node),
        unique_key=unique_key,
        relations=project.relations(node),
        dialect=project.dialect,
    )
    return project.time_column(grain, node.name)


def incremental(
    project: CompiledProject,
    node: Node,
    *,
    unique_key: str,
    time_column: str,
    strategy: Strategy,
    on_schema_change: OnSchemaChange | None,
    lookback: str | None,
    lookback_var: str | None = None,
) -> EditResult:
    """``node`` made incremental in place (tools/sql_edit ``make_incremental``)."""
    return make_incremental(
        project.source(node),
        project.compiled(node),
        unique_key=unique_key,
        time_column=time_column,
        relations=project.relations(node),
        strategy=strategy,
        on_schema_change=on_schema_change,
        lookback=lookback,
        lookback_var=lookback_var,
        dialect=project.dialect,
        lineage=project.lineage(node),
    )


@dataclass(frozen=True)
class AddedColumn:
    result: EditResult
    parent: Node
    #: the column as the parent spells it
    column: str
    #: the model reads more than one relation: a row of the parent can be missed in a join
    joined: bool


def add_parent_column(
    project: CompiledProject, node: Node, parent: str, column: str, alias: str | None
) -> AddedColumn:
    """``parent``'s (a name, or ``source.table``) ``column`` added to ``node``'s output."""
    found = project.parent_named(node, parent)
    relations = project.relations(node)
    result = add_column(
        project.source(node),
        project.compiled(node),
        parent=str(found.relation_name),
        column=column,
        relations=relations,
        alias=alias,
        dialect=project.dialect,
    )
    spelled = next((c for c in project.columns(found) or [] if c.lower() == column.lower()), column)
    return AddedColumn(result, found, spelled, joined=len(relations) > 1)


def rename(project: CompiledProject, node: Node, old: str, new: str) -> ProjectEdit:
    """``node``'s output column ``old`` renamed ``new`` in the model, the models and singular tests
    below it that use it, and the YAML entries and tests that name it, as the changeset leaves them."""
    _refuse_key_rename(node, old)
    below = project.files_using(node, old)
    ctx = project.ctx

    def read(path: str) -> str | None:
        return ctx.changeset.view(ctx.paths, path)

    created = [change.path for change in ctx.changeset.changes if change.op == "create"]
    yaml_files = files_naming(
        properties_files(ctx.paths.root, read, created), read, {node.name, *(f.name for f in below)}
    )
    return rename_everywhere(
        project.sql_file(node),
        old=old,
        new=new,
        project=below,
        yaml_files=yaml_files,
        dialect=project.dialect,
        lineage=project.lineage(node),
    )


def _refuse_key_rename(node: Node, old: str) -> None:
    key = node.config.raw.get("unique_key")
    keys = [key] if isinstance(key, str) else list(key) if isinstance(key, list) else []
    if any(str(k).lower() == old.lower() for k in keys):
        raise EditRefused(
            f"{old} is {node.name}'s unique_key (config): renaming it would leave the incremental merge "
            "keyed on a column that no longer exists",
            hint=f"set unique_key to the new name in {node.original_file_path} and rename it by hand",
        )
