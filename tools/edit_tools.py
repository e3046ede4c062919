"""Changes to existing models as registered tools: the in-place edits of tools/sql_edit, the same
operations the /commands make, offered to the planner with typed arguments.

Each tool reads the model as dbt compiles it from disk (tools/compiled_project.py: the source for
positions, the compiled SQL for meaning, the parents' columns from the warehouse), makes its edit on
the syntax tree, keeping every byte of the user's text it does not change, and records the new text
in the run's changeset like ``edit_file`` (nothing touches the disk before Validate). It returns the
diff and the edit's impact (downstream models, columns, tests, exposures, from column lineage). An
edit that cannot be made safely is refused as a tool error (``EditRefused``) with what to do instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tools.column_answers import EditImpact, edit_impact
from tools.column_lineage import Impact
from tools.compiled_project import (
    CompiledProject,
    disk_text,
    editable_model,
    engine_of,
    parsed_manifest,
    readable,
)
from tools.context import ToolContext
from tools.errors import ConfigurationError
from tools.file_tools import diff_preview, list_files, recorded
from tools.jinja_inspect import model_paths
from tools.layers import kind_of_name
from tools.manifest import Manifest, Node
from tools.registry import tool
from tools.sql_edit import (
    EditRefused,
    SqlFile,
    add_column,
    extract_cte,
    grain_relation,
    make_incremental,
    rename_everywhere,
    set_materialization,
)
from tools.warehouse_port.dialects import dialect_for
from tools.yaml_edit import read_entry

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
        relations = project.relations(node)
        if time_column is None:
            grain = grain_relation(
                project.compiled(node), unique_key=unique_key, relations=relations, dialect=project.dialect
            )
            time_column = project.time_column(grain, model)
        result = make_incremental(
            project.source(node),
            project.compiled(node),
            unique_key=unique_key,
            time_column=time_column,
            relations=relations,
            strategy=strategy,
            on_schema_change=on_schema_change,
            lookback=lookback,
            dialect=project.dialect,
            lineage=project.lineage(node),
        )
        return _record(
            ctx,
            project.manifest,
            {node.original_file_path: result.text},
            result.description,
            warnings=result.warnings,
            impact=_impact(project, result.impact),
        )


@tool(read_only=False, family="edits")
def add_model_column(
    ctx: ToolContext, model: Name, parent: ParentName, column: Name, as_name: Name | None = None
) -> ModelEdit:
    """A parent's column added to the model's output, brought through the CTEs on its way."""
    with _refusals_for_the_planner(ctx):
        project, node = _compiled(ctx, model, downstream=False)
        result = add_column(
            project.source(node),
            project.compiled(node),
            parent=_parent_relation(project.manifest, node, parent),
            column=column,
            relations=project.relations(node),
            alias=as_name,
            dialect=project.dialect,
        )
        yaml = node.patch_path or "a YAML file beside the model"
        declare = f"declare {as_name or column} with a description under {model} in {yaml} (edit_file)"
        return _record(
            ctx,
            project.manifest,
            {node.original_file_path: result.text},
            result.description,
            warnings=result.warnings,
            next_steps=[declare],
        )


@tool(read_only=False, family="edits")
def rename_model_column(ctx: ToolContext, model: Name, old: Name, new: Name) -> ModelEdit:
    """A model's output column renamed, and every downstream model, test and YAML entry using it."""
    with _refusals_for_the_planner(ctx):
        project, node = _compiled(ctx, model, downstream=True)
        files = [project.sql_file(node), *_downstream_files(project, node, old)]
        edit = rename_everywhere(
            files[0],
            old=old,
            new=new,
            project=files,
            yaml_files=_yaml_naming(ctx, old),
            dialect=project.dialect,
            lineage=project.lineage(node),
        )
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
            impact=_impact(project, edit.impact),
            details=edit.details,
            next_steps=_undescribed(edit.files, edit.renamed),
        )


@tool(read_only=False, family="edits")
def set_model_materialization(
    ctx: ToolContext, model: Name, materialized: Literal["view", "table", "incremental", "ephemeral"]
) -> ModelEdit:
    """The materialization in the model's config() call (added when it has none)."""
    with _refusals_for_the_planner(ctx):
        project, node = _compiled(ctx, model, downstream=True)
        result = set_materialization(project.source(node), materialized, lineage=project.lineage(node))
        return _record(
            ctx,
            project.manifest,
            {node.original_file_path: result.text},
            result.description,
            warnings=result.warnings,
            impact=_impact(project, result.impact),
        )


@tool(read_only=False, family="edits")
def extract_model_cte(ctx: ToolContext, model: Name, cte: Name, new_model: Name) -> ModelEdit:
    """A CTE of the model moved into a model of its own, which the CTE then selects from by ref."""
    with _refusals_for_the_planner(ctx):
        manifest = parsed_manifest(ctx)
        node = editable_model(ctx, manifest, model)
        taken = [m for m in manifest.of_type("model") if m.name.lower() == new_model.lower()]
        if taken:
            raise EditRefused(f"a model named {new_model} exists already ({taken[0].original_file_path})")
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


