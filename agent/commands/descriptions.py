"""Descriptions written from names and data facts, for columns nobody has described yet.

An upstream description (the source YAML's, the staging model's) always wins: these sentences are
only the fallback, phrased from what the profile proved ("unique and not null in the data").
"""

from __future__ import annotations

from agent.commands.column_facts import ColumnFacts, is_timestamp_type
from agent.commands.naming import is_id_like, phrase, timestamp_phrase

_MAX_VALUES_SHOWN = 12


def _values(values: tuple[object, ...]) -> str:
    shown = ", ".join(str(v) for v in values[:_MAX_VALUES_SHOWN])
    return shown + (", ..." if len(values) > _MAX_VALUES_SHOWN else "")


def column_description(facts: ColumnFacts, entity: str) -> str:
    """A one-sentence description of a column of a model about ``entity``."""
    if facts.description:
        return facts.description
    name = facts.name.lower()
    if facts.is_key:
        return f"Primary key of the {entity}; unique and not null in the data."
    if facts.foreign_key is not None:
        target = facts.foreign_key
        return (
            f"The {phrase(name.removesuffix('_id'))} this {entity} refers to "
            f"(foreign key to {target.model}.{target.column}; every value has a match in the data)."
        )
    if facts.category_values is not None:
        return f"{phrase(name).capitalize()} of the {entity}: one of {_values(facts.category_values)}."
    if is_id_like(name):
        return f"Identifier of the {phrase(name.removesuffix('_id'))} of the {entity}."
    if is_timestamp_type(facts.type):
        return f"{timestamp_phrase(name, entity)}."
    if facts.type.upper() == "BOOLEAN":
        return f"Whether the {entity} is {phrase(name.removeprefix('is_').removeprefix('has_'))}."
    return f"{phrase(name).capitalize()} of the {entity}."


def model_description(name: str, layer: str, entity: str, key: str | None, upstream: list[str]) -> str:
    """A model-level description from its layer, grain (the key the data proves) and inputs."""
    if name.startswith("dim_"):
        kind = "Dimension"
    elif name.startswith("fct_"):
        kind = "Fact table"
    else:
        kind = {"staging": "Staging model", "intermediate": "Intermediate model"}.get(layer, "Model")
    grain = f"one row per {entity}" + (f" (key {key}, unique and not null in the data)" if key else "")
    inputs = f"; built from {', '.join(upstream)}" if upstream else ""
    return f"{kind} {name}: {grain}{inputs}."
