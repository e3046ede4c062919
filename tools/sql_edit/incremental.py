"""Make an existing model incremental in place: its config, and an ``is_incremental()`` filter on the
relation that drives its grain, designed so that an incremental run gives what a full refresh gives.

How the filter is placed (the compiled SQL says what, the source text says where):

- The *driving* relation is the one the unique key is read from: the key is followed from the
  model's output through CTEs by plain references (``orders.order_id``) to the FROM that reads it.
  A key computed on the way (``coalesce(a.id, b.id)``, a hash) has no such relation: refused.
- When nothing on that way folds rows (no GROUP BY, DISTINCT, aggregate or window), each output row
  comes from one driving row: the filter keeps the driving rows whose time column is within the
  lookback of the newest one loaded (``max(<its output column>) from {{ this }}``).
- When rows fold per key (a model grouping payments by order_id), a time filter would re-aggregate
  only the new rows of a key. The filter keeps *every* row of the keys that have a new row instead
  (``key in (select key from <relation> where <time> >= ...)``), so each re-read key is aggregated
  whole. A window over several keys, or a LIMIT, cannot be recomputed from some keys: refused.
- Every other relation is classified where it meets the driving rows. Joined on the key with the
  driving rows preserved (``orders left join order_payments on orders.order_id =
  order_payments.order_id``), the result is already right for the re-read keys; when its rows reach
  the join per key (grouped by it, or not folded), the CTE that reads it gets ``key in (select key
  from <driving CTE>)`` too, so it is aggregated for the re-read keys only instead of in full. A
  relation whose rows are preserved against the driving rows (RIGHT/FULL join) would bring rows of
  keys not re-read: refused. A lookup joined on something else is kept as is, with a warning: rows
  loaded earlier keep the values they were built with until a full refresh.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlglot import TokenType, exp
from sqlglot.optimizer.scope import Scope

from tools.column_lineage import ModelLineage
from tools.errors import InvalidArguments
from tools.sql_edit.compiled import (
    CompiledModel,
    Relations,
    Trace,
    from_and_joins,
    is_grouped,
    relation_parts,
    require_same_shape,
    windows,
)
from tools.sql_edit.config_call import config_splices
from tools.sql_edit.model_source import ModelSource
from tools.sql_edit.result import EditResult, impact_of
from tools.sql_edit.text import EditRefused, Splice, apply_splices, line_indent, newline_of, past_line_comment

if TYPE_CHECKING:
    from tools.profiling import RelationProfile

Strategy = Literal["merge", "delete+insert"]
OnSchemaChange = Literal["ignore", "fail", "append_new_columns", "sync_all_columns"]
STRATEGIES: tuple[Strategy, ...] = ("merge", "delete+insert")
ON_SCHEMA_CHANGE: tuple[OnSchemaChange, ...] = ("ignore", "fail", "append_new_columns", "sync_all_columns")
# an argument's shape, checked before it is written into SQL
_LOOKBACK = re.compile(r"\d+ (second|minute|hour|day|week|month|year)s?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# Over 60 lines on purpose: the driving relation, the filter, the child filters and the config are
# decided over one parsed model and one compiled model, and every refusal comes before any splice.
def make_incremental(
    source: str,
    compiled: str,
    *,
    unique_key: str,
    time_column: str,
    relations: Relations,
    strategy: Strategy = "merge",
    on_schema_change: OnSchemaChange | None = None,
    lookback: str | None = "1 day",
    lookback_var: str | None = None,
    dialect: str = "duckdb",
    lineage: ModelLineage | None = None,
) -> EditResult:
    """The model's text made incremental on ``unique_key``, new rows found by ``time_column`` (a column
    of the driving relation) within ``lookback`` (``"3 days"``; None for none) of the newest loaded.

    ``relations`` gives the columns of every relation the compiled SQL reads. ``lookback_var`` writes
    the lookback as ``var('<name>', '<lookback>')`` so a run can widen it. Raises ``EditRefused``.
    """
    _check_arguments(strategy, on_schema_change, lookback, lookback_var)
    src = ModelSource.parse(source, dialect)
    for span in src.spans:
        if "is_incremental" in span.names():
            raise EditRefused(
                "the model already has an is_incremental() filter; adding a second one would change "
                "what it selects",
                hint="edit that filter by hand, or change only the materialization in its config()",
            )
    model = CompiledModel.parse(compiled, relations, dialect)
    driving = _driving(model, unique_key, time_column, relations)
    time_filter = _time_filter(driving, lookback, lookback_var)
    relation = relation_parts(driving.trace.relation, dialect)[-1]
    window = f"within {lookback} of" if lookback else "at or after"
    window += f" the newest loaded ({driving.this_column})"
    scope_name = model.name_of(driving.trace.reader)
    table = _masked_table(src, model, driving.trace.reader, driving.trace.table, scope_name)
    qualifier = _qualifier(src, scope_name, table)
    if driving.per_key:
        condition = f"{qualifier}{_name(driving.time_column, dialect)} >= {time_filter}"
        how = f"the {relation} rows whose {driving.time_column} is {window}"
    else:
        relation_text = _table_text(src, table)
        key = _name(driving.trace.column, dialect)
        condition = (
            f"{qualifier}{key} in (select {key} from {relation_text} where "
            f"{_name(driving.time_column, dialect)} >= {time_filter})"
        )
        how = f"every {relation} row of each {unique_key} with a row whose {driving.time_column} is {window}"
    require_same_shape(src, model, driving.trace.reader, scope_name)
    splices = filter_splices(
        src, scope_name, condition, f"the CTE {scope_name}" if scope_name else "the query"
    )
    children, warnings = _children(src, model, driving, scope_name)
    named = model.named()
    for child_scope, child_condition in children:
        require_same_shape(src, model, named[child_scope], child_scope)
        splices += filter_splices(src, child_scope, child_condition, f"the CTE {child_scope}")
    settings: dict[str, str] = {
        "materialized": "incremental",
        "unique_key": unique_key,
        "incremental_strategy": strategy,
    }
    if on_schema_change is not None:
        settings["on_schema_change"] = on_schema_change
    config, _ = config_splices(src, settings)
    text = apply_splices(source, splices + config)
    ModelSource.parse(text, dialect, what="the edited model")  # what was spliced in must still parse
    where = f"the CTE {scope_name}" if scope_name else "the outer query"
    also = "".join(f"; the CTE {c} reads only the rows of those {unique_key}s" for c, _ in children)
    description = f"make incremental ({strategy} on {unique_key}): {where} re-reads {how}{also}"
    return EditResult(text, description, tuple(warnings), impact_of(lineage, model.outputs()))


def _check_arguments(
    strategy: str, on_schema_change: str | None, lookback: str | None, lookback_var: str | None
) -> None:
    if strategy not in STRATEGIES:
        raise InvalidArguments(
            f"incremental strategy {strategy!r} is not one this edit writes",
            hint="use merge or delete+insert: both replace a re-read row by its unique key; append would "
            "add a second copy of every re-read row",
        )
    if on_schema_change is not None and on_schema_change not in ON_SCHEMA_CHANGE:
        raise InvalidArguments(f"on_schema_change must be one of {', '.join(ON_SCHEMA_CHANGE)}")
    if lookback is not None and not _LOOKBACK.fullmatch(lookback):
        raise InvalidArguments(
            f"lookback {lookback!r} is not a number and a unit", hint="e.g. '3 days' or '12 hours'"
        )
    if lookback_var is not None and not _NAME.fullmatch(lookback_var):
        raise InvalidArguments(f"lookback var {lookback_var!r} is not a plain name")


def _name(name: str, dialect: str) -> str:
    return exp.to_identifier(name).sql(dialect=dialect)


@dataclass(frozen=True)
class _Driving:
    trace: Trace
    #: whether every output row comes from one driving row (nothing folds rows on the way)
    per_key: bool
    #: the relation's column the filter compares (its own spelling)
    time_column: str
    #: the model's output column that holds the newest time loaded
    this_column: str


@dataclass(frozen=True)
class GrainRelation:
    """The relation a model's unique key is read from (it drives the grain), and its columns that the
    model outputs as they are (or as their ``max``): where ``make_incremental``'s time column can be."""

    relation: str
    #: the relation's key column (its own spelling)
    key: str
    output_columns: tuple[str, ...]


