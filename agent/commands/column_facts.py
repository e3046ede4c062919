"""What the data says about one output column, and the tests those facts justify.

Facts come from profiles (nulls, uniqueness, value sets) and measured foreign keys, adjusted for how
the column reaches the model (a left join can add nulls; a coalesced count cannot be null). Tests
follow from facts only: a test is written when today's data passes it and it guards something that
matters (a key, a reference, a category, an event time).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import JsonValue

from agent.commands.naming import is_id_like
from tools.codegen import TestSpec, accepted_values_test, relationships_test
from tools.profiling import ColumnProfile

_TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "CHAR")
_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "DECIMAL",
    "DOUBLE",
    "FLOAT",
    "REAL",
    "NUMERIC",
    "UINTEGER",
    "UBIGINT",
    "USMALLINT",
    "UTINYINT",
    "INT",
)


def is_text_type(column_type: str) -> bool:
    return column_type.upper().startswith(_TEXT_TYPES)


def is_numeric_type(column_type: str) -> bool:
    return column_type.upper().startswith(_NUMERIC_TYPES)


def is_timestamp_type(column_type: str) -> bool:
    return column_type.upper().startswith(("DATE", "TIMESTAMP"))


@dataclass(frozen=True)
class ForeignKey:
    """A reference proven on the data: every non-null value exists in ``model.column``."""

    model: str
    column: str


@dataclass(frozen=True)
class ColumnFacts:
    name: str
    type: str
    never_null: bool
    unique: bool = False
    is_key: bool = False
    #: every distinct value, for a low-cardinality column; None otherwise
    value_set: tuple[JsonValue, ...] | None = None
    foreign_key: ForeignKey | None = None
    #: a count or sum that is coalesced to 0 (always present, by construction)
    is_measure_aggregate: bool = False
    #: description set by whoever built the column (inherited or written for an aggregate)
    description: str | None = None

    @property
    def category_values(self) -> tuple[JsonValue, ...] | None:
        """The value set when it is a text category (not an identifier): what accepted_values checks."""
        if self.value_set is None or not is_text_type(self.type) or is_id_like(self.name):
            return None
        # sorted, so the YAML does not churn when frequencies shift
        return tuple(sorted(self.value_set, key=str))


def facts_from_profile(
    profile: ColumnProfile,
    *,
    name: str | None = None,
    is_key: bool = False,
    may_gain_nulls: bool = False,
    foreign_key: ForeignKey | None = None,
    description: str | None = None,
) -> ColumnFacts:
    """Facts of a column copied (maybe renamed) from a profiled relation.

    ``may_gain_nulls``: the column reaches the model through a join that can miss (so not_null and
    unique cannot be promised from the upstream profile alone).
    """
    never_null = profile.rows > 0 and profile.nulls == 0 and not may_gain_nulls
    return ColumnFacts(
        name=name or profile.name,
        type=profile.type,
        never_null=never_null,
        unique=profile.is_unique and not may_gain_nulls,
        is_key=is_key and profile.is_unique,
        value_set=tuple(profile.value_set) if profile.value_set is not None else None,
        foreign_key=foreign_key,
        description=description,
    )


def generated_tests(facts: ColumnFacts) -> list[TestSpec]:
    """Tests a generated model gets on a column: the key, references, categories, event times."""
    tests: list[TestSpec] = []
    if facts.is_key and facts.unique and facts.never_null:
        tests += ["unique", "not_null"]
    elif facts.never_null and (
        is_id_like(facts.name)
        or facts.foreign_key is not None
        or facts.category_values is not None
        or is_timestamp_type(facts.type)
        or facts.is_measure_aggregate
    ):
        tests.append("not_null")
    if facts.category_values is not None:
        tests.append(accepted_values_test(list(facts.category_values)))
    if facts.foreign_key is not None:
        tests.append(relationships_test(facts.foreign_key.model, facts.foreign_key.column))
    return tests
