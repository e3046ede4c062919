"""Text generators for dbt files: typed inputs in, SQL or YAML text out. No I/O, no decisions.

What to generate (which columns, keys, joins and tests) is decided elsewhere, from the data; this
module only renders those decisions in one consistent style: lower-case SQL with one CTE per input
and an explicit final column list, and block-style YAML with ``version: 2`` first and dbt 1.11
test syntax (``arguments:`` under a generic test).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from tools.errors import InvalidArguments

#: a generic data test as dbt's YAML writes it: ``"unique"`` or ``{"relationships": {...}}``
TestSpec = str | dict[str, Any]
PropertyKind = Literal["models", "seeds", "snapshots", "sources", "macros", "exposures"]

_INDENT = "    "
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- YAML ---------------------------------------------------------------------------------------------


class _BlockDumper(yaml.SafeDumper):
    """SafeDumper that indents list items under their key, as dbt's docs and most projects do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        # a value used twice (one freshness rule for many tables) is written out twice, not as &id001
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # multi-line text (a folded description read from a file) stays a readable block
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def dump_yaml(document: Mapping[str, Any]) -> str:
    """Block-style YAML, keys in insertion order, a blank line between top-level sections."""
    sections = [
        yaml.dump(
            {key: value},
            Dumper=_BlockDumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=110,
        )
        for key, value in document.items()
    ]
    return "\n".join(sections)


def load_yaml_mapping(text: str | None, where: str) -> dict[str, Any]:
    """The mapping a properties/config YAML holds ({} for a missing or empty file)."""
    if text is None or not text.strip():
        return {}
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidArguments(f"{where} is not valid YAML: {exc}", hint="fix the file first") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InvalidArguments(f"{where} does not hold a YAML mapping at the top level")
    return loaded


def accepted_values_test(values: Sequence[Any]) -> dict[str, Any]:
    return {"accepted_values": {"arguments": {"values": list(values)}}}


def relationships_test(to_model: str, field_name: str) -> dict[str, Any]:
    return {"relationships": {"arguments": {"to": f"ref('{to_model}')", "field": field_name}}}


def test_kind(test: TestSpec) -> str:
    """``unique`` for ``"unique"`` and for ``{"unique": {...}}``."""
    return test if isinstance(test, str) else next(iter(test), "")


#: the column meta key under which generated tests record why they are there
TEST_REASONS_META_KEY = "ae_tests"


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    description: str
    tests: tuple[TestSpec, ...] = ()
    #: why each generated test is there, by test kind ("not_null": "the grain key: ...")
    test_reasons: Mapping[str, str] = field(default_factory=dict)


def column_entry(column: ColumnDoc) -> dict[str, Any]:
    """A column's properties; the reasons for its tests go in its ``config.meta`` (dbt >= 1.10), where
    a reviewer reads them beside the tests and dbt carries them into the manifest and docs."""
    entry: dict[str, Any] = {"name": column.name, "description": column.description}
    if column.tests:
        entry["data_tests"] = list(column.tests)
    kinds = {test_kind(t) for t in column.tests}
    reasons = {kind: reason for kind, reason in column.test_reasons.items() if kind in kinds}
    if reasons:
        entry["config"] = {"meta": {TEST_REASONS_META_KEY: reasons}}
    return entry