def grain_relation(
    compiled: str, *, unique_key: str, relations: Relations, dialect: str = "duckdb"
) -> GrainRelation:
    """Which relation ``make_incremental`` would filter for ``unique_key``, and which of its columns
    could keep track of how far a run has loaded, before a time column is chosen. Raises
    ``EditRefused`` as ``make_incremental`` would for a key it cannot follow."""
    model = CompiledModel.parse(compiled, relations, dialect)
    trace = _key_trace(model, unique_key)
    outputs = []
    for output in model.outputs():
        found = model.trace(model.root, output, through_max=True)
        if found is not None and found.table is trace.table:
            outputs.append(found.column)
    return GrainRelation(trace.relation, trace.column, tuple(dict.fromkeys(outputs)))


def choose_time_column(
    grain: GrainRelation,
    profile: RelationProfile,
    *,
    model: str,
    label: str,
    adding: Callable[[str], str],
) -> str:
    """The column of the relation driving ``model``'s grain (``profile``: that relation's, ``label``:
    its name for people) that tells an incremental run how far it has loaded: its last-change time
    when the data has one, else its event time, of those the model outputs. Refused naming what to
    add (``adding``: how the caller's user adds a column, given its name) or that there is none."""
    candidates = [*profile.updated_at_candidates]
    candidates += [c for c in profile.timestamp_columns if c not in candidates]
    output = {c.lower() for c in grain.output_columns}
    chosen = next((c for c in candidates if c.lower() in output), None)
    if chosen is not None:
        return chosen
    if candidates:
        raise EditRefused(
            f"{label} drives {model}'s grain and records time in {', '.join(candidates)}, but {model} "
            "does not output it, so an incremental run could not tell how far it has loaded",
            hint=f"add it first ({adding(candidates[0])}), then make {model} incremental",
        )
    raise EditRefused(
        f"{label}, which drives {model}'s grain, has no date or timestamp column, so an incremental run "
        "cannot tell new rows from old ones",
        hint="keep it a table, or add a last-change column upstream",
    )


