"""What the data says about one output column, and the tests those facts justify, with the reason.

Facts come from profiles (nulls, uniqueness, value sets) and measured foreign keys, adjusted for how
the column reaches the model (a left join can add nulls; a coalesced count cannot be null). A test is
written when today's data passes it *and* the column's meaning says it must keep passing: uniqueness
on the grain key, not_null on keys, references, categories and event times (or where the SQL makes a
value impossible to miss), accepted_values on short enum-like codes only, never on free text such as
names, descriptions or emails, whose value set today is an accident of today's rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import JsonValue

from agent.commands.naming import is_id_like
from tools.codegen import TestSpec, accepted_values_test, relationships_test, test_kind
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


# Name parts that mean prose or contact data: their values are open-ended, whatever today's rows hold.
_FREE_TEXT_PARTS = frozenset(
    {
        "name",
        "description",
        "desc",
        "comment",
        "comments",
        "note",
        "notes",
        "email",
        "address",
        "url",
        "phone",
        "title",
        "text",
        "message",
        "body",
        "summary",
        "remark",
        "remarks",
    }
)
# An enum value reads like a code or a short label: 'completed', 'jaffle', 'US', 'Credit card'.
_ENUM_VALUE = re.compile(r"^[\w.+/&-]+( [\w.+/&-]+)?$")
_ENUM_VALUE_MAX_LENGTH = 32


def is_free_text_name(column: str) -> bool:
    """product_name, manager_email, product_description: prose or contact data by name."""
    return any(part in _FREE_TEXT_PARTS for part in column.lower().split("_"))


def enum_values(profile: ColumnProfile) -> tuple[JsonValue, ...] | None:
    """The column's values when it is an enum-like text category (short codes or labels, named like
    neither an identifier nor free text) among the few values that repeat (``ColumnProfile.value_set``);
    None otherwise. Sorted, so the YAML does not churn."""
    values = profile.value_set
    if values is None or not is_text_type(profile.type) or is_id_like(profile.name):
        return None
    if is_free_text_name(profile.name):
        return None
    texts = [str(v) for v in values]
    if any(len(t) > _ENUM_VALUE_MAX_LENGTH or "@" in t or not _ENUM_VALUE.match(t) for t in texts):
        return None
    return tuple(sorted(values, key=str))


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
    #: every value, for an enum-like text category (see ``enum_values``); None otherwise
    category_values: tuple[JsonValue, ...] | None = None
    foreign_key: ForeignKey | None = None
    #: a count or sum that is coalesced to 0 (always present, by construction)
    is_measure_aggregate: bool = False
    #: description set by whoever built the column (inherited or written for an aggregate)
    description: str | None = None


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
        category_values=enum_values(profile),
        foreign_key=foreign_key,
        description=description,
    )


@dataclass(frozen=True)
class PlannedTest:
    """A generated test and the reason a reviewer would accept for it (written to the YAML's meta)."""

    test: TestSpec
    reason: str


def _not_null_reason(facts: ColumnFacts) -> str | None:
    if facts.is_measure_aggregate:
        return "coalesced to 0 in the SQL, so never null by construction"
    if not facts.never_null:
        return None
    if facts.foreign_key is not None or is_id_like(facts.name):
        return "a reference every row needs; no nulls in the data"
    if facts.category_values is not None:
        return "a status every row has; no nulls in the data"
    if is_timestamp_type(facts.type):
        return "an event time every row has; no nulls in the data"
    return None


def planned_tests(facts: ColumnFacts) -> list[PlannedTest]:
    """Tests a generated model gets on a column, each with its reason: the grain key, references,
    enum-like categories, event times, and aggregates the SQL coalesces."""
    planned: list[PlannedTest] = []
    if facts.is_key and facts.unique and facts.never_null:
        planned += [
            PlannedTest("unique", "the grain key: one row per value"),
            PlannedTest("not_null", "the grain key: every row has one"),
        ]
    elif (reason := _not_null_reason(facts)) is not None:
        planned.append(PlannedTest("not_null", reason))
    if facts.category_values is not None:
        planned.append(
            PlannedTest(
                accepted_values_test(list(facts.category_values)),
                f"an enum-like code with {len(facts.category_values)} values; a new one needs a decision",
            )
        )
    if facts.foreign_key is not None:
        target = facts.foreign_key
        planned.append(
            PlannedTest(
                relationships_test(target.model, target.column),
                f"references {target.model}.{target.column} upstream; every value matched in the data",
            )
        )
    return planned


def generated_tests(facts: ColumnFacts) -> list[TestSpec]:
    """The tests of ``planned_tests``, as the YAML lists them."""
    return [planned.test for planned in planned_tests(facts)]


def generated_test_reasons(facts: ColumnFacts) -> dict[str, str]:
    """Why each generated test is there, by test kind: what the YAML's column meta records."""
    return {test_kind(planned.test): planned.reason for planned in planned_tests(facts)}
