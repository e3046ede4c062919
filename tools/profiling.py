"""Column profiles and foreign-key checks, so planners choose tests, keys and accepted values from data.

On any warehouse behind the port (tools/warehouse_port): a relation is profiled in one read-only
call, an aggregate SELECT (per column the non-null and distinct counts, min and max as text) and
per column a SELECT of its most frequent values, all in portable SQL with the dialect's quoting
(and its stand-ins where PostgreSQL lacks an operator: no min of a boolean, no equality of json).
Facts come from the data; names only order the candidates (an ``order_id`` key is offered before an
equally unique ``email``). Each function takes a ``Warehouse``, or a DuckDB file's path.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, JsonValue

from tools.errors import InvalidArguments, QueryError
from tools.warehouse_port import Warehouse, duckdb_warehouse
from tools.warehouse_port.models import ColumnInfo, QueryResult, RelationRef

# Names that suggest an identifier; used only to order key candidates the data already proved unique.
_ID_LIKE = re.compile(r"^(id|key|sku|uuid|guid|code)$|_(id|key|sku|uuid|guid|code|pk)$", re.IGNORECASE)
# Names that suggest a row's last-change time, strongest first: a business update time beats
# a pipeline load time for snapshot/incremental `updated_at`.
_UPDATED_AT_PATTERNS = (
    re.compile(r"updat|modif|chang", re.IGNORECASE),
    re.compile(r"load|ingest|sync|refresh|extract|emitted", re.IGNORECASE),
)
_FK_COLUMN = re.compile(r"^(?P<stem>.+?)_(?P<suffix>id|sku|key|code)$", re.IGNORECASE)
_ORPHAN_SAMPLE_SIZE = 5


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ValueCount(_Frozen):
    value: JsonValue
    count: int


class ColumnProfile(_Frozen):
    name: str
    type: str
    rows: int
    distinct: int
    nulls: int
    null_fraction: float
    min: str | None
    max: str | None
    #: most frequent non-null values, most frequent first (ties by value)
    top_values: list[ValueCount]
    #: every row has a value and no value repeats (False for an empty relation: no evidence)
    is_unique: bool
    #: a category: few distinct values that repeat (a unique column is an identifier, not a category)
    low_cardinality: bool
    #: all distinct non-null values, most frequent first, when low_cardinality; else None
    value_set: list[JsonValue] | None


class RelationProfile(_Frozen):
    relation: RelationRef
    row_count: int
    columns: list[ColumnProfile]
    #: unique, never-null columns of a joinable type; id-like names first, timestamps last
    key_candidates: list[str]
    timestamp_columns: list[str]
    #: timestamp columns named like a last-change time, strongest first
    updated_at_candidates: list[str]


class ForeignKeyMatch(_Frozen):
    child_relation: str
    child_column: str
    parent_relation: str
    parent_column: str
    #: child rows with a non-null value in the column
    child_values: int
    #: child rows whose value is not in the parent column
    orphan_rows: int
    orphan_sample: list[JsonValue]
    match_fraction: float
    #: every non-null child value exists in the parent (False when the child has no values)
    is_foreign_key: bool


# --- profiling ------------------------------------------------------------------------------------


def _is_timestamp(column_type: str) -> bool:
    upper = column_type.upper()
    return upper.startswith(("DATE", "TIMESTAMP"))


def _pick_columns(
    available: list[ColumnInfo], wanted: list[str] | None, ref: RelationRef
) -> list[ColumnInfo]:
    if wanted is None:
        return available
    by_name = {column.name.lower(): column for column in available}
    missing = [name for name in wanted if name.lower() not in by_name]
    if missing:
        raise InvalidArguments(
            f"{ref.qualified_name} has no column(s) {', '.join(missing)}; "
            f"its columns are: {', '.join(c.name for c in available)}"
        )
    return [by_name[name.lower()] for name in wanted]


def _warehouse(warehouse: Warehouse | Path) -> Warehouse:
    return warehouse if isinstance(warehouse, Warehouse) else duckdb_warehouse(warehouse)


def _stats_sql(warehouse: Warehouse, ref: RelationRef, columns: list[ColumnInfo]) -> str:
    """One aggregate over the relation: rows, then per column non-null, distinct, min and max."""
    dialect = warehouse.dialect
    selects = ["count(*)"]
    for column in columns:
        col = dialect.ident(column.name)
        low, high = dialect.min_max(col, column.type)
        selects += [f"count({col})", f"count(DISTINCT {dialect.comparable(col, column.type)})", low, high]
    return f"SELECT {', '.join(selects)} FROM {warehouse.sql_of(ref)}"


def _top_sql(warehouse: Warehouse, ref: RelationRef, column: ColumnInfo, limit: int) -> str:
    """A column's most frequent non-null values with their counts, ties by value."""
    dialect = warehouse.dialect
    col = dialect.ident(column.name)
    value = dialect.comparable(col, column.type)
    return (
        f"SELECT v, n FROM (SELECT {value} AS v, count(*) AS n FROM {warehouse.sql_of(ref)} "
        f"WHERE {col} IS NOT NULL GROUP BY {value}) AS ae_values ORDER BY n DESC, v LIMIT {limit}"
    )