def _key_trace(model: CompiledModel, unique_key: str) -> Trace:
    outputs = model.outputs()
    if unique_key.lower() not in {o.lower() for o in outputs}:
        raise EditRefused(f"the model has no output column {unique_key!r} (it has {', '.join(outputs)})")
    trace = model.trace(model.root, unique_key)
    if trace is None:
        raise EditRefused(
            f"{unique_key} is computed on its way to the output, not read from one relation, so no "
            "relation drives the model's grain",
            hint="filter the model by hand, or make the key a plain column of one relation",
        )
    return trace


def _driving(model: CompiledModel, unique_key: str, time_column: str, relations: Relations) -> _Driving:
    outputs = model.outputs()
    trace = _key_trace(model, unique_key)
    columns = {c.lower(): c for c in relations[trace.relation]}
    if time_column.lower() not in columns:
        raise EditRefused(
            f"{trace.relation}, which drives the grain ({unique_key}), has no column {time_column!r}",
            hint=f"its columns: {', '.join(relations[trace.relation])}",
        )
    folding = False
    for scope, _ in trace.steps:
        select = scope.expression
        if select.args.get("limit"):
            raise EditRefused("a LIMIT on the way to the key depends on every row, not on the re-read keys")
        key = _key_reference(model, scope, trace)
        for window in windows(select):
            if not any(_same_column(p, key) for p in window.args.get("partition_by") or []):
                raise EditRefused(
                    f"a window ({_shortened(window.sql(dialect=model.dialect))}) spans rows of several "
                    f"{unique_key}s, so it cannot be recomputed from the re-read keys alone"
                )
        folding = folding or is_grouped(select) or bool(windows(select))
    this_column = None
    for output in outputs:
        found = model.trace(model.root, output, through_max=True)
        if found is not None and found.table is trace.table and found.column.lower() == time_column.lower():
            this_column = output
            break
    if this_column is None:
        raise EditRefused(
            f"the model does not output {trace.relation}.{time_column}, so an incremental run cannot "
            "tell how far it has loaded",
            hint=f"add {time_column} to the model's output columns first, then make it incremental",
        )
    return _Driving(trace, not folding, columns[time_column.lower()], this_column)


