"""Changes to existing models as registered tools: the in-place edits of tools/sql_edit, made as the
/commands make them (tools/model_edits.py), offered to the planner with typed arguments.

Each tool reads the model as dbt compiles it from disk (tools/compiled_project.py: the source for
positions, the compiled SQL for meaning, the parents' columns from their compiled SQL, else the
warehouse), makes its edit on the syntax tree, keeping every byte of the user's text it does not
change, and records the new text in the run's changeset like ``edit_file`` (nothing touches the
disk before Validate). It returns the diff and the edit's impact (downstream models, columns,
tests, exposures, from column lineage). An edit that cannot be made safely is refused as a tool
error (``EditRefused``) with what to do instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tools.column_answers import EditImpact, edit_impact
from tools.compiled_project import CompiledProject, disk_text, engine_of, parsed_manifest, readable
from tools.context import ToolContext
from tools.errors import ConfigurationError
from tools.file_tools import diff_preview, recorded
from tools.layers import kind_of_name
from tools.manifest import Manifest, Node
from tools.model_edits import add_parent_column, incremental, rename, time_column_of
from tools.properties_files import declarations, properties_files
from tools.registry import tool
from tools.sql_edit import EditRefused, EditResult, extract_cte, set_materialization
from tools.warehouse_port.dialects import dialect_for

_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: a model, column or CTE name: written into SQL and YAML, so nothing but a plain identifier
Name = Annotated[str, Field(pattern=_NAME, max_length=128)]
_PARENT = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"
#: a model, seed or snapshot name, or a source table as ``source.table``
ParentName = Annotated[str, Field(pattern=_PARENT, max_length=257)]
_DIFF_LINES = 150


class ModelEdit(BaseModel):
    """What an edit recorded in the changeset."""

    description: str
    #: ``modified models/orders.sql`` ... (empty when the model already was as asked)
    changed: list[str]
    #: what changed in each file, when the edit spans several
    details: list[str] = Field(default_factory=list)
    diff: str
    #: what to know before it is applied (rows an incremental run will not refresh, Jinja to check)
    warnings: list[str] = Field(default_factory=list)
    #: what the changed columns reach downstream; None when the edit changes no existing column
    impact: EditImpact | None = None
    #: what the plan still needs for this edit (YAML to write)
    next_steps: list[str] = Field(default_factory=list)


@tool(read_only=False, family="edits")
def make_model_incremental(
    ctx: ToolContext,
    *,
    model: Name,
    unique_key: Name,
    time_column: Name | None = None,
    strategy: Literal["merge", "delete+insert"] = "merge",
    lookback: str | None = "1 day",
    on_schema_change: Literal["ignore", "fail", "append_new_columns", "sync_all_columns"] | None = None,
) -> ModelEdit:
    """The model's config and an ``is_incremental()`` filter on the relation that drives its grain."""
    with _refusals_for_the_planner(ctx):
        project, node = _compiled(ctx, model, downstream=True)
        result = incremental(
            project,
            node,
            unique_key=unique_key,
            time_column=time_column or time_column_of(project, node, unique_key).column,
            strategy=strategy,
            on_schema_change=on_schema_change,
            lookback=lookback,
        )
        return _recorded_edit(ctx, project, node, result)


@tool(read_only=False, family="edits")
def add_model_column(
    ctx: ToolContext, model: Name, parent: ParentName, column: Name, as_name: Name | None = None
) -> ModelEdit:
    """A parent's column added to the model's output, brought through the CTEs on its way."""
    with _refusals_for_the_planner(ctx):
        project, node = _compiled(ctx, model, downstream=False)
        added = add_parent_column(project, node, parent, column, as_name)
        yaml = node.patch_path or "a YAML file beside the model"
        declare = f"declare {as_name or column} with a description under {model} in {yaml} (edit_file)"
        return _recorded_edit(ctx, project, node, added.result, next_steps=[declare])


@tool(read_only=False, family="edits")
def rename_model_column(ctx: ToolContext, model: Name, old: Name, new: Name) -> ModelEdit:
    """A model's output column renamed, and every downstream model, test and YAML entry using it."""
    with _refusals_for_the_planner(ctx):
        project, node = _compiled(ctx, model, downstream=True)
        edit = rename(project, node, old, new)
        for path in edit.files:
            if path != node.original_file_path and path.endswith(".sql") and ctx.changeset.pending(path):
                raise EditRefused(
                    f"{path}, which uses {model}.{old}, has pending edits in this plan that the rename "
                    "cannot see",
                    hint="rename in a separate request, or by hand with edit_file in each file",
                )
        return _record(
            ctx,
            project.manifest,
            edit.files,
            edit.description,
            warnings=edit.warnings,
            impact=edit_impact(project.graph(), edit.impact),
            details=edit.details,
        )


@tool(read_only=False, family="edits")
def set_model_materialization(
    ctx: ToolContext, model: Name, materialized: Literal["view", "table", "incremental", "ephemeral"]
) -> ModelEdit:
    """The materialization in the model's config() call (added when it has none)."""
    with _refusals_for_the_planner(ctx):
        project, node = _compiled(ctx, model, downstream=True)
        result = set_materialization(project.source(node), materialized, lineage=project.lineage(node))
        return _recorded_edit(ctx, project, node, result)


