"""Macro bodies /dbt-macro can write for the common families, each with a dbt test that pins it.

A family is recognised from the macro's name (``cents_to_dollars`` converts units, ``*surrogate*``
keys rows, ``*spine*`` generates periods, ``*divide*`` divides safely, ``*pivot*`` pivots,
``*cohort*`` assigns cohorts). Bodies use dbt's cross-database macros (``dbt.hash``, ``dbt.concat``,
``dbt.dateadd``, ``dbt.date_trunc``, ``dbt.type_string``) so they compile on any adapter.

How the behaviour is pinned: a dbt ``unit_tests:`` entry tests a *model*, and a new macro has none;
writing a model only to test a macro would add a relation to the DAG and the warehouse. Instead each
family comes with a singular data test (``tests/macros/assert_<name>.sql``): fixture rows written as
literals, the macro applied to them, and every row whose result differs from the expected value
selected. dbt fails a singular test that returns rows, so ``dbt test --select assert_<name>`` proves
the body, in Verify and in CI.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from string import Template

from tools.codegen import dump_yaml

#: where under the project's test-paths a macro's singular test goes
TEST_SUBFOLDER = "macros"


@dataclass(frozen=True)
class Role:
    """One argument of a family: its default name, what it means, and its default when optional."""

    name: str
    type: str
    description: str
    #: a Jinja literal; None when the argument is required
    default: str | None = None


@dataclass(frozen=True)
class Family:
    kind: str
    description: str
    roles: tuple[Role, ...]
    #: the body as a ``string.Template``: ``$<role>`` stands for the parameter filling that role
    body: str
    #: the singular test's SQL for a macro of this family named ``name``
    test: Callable[[str], str]


@dataclass(frozen=True)
class MacroFiles:
    """What /dbt-macro writes: the macro, its properties, and the test pinning it (None: a stub)."""

    kind: str
    sql: str
    yml: str
    test_name: str | None
    test_sql: str | None


def _cases(name: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A CTE of literal fixture rows: ``<name> (<columns>) as (values ...)``."""
    values = ",\n".join(f"    ({', '.join(row)})" for row in rows)
    return f"{name} ({', '.join(columns)}) as (\n    values\n{values}\n)"


def _select(columns: Sequence[str]) -> str:
    return "select\n" + ",\n".join(f"    {column}" for column in columns) + "\n"


def _header(name: str, what: str) -> str:
    told = textwrap.wrap(
        f"Pins {name}: {what} Each row returned is a case where the macro's result differs from the "
        "expected one; dbt fails the test on any row.",
        width=96,
    )
    return "".join(f"-- {line}\n" for line in told)


# --- unit conversion -------------------------------------------------------------------------------------

#: (from, to) -> how many ``from`` make one ``to``; the reverse pair multiplies
_UNITS: dict[tuple[str, str], int] = {
    ("cents", "dollars"): 100,
    ("pence", "pounds"): 100,
    ("cents", "euros"): 100,
    ("milliseconds", "seconds"): 1000,
    ("seconds", "minutes"): 60,
    ("minutes", "hours"): 60,
    ("seconds", "hours"): 3600,
    ("grams", "kilograms"): 1000,
    ("meters", "kilometers"): 1000,
}
_CONVERSION = re.compile(r"^(?P<source>[a-z]+)_to_(?P<target>[a-z]+)$")


def _conversion(name: str) -> Family | None:
    found = _CONVERSION.match(name)
    if found is None:
        return None
    source, target = found.group("source"), found.group("target")
    factor = _UNITS.get((source, target))
    divide = factor is not None
    factor = factor or _UNITS.get((target, source))
    if factor is None:
        return None
    scale = 2 if divide else 0
    operator = "/" if divide else "*"
    # a decimal literal keeps integer inputs from integer division on adapters that do it (Postgres)
    body = f"cast(({{{{ $amount }}}}) {operator} {factor}.0 as numeric(28, {{{{ $scale }}}}))"
    given = ["1234", "5", "0", "-250"]

    def expected(value: str) -> str:
        result = Decimal(value) / factor if divide else Decimal(value) * factor
        return str(result.quantize(Decimal(1).scaleb(-scale)))

    def test(macro: str) -> str:
        rows = [[v, expected(v)] for v in given] + [["cast(null as integer)", "null"]]
        return (
            _header(macro, f"{source} to {target} at {scale} decimal places, nulls stay null.")
            + f"with {_cases('cases', ['given_amount', 'expected_amount'], rows)}\n\n"
            + _select(
                ["given_amount", "expected_amount", f"{{{{ {macro}('given_amount') }}}} as actual_amount"]
            )
            + "from cases\n"
            + f"where {{{{ {macro}('given_amount') }}}} is distinct from expected_amount\n"
        )

    return Family(
        kind="unit conversion",
        description=f"Converts an amount in {source} to {target} ({'divides' if divide else 'multiplies'} "
        f"by {factor}), as a decimal with `scale` places; null stays null.",
        roles=(
            Role("amount", "string", f"SQL expression holding an amount in {source}: a column name or any "
                 "expression, passed as a string."),
            Role("scale", "integer", f"Decimal places kept in {target}, rounded half away from zero.",
                 default=str(scale)),
        ),
        body=body,
        test=test,
    )  # fmt: skip