def _shortened(sql: str, limit: int = 80) -> str:
    return sql if len(sql) <= limit else sql[: limit - 3] + "..."


def _key_reference(model: CompiledModel, scope: Scope, trace: Trace) -> exp.Column | None:
    name = next(n for s, n in trace.steps if s is scope)
    item = model.item(scope, name)
    value = item.unalias() if item is not None else None
    return value if isinstance(value, exp.Column) else None


def _same_column(a: exp.Expr, b: exp.Column | None) -> bool:
    return b is not None and isinstance(a, exp.Column) and (a.table, a.name) == (b.table, b.name)


#: one level of indentation: the filter's lines inside the Jinja block, the subquery's inside its brackets
_BODY = "    "
#: the alias of {{ this }} in the filter's subquery (as tools/codegen.py writes it): its column is
#: qualified, so neither a reader nor sqlfluff's RF02 takes it for the outer query's column
_THIS_ALIAS = "this_model"


def _time_filter(driving: _Driving, lookback: str | None, lookback_var: str | None) -> str:
    """The newest loaded time (less the lookback) as a subquery on lines of its own, so a lookback
    rendered from a var stays within sqlfluff's line limit; ``filter_splices`` indents its lines."""
    newest = f"max({_THIS_ALIAS}.{driving.this_column})"
    if lookback is not None:
        amount = f"{{{{ var('{lookback_var}', '{lookback}') }}}}" if lookback_var else lookback
        newest += f" - interval '{amount}'"
    return f"(\n{_BODY}select {newest}\n{_BODY}from {{{{ this }}}} as {_THIS_ALIAS}\n)"


def _masked_table(
    src: ModelSource, model: CompiledModel, reader: Scope, table: exp.Table, scope_name: str | None
) -> exp.Table:
    """The relation as written in the source, found by its place among the FROM and JOINs."""
    compiled_items = from_and_joins(reader.expression)
    if scope_name is not None and scope_name not in src.ctes():
        raise EditRefused(f"the CTE {scope_name} is not written in the model's source (Jinja makes it)")
    written = from_and_joins(src.scope_select(scope_name))
    index = next((i for i, item in enumerate(compiled_items) if item is table), None)
    found = written[index] if index is not None and len(written) == len(compiled_items) else None
    if not isinstance(found, exp.Table):
        raise EditRefused(
            f"the relations read by {'CTE ' + scope_name if scope_name else 'the query'} are not written "
            "in the source as they compile (Jinja chooses them)"
        )
    return found


def _table_text(src: ModelSource, table: exp.Table) -> str:
    identifiers = [p for p in table.parts if p.meta.get("start") is not None]
    return src.text[min(i.meta["start"] for i in identifiers) : max(i.meta["end"] for i in identifiers) + 1]


def _qualifier(src: ModelSource, scope_name: str | None, table: exp.Table) -> str:
    """What to put before a column of ``table`` in its scope: nothing when it is the only relation."""
    if len(from_and_joins(src.scope_select(scope_name))) == 1:
        return ""
    if table.alias:
        return table.alias + "."
    if not src.span_at(table.this.meta["start"]):
        return table.name + "."
    raise EditRefused(
        f"{_table_text(src, table)} has no alias in {'CTE ' + scope_name if scope_name else 'the query'}, "
        "so the filter cannot name its columns",
        hint="give it an alias (`from {{ ref('x') }} as x`), then make the edit again",
    )


