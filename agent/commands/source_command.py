"""/dbt-source: declare warehouse tables as a dbt source (one, a list, or a whole schema), with freshness.

The sources YAML is read and rewritten (other sources and tables are kept). ``loaded_at_field`` and
``freshness`` go under ``config:``, where dbt 1.10+ expects them. Asked for freshness, every table
gets a verdict: a rule on its load-time column, or, when it has none, ``freshness: null`` with the
reason in ``meta`` (dbt-project-evaluator's fct_sources_without_freshness asks for one or the other).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import yaml

from agent.commands.column_facts import facts_from_profile, is_timestamp_type
from agent.commands.descriptions import column_description
from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from graph.plan_spec import Operation, PlanSpec
from tools.errors import InvalidArguments
from tools.layers import entity_of
from tools.manifest import close_matches
from tools.profiling import RelationProfile

#: the source table's meta key saying why it has no freshness rule (``freshness: null``)
FRESHNESS_REASON_KEY = "freshness_reason"
NO_LOAD_TIMESTAMP = (
    "no load timestamp: no column records when a row was loaded or last changed, so dbt cannot tell "
    "how old the data is; name one with /dbt-source --loaded-at-field <column>"
)
_PERIODS = ("minute", "hour", "day")
_FRESHNESS_EXAMPLE = '"warn_after: {count: 12, period: hour}, error_after: {count: 1, period: day}"'


def parse_freshness(text: str) -> dict[str, dict[str, Any]]:
    """``warn_after: {count: 12, period: hour}[, error_after: {...}]`` as dbt's freshness mapping."""
    body = text.strip()
    try:
        value = yaml.safe_load(body if body.startswith("{") else "{" + body + "}")
    except yaml.YAMLError:
        value = None
    if not isinstance(value, dict) or not value:
        raise InvalidArguments(
            f"--freshness {text!r} is not readable", hint=f"e.g. --freshness {_FRESHNESS_EXAMPLE}"
        )
    unknown = sorted(set(value) - {"warn_after", "error_after"})
    if unknown:
        raise InvalidArguments(
            f"--freshness has unknown keys {', '.join(unknown)}; use warn_after and/or error_after",
            hint=f"e.g. --freshness {_FRESHNESS_EXAMPLE}",
        )
    checked: dict[str, dict[str, Any]] = {}
    for level, rule in value.items():
        count = rule.get("count") if isinstance(rule, dict) else None
        period = rule.get("period") if isinstance(rule, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            raise InvalidArguments(
                f"--freshness {level}: count must be a positive whole number, got {count!r}"
            )
        if period not in _PERIODS:
            raise InvalidArguments(
                f"--freshness {level}: period must be one of {', '.join(_PERIODS)}, got {period!r}"
            )
        checked[str(level)] = {"count": count, "period": period}
    return checked


def _source_name(view: ProjectView, cmd: ParsedCommand, schema: str) -> str:
    given = cmd.text("source-name")
    declaring = sorted(
        {str(s.source_name) for s in view.sources if (s.schema or "").lower() == schema.lower()}
    )
    if given is not None:
        return given
    if len(declaring) > 1:
        raise InvalidArguments(
            f"sources {', '.join(declaring)} all read schema {schema}", hint="pick one with --source-name"
        )
    return declaring[0] if declaring else schema


def _tables(view: ProjectView, cmd: ParsedCommand, schema: str, database: str | None) -> list[str]:
    present = sorted(r.name for r in view.relations_in_schema(schema, database))
    if not present:
        where = f"schema {schema!r}" + (f" of database {database!r}" if database else "")
        raise InvalidArguments(
            f"{where} has no tables in the warehouse{close_matches(schema, view.schemas())}",
            hint=f"schemas with tables: {', '.join(view.schemas()) or 'none'}",
        )
    given = cmd.required_text("table")
    if given.strip() == "*":
        return present
    wanted = [t.strip() for t in given.split(",") if t.strip()]
    by_lower = {name.lower(): name for name in present}
    missing = [t for t in wanted if t.lower() not in by_lower]
    if missing:
        named = "; ".join(f"{t}{close_matches(t, present)}" for t in missing)
        raise InvalidArguments(
            f"schema {schema} has no table {named}",
            hint=f"its tables: {', '.join(present)}",
        )
    return [by_lower[t.lower()] for t in wanted]


def _new_table(name: str, profile: RelationProfile) -> dict[str, Any]:
    entity = entity_of(name)
    key = profile.key_candidates[0] if profile.key_candidates else None
    keyed = f" (key {key})" if key else ""
    columns = [
        {
            "name": c.name,
            "description": column_description(facts_from_profile(c, is_key=c.name == key), entity),
        }
        for c in profile.columns
    ]
    return {"name": name, "description": f"Raw {name}: one row per {entity}{keyed}.", "columns": columns}


def _loaded_at_field(profile: RelationProfile, requested: str | None, where: str) -> str | None:
    """The requested load-time column (checked), else the data's updated_at-like one, else None."""
    if requested is None:
        return profile.updated_at_candidates[0] if profile.updated_at_candidates else None
    column = next((c for c in profile.columns if c.name == requested), None)
    if column is None or not is_timestamp_type(column.type):
        raise InvalidArguments(
            f"--loaded-at-field {requested!r} is not a timestamp column of {where}",
            hint=f"timestamp columns: {', '.join(profile.timestamp_columns) or 'none'}",
        )
    return requested


def _declare(
    entries: list[dict[str, Any]],
    table: str,
    profile: RelationProfile,
    *,
    loaded_at: str | None,
    freshness: dict[str, dict[str, Any]] | None,
    explicit_loaded_at: bool,
) -> bool:
    """Add or update the table's entry; True when it now has a freshness rule."""
    entry = next((t for t in entries if t.get("name") == table), None)
    is_new = entry is None
    if entry is None:
        entry = _new_table(table, profile)
        entries.append(entry)
    config = dict(entry.get("config") or {})
    for moved in ("loaded_at_field", "freshness"):  # the pre-1.10 spelling; dbt now reads config
        if moved in entry:
            config.setdefault(moved, entry.pop(moved))
    # an existing entry only changes where the command asked for something
    if loaded_at is not None and (is_new or explicit_loaded_at or freshness is not None):
        config["loaded_at_field"] = loaded_at
    checked = freshness is not None and loaded_at is not None
    if checked:
        config["freshness"] = freshness
    elif freshness is not None and not config.keys() & {"freshness", "loaded_at_field", "loaded_at_query"}:
        # asked for freshness, but nothing says when rows arrive: say so instead of staying silent
        config["freshness"] = None
        config["meta"] = {**(config.get("meta") or {}), FRESHNESS_REASON_KEY: NO_LOAD_TIMESTAMP}
    if config:
        first = ("name", "description", "config")  # the conventional order; columns last
        reordered = {k: entry[k] for k in first if k in entry} | {"config": config}
        reordered |= {k: v for k, v in entry.items() if k not in first}
        entry.clear()
        entry.update(reordered)
    return checked


def _new_source_file(view: ProjectView, source_name: str) -> str:
    """Where a source the project does not declare yet goes: the one file that holds all of the
    project's sources, if it keeps them together; else beside the source's staging models, in their
    folder (``models/staging/<source>/_<source>__sources.yml``, which dbt-project-evaluator's
    fct_source_directories asks for; ``_sources.yml`` in a project's one shared staging folder)."""
    own = [s for s in view.sources if not s.is_package]
    files = {s.original_file_path for s in own}
    if len(files) == 1:
        (only,) = files
        if not any(s.source_name and s.source_name in PurePosixPath(only).parent.parts for s in own):
            return only
    folder = view.conventions.staging_folder_for(source_name)
    if PurePosixPath(folder).name == source_name:
        return f"{folder}/_{source_name}__sources.yml"
    return f"{folder}/_sources.yml"


def _new_source(name: str, schema: str, database: str | None, default_database: str) -> dict[str, Any]:
    source = {"name": name, "description": f"Tables of warehouse schema {schema}.", "schema": schema}
    if database and database.lower() != default_database.lower():
        source["database"] = database
    return source


def dbt_source(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    schema = cmd.required_text("schema")
    database = cmd.text("database")
    given_freshness = cmd.text("freshness")
    freshness = parse_freshness(given_freshness) if given_freshness else None
    tables = _tables(view, cmd, schema, database)
    source_name = _source_name(view, cmd, schema)
    # the project's own declaration: a package's YAML is never edited
    declared = next((s for s in view.sources if s.source_name == source_name and not s.is_package), None)
    if declared is not None and (declared.schema or "").lower() != schema.lower():
        raise InvalidArguments(
            f"source {source_name!r} already reads schema {declared.schema}, not {schema}",
            hint="pick another --source-name",
        )
    path = declared.original_file_path if declared else _new_source_file(view, source_name)
    changeset = view.tools.changeset
    source = view.existing_entry(changeset, path, "sources", source_name) or _new_source(
        source_name, schema, database, view.default_database
    )
    entries = [dict(t) for t in source.get("tables") or []]
    requested = cmd.text("loaded-at-field")
    checked: list[str] = []
    for table in tables:
        profile = view.profile(f"{database or view.default_database}.{schema}.{table}")
        loaded_at = _loaded_at_field(profile, requested, f"{schema}.{table}")
        explicit = requested is not None
        if _declare(
            entries, table, profile, loaded_at=loaded_at, freshness=freshness, explicit_loaded_at=explicit
        ):
            checked.append(table)
    view.write_entry(changeset, path, "sources", {**source, "tables": entries})
    answer = [
        f"declared {len(tables)} table(s) of {schema} as source {source_name} in {path}: {', '.join(tables)}"
    ]
    if checked:
        answer.append(f"freshness ({', '.join(freshness or {})}) on {', '.join(checked)}")
    unchecked = [t for t in tables if t not in checked]
    if freshness is not None and unchecked:
        answer.append(
            f"no freshness for {', '.join(unchecked)}: no load or update timestamp column in the data "
            f"(freshness: null, why in meta.{FRESHNESS_REASON_KEY}; pass --loaded-at-field to name one)"
        )
    operations = [
        Operation(command="source freshness", select=[f"source:{source_name}.{t}" for t in checked])
    ]
    return PlanSpec(
        summary=f"declare source {source_name} ({len(tables)} table(s))",
        operations=operations if checked else [],
        verify_select=[],
        answer="\n".join(answer),
    )
