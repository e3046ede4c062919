"""Names: entities from model names, singular/plural, staging renames, readable column phrases.

Names only ever order or phrase what the data decided; they never decide keys or tests on their own.
"""

from __future__ import annotations

import re

from tools.layers import entity_of

_ID_LIKE = re.compile(r"^(id|key|sku|uuid|guid|code)$|_(id|key|sku|uuid|guid|code|pk)$", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# words DuckDB will not take as a bare column name
_RESERVED = frozenset(
    {
        "all",
        "and",
        "as",
        "by",
        "case",
        "default",
        "desc",
        "end",
        "from",
        "group",
        "having",
        "in",
        "limit",
        "not",
        "null",
        "or",
        "order",
        "select",
        "table",
        "to",
        "union",
        "user",
        "when",
        "where",
        "with",
    }
)
# columns so generic that joined models would collide on them: prefixed with the entity in staging
_GENERIC_COLUMNS = frozenset({"name", "type", "description", "title", "label", "category"})
# column names raw tables often have that SQL keeps as (unreserved) keywords: DuckDB takes them, but
# an alias `as cost` reads as the keyword and sqlfluff's RF04 (references.keywords, on the duckdb
# dialect) refuses it, so staging prefixes them with the entity too (cost -> supply_cost)
_KEYWORD_COLUMNS = frozenset(
    {
        "action",
        "comment",
        "content",
        "cost",
        "data",
        "date",
        "day",
        "domain",
        "filter",
        "first",
        "format",
        "hour",
        "key",
        "language",
        "last",
        "level",
        "location",
        "method",
        "minute",
        "mode",
        "month",
        "owner",
        "path",
        "position",
        "role",
        "second",
        "source",
        "start",
        "time",
        "timestamp",
        "value",
        "version",
        "week",
        "year",
        "zone",
    }
)
_TIMESTAMP_VERBS = {"created": "created", "updated": "last updated", "modified": "last modified"}


def plural(word: str) -> str:
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def is_id_like(column: str) -> bool:
    return bool(_ID_LIKE.search(column))


def is_identifier(name: str) -> bool:
    return bool(_IDENTIFIER.match(name))


def quote_if_needed(column: str) -> str:
    if is_identifier(column) and column not in _RESERVED:
        return column
    return '"' + column.replace('"', '""') + '"'


def snake_case(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    return cleaned if cleaned and not cleaned[0].isdigit() else f"col_{cleaned}"


def staging_column_name(column: str, entity: str, column_type: str, taken: set[str]) -> str:
    """The clean name a staging model gives a raw column (id -> order_id, name -> customer_name...)."""
    clean = snake_case(column)
    if clean == "id" or clean in _GENERIC_COLUMNS:
        renamed = f"{entity}_{clean}"
    elif column_type.upper() == "BOOLEAN" and not clean.startswith(("is_", "has_", "was_", "can_")):
        renamed = f"is_{clean}"
    elif clean in _RESERVED or clean in _KEYWORD_COLUMNS:
        renamed = f"{entity}_{clean}"
    else:
        renamed = clean
    # never rename onto another raw column's name: keep the clean original instead
    return clean if renamed != clean and renamed in taken else renamed


def phrase(column: str) -> str:
    """customer_id -> customer id; tax_paid -> tax paid."""
    return column.replace("_", " ").strip()


def timestamp_phrase(column: str, entity: str) -> str:
    """ordered_at -> "When the order was ordered"; updated_at -> "When the order was last updated";
    order_date -> "Date of the order"; first_order_date -> "First order date of the customer".

    Only a past participle reads as "when it was ...": a noun stem (order_date) does not.
    """
    lowered = column.lower()
    stem = lowered.removesuffix("_at").removesuffix("_date").removesuffix("_time")
    # order_placed_at of an order is when the order was placed, not "was order placed"
    stem = stem.removeprefix(f"{entity}_") if stem.startswith(f"{entity}_") else stem
    if stem in _TIMESTAMP_VERBS or stem.endswith("ed"):
        return f"When the {entity} was {_TIMESTAMP_VERBS.get(stem, phrase(stem))}"
    kind = "Time" if lowered.endswith(("_at", "_time")) else "Date"
    if stem == entity or stem in {"", "event"}:
        return f"{kind} of the {entity}"
    return f"{phrase(stem).capitalize()} {kind.lower()} of the {entity}"


def grain_entity(model_name: str, key: str | None) -> str:
    """What one row is about: the key says it best (order_id -> order), else the model's name."""
    if key is not None and key.lower().endswith("_id") and len(key) > 3:
        return key.lower().removesuffix("_id")
    return entity_of(model_name)