def filter_splices(src: ModelSource, scope: str | None, condition: str, what: str) -> list[Splice]:
    """``{% if is_incremental() %} where <condition> {% endif %}`` in a CTE's (or the outer query's)
    SELECT: a WHERE after its FROM, or ``and <condition>`` after the WHERE it has."""
    tokens = src.select_tokens(scope, what)
    newline = newline_of(src.text)
    if tokens.from_ is None:
        raise EditRefused(f"{what} has no FROM to filter")
    splices: list[Splice] = []
    if TokenType.WHERE in tokens.clauses:
        where = tokens.clauses[TokenType.WHERE]
        last = tokens.where_end() - 1
        indent = line_indent(src.text, src.tokens[where].start)
        existing = src.scope_select(scope).args["where"].this
        if isinstance(existing, exp.Or):  # `a or b and new` would bind the filter to b alone
            splices.append(Splice(src.tokens[where + 1].start, src.tokens[where + 1].start, "("))
            splices.append(Splice(src.end_of(last), src.end_of(last), ")"))
        keyword = "and"
    else:
        last = tokens.after_from() - 1
        indent = line_indent(src.text, src.tokens[tokens.from_].start)
        keyword = "where"
    first, *more = condition.split("\n")
    # the block's body one level in, as sqlfluff's LT02 and dbt's own examples lay it out
    lines = [
        "{% if is_incremental() %}",
        f"{_BODY}{keyword} {first}",
        *(_BODY + m for m in more),
        "{% endif %}",
    ]
    at = past_line_comment(src.text, src.end_of(last))
    src.refuse_inside_block(at, f"the filter in {what}")
    splices.append(Splice(at, at, "".join(f"{newline}{indent}{line}" for line in lines)))
    return splices


def _children(
    src: ModelSource, model: CompiledModel, driving: _Driving, driving_scope: str | None
) -> tuple[list[tuple[str, str]], list[str]]:
    """The (CTE, condition) filters that limit other relations to the re-read keys, and warnings."""
    trace = driving.trace
    path = [scope for scope, _ in trace.steps]
    users: dict[int, list[tuple[Scope, str]]] = {}
    for scope in model.scopes():
        for alias, (_, source) in scope.selected_sources.items():
            if isinstance(source, Scope):
                users.setdefault(id(source), []).append((scope, alias))
    filters: list[tuple[str, str]] = []
    warnings: list[str] = []
    for reader, alias, table in model.tables():
        if table is trace.table:
            continue
        relation = model.relation_of(table)
        meet = _meeting(reader, alias, path, users)
        if meet is None:
            warnings.append(
                f"{relation} is read in a way the incremental filter cannot follow (in several places, "
                "or in a subquery): rows loaded by earlier runs keep the values they were built with "
                "until a full refresh"
            )
            continue
        scope, branch_alias = meet
        kind, branch_column = _join_kind(model, scope, branch_alias, trace, path)
        if kind == "preserved":
            raise EditRefused(
                f"{relation} is joined so that its rows are kept without a matching {trace.relation} row "
                "(a RIGHT or FULL join, or it is the FROM of a LEFT join): an incremental run would "
                "bring its rows for keys it does not re-read",
                hint="make the driving relation the preserved side, or filter the model by hand",
            )
        if kind == "lookup":
            warnings.append(
                f"{relation} is joined on something other than the unique key: rows loaded by earlier "
                f"runs keep the {relation} values they were built with until a full refresh"
            )
            continue
        warnings.append(
            f"rows of {relation} that arrive later than the lookback for an older key are picked up only "
            "by a full refresh"
        )
        child = _child_filter(
            src,
            model,
            (scope, branch_alias, branch_column),
            table,
            driving=driving,
            driving_scope=driving_scope,
        )
        if child is not None:
            filters.append(child)
    return filters, warnings


