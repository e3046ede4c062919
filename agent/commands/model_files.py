"""What every generated model shares: its request, where its files go, how its YAML is written."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent.commands.column_facts import ColumnFacts, generated_test_reasons, generated_tests
from agent.commands.descriptions import column_description
from agent.commands.project import ProjectView
from tools.codegen import (
    ColumnDoc,
    IncrementalFilter,
    ModelConfig,
    TestSpec,
    column_entry,
    merge_column_tests,
    resource_entry,
)
from tools.errors import InvalidArguments
from tools.layers import KINDS, Materialization, ModelType
from tools.profiling import RelationProfile

Strategy = Literal["merge", "append", "delete+insert"]
_TIME_GRAINS = {"date": "date", "day": "date", "month": "month", "year": "year"}


@dataclass(frozen=True)
class ModelRequest:
    name: str
    model_type: ModelType
    materialization: Materialization
    strategy: Strategy = "merge"
    partition: str | None = None
    #: staging: ``source_name.table``
    source: str | None = None
    #: other layers: the model it is built on
    base: str | None = None
    unique_key: str | None = None
    description: str | None = None
    #: the materialization dbt_project.yml gives the model's folder (not repeated in its config())
    inherited_materialization: str | None = None

    @property
    def source_name(self) -> str | None:
        """The source a staging model reads (``raw`` of ``raw.customers``; None for a seed)."""
        source_name, dot, _ = (self.source or "").partition(".")
        return source_name if dot else None

    def config(self, **settings: Any) -> ModelConfig:
        return ModelConfig(
            materialized=self.materialization, inherited=self.inherited_materialization, **settings
        )


@dataclass(frozen=True)
class ModelFiles:
    sql: str
    yml: str


def model_files(
    view: ProjectView, name: str, model_type: ModelType, *, source_name: str | None = None
) -> ModelFiles:
    """Where the model's SQL and YAML go: where they are now when it exists, else where the project
    keeps that layer (a staging model: its source's folder, ``source_name``), documented the way
    that folder is (see ``Conventions``)."""
    node = view.models.get(name)
    if node is not None:
        return ModelFiles(sql=node.original_file_path, yml=view.properties_file(node))
    conventions = view.conventions
    folder = (
        conventions.staging_folder_for(source_name)
        if model_type == "staging"
        else conventions.folder_for(KINDS[model_type].layer)
    )
    return ModelFiles(sql=f"{folder}/{name}.sql", yml=view.conventions.properties_file_for(folder, name))


def configured_materialization(view: ProjectView, files: ModelFiles) -> str | None:
    """What dbt_project.yml already makes of a model at ``files.sql`` (None: it says nothing)."""
    model_paths = [str(p) for p in view.dbt_project.get("model-paths") or ["models"]]
    return view.conventions.configured_materialization(files.sql, model_paths)


def _merged_column(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` over what a person wrote for the column: their keys stay, and their ``config`` (and
    its ``meta``) keeps what ae does not set, so recording test reasons never drops their config."""
    merged = {**{k: v for k, v in old.items() if k not in {"tests", "data_tests"}}, **new}
    old_config, new_config = old.get("config"), new.get("config")
    if isinstance(old_config, dict) and isinstance(new_config, dict):
        meta = {**(old_config.get("meta") or {}), **(new_config.get("meta") or {})}
        merged["config"] = {**old_config, **new_config, "meta": meta}
    return merged


def documented_entry(
    existing: dict[str, Any] | None,
    name: str,
    description: str,
    facts: Sequence[ColumnFacts],
    entity: str,
    *,
    add_tests: bool = True,
) -> dict[str, Any]:
    """A properties entry for ``facts`` (in that column order) that keeps what a person wrote:
    existing descriptions win, existing tests stay (new kinds are added), other keys are kept."""
    existing = existing or {}
    old_columns = {str(c.get("name")): c for c in existing.get("columns") or [] if isinstance(c, dict)}
    columns = []
    for fact in facts:
        old = old_columns.get(fact.name, {})
        kept: list[TestSpec] = list(old.get("data_tests") or old.get("tests") or [])
        tests = merge_column_tests(kept, generated_tests(fact)) if add_tests else kept
        doc = ColumnDoc(
            fact.name,
            str(old.get("description") or column_description(fact, entity)),
            tuple(tests),
            test_reasons=generated_test_reasons(fact) if add_tests else {},
        )
        columns.append(_merged_column(old, column_entry(doc)))
    extra = {k: v for k, v in existing.items() if k not in {"name", "description", "columns"}}
    entry = resource_entry(name, str(existing.get("description") or "").strip() or description, extra=extra)
    entry["columns"] = columns
    return entry


def write_model(
    view: ProjectView,
    request: ModelRequest,
    sql: str,
    *,
    description: str,
    facts: Sequence[ColumnFacts],
    entity: str,
) -> ModelFiles:
    """Record the model's SQL and its YAML entry (see ``documented_entry`` for what is kept)."""
    changeset = view.tools.changeset
    files = model_files(view, request.name, request.model_type, source_name=request.source_name)
    changeset.write_file(view.paths, files.sql, sql)
    existing = view.existing_entry(changeset, files.yml, "models", request.name)
    entry = documented_entry(existing, request.name, description, facts, entity)
    if request.description:
        entry["description"] = request.description
    view.write_entry(changeset, files.yml, "models", entry)
    return files


#: dbt var that widens the incremental filter's window; "0 days" turns the lookback off
LOOKBACK_VAR = "ae_incremental_lookback"
#: rows can land after newer ones were loaded (a loader retried, a clock behind): re-reading one day
#: before the newest loaded row catches them, and the merge on the unique key absorbs the re-read rows
DEFAULT_LOOKBACK = "1 day"
# what a source's or model's documentation says when its rows change after they are first written
_EDITED_IN_PLACE = re.compile(
    r"\b(?:edited|updated|changed|modified|overwritten)\s+in\s+place\b", re.IGNORECASE
)


def mutable_because(profile: RelationProfile, documentation: str) -> str | None:
    """Why rows of the base change after they are first loaded, or None when nothing says they do.

    ``documentation`` is what the base's docs say about it (source or model description). A column
    named like a last-change time (updated_at, the one the incremental filter keys on when there is
    one) is evidence too: a table whose rows never change has no use for one.
    """
    said = _EDITED_IN_PLACE.search(documentation)
    if said:
        return f"its documentation says rows are {said.group(0).lower()}"
    if profile.updated_at_candidates:
        return (
            f"it has a last-change time ({profile.updated_at_candidates[0]}), which only a table whose "
            "rows change needs"
        )
    return None


def incremental_filter(
    profile: RelationProfile,
    renamed: dict[str, str],
    request: ModelRequest,
    *,
    unique_key: str | None = None,
    documentation: str = "",
) -> IncrementalFilter:
    """The new-rows filter of ``request``'s model on the base's last-change time (or event time)
    found in the data.

    ``renamed`` maps the base relation's column names to the model's output names; ``unique_key``
    is the model's key (output name). Append on a base whose rows change is refused: an updated row
    would be appended as a second copy and the table would drift from its full refresh.
    """
    strategy = request.strategy
    where = profile.relation.qualified_name
    changing = mutable_because(profile, documentation)
    if strategy == "append" and changing is not None:
        raise InvalidArguments(
            f"--strategy append cannot keep up with {where}: {changing}, so an updated row would be "
            "appended again as a second copy and the model would drift from its full refresh",
            hint=f"use --strategy merge --unique-key {unique_key or '<key>'} (or delete+insert), "
            "which replaces the old version of a re-read row",
        )
    candidates = profile.updated_at_candidates or profile.timestamp_columns
    if not candidates:
        raise InvalidArguments(
            f"{where} has no timestamp column, so an incremental model cannot tell new rows from old ones",
            # /incremental-model has no --materialization: the command that builds a table is named
            hint=f"build it as a table (/dbt-model --name {request.name} --type {request.model_type} "
            "--materialization table), or add an updated_at column upstream",
        )
    column = candidates[0]
    this_column = renamed.get(column, column)
    kind = "last-change time" if profile.updated_at_candidates else "event time"
    if strategy == "append":
        return IncrementalFilter(
            column=column,
            this_column=this_column,
            operator=">",
            reason=f"on incremental runs append only rows whose {kind} ({column}) is after the newest "
            "already loaded; nothing documents edits in place, and a row arriving later than a newer "
            "one would be missed (use merge if that can happen)",
        )
    return IncrementalFilter(
        column=column,
        this_column=this_column,
        lookback=f"'{{{{ var('{LOOKBACK_VAR}', '{DEFAULT_LOOKBACK}') }}}}'",
        operator=">=",
        reason=f"on incremental runs re-read rows whose {kind} ({column}) is within the lookback "
        f"(var {LOOKBACK_VAR}, default {DEFAULT_LOOKBACK}) of the newest already loaded, so rows that "
        f"land late are not missed; re-read rows replace their old versions by unique_key ({strategy})",
    )


def partition_choice(
    partition: str | None, output_columns: Sequence[str], event_time: str | None
) -> tuple[str | None, tuple[str, str, str] | None]:
    """(partition column, derived column (expression, alias, grain) to add for a time grain)."""
    if partition is None:
        return None, None
    if partition in output_columns:
        return partition, None
    grain = _TIME_GRAINS.get(partition.lower())
    if grain is not None and event_time is not None:
        stem = event_time.removesuffix("_at")
        alias = f"{stem}_{grain}"
        expression = (
            f"cast({event_time} as date)" if grain == "date" else f"date_trunc('{grain}', {event_time})"
        )
        return alias, (expression, alias, grain)
    raise InvalidArguments(
        f"cannot partition by {partition!r}: it is not an output column"
        + (f" and there is no timestamp to take its {partition}" if grain else ""),
        hint=f"name an output column ({', '.join(output_columns)}) or a grain: date, month, year",
    )


def choose_key(profile: RelationProfile, requested: str | None, renamed: dict[str, str]) -> str:
    """The base relation's column that keys the model: the requested one if the data proves it, else
    the best key candidate. ``renamed`` maps relation columns to output names (requests use either)."""
    candidates = ", ".join(renamed.get(c, c) for c in profile.key_candidates) or "none"
    where = profile.relation.qualified_name
    if requested is None:
        if not profile.key_candidates:
            raise InvalidArguments(
                f"no column of {where} is unique and never null, so the model has no key to test or merge on",
                hint="add a key upstream (a surrogate key over the grain columns)",
            )
        return profile.key_candidates[0]
    by_output = {out: raw for raw, out in renamed.items()}
    raw = by_output.get(requested, requested if requested in renamed else None)
    column = next((c for c in profile.columns if c.name == raw), None)
    if column is None:
        raise InvalidArguments(
            f"--unique-key {requested!r} is not a column of {where}",
            hint=f"key candidates in the data: {candidates}",
        )
    if not column.is_unique:
        raise InvalidArguments(
            f"--unique-key {requested!r} does not identify rows of {where}: "
            f"{column.distinct} distinct values "
            f"and {column.nulls} nulls in {column.rows} rows",
            hint=f"key candidates in the data: {candidates}",
        )
    return column.name