def _count(value: JsonValue) -> int:
    return int(str(value))


def _column_profile(
    column: ColumnInfo,
    rows: int,
    stats: list[JsonValue],
    top: QueryResult | None,
    *,
    top_n: int,
    low_cardinality_max: int,
) -> ColumnProfile:
    non_null, distinct = _count(stats[0]), _count(stats[1])
    min_value, max_value = stats[2], stats[3]
    values = [ValueCount(value=value, count=_count(n)) for value, n in (top.rows if top else [])]
    is_unique = rows > 0 and non_null == rows and distinct == rows
    low_cardinality = 1 <= distinct <= low_cardinality_max and not is_unique
    return ColumnProfile(
        name=column.name,
        type=column.type,
        rows=rows,
        distinct=distinct,
        nulls=rows - non_null,
        null_fraction=(rows - non_null) / rows if rows else 0.0,
        min=None if min_value is None else str(min_value),
        max=None if max_value is None else str(max_value),
        top_values=values[:top_n],
        is_unique=is_unique,
        low_cardinality=low_cardinality,
        value_set=[v.value for v in values] if low_cardinality else None,
    )


def _can_be_key(column_type: str) -> bool:
    # nested values and floats can be unique by accident but make no sense as keys to test or join on
    upper = column_type.upper()
    return not (
        upper.endswith("]")
        or upper.startswith(("STRUCT", "MAP", "UNION", "FLOAT", "DOUBLE", "REAL", "ARRAY", "JSON"))
    )


def _key_preference(profile: ColumnProfile, relation_name: str) -> int:
    """0: id-like, named after the relation (order_id in orders); 1: id-like; 2: other; 3: timestamp."""
    if not _ID_LIKE.search(profile.name):
        return 3 if _is_timestamp(profile.type) else 2
    stem = _ID_LIKE.sub("", profile.name).lower()
    return 0 if stem and stem in relation_name.lower() else 1


def _updated_at_rank(column: str) -> int | None:
    for rank, pattern in enumerate(_UPDATED_AT_PATTERNS):
        if pattern.search(column):
            return rank
    return None


def _profile(
    warehouse: Warehouse,
    relation: str | RelationRef,
    columns: list[str] | None,
    top_n: int,
    low_cardinality_max: int,
) -> RelationProfile:
    if top_n < 0 or low_cardinality_max < 0:
        raise InvalidArguments("top_n and low_cardinality_max must not be negative")
    ref = warehouse.resolve(relation)
    picked = _pick_columns(warehouse.columns(ref), columns, ref)
    # enough values to fill both the top-N list and a complete low-cardinality value set
    fetch_values = max(top_n, low_cardinality_max)
    tops = [_top_sql(warehouse, ref, column, fetch_values) for column in picked] if fetch_values else []
    stats, *top_values = warehouse.read([_stats_sql(warehouse, ref, picked), *tops])
    row = stats.rows[0]
    rows = _count(row[0])
    profiles = [
        _column_profile(
            column,
            rows,
            row[1 + 4 * i : 5 + 4 * i],
            top_values[i] if top_values else None,
            top_n=top_n,
            low_cardinality_max=low_cardinality_max,
        )
        for i, column in enumerate(picked)
    ]
    keys = [
        p.name
        for p in sorted(
            (p for p in profiles if p.is_unique and _can_be_key(p.type)),
            key=lambda p: _key_preference(p, ref.name),
        )
    ]
    timestamps = [p.name for p in profiles if _is_timestamp(p.type)]
    ranked_updated = [(rank, name) for name in timestamps if (rank := _updated_at_rank(name)) is not None]
    return RelationProfile(
        relation=ref,
        row_count=rows,
        columns=profiles,
        key_candidates=keys,
        timestamp_columns=timestamps,
        updated_at_candidates=[name for _, name in sorted(ranked_updated, key=lambda pair: pair[0])],
    )