# --- the other families -----------------------------------------------------------------------------------


def _surrogate_test(macro: str) -> str:
    null = "_dbt_utils_surrogate_key_null_"
    rows = [
        ["1", "'x'", "md5('1-x')"],
        ["1", "cast(null as varchar)", f"md5('1-{null}')"],
        ["cast(null as integer)", "'x'", f"md5('{null}-x')"],
    ]
    return (
        _header(macro, "md5 of the fields cast to text joined by '-', nulls as a marker (the same keys as "
                "dbt_utils.generate_surrogate_key).")
        + f"with {_cases('cases', ['order_id', 'line_code', 'expected_key'], rows)}\n\n"
        + _select(["order_id", "line_code", "expected_key"])
        + "from cases\n"
        + f"where {{{{ {macro}(['order_id', 'line_code']) }}}} is distinct from expected_key\n"
    )  # fmt: skip


_SURROGATE_BODY = """\
{%- set parts = [] -%}
{%- for field in $field_list -%}
    {%- if not loop.first %}{% do parts.append("'-'") %}{% endif -%}
    {%- do parts.append(
        "coalesce(cast(" ~ field ~ " as " ~ dbt.type_string() ~ "), '_dbt_utils_surrogate_key_null_')"
    ) -%}
{%- endfor -%}
{{ dbt.hash(dbt.concat(parts)) }}"""


def _spine_test(macro: str) -> str:
    call = f"{{{{ {macro}('day', \"cast('2024-01-30' as date)\", \"cast('2024-02-02' as date)\") }}}}"
    return (
        _header(macro, "one row per day from the start (included) to the end (excluded), across a month "
                "boundary.")
        + f"with spine as (\n{call}\n),\n\n"
        + "summary as (\n"
        + "    select\n"
        + "        count(*) as periods,\n"
        + "        cast(min(date_day) as date) as first_period,\n"
        + "        cast(max(date_day) as date) as last_period\n"
        + "    from spine\n"
        + ")\n\n"
        + _select(["periods", "first_period", "last_period"])
        + "from summary\n"
        + "where not (\n"
        + "    periods = 3\n"
        + "    and first_period = cast('2024-01-30' as date)\n"
        + "    and last_period = cast('2024-02-01' as date)\n"
        + ")\n"
    )  # fmt: skip


# periods come from a cross join of digits (0..9999), which every warehouse can run; no generate_series
_SPINE_BODY = """\
with digits as (
    select 0 as n union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
),

steps as (
    select ones.n + 10 * tens.n + 100 * hundreds.n + 1000 * thousands.n as step
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
)

select {{ dbt.dateadd($datepart, 'step', $start_date) }} as date_{{ $datepart }}
from steps
where {{ dbt.dateadd($datepart, 'step', $start_date) }} < {{ $end_date }}"""


def _divide_test(macro: str) -> str:
    rows = [
        ["10", "4", "2.5"],
        ["1", "0", "cast(null as double)"],
        ["cast(null as integer)", "2", "null"],
        ["3", "cast(null as integer)", "null"],
    ]
    return (
        _header(macro, "a decimal quotient, null when the denominator is 0 or null.")
        + f"with {_cases('cases', ['numerator', 'denominator', 'expected_ratio'], rows)}\n\n"
        + _select(["numerator", "denominator", "expected_ratio"])
        + "from cases\n"
        + f"where {{{{ {macro}('numerator', 'denominator') }}}} is distinct from expected_ratio\n"
    )