def _compiled(ctx: ToolContext, model: str, *, downstream: bool) -> tuple[CompiledProject, Node]:
    """The model (refused unless the project's own, SQL, and without pending edits) compiled with
    what it reads and, when ``downstream``, what is built from it (and what that reads)."""
    node = editable_model(ctx, parsed_manifest(ctx), model)
    project = CompiledProject.compile(ctx, f"@{node.name}" if downstream else f"+{node.name}")
    return project, project.node(node.unique_id)


def _parent_relation(manifest: Manifest, node: Node, parent: str) -> str:
    """The relation of the parent ``parent`` (a name, or ``source.table``) the model reads."""
    parents = [p for p in (manifest.get(uid) for uid in node.depends_on) if p is not None]
    found = next((p for p in parents if parent.lower() in {p.name.lower(), p.label.lower()}), None)
    if found is None:
        raise EditRefused(
            f"{node.name} does not read {parent}",
            hint=f"its parents: {', '.join(sorted(p.label for p in parents)) or 'none'}",
        )
    if not found.relation_name:
        raise EditRefused(f"{parent} is ephemeral: it has no relation whose columns can be read")
    return found.relation_name


def _downstream_files(project: CompiledProject, node: Node, column: str) -> list[SqlFile]:
    """The SQL of the models and singular tests below ``node`` that may use ``column`` (they name it,
    or select ``*`` and pass it on); refused when one ae may not edit (a package's model, a snapshot,
    a Python model) names it."""
    names = re.compile(rf"\b{re.escape(column)}\b", re.IGNORECASE)
    files = []
    for unique_id in sorted(project.manifest.descendants(node.unique_id)):
        child = project.node(unique_id)
        code = child.compiled_code or child.raw_code
        if child.resource_type not in ("model", "snapshot", "test") or child.generic_test:
            continue
        editable = child.resource_type in ("model", "test") and not child.is_package
        if not editable or child.language != "sql":
            if names.search(code):
                raise EditRefused(
                    f"{child.name} ({_kind(child)}) uses {column}, and this tool does not edit it",
                    hint="rename by hand with edit_file where ae may edit",
                )
            continue
        if names.search(code) or "*" in code:
            files.append(project.sql_file(child))
    return files


def _kind(node: Node) -> str:
    if node.is_package:
        return f"a {node.resource_type} of the installed package {node.package_name}"
    return f"a {node.language} {node.resource_type}"


def _yaml_naming(ctx: ToolContext, column: str) -> dict[str, str]:
    """The YAML files under the model paths (as the changeset leaves them) that name ``column``."""
    project_yml = ctx.changeset.view(ctx.paths, "dbt_project.yml")
    folders = model_paths(project_yml)
    names = re.compile(rf"\b{re.escape(column)}\b", re.IGNORECASE)
    found: dict[str, str] = {}
    for pattern in ("**/*.yml", "**/*.yaml"):
        for path in list_files(ctx, pattern, 5000).files:
            if not any(PurePosixPath(path).is_relative_to(folder) for folder in folders):
                continue
            text = ctx.changeset.view(ctx.paths, path)
            if text is not None and names.search(text):
                found[path] = text
    return found


def _undescribed(files: Mapping[str, str], renamed: Sequence[tuple[str, str, str]]) -> list[str]:
    """A step for each renamed column whose YAML entry has no description: under its new name the
    lint reports it as a new finding (AE007), which fails Validate."""
    steps = []
    for path, text in files.items():
        if PurePosixPath(path).suffix not in (".yml", ".yaml"):
            continue
        for model, _, new in renamed:
            entry = read_entry(text, "models", model, path) or {}
            columns = entry.get("columns")
            for column in columns if isinstance(columns, list) else []:
                if (
                    isinstance(column, dict)
                    and str(column.get("name", "")).lower() == new.lower()
                    and not str(column.get("description") or "").strip()
                ):
                    steps.append(
                        f"describe {model}.{new} in {path} (edit_file): its entry has no description, "
                        "which Validate's lint reports (AE007) under the new name"
                    )
    return steps


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


def _impact(project: CompiledProject, impact: Impact | None) -> EditImpact | None:
    return edit_impact(project.graph(), impact)


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


#: sql_edit's refusals name the /commands' flags; the planner calls tools
_COMMAND_WORDS = (
    ("(--add-column)", "(add_model_column)"),
    ("(--materialized)", "(set_model_materialization)"),
    ("(--as)", "(as_name)"),
    ("(make_incremental)", "(make_model_incremental)"),
    ("then run the command again", "then call this tool again"),
)


def _reworded(text: str) -> str:
    for command, tool_words in _COMMAND_WORDS:
        text = text.replace(command, tool_words)
    return text


@contextmanager
def _refusals_for_the_planner(ctx: ToolContext) -> Iterator[None]:
    """A refusal in the planner's words: its tools for the /commands' flags, the names it uses for
    relations (from the manifest the edit's compile wrote)."""
    try:
        yield
    except EditRefused as exc:
        names = _last_manifest(ctx)
        message, hint = (readable(_reworded(text), names) for text in (exc.message, exc.hint))
        raise EditRefused(message, hint=hint) from exc


def _last_manifest(ctx: ToolContext) -> Manifest:
    """The manifest the edit's dbt call wrote, for names; an empty one when there is none to read."""
    try:
        return Manifest.for_engine(engine_of(ctx), missing_ok=True)
    except ConfigurationError:
        return Manifest({})
