"""Staging models: one raw table (a source table or a seed), every column listed, renamed and cast,
no joins."""

from __future__ import annotations

import re
from dataclasses import replace

from agent.commands.column_facts import facts_from_profile
from agent.commands.model_files import ModelRequest, choose_key, incremental_filter, write_model
from agent.commands.naming import plural, quote_if_needed, staging_column_name
from agent.commands.project import ProjectView
from tools.codegen import RawInput, SelectColumn, staging_sql
from tools.errors import InvalidArguments
from tools.layers import bare_name, entity_of
from tools.manifest import Node, close_matches


def _sql_type(warehouse_type: str) -> str:
    """The type as the house style writes it: lower case, a space after each comma (decimal(5, 4))."""
    return re.sub(r",\s*", ", ", warehouse_type.lower())


def _raw_input(node: Node) -> RawInput:
    if node.resource_type == "seed":
        return RawInput(node.name)
    return RawInput(node.name, node.source_name)


def _declared(view: ProjectView) -> list[str]:
    return sorted(s.label for s in view.sources) + sorted(view.seeds)


def _raw_node(view: ProjectView, request: ModelRequest) -> Node:
    """The source table or seed the staging model reads: the one named by --source, else the one
    whose name matches the model's (stg_orders: a source table orders, or a seed raw_orders)."""
    declared = _declared(view)
    listed = f"sources and seeds: {', '.join(declared) or 'none'}"
    if request.source is not None:
        source_name, dot, table = request.source.partition(".")
        node = view.source_table(source_name, table) if dot else view.seeds.get(request.source)
        if node is None:
            raise InvalidArguments(
                f"--source {request.source!r} is neither a declared source table (source.table) nor a seed"
                f"{close_matches(request.source, declared)}",
                hint=f"{listed}; declare a source with /dbt-source or load a seed with /dbt-seed",
            )
        return node
    table = bare_name(request.name)
    names = {table, plural(table)}
    found = [*view.sources_named(table), *view.sources_named(plural(table))]
    found += [view.seeds[n] for n in sorted(view.seeds) if n in names | {f"raw_{n}" for n in names}]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise InvalidArguments(
            f"several raw tables could be {table!r}: {', '.join(_raw_input(n).label for n in found)}",
            hint="pick one with --source (source.table, or a seed's name)",
        )
    raise InvalidArguments(
        f"no declared source table or seed named {table!r} to stage as {request.name}"
        f"{close_matches(table, declared)}",
        hint=f"pass --source (source.table or a seed); {listed}",
    )


def with_raw_source(view: ProjectView, request: ModelRequest) -> ModelRequest:
    """The request naming the raw table it stages (``source.table`` or a seed), found when not given,
    so its folder (one per source) is known before anything is decided from it."""
    reads = _raw_input(_raw_node(view, request))
    return replace(request, source=reads.name if reads.source is None else f"{reads.source}.{reads.name}")


def plan_staging(view: ProjectView, request: ModelRequest) -> list[str]:
    source = _raw_node(view, request)
    reads = _raw_input(source)
    if not view.is_built(source):
        load = f"; load it first: /dbt-run --select {reads.name}" if reads.source is None else ""
        raise InvalidArguments(
            f"{reads.label} ({source.relation_name}) does not exist in the warehouse{load}"
        )
    profile = view.profile(view.relation_of(source))
    entity = entity_of(reads.name)
    taken = {c.name.lower() for c in profile.columns}
    renamed = {c.name: staging_column_name(c.name, entity, c.type, taken) for c in profile.columns}
    key = choose_key(profile, request.unique_key, renamed)
    select = [
        SelectColumn(f"cast({quote_if_needed(c.name)} as {_sql_type(c.type)})", renamed[c.name])
        for c in profile.columns
    ]
    described = {name: column.description for name, column in source.columns.items()}
    facts = [
        facts_from_profile(
            column,
            name=renamed[column.name],
            is_key=column.name == key,
            description=described.get(column.name) or None,
        )
        for column in profile.columns
    ]
    answer = [
        f"{request.name}: staging over {reads.label} ({profile.row_count} rows), "
        f"{len(select)} columns listed and cast, no joins; "
        f"key {renamed[key]} (unique and not null in the data)."
    ]
    renames = [f"{old} -> {new}" for old, new in renamed.items() if old != new]
    if renames:
        answer.append(f"renamed: {', '.join(renames)}")
    incremental = None
    config = request.config()
    source_text = source.description.strip()
    if request.materialization == "incremental":
        incremental = incremental_filter(
            profile, renamed, request, unique_key=renamed[key], documentation=source_text
        )
        config = request.config(unique_key=renamed[key], incremental_strategy=request.strategy)
        answer.append(f"incremental: unique_key {renamed[key]}, {request.strategy}; {incremental.reason}")
    sql = staging_sql(reads, select, config, incremental)
    description = (
        f"Staging model for {reads.label}: one row per {entity} (key {renamed[key]}), columns "
        f"renamed and cast, no joins." + (f" Source: {source_text}" if source_text else "")
    )
    files = write_model(view, request, sql, description=description, facts=facts, entity=entity)
    answer.append(f"files: {files.sql}, {files.yml}")
    return answer
