"""Staging models: one source table, every column listed, renamed and cast, no joins."""

from __future__ import annotations

from agent.commands.column_facts import facts_from_profile
from agent.commands.model_files import ModelRequest, choose_key, incremental_filter, write_model
from agent.commands.naming import bare_name, entity_of, plural, quote_if_needed, staging_column_name
from agent.commands.project import Node, ProjectView, close_matches
from tools.codegen import ModelConfig, SelectColumn, staging_sql
from tools.errors import InvalidArguments


def _source_node(view: ProjectView, request: ModelRequest) -> Node:
    declared = sorted(f"{s['source_name']}.{s['name']}" for s in view.sources)
    if request.source is not None:
        source_name, dot, table = request.source.partition(".")
        node = view.source_table(source_name, table) if dot else None
        if node is None:
            raise InvalidArguments(
                f"--source {request.source!r} is not a declared source table"
                f"{close_matches(request.source, declared)}",
                hint=f"declared: {', '.join(declared) or 'none'}; declare more with /dbt-source",
            )
        return node
    table = bare_name(request.name)
    found = view.sources_named(table) or view.sources_named(plural(table))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        names = ", ".join(f"{s['source_name']}.{s['name']}" for s in found)
        raise InvalidArguments(
            f"several sources have a table {table!r} ({names})", hint="pick one with --source"
        )
    raise InvalidArguments(
        f"no declared source has a table {table!r} to stage as {request.name}"
        f"{close_matches(table, declared)}",
        hint=f"pass --source source_name.table, or declare it: /dbt-source --schema <schema> --table {table}",
    )


def plan_staging(view: ProjectView, request: ModelRequest) -> list[str]:
    source = _source_node(view, request)
    source_name, table = str(source["source_name"]), str(source["name"])
    if not view.is_built(source):
        raise InvalidArguments(
            f"source table {source_name}.{table} ({source.get('relation_name')}) "
            "does not exist in the warehouse"
        )
    profile = view.profile(view.relation_of(source))
    entity = entity_of(table)
    taken = {c.name.lower() for c in profile.columns}
    renamed = {c.name: staging_column_name(c.name, entity, c.type, taken) for c in profile.columns}
    key = choose_key(profile, request.unique_key, renamed)
    select = [
        SelectColumn(f"cast({quote_if_needed(c.name)} as {c.type.lower()})", renamed[c.name])
        for c in profile.columns
    ]
    described = source.get("columns") or {}
    facts = [
        facts_from_profile(
            column,
            name=renamed[column.name],
            is_key=column.name == key,
            description=(described.get(column.name) or {}).get("description") or None,
        )
        for column in profile.columns
    ]
    answer = [
        f"{request.name}: staging over source {source_name}.{table} ({profile.row_count} rows), "
        f"{len(select)} columns listed and cast, no joins; "
        f"key {renamed[key]} (unique and not null in the data)."
    ]
    renames = [f"{old} -> {new}" for old, new in renamed.items() if old != new]
    if renames:
        answer.append(f"renamed: {', '.join(renames)}")
    incremental = None
    config = ModelConfig(materialized=request.materialization)
    if request.materialization == "incremental":
        incremental = incremental_filter(profile, renamed, request.strategy)
        config = ModelConfig(
            materialized="incremental", unique_key=renamed[key], incremental_strategy=request.strategy
        )
        answer.append(
            f"incremental: unique_key {renamed[key]}, {request.strategy}, new rows by {incremental.column}"
        )
    sql = staging_sql(source_name, table, select, config, incremental)
    source_text = str(source.get("description") or "").strip()
    description = (
        f"Staging model for source {source_name}.{table}: one row per {entity} (key {renamed[key]}), columns "
        f"renamed and cast, no joins." + (f" Source: {source_text}" if source_text else "")
    )
    files = write_model(view, request, sql, description=description, facts=facts, entity=entity)
    answer.append(f"files: {files.sql}, {files.yml}")
    return answer