def profile_relation(
    warehouse: Warehouse | Path,
    relation: str | RelationRef,
    *,
    columns: list[str] | None = None,
    top_n: int = 5,
    low_cardinality_max: int = 10,
) -> RelationProfile:
    """Profile the columns of a relation (all of them unless ``columns`` names some)."""
    port = _warehouse(warehouse)
    with port.reading():
        return _profile(port, relation, columns, top_n, low_cardinality_max)


# --- foreign keys ---------------------------------------------------------------------------------


def _column_named(warehouse: Warehouse, ref: RelationRef, name: str) -> str:
    return _pick_columns(warehouse.columns(ref), [name], ref)[0].name


def _foreign_key_match(
    warehouse: Warehouse,
    child: RelationRef,
    child_column: str,
    parent: RelationRef,
    parent_column: str,
) -> ForeignKeyMatch:
    ident = warehouse.dialect.ident
    child_col, parent_col = ident(child_column), ident(parent_column)
    sets = (
        f"WITH child AS (SELECT {child_col} AS v FROM {warehouse.sql_of(child)} "
        f"WHERE {child_col} IS NOT NULL), "
        f"parent AS (SELECT DISTINCT {parent_col} AS v FROM {warehouse.sql_of(parent)} "
        f"WHERE {parent_col} IS NOT NULL), "
        "orphans AS (SELECT v FROM child WHERE NOT EXISTS (SELECT 1 FROM parent WHERE parent.v = child.v)) "
    )
    counts, sample = warehouse.read(
        [
            sets + "SELECT (SELECT count(*) FROM child), (SELECT count(*) FROM orphans)",
            sets + f"SELECT DISTINCT v FROM orphans ORDER BY v LIMIT {_ORPHAN_SAMPLE_SIZE}",
        ]
    )
    child_values, orphan_rows = (_count(value) for value in counts.rows[0])
    return ForeignKeyMatch(
        child_relation=child.qualified_name,
        child_column=child_column,
        parent_relation=parent.qualified_name,
        parent_column=parent_column,
        child_values=child_values,
        orphan_rows=orphan_rows,
        orphan_sample=[value for [value] in sample.rows],
        match_fraction=(child_values - orphan_rows) / child_values if child_values else 0.0,
        is_foreign_key=child_values > 0 and orphan_rows == 0,
    )


def foreign_key_matches(
    warehouse: Warehouse | Path,
    child_relation: str,
    child_column: str,
    parent_relation: str,
    parent_column: str,
) -> ForeignKeyMatch:
    """How many non-null child values exist in the parent column (a relationships test, measured)."""
    port = _warehouse(warehouse)
    with port.reading():
        child = port.resolve(child_relation)
        parent = port.resolve(parent_relation)
        return _foreign_key_match(
            port,
            child,
            _column_named(port, child, child_column),
            parent,
            _column_named(port, parent, parent_column),
        )


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") else word


def _name_suggests_link(child_column: str, parent_name: str, parent_key: str) -> bool:
    """customer_id -> any key customer_id; customer_id -> customers.id; product_sku -> products.sku."""
    if child_column.lower() == parent_key.lower():
        return True
    match = _FK_COLUMN.match(child_column)
    if match is None or match["suffix"].lower() != parent_key.lower():
        return False
    return _singular(match["stem"].lower()) in parent_name.lower()


def suggest_foreign_keys(
    warehouse: Warehouse | Path, relation: str, candidates: list[str]
) -> list[ForeignKeyMatch]:
    """Foreign keys of ``relation`` into the candidate parents, proven by the data (full matches only).

    A column is tried against a parent's key candidates when its name points there; every pair is
    then checked on the data, and only those where every child value has a parent are returned.
    """
    port = _warehouse(warehouse)
    with port.reading():
        return _foreign_keys(port, port.resolve(relation), candidates)


def _foreign_keys(port: Warehouse, child: RelationRef, candidates: list[str]) -> list[ForeignKeyMatch]:
    child_columns = port.columns(child)
    found: list[ForeignKeyMatch] = []
    for parent_relation in candidates:
        parent_profile = _profile(port, parent_relation, None, top_n=0, low_cardinality_max=0)
        parent = parent_profile.relation
        for column in child_columns:
            for key in parent_profile.key_candidates:
                if parent == child and column.name == key:
                    continue  # a key trivially "references" itself
                if not _name_suggests_link(column.name, parent.name, key):
                    continue
                try:
                    match = _foreign_key_match(port, child, column.name, parent, key)
                except QueryError:
                    continue  # incomparable types (e.g. INTEGER vs VARCHAR): not this key
                if match.is_foreign_key:
                    found.append(match)
    return found