def resource_entry(
    name: str,
    description: str,
    columns: Sequence[ColumnDoc] = (),
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry of a properties file (a model, seed or snapshot): name, description, extras, columns."""
    entry: dict[str, Any] = {"name": name, "description": description}
    entry.update(extra or {})
    if columns:
        entry["columns"] = [column_entry(c) for c in columns]
    return entry


def merge_column_tests(existing: Sequence[TestSpec], wanted: Sequence[TestSpec]) -> list[TestSpec]:
    """``existing`` plus each wanted test whose kind it does not have yet (existing ones win)."""
    merged = list(existing)
    have = {test_kind(t) for t in existing}
    for test in wanted:
        if test_kind(test) not in have:
            merged.append(test)
            have.add(test_kind(test))
    return merged


# --- SQL ------------------------------------------------------------------------------------------------


def _literal(value: str | Sequence[str]) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "[" + ", ".join(_literal(v) for v in value) + "]"


@dataclass(frozen=True)
class ModelConfig:
    materialized: Literal["view", "table", "incremental", "ephemeral"]
    unique_key: str | None = None
    incremental_strategy: str | None = None
    #: column names; DuckDB applies them only to DuckLake tables and ignores them otherwise
    partition_by: tuple[str, ...] = ()
    #: what dbt_project.yml already gives the model's folder: not repeated in the model's config()
    inherited: str | None = None


def config_block(config: ModelConfig) -> str:
    """The model's ``{{ config(...) }}`` line, or nothing when the project's config already says it all."""
    settings: list[tuple[str, str | Sequence[str]]] = []
    if config.materialized != config.inherited:
        settings.append(("materialized", config.materialized))
    if config.unique_key:
        settings.append(("unique_key", config.unique_key))
    if config.incremental_strategy:
        settings.append(("incremental_strategy", config.incremental_strategy))
    if config.partition_by:
        settings.append(("partition_by", list(config.partition_by)))
    if not settings:
        return ""
    if len(settings) == 1:
        key, value = settings[0]
        return f"{{{{ config({key}={_literal(value)}) }}}}\n"
    lines = [f"{_INDENT}{key}={_literal(value)}" for key, value in settings]
    return "{{\n  config(\n" + ",\n".join(f"  {line}" for line in lines) + "\n  )\n}}\n"


@dataclass(frozen=True)
class SelectColumn:
    """``expression as alias``; the alias is dropped when the expression already names the column."""

    expression: str
    alias: str

    def render(self) -> str:
        bare = self.expression.rsplit(".", 1)[-1]
        return self.expression if bare == self.alias else f"{self.expression} as {self.alias}"


@dataclass(frozen=True)
class IncrementalFilter:
    """``where <column> <op> (select max(this_model.<this_column>) [- interval <lookback>] from
    {{ this }} as this_model)`` inside is_incremental()."""

    column: str
    this_column: str
    #: ">=" re-reads the newest rows again, which a merge/delete+insert on the key absorbs;
    #: ">" for append, where re-read rows would be duplicated
    operator: Literal[">", ">="]
    reason: str
    #: how far before the newest loaded row to re-read: a SQL string literal (``'1 day'``, or one
    #: rendered from a var); None: no window
    lookback: str | None = None


#: the alias of {{ this }} in the filter's subquery: its column is qualified, so a reader (and
#: sqlfluff's RF02) never takes it for the outer query's column of the same name
_THIS_ALIAS = "this_model"


def _incremental_filter_lines(incremental: IncrementalFilter) -> list[str]:
    # the block's body is indented one level, as sqlfluff (LT02) and dbt's own examples lay it out;
    # the subquery on lines of its own keeps a lookback rendered from a var within the line limit
    newest = f"max({_THIS_ALIAS}.{incremental.this_column})"
    window = f" - interval {incremental.lookback}" if incremental.lookback else ""
    return [
        "{% if is_incremental() %}",
        *(f"{_INDENT}-- {line}" for line in textwrap.wrap(incremental.reason, width=90)),
        f"{_INDENT}where {incremental.column} {incremental.operator} (",
        f"{_INDENT * 2}select {newest}{window}",
        f"{_INDENT * 2}from {{{{ this }}}} as {_THIS_ALIAS}",
        f"{_INDENT})",
        "{% endif %}",
    ]


def _select_list(columns: Sequence[str], indent: str) -> str:
    return ",\n".join(f"{indent}{c}" for c in columns)


@dataclass(frozen=True)
class RawInput:
    """What a staging model reads: a declared source table, or a seed (``source`` is None)."""

    name: str
    source: str | None = None

    @property
    def call(self) -> str:
        if self.source is None:
            return f"{{{{ ref({_literal(self.name)}) }}}}"
        return f"{{{{ source({_literal(self.source)}, {_literal(self.name)}) }}}}"

    @property
    def label(self) -> str:
        return f"seed {self.name}" if self.source is None else f"source {self.source}.{self.name}"


def staging_sql(
    reads: RawInput,
    columns: Sequence[SelectColumn],
    config: ModelConfig,
    incremental: IncrementalFilter | None = None,
) -> str:
    """One raw table (source or seed), its columns renamed and cast, nothing joined."""
    if not columns:
        raise InvalidArguments(f"{reads.label} has no columns to select")
    header = config_block(config)
    lines = [*([header] if header else []), "select", _select_list([c.render() for c in columns], _INDENT)]
    lines.append(f"from {reads.call}")
    if incremental is not None:
        lines += _incremental_filter_lines(incremental)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ParentJoin:
    """A many-to-one join from the base to a parent on the parent's key."""

    cte: str
    model: str
    key: str
    foreign_key: str
    columns: tuple[SelectColumn, ...]


@dataclass(frozen=True)
class Aggregate:
    expression: str
    alias: str
    #: the value for base rows with no children (``0`` for counts and sums); None keeps NULL
    default: str | None = None


@dataclass(frozen=True)
class ChildSummary:
    """Children of the base aggregated to one row per base key, then left-joined."""

    cte: str
    model: str
    foreign_key: str
    aggregates: tuple[Aggregate, ...]


@dataclass(frozen=True)
class MartSpec:
    base_model: str
    base_cte: str
    base_columns: tuple[str, ...]
    key: str
    config: ModelConfig
    parents: tuple[ParentJoin, ...] = ()
    children: tuple[ChildSummary, ...] = ()
    #: expressions over base columns (e.g. a date to partition by), added after the base columns
    derived: tuple[SelectColumn, ...] = ()
    incremental: IncrementalFilter | None = None


def _cte(name: str, body: list[str]) -> str:
    lines = "\n".join(body).split("\n")
    inner = "\n".join(f"{_INDENT}{line}" if line else "" for line in lines)
    return f"{name} as (\n\n{inner}\n\n)"


def _final_columns(spec: MartSpec) -> list[tuple[str, str]]:
    """(select expression, output name) of the mart's final select: plain columns first, then the
    calculations (coalesced aggregates), as sqlfluff's ST06 and most readers expect."""
    if not (spec.parents or spec.children):
        # one select straight from the ref: derived expressions are computed right there
        return [(c, c) for c in spec.base_columns] + [(d.render(), d.alias) for d in spec.derived]
    base_names = [*spec.base_columns, *(d.alias for d in spec.derived)]
    plain = [(f"{spec.base_cte}.{name}", name) for name in base_names]
    calculated: list[tuple[str, str]] = []
    for parent in spec.parents:
        plain += [
            (SelectColumn(f"{parent.cte}.{c.expression}", c.alias).render(), c.alias) for c in parent.columns
        ]
    for child in spec.children:
        for agg in child.aggregates:
            value = f"{child.cte}.{agg.alias}"
            if agg.default is None:
                plain.append((value, agg.alias))
            else:
                calculated.append((f"coalesce({value}, {agg.default}) as {agg.alias}", agg.alias))
    return plain + calculated


def mart_output_columns(spec: MartSpec) -> list[str]:
    return [name for _, name in _final_columns(spec)]


def _pass_through_sql(spec: MartSpec) -> list[str]:
    """A mart that joins and aggregates nothing: one select from its ref, each column listed once."""
    lines = [
        "select",
        _select_list([expression for expression, _ in _final_columns(spec)], _INDENT),
        f"from {{{{ ref({_literal(spec.base_model)}) }}}}",
    ]
    if spec.incremental is not None:
        lines += _incremental_filter_lines(spec.incremental)
    return lines


def _joined_sql(spec: MartSpec) -> list[str]:
    """Import CTEs (the base, each parent, each child aggregated per key), then the final select that
    joins them: columns are listed where they are read and once more where they are output."""
    ctes: list[str] = []
    base_selects = [*spec.base_columns, *(d.render() for d in spec.derived)]
    base_body = [
        "select",
        _select_list(base_selects, _INDENT),
        f"from {{{{ ref({_literal(spec.base_model)}) }}}}",
    ]
    if spec.incremental is not None:
        base_body += _incremental_filter_lines(spec.incremental)
    ctes.append(_cte(spec.base_cte, base_body))
    for parent in spec.parents:
        parent_columns = [parent.key] + [c.expression for c in parent.columns if c.expression != parent.key]
        ctes.append(
            _cte(
                parent.cte,
                [
                    "select",
                    _select_list(parent_columns, _INDENT),
                    f"from {{{{ ref({_literal(parent.model)}) }}}}",
                ],
            )
        )
    for child in spec.children:
        selects = [child.foreign_key] + [f"{a.expression} as {a.alias}" for a in child.aggregates]
        ctes.append(
            _cte(
                child.cte,
                [
                    "select",
                    _select_list(selects, _INDENT),
                    f"from {{{{ ref({_literal(child.model)}) }}}}",
                    f"group by {child.foreign_key}",
                ],
            )
        )
    lines = ["with " + ",\n\n".join(ctes), ""]
    lines += ["select", _select_list([e for e, _ in _final_columns(spec)], _INDENT), f"from {spec.base_cte}"]
    for parent in spec.parents:
        lines.append(
            f"left join {parent.cte} on {spec.base_cte}.{parent.foreign_key} = {parent.cte}.{parent.key}"
        )
    for child in spec.children:
        lines.append(f"left join {child.cte} on {spec.base_cte}.{spec.key} = {child.cte}.{child.foreign_key}")
    return lines


def mart_sql(spec: MartSpec) -> str:
    """A fact/dimension/intermediate model: refs only, explicit columns, joins through import CTEs.

    A mart with nothing to join is one select from its ref, not a CTE repeated by a ``final``."""
    names = mart_output_columns(spec)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidArguments(f"the model would have duplicate columns: {', '.join(duplicates)}")
    for name in names:
        if not _IDENTIFIER.match(name):
            raise InvalidArguments(f"column name {name!r} is not a plain identifier")
    body = _joined_sql(spec) if spec.parents or spec.children else _pass_through_sql(spec)
    header = config_block(spec.config)
    return (header + "\n" if header else "") + "\n".join(body) + "\n"


@dataclass(frozen=True)
class DeclaredJoin:
    """A second parent of a model built to its YAML declaration, joined on a key both share."""

    reads: RawInput
    #: the first parent's column, equal to ``column`` of ``reads``
    base_column: str
    column: str


def declared_model_sql(
    base: RawInput,
    columns: Sequence[SelectColumn],
    joins: Sequence[DeclaredJoin] = (),
    config: ModelConfig | None = None,
) -> str:
    """A model's SQL written to its YAML declaration: the declared columns, in their order, from the
    first parent and any parent joined to it on a key (each named by its own name, so a qualified
    expression reads ``parent.column``)."""
    if not columns:
        raise InvalidArguments("a declared model needs at least one column")
    for column in columns:
        if not _IDENTIFIER.match(column.alias):
            raise InvalidArguments(f"column name {column.alias!r} is not a plain identifier")
    header = config_block(config) if config is not None else ""
    named = f" as {base.name}" if joins else ""
    lines = ["select", _select_list([c.render() for c in columns], _INDENT), f"from {base.call}{named}"]
    for join in joins:
        lines += [
            f"left join {join.reads.call} as {join.reads.name}",
            f"{_INDENT}on {base.name}.{join.base_column} = {join.reads.name}.{join.column}",
        ]
    return (header + "\n" if header else "") + "\n".join(lines) + "\n"


# --- snapshots, macros, seeds, exposures, packages -----------------------------------------------------


@dataclass(frozen=True)
class SnapshotSpec:
    name: str
    #: ``source('raw', 'orders')`` or ``ref('stg_orders')``
    relation: str
    description: str
    unique_key: str
    strategy: Literal["timestamp", "check"]
    updated_at: str | None = None
    check_cols: tuple[str, ...] = ()
    schema: str = "snapshots"
    columns: tuple[ColumnDoc, ...] = ()


def snapshot_yaml(spec: SnapshotSpec) -> str:
    """A dbt >= 1.9 YAML snapshot definition (no SQL file needed)."""
    return dump_yaml({"snapshots": [snapshot_entry(spec)]})


def snapshot_entry(spec: SnapshotSpec) -> dict[str, Any]:
    """The snapshot's entry of a ``snapshots:`` list (its tests under ``data_tests:``)."""
    config: dict[str, Any] = {"schema": spec.schema, "unique_key": spec.unique_key, "strategy": spec.strategy}
    if spec.strategy == "timestamp":
        if not spec.updated_at:
            raise InvalidArguments("a timestamp snapshot needs an updated_at column")
        config["updated_at"] = spec.updated_at
    else:
        if not spec.check_cols:
            raise InvalidArguments("a check snapshot needs at least one column to compare")
        config["check_cols"] = list(spec.check_cols)
    return resource_entry(
        spec.name, spec.description, spec.columns, extra={"relation": spec.relation, "config": config}
    )


@dataclass(frozen=True)
class ExposureSpec:
    name: str
    type: Literal["dashboard", "notebook", "analysis", "ml", "application"]
    depends_on: tuple[str, ...]
    description: str
    owner_name: str | None = None
    owner_email: str | None = None
    url: str | None = None
    maturity: Literal["low", "medium", "high"] | None = None


def exposure_entry(spec: ExposureSpec) -> dict[str, Any]:
    owner = {k: v for k, v in (("name", spec.owner_name), ("email", spec.owner_email)) if v}
    entry: dict[str, Any] = {"name": spec.name, "type": spec.type, "description": spec.description}
    if spec.maturity:
        entry["maturity"] = spec.maturity
    if spec.url:
        entry["url"] = spec.url
    entry["owner"] = owner
    entry["depends_on"] = [f"ref('{model}')" for model in spec.depends_on]
    return entry
