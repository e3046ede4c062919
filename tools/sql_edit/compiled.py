"""A model's compiled SQL (dbt's rendering of its Jinja) as qualified sqlglot scopes: what it means.

The source text says where to edit; the compiled SQL says what each column is. sqlglot's ``qualify``
needs the columns of every relation the query reads to expand ``select *`` and to tell which table an
unqualified column comes from, so the caller passes them (``Relations``: the relation name as dbt
renders it, or a bare table name, to its column names).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

from tools.sql_edit.model_source import ModelSource
from tools.sql_edit.text import EditRefused

#: relation name (``"db"."main"."stg_orders"``, or ``stg_orders``) -> its column names
Relations = Mapping[str, Sequence[str]]
#: a column's type is not needed to trace it; sqlglot's schema wants one
_ANY_TYPE = "unknown"
_WRITTEN = "ae_written"


def relation_parts(name: str, dialect: str) -> tuple[str, ...]:
    """``("db", "main", "stg_orders")`` for ``"db"."main"."stg_orders"``, lower-cased."""
    try:
        table = exp.to_table(name, dialect=dialect)
    except SqlglotError as exc:
        raise InvalidRelation(f"{name!r} is not a relation name") from exc
    return tuple(part.name.lower() for part in table.parts)


class InvalidRelation(EditRefused):
    pass


def table_parts(table: exp.Table) -> tuple[str, ...]:
    return tuple(part.name.lower() for part in table.parts)


def find_relation(relations: Relations, name: str, dialect: str) -> str:
    """The key of ``relations`` that ``name`` means: itself, or the one whose name ends the same."""
    if name in relations:
        return name
    wanted = relation_parts(name, dialect)
    same = [r for r in relations if relation_parts(r, dialect)[-len(wanted) :] == wanted]
    if len(same) != 1:
        raise EditRefused(
            f"{name!r} is not one of the relations given ({', '.join(relations) or 'none'})",
            hint="name a relation the model reads, and pass its columns",
        )
    return same[0]


def match_relation(parts: tuple[str, ...], known: Mapping[tuple[str, ...], str]) -> str | None:
    """The caller's name for a table: the same parts, else the only one with the same table name."""
    if parts in known:
        return known[parts]
    same_name = [name for key, name in known.items() if key[-1] == parts[-1] and len(key) == 1]
    return same_name[0] if len(same_name) == 1 else None


@dataclass(frozen=True)
class Trace:
    """How an output column reaches a relation: ``steps`` from the scope asked about down to the scope
    that reads ``relation``'s ``column``, each ``(scope, column name in that scope)``."""

    steps: tuple[tuple[Scope, str], ...]
    table: exp.Table
    relation: str
    column: str

    @property
    def reader(self) -> Scope:
        """The scope whose FROM/JOIN reads the relation."""
        return self.steps[-1][0]


