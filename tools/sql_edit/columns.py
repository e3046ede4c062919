"""Add a parent's column to a model's output, or rename one of its output columns, in place.

The model's output is named in its *projection*: the outer query, or, when that is ``select * from
final`` (dbt's style), the CTE it selects from, followed through ``select *`` until a SELECT lists
its columns. An added column is written there, after the last item, and brought up from the CTE that
reads the parent through every CTE between that lists its columns; a ``select *`` CTE passes it on
untouched. A rename changes the alias where the column is named (or adds ``as new``), and nothing else.
"""

from __future__ import annotations

import difflib
import re
from collections import deque

from sqlglot import TokenType, exp
from sqlglot.optimizer.scope import Scope

from tools.column_lineage import ModelLineage
from tools.errors import InvalidArguments
from tools.sql_edit.compiled import (
    CompiledModel,
    Relations,
    find_relation,
    from_and_joins,
    is_grouped,
    require_same_shape,
)
from tools.sql_edit.model_source import ModelSource
from tools.sql_edit.result import EditResult, impact_of
from tools.sql_edit.text import (
    EditRefused,
    Splice,
    apply_splices,
    line_indent,
    line_of,
    newline_of,
    past_line_comment,
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_name(name: str, what: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidArguments(f"{what} {name!r} is not a plain column name", hint="letters, digits and _")


def where(scope: str | None) -> str:
    return f"the CTE {scope}" if scope else "the outer query"


def is_star_only(select: exp.Expr) -> bool:
    items = select.expressions if isinstance(select, exp.Select) else []
    return bool(items) and all(
        isinstance(i, exp.Star) or (isinstance(i, exp.Column) and isinstance(i.this, exp.Star)) for i in items
    )


def has_star(select: exp.Expr) -> bool:
    items = select.expressions if isinstance(select, exp.Select) else []
    return any(
        isinstance(i, exp.Star) or (isinstance(i, exp.Column) and isinstance(i.this, exp.Star)) for i in items
    )


def projection(src: ModelSource, model: CompiledModel) -> tuple[Scope, str | None, list[Scope]]:
    """The scope that names the model's output columns: the outer query, or the CTE that a chain of
    ``select * from <one CTE>`` leads to; and the ``select *`` scopes above it."""
    scope, name = model.root, None
    above: list[Scope] = []
    while True:
        written = src.scope_select(name)
        if not is_star_only(written):
            if has_star(written):
                raise EditRefused(f"{where(name)} selects * next to other columns; list its columns first")
            return scope, name, above
        above.append(scope)
        sources = list(scope.selected_sources.values())
        if len(sources) != 1 or not isinstance(sources[0][1], Scope):
            raise EditRefused(
                f"the model's output is `select *` over {'a join' if len(sources) > 1 else 'a relation'} "
                f"in {where(name)}, so no SELECT lists its columns",
                hint="list the columns in that SELECT first, then make the edit again",
            )
        scope = sources[0][1]
        name = model.name_of(scope)
        if name not in src.ctes():
            raise EditRefused(f"the CTE {name} is not written in the model's source (Jinja makes it)")


def append_item(src: ModelSource, scope: str | None, item: str) -> list[Splice]:
    """``item`` added after the last item of a SELECT list, in the list's own layout (after a comment
    that ends the last item's line: the comma goes before it, the item after it)."""
    tokens = src.select_tokens(scope, where(scope))
    items = src.select_items(tokens)
    first, last = items[0][0], items[-1][1]
    end = tokens.from_ if tokens.from_ is not None else tokens.end
    trailing_comma = src.tokens[end - 1].token_type == TokenType.COMMA
    text = src.text
    at = src.end_of(end - 1 if trailing_comma else last)
    src.refuse_inside_block(src.tokens[last].start, f"the last column of {where(scope)}")
    multiline = (
        src.tokens[first].line != src.tokens[last].line
        or src.tokens[first].line != src.tokens[tokens.select].line
    )
    if not multiline:
        return [Splice(at, at, f" {item}," if trailing_comma else f", {item}")]
    newline = newline_of(text)
    indent = line_indent(text, src.tokens[last].start)
    if trailing_comma:
        return [Splice(at, at, f"{newline}{indent}{item},")]
    after_comment = past_line_comment(text, at)
    if after_comment != at:
        return [Splice(at, at, ","), Splice(after_comment, after_comment, f"{newline}{indent}{item}")]
    return [Splice(at, at, f",{newline}{indent}{item}")]


# Over 60 lines on purpose: the column is traced from the output down to the parent and spliced in
# at each CTE on the way; the trace and the splices share the parsed model.
def add_column(
    source: str,
    compiled: str,
    *,
    parent: str,
    column: str,
    relations: Relations,
    alias: str | None = None,
    dialect: str = "duckdb",
) -> EditResult:
    """The model's text with ``parent.column`` (``as alias``) added to its output, brought through the
    CTEs between the one that reads ``parent`` and the projection. ``parent`` names a relation of
    ``relations`` (its dbt relation name, or its table name)."""
    check_name(column, "column")
    if alias is not None:
        check_name(alias, "alias")
    src = ModelSource.parse(source, dialect)
    model = CompiledModel.parse(compiled, relations, dialect)
    relation = find_relation(relations, parent, dialect)
    readers = [(s, a, t) for s, a, t in model.tables() if model.relation_of(t) == relation]
    if not readers:
        read = sorted({model.relation_of(t) for _, _, t in model.tables()})
        raise EditRefused(f"the model does not read {parent} (it reads {', '.join(read) or 'no relation'})")
    column = _parent_column(relations, relation, parent, column)
    name = alias or column
    for output in model.outputs():
        found = model.trace(model.root, output)
        if found is not None and found.relation == relation and found.column.lower() == column.lower():
            raise EditRefused(
                f"the model already outputs {parent}.{column} as {output}", hint="nothing to add"
            )
    if name.lower() in {o.lower() for o in model.outputs()}:
        raise EditRefused(
            f"the model already has an output column named {name}", hint="give the added column another name"
        )
    top, top_name, _ = projection(src, model)
    chain = _chain(top, {id(s): a for s, a, _ in readers})
    if chain is None:
        raise EditRefused(f"{parent} is not read on the way to the model's output (only in a subquery)")
    splices: list[Splice] = []
    added: list[str] = []
    passed: list[str] = []
    for position, (scope, next_alias) in enumerate(chain):
        scope_name = top_name if position == 0 else model.name_of(scope)
        if scope_name is not None and scope_name not in src.ctes():
            raise EditRefused(f"the CTE {scope_name} is not written in the model's source (Jinja makes it)")
        written = src.scope_select(scope_name)
        if position > 0 and is_star_only(written):
            passed.append(str(scope_name))
            continue
        if is_grouped(scope.expression):
            raise EditRefused(
                f"{where(scope_name)} aggregates its rows, so {column} needs an aggregate there",
                hint="add it by hand, with the aggregate it needs",
            )
        if position > 0 and column.lower() in {o.lower() for o in model.outputs(scope)}:
            raise EditRefused(
                f"{where(scope_name)} already has a column named {column}, with another meaning"
            )
        qualifier = _qualifier(src, model, scope, scope_name, next_alias)
        item = f"{qualifier}{_sql(column, dialect)}"
        if position == 0 and alias and alias.lower() != column.lower():
            item += f" as {_sql(alias, dialect)}"
        require_same_shape(src, model, scope, scope_name)
        splices += append_item(src, scope_name, item)
        added.append(str(scope_name) if scope_name else "the outer query")
    text = apply_splices(source, splices)
    ModelSource.parse(text, dialect, what="the edited model")
    shown = f"{parent}.{column}" + (f" as {alias}" if alias else "")
    star = f"; passed on by select * in {', '.join(passed)}" if passed else ""
    return EditResult(text, f"add {shown} to the model's output (listed in {', '.join(added)}{star})")


def _parent_column(relations: Relations, relation: str, parent: str, column: str) -> str:
    """The parent's spelling of ``column``; refused (with the closest names) when it has none."""
    columns = {c.lower(): c for c in relations[relation]}
    if column.lower() not in columns:
        close = difflib.get_close_matches(column.lower(), list(columns), n=3)
        raise EditRefused(
            f"{parent} has no column {column!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""),
            hint=f"its columns: {', '.join(relations[relation])}",
        )
    return columns[column.lower()]


def _chain(top: Scope, readers: dict[int, str]) -> list[tuple[Scope, str]] | None:
    """From the projection down to the nearest scope that reads the parent: each scope with the alias
    (in it) of the next one, the last with the parent's alias."""
    queue: deque[tuple[Scope, list[tuple[Scope, str]]]] = deque([(top, [])])
    seen: set[int] = set()
    while queue:
        scope, path = queue.popleft()
        if id(scope) in readers:
            return [*path, (scope, readers[id(scope)])]
        if id(scope) in seen:
            continue
        seen.add(id(scope))
        for alias, (_, source) in scope.selected_sources.items():
            if isinstance(source, Scope) and source.is_cte:
                queue.append((source, [*path, (scope, alias)]))
    return None


def _qualifier(
    src: ModelSource, model: CompiledModel, scope: Scope, scope_name: str | None, alias: str
) -> str:
    """``orders.`` when the SELECT reads several relations, nothing when it reads one."""
    written = from_and_joins(src.scope_select(scope_name))
    if len(written) <= 1:
        return ""
    compiled_items = from_and_joins(scope.expression)
    index = next((i for i, item in enumerate(compiled_items) if item.alias_or_name == alias), None)
    if index is None or len(compiled_items) != len(written):
        raise EditRefused(f"the relations of {where(scope_name)} are not written as they compile")
    item = written[index]
    if item.alias:
        return item.alias + "."
    if isinstance(item, exp.Table) and src.span_at(item.this.meta.get("start", -1)) is None:
        return item.name + "."
    raise EditRefused(
        f"a relation of {where(scope_name)} has no alias to name its columns by", hint="give it one"
    )


def _sql(name: str, dialect: str) -> str:
    return exp.to_identifier(name).sql(dialect=dialect)


def rename_column(
    source: str,
    compiled: str,
    *,
    old: str,
    new: str,
    relations: Relations,
    dialect: str = "duckdb",
    lineage: ModelLineage | None = None,
) -> EditResult:
    """The model's text with its output column ``old`` named ``new``: the alias changed where the
    projection names it, or ``as new`` added to a bare column. Models, tests and YAML that use it are
    ``tools.sql_edit.rename``'s business."""
    check_name(new, "new name")
    src = ModelSource.parse(source, dialect)
    model = CompiledModel.parse(compiled, relations, dialect)
    outputs = {o.lower() for o in model.outputs()}
    if old.lower() not in outputs:
        raise EditRefused(f"the model has no output column {old!r} (it has {', '.join(model.outputs())})")
    if new.lower() in outputs:
        raise EditRefused(f"the model already has an output column named {new}")
    scope, name, above = projection(src, model)
    written = src.scope_select(name)
    items = [i for i in written.expressions if i.alias_or_name.lower() == old.lower()]
    if len(items) != 1:
        raise EditRefused(
            f"{old} is not named in {where(name)} as written (Jinja names it, or it is named twice)",
            hint="rename it where the Jinja builds the name",
        )
    item = items[0]
    for user in model.scopes():
        if user is scope or any(user is a for a in above):
            continue
        if any(c.name.lower() == old.lower() for c in user.columns if _reads_from(user, c, scope)):
            raise EditRefused(
                f"{old} of {where(name)} is also used elsewhere in the model; rename it by hand"
            )
    if isinstance(item, exp.Alias):
        identifier = item.args["alias"]
        _refuse_unqualified_alias_use(written, old, name)
        start, end = identifier.meta["start"], identifier.meta["end"] + 1
        if src.span_at(start) is not None:
            raise EditRefused(
                f"{old} is named by Jinja in {where(name)}", hint="rename it where the Jinja builds the name"
            )
        splice = Splice(start, end, _sql(new, dialect))
    elif isinstance(item, exp.Column):
        end = item.this.meta["end"] + 1
        splice = Splice(end, end, f" as {_sql(new, dialect)}")
    else:
        raise EditRefused(f"{old} in {where(name)} is not a column or an alias")
    src.refuse_inside_block(splice.start, f"the rename of {old}")
    text = apply_splices(source, [splice])
    ModelSource.parse(text, dialect, what="the edited model")
    line = line_of(source, splice.start)
    return EditResult(
        text,
        f"rename the output column {old} to {new} ({where(name)}, line {line})",
        impact=impact_of(lineage, [old]),
    )


def _reads_from(user: Scope, column: exp.Column, scope: Scope) -> bool:
    source = user.selected_sources.get(column.table)
    return source is not None and source[1] is scope


def _refuse_unqualified_alias_use(select: exp.Expr, old: str, name: str | None) -> None:
    """An ORDER BY or GROUP BY that names the alias would lose it when the alias changes."""
    for key in ("group", "order", "having", "qualify"):
        clause = select.args.get(key)
        if clause is not None and any(
            c.name.lower() == old.lower() and not c.table for c in clause.find_all(exp.Column)
        ):
            raise EditRefused(
                f"{where(name)} uses the alias {old} in its {key.upper()} clause; rename it by hand"
            )