def _meeting(
    reader: Scope, alias: str, path: list[Scope], users: dict[int, list[tuple[Scope, str]]]
) -> tuple[Scope, str] | None:
    """Where a relation's rows meet the driving rows: (scope on the key's way, alias of the branch),
    None when they reach it through several scopes or a subquery."""
    if any(reader is p for p in path):
        return reader, alias  # joined right where the key passes
    current = reader
    while True:
        up = users.get(id(current), [])
        if len(up) != 1:
            return None
        scope, alias = up[0]
        if any(scope is p for p in path):
            return scope, alias
        current = scope


def _join_kind(
    model: CompiledModel, scope: Scope, branch: str, trace: Trace, path: list[Scope]
) -> tuple[Literal["aligned", "preserved", "lookup"], str]:
    """How the branch ``branch`` joins the driving rows in ``scope``: on the key (and which of its
    columns equals it), with its rows preserved, or on something else."""
    index = next(i for i, p in enumerate(path) if p is scope)
    if index + 1 < len(path):
        below, key_column = trace.steps[index + 1]
        key_alias = next(a for a, (_, s) in scope.selected_sources.items() if s is below)
    else:
        key_column = trace.column
        key_alias = next(a for a, (_, s) in scope.selected_sources.items() if s is trace.table)
    select = scope.expression
    joins = {join.this.alias_or_name: join for join in select.args.get("joins") or []}
    branch_join, key_join = joins.get(branch), joins.get(key_alias)
    side = (branch_join.side if branch_join else "").upper()
    if side in ("RIGHT", "FULL") or (
        branch_join is None and key_join is not None and key_join.side.upper() in ("LEFT", "FULL")
    ):
        return "preserved", ""
    join = branch_join or key_join
    condition = join.args.get("on") if join is not None else None
    if condition is None:
        return "lookup", ""
    for eq in condition.flatten() if isinstance(condition, exp.And) else [condition]:
        if (
            isinstance(eq, exp.EQ)
            and isinstance(eq.this, exp.Column)
            and isinstance(eq.expression, exp.Column)
        ):
            sides = {eq.this.table: eq.this.name, eq.expression.table: eq.expression.name}
            if sides.get(key_alias) == key_column and branch in sides:
                return "aligned", sides[branch]
    return "lookup", ""


def _child_filter(
    src: ModelSource,
    model: CompiledModel,
    meet: tuple[Scope, str, str],
    table: exp.Table,
    *,
    driving: _Driving,
    driving_scope: str | None,
) -> tuple[str, str] | None:
    """``(CTE, condition)`` limiting the CTE that reads ``table`` to the re-read keys, when its rows
    reach the join per key; None when they do not (the join alone keeps the result right). ``meet``
    is where its branch joins the driving rows: (scope, the branch's alias, its column equal to the key)."""
    scope, branch, column = meet
    _, branch_scope = scope.selected_sources[branch]
    if not isinstance(branch_scope, Scope):
        return None
    found = model.trace(branch_scope, column)
    if found is None or found.table is not table or len(found.reader.selected_sources) != 1:
        return None
    for step_scope, name in found.steps:
        select = step_scope.expression
        item = model.item(step_scope, name)
        reference = item.unalias() if item is not None else None
        group = select.args.get("group")
        if select.args.get("limit") or (
            is_grouped(select) and not (group and any(_same_column(g, reference) for g in group.expressions))  # type: ignore[arg-type]
        ):
            return None
    reader_name = model.name_of(found.reader)
    ctes = list(src.ctes())
    if reader_name is None or reader_name not in ctes:
        return None
    key = _name(found.column, model.dialect)
    if (
        driving_scope is not None
        and driving_scope in ctes
        and ctes.index(driving_scope) < ctes.index(reader_name)
    ):
        driving_key = _name(driving.trace.steps[-1][1], model.dialect)
        cte = _name(driving_scope, model.dialect)
        return reader_name, f"{key} in (select {cte}.{driving_key} from {cte})"
    return None