class CompiledModel:
    """The compiled SQL, qualified (every column names its source, every ``*`` expanded)."""

    def __init__(self, tree: exp.Query, dialect: str, tables: dict[int, str], relations: Relations) -> None:
        self.tree = tree
        self.dialect = dialect
        self._relations = tables
        self._columns = relations
        root = build_scope(tree)
        if root is None:
            raise EditRefused("the compiled SQL is not a query")
        self.root = root

    @classmethod
    def parse(
        cls, compiled: str, relations: Relations, dialect: str, *, what: str = "the model"
    ) -> CompiledModel:
        try:
            statements = [s for s in sqlglot.parse(compiled, read=dialect) if s is not None]
        except (SqlglotError, RecursionError) as exc:
            raise EditRefused(f"{what}'s compiled SQL does not parse: {str(exc).splitlines()[0]}") from exc
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise EditRefused(f"{what}'s compiled SQL is not a single query")
        tree = statements[0]
        known = {relation_parts(name, dialect): name for name in relations}
        ctes = {cte.alias.lower() for cte in tree.find_all(exp.CTE)}
        schema: dict[str, object] = {}
        found: dict[tuple[str, ...], str] = {}
        for table in tree.find_all(exp.Table):
            parts = table_parts(table)
            if (len(parts) == 1 and parts[0] in ctes) or not parts[-1]:
                continue
            name = match_relation(parts, known)
            if name is None:
                raise EditRefused(
                    f"{what} reads {table.sql(dialect=dialect)}, whose columns were not given",
                    hint="pass the columns of every relation the model reads (from the catalog or the "
                    "YAML), e.g. after `dbt build` or `dbt docs generate`",
                )
            found[parts] = name
            level = schema
            for part in parts[:-1]:
                level = level.setdefault(part, {})  # type: ignore[assignment]
            level[parts[-1]] = {column.lower(): _ANY_TYPE for column in relations[name]}
        for number, column in enumerate(tree.find_all(exp.Column)):
            # qualify adds columns (a `*` expanded) and copies some (GROUP BY 1): this tells the
            # columns the SQL writes from those, and counts a copied one once
            column.meta[_WRITTEN] = number
        depths = {len(parts) for parts in found}
        if len(depths) > 1:
            raise EditRefused(
                f"{what} names its relations with different numbers of parts ({sorted(depths)})"
            )
        try:
            qualified = qualify(
                tree,
                dialect=dialect,
                schema=schema,
                validate_qualify_columns=False,
                expand_alias_refs=False,
                quote_identifiers=False,
                identify=False,
            )
        except (SqlglotError, RecursionError) as exc:
            raise EditRefused(
                f"{what}'s compiled SQL cannot be resolved: {str(exc).splitlines()[0]}"
            ) from exc
        by_table = {
            id(t): found[table_parts(t)] for t in qualified.find_all(exp.Table) if table_parts(t) in found
        }
        return cls(qualified, dialect, by_table, relations)

    # scopes

    def scopes(self) -> Iterator[Scope]:
        """Every scope, each after the scopes it reads (CTEs before the query that uses them)."""
        return self.root.traverse()

    def named(self) -> dict[str | None, Scope]:
        """The CTE scopes by name, and the outer query as ``None``."""
        named: dict[str | None, Scope] = {None: self.root}
        for scope in self.scopes():
            if scope.is_cte:
                named[cte_name(scope)] = scope
        return named

    def name_of(self, scope: Scope) -> str | None:
        for name, candidate in self.named().items():
            if candidate is scope:
                return name
        raise EditRefused("part of the query that the edit needs is a subquery, not a CTE")

    def relation_of(self, table: exp.Table) -> str:
        return self._relations[id(table)]

    def written_columns(self, scope: Scope) -> dict[int, exp.Column]:
        """The columns of ``scope`` that the compiled SQL writes (not added by expanding ``*``), once
        each, by their number in the SQL."""
        written: dict[int, exp.Column] = {}
        for column in scope.columns:
            number = column.meta.get(_WRITTEN)
            if isinstance(number, int):
                written.setdefault(number, column)
        return written

    def relation_or_none(self, table: exp.Table) -> str | None:
        return self._relations.get(id(table))

    def tables(self) -> Iterator[tuple[Scope, str, exp.Table]]:
        """(scope, alias, table) of every relation read."""
        for scope in self.scopes():
            for alias, (_, source) in scope.selected_sources.items():
                if isinstance(source, exp.Table) and id(source) in self._relations:
                    yield scope, alias, source

    # columns

    def item(self, scope: Scope, name: str) -> exp.Expr | None:
        """The select item of ``scope`` that outputs ``name``."""
        select = scope.expression
        if not isinstance(select, exp.Select):
            return None
        found: exp.Expr | None = next(
            (i for i in select.expressions if i.alias_or_name.lower() == name.lower()), None
        )
        return found

    def outputs(self, scope: Scope | None = None) -> list[str]:
        select = (scope or self.root).expression
        return [s.alias_or_name for s in select.selects] if isinstance(select, exp.Query) else []

    def source_columns(self, scope: Scope, alias: str) -> list[str]:
        """The columns a source of ``scope`` offers, by its alias there."""
        _, source = scope.selected_sources[alias]
        if isinstance(source, Scope):
            return self.outputs(source)
        name = self._relations.get(id(source))
        return list(self._columns[name]) if name is not None else []

    def trace(self, scope: Scope, name: str, *, through_max: bool = False) -> Trace | None:
        """Follow an output column by plain references (``a.x``, ``a.x as y``, ``cast(a.x as t)``) down
        to the relation it is read from; None when it is computed on the way. ``through_max`` also
        follows ``max(a.x)``."""
        steps: list[tuple[Scope, str]] = []
        current, column = scope, name
        while True:
            steps.append((current, column))
            item = self.item(current, column)
            if item is None:
                return None
            value = item.unalias()
            if through_max and isinstance(value, exp.Max) and isinstance(value.this, exp.Column):
                value = value.this
            # a cast keeps the value, row for row: staging models cast every column they read
            while isinstance(value, exp.Cast) and isinstance(value.this, exp.Column | exp.Cast):
                value = value.this
            if not isinstance(value, exp.Column) or value.table not in current.selected_sources:
                return None
            _, source = current.selected_sources[value.table]
            if isinstance(source, exp.Table):
                if id(source) not in self._relations:
                    return None
                return Trace(tuple(steps), source, self.relation_of(source), value.name)
            if not isinstance(source, Scope):
                return None
            current, column = source, value.name


def cte_name(scope: Scope) -> str:
    parent = scope.expression.parent
    return parent.alias.lower() if isinstance(parent, exp.CTE) else ""


_CLAUSES = ("where", "group", "having", "qualify", "order", "limit")


def require_same_shape(src: ModelSource, model: CompiledModel, scope: Scope, name: str | None) -> None:
    """Refuse to edit a SELECT whose source (Jinja set aside) lacks a clause or join that its compiled
    SQL has: Jinja wrote it (``{{ "where x" }}`` reads as an alias once masked), so positions found in
    the source would be wrong."""
    written, compiled = src.scope_select(name), scope.expression
    same = type(written) is type(compiled)
    if same and isinstance(written, exp.Select):
        same = all(bool(written.args.get(k)) == bool(compiled.args.get(k)) for k in _CLAUSES) and len(
            written.args.get("joins") or []
        ) == len(compiled.args.get("joins") or [])
    if not same:
        raise EditRefused(
            f"{'the CTE ' + name if name else 'the outer query'} compiles to a different shape than its "
            "source shows (Jinja writes part of its SQL), so the edit cannot be placed safely"
        )


def from_and_joins(select: exp.Expr) -> list[exp.Expr]:
    """The relations of a SELECT's FROM and JOINs, in order (each a Table or a Subquery)."""
    from_ = select.args.get("from_") or select.args.get("from")
    items = [from_.this] if from_ is not None else []
    return items + [join.this for join in select.args.get("joins") or []]


def is_grouped(select: exp.Expr) -> bool:
    """Whether a SELECT folds rows: GROUP BY, DISTINCT, or an aggregate in its select list."""
    if not isinstance(select, exp.Select):
        return True
    if select.args.get("group") or select.args.get("distinct"):
        return True
    return any(
        agg.find_ancestor(exp.Window) is None and agg.find_ancestor(exp.Select) is select
        for item in select.expressions
        for agg in item.find_all(exp.AggFunc)
    )


def windows(select: exp.Expr) -> list[exp.Window]:
    return [w for w in select.find_all(exp.Window) if w.find_ancestor(exp.Select) is select]
