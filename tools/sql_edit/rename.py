"""Rename a model's column everywhere it is used: downstream SQL, YAML entries and tests, one changeset.

In a model that reads the renamed one, a reference is renamed when the *compiled* SQL resolves it to
that relation's column (sqlglot ``qualify`` with the parents' columns: ``orders.status``, a bare
``status`` in a CTE reading it, or a column that a ``select *`` CTE passes through); its position is
the same column in the source, found in the same CTE (or subquery, in order) with Jinja set aside.
The counts must agree, so a reference written by Jinja is refused rather than missed.

Downstream models keep their own column names: a bare ``up.old`` in a select list becomes
``up.new as old``. Only a ``select *`` passes the new name on, and then that model's own output
column is renamed too, and the rename goes on to its children and its YAML.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, build_scope

from tools.column_lineage import ModelLineage
from tools.sql_edit.columns import check_name, rename_column
from tools.sql_edit.compiled import CompiledModel, Relations, find_relation, from_and_joins, relation_parts
from tools.sql_edit.model_source import ModelSource
from tools.sql_edit.result import EditResult, ProjectEdit, impact_of
from tools.sql_edit.text import EditRefused, Splice, apply_splices, line_of
from tools.sql_edit.yaml_rename import rename_in_yaml


@dataclass(frozen=True)
class SqlFile:
    """A model (or singular test) of the project, as a rename needs it. Generic tests are not SQL files:
    they live in the YAML, which ``rename_in_yaml`` edits."""

    path: str
    name: str
    source: str
    compiled: str
    #: its relation name as dbt renders it; None for a singular test (nothing reads it)
    relation: str | None
    #: the columns of every relation its compiled SQL reads, as they are before the rename
    relations: Relations


@dataclass(frozen=True)
class References:
    """One downstream file's edit: its new text, and whether its own output column was renamed."""

    result: EditResult
    output_renamed: bool


def _group(scope: Scope) -> Scope:
    """The CTE or outer query a (sub)scope belongs to."""
    while not (scope.is_cte or scope.is_root) and scope.parent is not None:
        scope = scope.parent
    return scope


def _group_name(scope: Scope) -> str | None:
    if scope.is_root:
        return None
    parent = scope.expression.parent
    return parent.alias.lower() if isinstance(parent, exp.CTE) else "?"


def _paired(source: ModelSource, model: CompiledModel) -> dict[int, Scope]:
    """Compiled scope id -> the source's scope at the same place (same CTE, same order within it)."""
    written_root = build_scope(source.tree)
    if written_root is None:
        raise EditRefused("the model's source is not a query")

    def grouped(scopes: list[Scope]) -> dict[str | None, list[Scope]]:
        groups: dict[str | None, list[Scope]] = {}
        for scope in scopes:
            groups.setdefault(_group_name(_group(scope)), []).append(scope)
        return groups

    compiled = grouped(list(model.scopes()))
    written = grouped(list(written_root.traverse()))
    pairs: dict[int, Scope] = {}
    for name, scopes in compiled.items():
        if len(written.get(name, [])) == len(scopes):
            pairs.update({id(c): w for c, w in zip(scopes, written[name], strict=True)})
    return pairs


def _is_star(item: exp.Expr, aliases: set[str] | None = None) -> bool:
    if isinstance(item, exp.Star):
        return True
    return (
        isinstance(item, exp.Column)
        and isinstance(item.this, exp.Star)
        and (aliases is None or item.table in aliases)
    )


# Over 60 lines on purpose: the references found on the compiled SQL and placed in the source must
# agree one for one; the checks and the splices share that pairing.
def rename_references(
    source: str,
    compiled: str,
    *,
    upstream: str,
    old: str,
    new: str,
    relations: Relations,
    dialect: str = "duckdb",
) -> References | None:
    """The file with its references to ``upstream``'s column ``old`` renamed to ``new``, or None when it
    has none. ``relations`` are the file's parents' columns before the rename."""
    check_name(new, "new name")
    src = ModelSource.parse(source, dialect)
    model = CompiledModel.parse(compiled, relations, dialect)
    upstream = find_relation(relations, upstream, dialect)
    pairs = _paired(src, model)
    old_l = old.lower()
    renamed: set[int] = set()
    splices: list[Splice] = []
    notes: list[str] = []
    for scope in model.scopes():
        aliases = {
            alias
            for alias, (_, s) in scope.selected_sources.items()
            if (isinstance(s, exp.Table) and model.relation_or_none(s) == upstream)
            or (isinstance(s, Scope) and id(s) in renamed)
        }
        if not aliases:
            continue
        expected = [
            c for c in model.written_columns(scope).values() if c.name.lower() == old_l and c.table in aliases
        ]
        select = scope.expression
        written = pairs.get(id(scope))
        if written is None:
            if expected or (isinstance(select, exp.Query) and any(_is_star(i) for i in select.selects)):
                raise EditRefused(
                    "part of the query that uses the column is written by Jinja; rename it by hand"
                )
            continue
        for join in written.expression.args.get("joins") or []:
            # qualify turns USING into ON in the compiled tree: the source still says it
            if any(i.name.lower() == old_l for i in join.args.get("using") or []):
                raise EditRefused(
                    f"a join USING ({old}) in the file depends on both sides' names; rename it by hand"
                )
        found = [
            c
            for c in written.columns
            if c.name.lower() == old_l and _resolve(c, scope, written, model) in aliases
        ]
        # a reference in a {% for %} body is written once and compiled once per iteration
        looped = [c for c in found if _in_loop(src, c)]
        if len(found) > len(expected) or (len(found) < len(expected) and not looped):
            raise EditRefused(
                f"{old} is used {len(expected)} time(s) in {_where(scope)} but {len(found)} are written as "
                "plain SQL (Jinja writes the others)",
                hint="rename it by hand",
            )
        if len(found) < len(expected):
            notes.append(
                f"{len(looped)} reference(s) to {old} in {_where(scope)} sit in a Jinja loop: renamed once "
                "where written, repeated by the loop"
            )
        for column in found:
            splices += _rename_reference(src, column, old, new, dialect)
        written_select = written.expression
        if isinstance(written_select, exp.Select) and any(
            _is_star(i, aliases | {""}) for i in written_select.expressions
        ):
            renamed.add(id(scope))
    warnings = tuple(notes) + tuple(
        f"Jinja at line {line_of(source, span.start)} names {old!r}; check it by hand"
        for span in src.spans
        if any(t.kind == "string" and t.value.strip("'\"").lower() == old_l for t in span.tokens)
    )
    output_renamed = id(model.root) in renamed
    if not splices and not output_renamed:
        return None
    text = apply_splices(source, splices)
    ModelSource.parse(text, dialect, what="the edited model")
    passes = "; its output column is renamed too (select *)" if output_renamed else ""
    description = f"rename the references to {old} as {new}{passes}"
    return References(EditResult(text, description, warnings), output_renamed)