@tool(read_only=False, family="edits")
def extract_model_cte(ctx: ToolContext, model: Name, cte: Name, new_model: Name) -> ModelEdit:
    """A CTE of the model moved into a model of its own, which the CTE then selects from by ref."""
    with _refusals_for_the_planner(ctx):
        manifest = parsed_manifest(ctx)
        node = _editable_model(ctx, manifest, model)
        _refuse_taken(ctx, manifest, new_model)
        path = f"{_folder_for(manifest, new_model, node)}/{new_model}.sql"
        if ctx.changeset.view(ctx.paths, path) is not None:
            raise EditRefused(f"{path} exists already (on disk or in this plan)")
        dialect = dialect_for(manifest.adapter_type).sqlglot
        result = extract_cte(disk_text(ctx, node), cte=cte, new_model=new_model, dialect=dialect)
        yaml = f"{path.removesuffix('.sql')}.yml"
        document = (
            f"document {new_model} in YAML ({yaml}, write_file): a description, every column with a "
            "description, and its key tested unique and not_null"
        )
        files = {node.original_file_path: result.text, path: result.new_model_text}
        return _record(
            ctx, manifest, files, result.description, warnings=result.warnings, next_steps=[document]
        )


# --- helpers -----------------------------------------------------------------------------------


def _editable_model(ctx: ToolContext, manifest: Manifest, name: str) -> Node:
    """The project's own SQL model ``name``, with no pending edits of its file; a refusal the model
    can act on otherwise (a package's model, a Python model, a file this plan already changed)."""
    node = manifest.find_model(name, hint="list the models with dbt_ls (resource_type model)")
    if node.is_package:
        raise EditRefused(
            f"{name} is a model of the installed package {node.package_name}: ae reads a package's models "
            "but never edits them",
            hint=f"build a model of your own on it (ref('{name}')) and change that one",
        )
    if node.language != "sql":
        raise EditRefused(f"{name} is a {node.language} model; these edits read SQL", hint="use edit_file")
    path = node.original_file_path
    if ctx.changeset.pending(ctx.paths.normalise(path)) is not None:
        raise EditRefused(
            f"{path} already has pending edits in this plan; this tool reads the model as dbt compiles "
            "it from disk, so its edit would not see them",
            hint="make this change with edit_file on the pending text, or in a separate request",
        )
    return node


def _compiled(ctx: ToolContext, model: str, *, downstream: bool) -> tuple[CompiledProject, Node]:
    """The model (refused unless the project's own, SQL, and without pending edits) compiled with
    what it reads and, when ``downstream``, what is built from it (and what that reads)."""
    node = _editable_model(ctx, parsed_manifest(ctx), model)
    project = CompiledProject.compile(ctx, f"@{node.name}" if downstream else f"+{node.name}")
    return project, project.node(node.unique_id)


def _refuse_taken(ctx: ToolContext, manifest: Manifest, name: str) -> None:
    """Refuse a new model's name that a model, or a declaration in YAML waiting for its SQL, has."""
    taken = [m.original_file_path for m in manifest.of_type("model") if m.name.lower() == name.lower()]

    def read(path: str) -> str | None:
        return ctx.changeset.view(ctx.paths, path)

    taken += [path for path, _ in declarations(properties_files(ctx.paths.root, read), read, name)]
    if taken:
        raise EditRefused(f"a model named {name} exists already ({taken[0]})", hint="choose another name")


def _folder_for(manifest: Manifest, new_model: str, beside: Node) -> str:
    """Where the project keeps models of the new model's kind (``int_`` ...), else beside the model."""
    kind = kind_of_name(new_model)
    if kind is not None:
        folders = sorted(
            str(PurePosixPath(m.original_file_path).parent)
            for m in manifest.of_type("model", packages=False)
            if m.layer == kind.layer
        )
        if folders:
            return folders[0]
    return str(PurePosixPath(beside.original_file_path).parent)


def _recorded_edit(
    ctx: ToolContext,
    project: CompiledProject,
    node: Node,
    result: EditResult,
    *,
    next_steps: Sequence[str] = (),
) -> ModelEdit:
    """One model's edit recorded, with its impact on what reads the columns it changes."""
    return _record(
        ctx,
        project.manifest,
        {node.original_file_path: result.text},
        result.description,
        warnings=result.warnings,
        impact=edit_impact(project.graph(), result.impact),
        next_steps=next_steps,
    )


def _record(
    ctx: ToolContext,
    manifest: Manifest,
    files: Mapping[str, str],
    description: str,
    *,
    warnings: Sequence[str] = (),
    impact: EditImpact | None = None,
    details: Sequence[str] = (),
    next_steps: Sequence[str] = (),
) -> ModelEdit:
    """Every file's new text into the changeset, or none of them; what the edit says about it in the
    names a person uses."""
    before = list(ctx.changeset.changes)
    try:
        changes = [ctx.changeset.write_file(ctx.paths, path, text) for path, text in files.items()]
    except Exception:
        ctx.changeset.changes[:] = before
        raise
    made = [change for change in changes if change is not None]
    return ModelEdit(
        description=readable(description, manifest),
        changed=[recorded(change) for change in made],
        details=[readable(line, manifest) for line in details],
        diff=diff_preview(ctx, [change.path for change in made], _DIFF_LINES),
        warnings=[readable(line, manifest) for line in warnings],
        impact=impact,
        next_steps=list(next_steps) if made else [],
    )


@contextmanager
def _refusals_for_the_planner(ctx: ToolContext) -> Iterator[None]:
    """A refusal with relations in the names the planner uses (from the manifest the edit's compile
    wrote). What it says to do is already in words the planner can act on: tools/sql_edit's are
    neutral, tools/compiled_project's are its tools (``PLANNER_HINTS``)."""
    try:
        yield
    except EditRefused as exc:
        names = _last_manifest(ctx)
        raise EditRefused(readable(exc.message, names), hint=readable(exc.hint, names)) from exc


def _last_manifest(ctx: ToolContext) -> Manifest:
    """The manifest the edit's dbt call wrote, for names; an empty one when there is none to read."""
    try:
        return Manifest.for_engine(engine_of(ctx), missing_ok=True)
    except ConfigurationError:
        return Manifest({})