def _pivot_test(macro: str) -> str:
    rows = [["'placed'", "10"], ["'placed'", "5"], ["'shipped'", "7"]]
    return (
        _header(macro, "one column per value, counting rows by default or summing `then_value`; a value "
                "with no rows gives 0.")
        + f"with {_cases('fixture', ['status', 'amount'], rows)},\n\n"
        + "counts as (\n"
        + f"    select {{{{ {macro}('status', ['placed', 'shipped', 'returned']) }}}}\n"
        + "    from fixture\n"
        + "),\n\n"
        + "amounts as (\n"
        + f"    select {{{{ {macro}('status', ['placed'], 'amount') }}}}\n"
        + "    from fixture\n"
        + ")\n\n"
        + _select(["counts.status_placed", "counts.status_shipped", "counts.status_returned"])
        + "from counts\n"
        + "cross join amounts\n"
        + "where not (\n"
        + "    counts.status_placed = 2\n"
        + "    and counts.status_shipped = 1\n"
        + "    and counts.status_returned = 0\n"
        + "    and amounts.status_placed = 15\n"
        + ")\n"
    )  # fmt: skip


_PIVOT_BODY = """\
{%- for value in $values %}
    sum(case when {{ $column }} = '{{ dbt.escape_single_quotes(value) }}' then {{ $then_value }} else 0 end)
        as {{ $column }}_{{ value }}{{ "," if not loop.last }}
{%- endfor %}"""


def _cohort_test(macro: str) -> str:
    def row(customer: str, at: str, cohort: str) -> list[str]:
        return [customer, f"cast('{at}' as timestamp)", f"cast('{cohort}' as date)"]

    rows = [
        row("1", "2024-01-15 10:00:00", "2024-01-01"),
        row("1", "2024-03-02 09:30:00", "2024-01-01"),
        row("2", "2024-02-10 18:45:00", "2024-02-01"),
    ]
    return (
        _header(macro, "every row of an entity gets the month of its first activity.")
        + f"with {_cases('fixture', ['customer_id', 'ordered_at', 'expected_cohort'], rows)},\n\n"
        + "cohorts as (\n"
        + "    select\n"
        + "        customer_id,\n"
        + "        expected_cohort,\n"
        + f"        cast({{{{ {macro}('customer_id', 'ordered_at') }}}} as date) as cohort\n"
        + "    from fixture\n"
        + ")\n\n"
        + _select(["customer_id", "expected_cohort", "cohort"])
        + "from cohorts\n"
        + "where cohort is distinct from expected_cohort\n"
    )


_FAMILIES: tuple[tuple[Callable[[str], bool], Family], ...] = (
    (
        lambda name: "surrogate" in name or "hash_key" in name,
        Family(
            kind="surrogate key",
            description="A surrogate key: md5 of the fields cast to text and joined by '-', with nulls "
            "replaced by a marker so (1, null) and (null, 1) differ. Equals "
            "dbt_utils.generate_surrogate_key for the same fields.",
            roles=(Role("field_list", "list[string]", "Columns (or expressions) that together identify a "
                        "row, e.g. ['order_id', 'line_number'], in a fixed order."),),
            body=_SURROGATE_BODY,
            test=_surrogate_test,
        ),
    ),
    (
        lambda name: "spine" in name,
        Family(
            kind="date spine",
            description="A query with one row per period from start_date (included) to end_date "
            "(excluded), in a column named date_<datepart>; up to 10,000 periods.",
            roles=(
                Role("datepart", "string", "Length of a period, a dbt datepart: 'day', 'week', 'month'."),
                Role("start_date", "string", "SQL expression for the first period, e.g. "
                     "\"cast('2024-01-01' as date)\"."),
                Role("end_date", "string", "SQL expression for the end; the period starting there is "
                     "not included."),
            ),
            body=_SPINE_BODY,
            test=_spine_test,
        ),
    ),
    (
        lambda name: "divide" in name,
        Family(
            kind="safe divide",
            description="numerator / denominator as a decimal, null when the denominator is 0 or null "
            "(instead of a division-by-zero error).",
            roles=(
                Role("numerator", "string", "SQL expression for the dividend, e.g. 'returned_orders'."),
                Role("denominator", "string", "SQL expression for the divisor; 0 or null gives null."),
            ),
            body="({{ $numerator }}) / nullif(cast({{ $denominator }} as {{ dbt.type_numeric() }}), 0)",
            test=_divide_test,
        ),
    ),
    (
        lambda name: "pivot" in name,
        Family(
            kind="pivot",
            description="One aggregated column per listed value of a column (named <column>_<value>): "
            "the number of rows with that value, or the sum of then_value over them; 0 when none.",
            roles=(
                Role("column", "string", "Column whose values become output columns, e.g. 'status'."),
                Role("values", "list[string]", "Values to pivot into columns, e.g. ['placed', 'shipped']; "
                     "each must be identifier-safe, since it names a column."),
                Role("then_value", "string", "Expression summed for matching rows: 1 counts them, a "
                     "measure column sums it.", default="1"),
            ),
            body=_PIVOT_BODY,
            test=_pivot_test,
        ),
    ),
    (
        lambda name: "cohort" in name,
        Family(
            kind="cohort",
            description="The cohort of each row: the period (a month by default) of its entity's first "
            "activity, as a window over the query's rows.",
            roles=(
                Role("entity_column", "string", "Column identifying who is in a cohort, e.g. "
                     "'customer_id'."),
                Role("timestamp_column", "string", "Column with the time of each activity, e.g. "
                     "'ordered_at'; the earliest places the entity in its cohort."),
                Role("datepart", "string", "Length of a cohort period, a dbt datepart.", default="'month'"),
            ),
            body="{{ dbt.date_trunc($datepart, 'min(' ~ $timestamp_column ~ ') over (partition by ' ~ "
            "$entity_column ~ ')') }}",
            test=_cohort_test,
        ),
    ),
)  # fmt: skip