def _in_loop(src: ModelSource, column: exp.Column) -> bool:
    start = column.this.meta["start"]
    return any(block.tag == "for" and block.contains(start) for block in src.blocks)


def _where(scope: Scope) -> str:
    name = _group_name(_group(scope))
    return f"the CTE {name}" if name else "the outer query"


def _resolve(column: exp.Column, scope: Scope, written: Scope, model: CompiledModel) -> str | None:
    """The compiled alias a source column refers to, by its qualifier or by which source has it."""
    compiled_items = from_and_joins(scope.expression)
    written_items = from_and_joins(written.expression)
    if column.table:
        qualifier = column.table.lower()
        for compiled_item, written_item in zip(compiled_items, written_items, strict=False):
            if written_item.alias_or_name.lower() == qualifier:
                return compiled_item.alias_or_name
        return qualifier if qualifier in scope.selected_sources else None
    having = [
        a
        for a in scope.selected_sources
        if column.name.lower() in {c.lower() for c in model.source_columns(scope, a)}
    ]
    return having[0] if len(having) == 1 else None


def _rename_reference(src: ModelSource, column: exp.Column, old: str, new: str, dialect: str) -> list[Splice]:
    identifier = column.this
    start, end = identifier.meta["start"], identifier.meta["end"] + 1
    if src.span_at(start) is not None:
        raise EditRefused(f"a reference to {old} at line {line_of(src.text, start)} is written by Jinja")
    written = src.text[start:end]
    quote = written[0] if written[:1] in ('"', "`") else ""
    splices = [
        Splice(start, end, f"{quote}{new}{quote}" if quote else exp.to_identifier(new).sql(dialect=dialect))
    ]
    parent = column.parent
    if isinstance(parent, exp.Select) and column.arg_key == "expressions":
        splices.append(Splice(end, end, f" as {written}"))  # the downstream column keeps its name
    return splices


def _reads(file: SqlFile, relation: str, dialect: str) -> bool:
    wanted = relation_parts(relation, dialect)
    return any(relation_parts(r, dialect) == wanted for r in file.relations)


# Over 60 lines on purpose: one changeset across the model, its readers and the YAML, each step
# refusing before anything is written; split, a partial rename could escape.
def rename_everywhere(
    model: SqlFile,
    *,
    old: str,
    new: str,
    project: Sequence[SqlFile],
    yaml_files: Mapping[str, str],
    dialect: str = "duckdb",
    lineage: ModelLineage | None = None,
) -> ProjectEdit:
    """Rename ``model``'s output column ``old`` to ``new``, and every use of it downstream: the SQL of
    the models and singular tests in ``project`` that read it, the YAML in ``yaml_files`` (path ->
    text) that names it. Returns the changed files (path -> new text) for one changeset."""
    own = rename_column(
        model.source, model.compiled, old=old, new=new, relations=model.relations, dialect=dialect
    )
    files = {model.path: own.text}
    details = [f"{model.path}: {own.description}"]
    renamed = [(model.name, old, new)]
    warnings = list(own.warnings)
    queue = deque([model])
    edited = {model.path}
    while queue:
        upstream = queue.popleft()
        if upstream.relation is None:
            continue
        for child in project:
            if child.path == upstream.path or not _reads(child, upstream.relation, dialect):
                continue
            if child.path in edited:
                raise EditRefused(
                    f"{child.path} reads {old} from more than one renamed model; rename it there by hand"
                )
            found = rename_references(
                child.source, child.compiled, upstream=upstream.relation, old=old, new=new,
                relations=child.relations, dialect=dialect,
            )  # fmt: skip
            if found is None:
                continue
            edited.add(child.path)
            if found.result.text != child.source:
                files[child.path] = found.result.text
            details.append(f"{child.path}: {found.result.description}")
            warnings += [f"{child.path}: {w}" for w in found.result.warnings]
            if found.output_renamed:
                renamed.append((child.name, old, new))
                queue.append(child)
    for path, text in yaml_files.items():
        current = files.get(path, text)
        for name, before, after in renamed:
            current = rename_in_yaml(current, path, model=name, old=before, new=after)
        if current != text:
            files[path] = current
            details.append(f"{path}: the YAML names of {old}")
    others = len(files) - 1
    description = f"rename {model.name}.{old} to {new}" + (
        f" and its uses in {others} other file(s)" if others else ""
    )
    return ProjectEdit(
        files, description, tuple(renamed), tuple(warnings), impact_of(lineage, [old]), tuple(details)
    )
