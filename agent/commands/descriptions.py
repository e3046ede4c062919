"""Descriptions written from a column's role (key, reference, category, time, flag, count, amount).

An upstream description (the source YAML's, the staging model's) wins, except for what has gone
stale on the way: a reference to a raw table's column ("foreign key to customers.id") is replaced by
the relationship the model's own test checks, or dropped when it has none. The sentences here are the
fallback, built from what the column is, never by pasting its name into a template.
"""

from __future__ import annotations

import re

from agent.commands.column_facts import ColumnFacts, ForeignKey, is_numeric_type, is_timestamp_type
from agent.commands.naming import is_id_like, phrase, plural, timestamp_phrase
from tools.layers import ModelType, kind_of_name

_MAX_VALUES_SHOWN = 12
#: a mart's name says which kind it is; other models are named by their layer
_MART_KINDS: dict[ModelType, str] = {"dimension": "Dimension", "fact": "Fact table"}
# "(foreign key to customers.id)", "; references stores.id": a pointer at another table's column
_REFERENCE = re.compile(
    r"\s*[(;,]?\s*(?:foreign key to|fk to|references|joins to)\s+[\w.]+\.\w+\)?", re.IGNORECASE
)
_COUNT = re.compile(r"^(?:n|num|number_of)_(?P<what>.+)$|^(?P<what2>.+)_(?:count|cnt)$")
_AMOUNT_WORDS = frozenset({"amount", "total", "subtotal", "price", "cost", "revenue", "tax", "paid", "fee"})


def _values(values: tuple[object, ...]) -> str:
    shown = ", ".join(str(v) for v in values[:_MAX_VALUES_SHOWN])
    return shown + (", ..." if len(values) > _MAX_VALUES_SHOWN else "")


def _joins_to(target: ForeignKey) -> str:
    return f"joins to {target.model}.{target.column}"


def refreshed_description(text: str, foreign_key: ForeignKey | None) -> str:
    """``text`` with its pointers to other tables (which go stale as columns are renamed and models
    built) replaced by the relationship the column's test checks, or dropped when it has none."""
    if foreign_key is None and not _REFERENCE.search(text):
        return text
    stripped = _REFERENCE.sub("", text).strip().rstrip(".").strip()
    return f"{stripped}; {_joins_to(foreign_key)}." if foreign_key is not None else f"{stripped}."


def _own_part(column: str, entity: str) -> str:
    """customer_name in customers -> name: the entity is already in the sentence."""
    return (
        column.removeprefix(f"{entity}_") if column != entity and column.startswith(f"{entity}_") else column
    )


def column_description(facts: ColumnFacts, entity: str) -> str:
    """A one-sentence description of a column of a model about ``entity``."""
    if facts.description:
        return refreshed_description(facts.description, facts.foreign_key)
    name = facts.name.lower()
    own = phrase(_own_part(name, entity))
    if facts.is_key:
        return f"Primary key: one row per {entity}."
    if facts.foreign_key is not None:
        referenced = phrase(name.removesuffix("_id"))
        return f"The {referenced} of the {entity}; {_joins_to(facts.foreign_key)}."
    if facts.category_values is not None:
        return f"{own.capitalize()} of the {entity}: one of {_values(facts.category_values)}."
    if is_id_like(name):
        return f"Identifier of the {phrase(name.removesuffix('_id'))} of the {entity}."
    if is_timestamp_type(facts.type):
        return f"{timestamp_phrase(name, entity)}."
    if facts.type.upper() == "BOOLEAN":
        verb, what = ("has", name.removeprefix("has_")) if name.startswith("has_") else ("is", name)
        return f"Whether the {entity} {verb} {phrase(what.removeprefix('is_'))}."
    count = _COUNT.match(name)
    if count is not None and is_numeric_type(facts.type):
        *words, counted = phrase(count.group("what") or count.group("what2")).split()
        counted = counted if counted.endswith("s") else plural(counted)
        return f"Number of {' '.join([*words, counted])} of the {entity}."
    if is_numeric_type(facts.type) and _AMOUNT_WORDS & set(name.split("_")):
        return f"{own.capitalize()} of the {entity}, an amount in the source's units."
    return f"{own.capitalize()} of the {entity}."


def model_description(name: str, layer: str, entity: str, key: str | None, upstream: list[str]) -> str:
    """A model-level description from its layer, grain (the key the data proves) and inputs."""
    named = kind_of_name(name)
    kind = _MART_KINDS.get(named.model_type) if named else None
    kind = kind or {"staging": "Staging model", "intermediate": "Intermediate model"}.get(layer, "Model")
    grain = f"one row per {entity}" + (f" (key {key}, unique and not null in the data)" if key else "")
    inputs = f"; built from {', '.join(upstream)}" if upstream else ""
    return f"{kind} {name}: {grain}{inputs}."