def family_of(name: str) -> Family | None:
    """The family a macro's name says it belongs to, None when no family fits."""
    conversion = _conversion(name)
    if conversion is not None:
        return conversion
    return next((family for matches, family in _FAMILIES if matches(name)), None)


def _fits(family: Family, parameters: Sequence[str]) -> bool:
    required = sum(1 for role in family.roles if role.default is None)
    return required <= len(parameters) <= len(family.roles)


def _definition(name: str, signature: Sequence[str], description: str, body: str) -> str:
    """The macro file: its description as a Jinja comment, then the body, indented inside the block."""
    told = textwrap.wrap(description, width=96)
    comment = "\n".join(f"    {'{#-' if i == 0 else '   '} {line}" for i, line in enumerate(told)) + " -#}"
    indented = "\n".join(f"    {line}" if line else "" for line in body.splitlines())
    return f"{{% macro {name}({', '.join(signature)}) -%}}\n{comment}\n{indented}\n{{%- endmacro %}}\n"


def _properties(name: str, description: str, arguments: list[dict[str, str]]) -> str:
    return dump_yaml(
        {"version": 2, "macros": [{"name": name, "description": description, "arguments": arguments}]}
    )


def macro_files(name: str, parameters: Sequence[str], description: str | None) -> tuple[MacroFiles, str]:
    """The macro's files, and a sentence for the answer on what was written (or why only a stub)."""
    family = family_of(name)
    if family is not None and _fits(family, parameters):
        names = list(parameters)
        roles = family.roles[: len(names)]
        signature = [
            n if r.default is None else f"{n}={r.default}" for n, r in zip(names, roles, strict=True)
        ]
        # a role left out (fewer parameters than roles) keeps its default inside the body
        filling = {
            r.name: names[i] if i < len(names) else r.default or "" for i, r in enumerate(family.roles)
        }
        body = Template(family.body).substitute(filling)
        text = description or family.description
        arguments = [
            {"name": n, "type": r.type, "description": r.description}
            for n, r in zip(names, roles, strict=True)
        ]
        test_name = f"assert_{name}"
        files = MacroFiles(
            family.kind,
            _definition(name, signature, text, body),
            _properties(name, text, arguments),
            test_name,
            family.test(name),
        )
        return files, f"a {family.kind} macro with a working body, pinned by the test {test_name}"
    expected = (
        f"; its name suggests a {family.kind}, which takes "
        f"({', '.join(r.name for r in family.roles)}), not ({', '.join(parameters)})"
        if family is not None
        else ""
    )
    text = description or f"{name}: no body written yet (ae knows no macro family of this name{expected})."
    stub = (
        "{{ exceptions.raise_compiler_error(\n"
        f'    "{name}: write the body here (macros/{name}.sql); ae wrote only its signature"\n'
        ") }}"
    )
    arguments = [
        {"name": p, "description": f"Not documented yet: say what {p} is when you write the body."}
        for p in parameters
    ]
    stub_files = MacroFiles(
        "stub", _definition(name, parameters, text, stub), _properties(name, text, arguments), None, None
    )
    return stub_files, (
        f"only a stub: ae knows no macro family for {name!r}{expected}. Write the body in "
        f"macros/{name}.sql; until then a call fails at compile time saying so"
    )
