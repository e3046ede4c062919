"""/dbt-snapshot: an SCD type 2 snapshot (dbt >= 1.9 YAML definition), strategy chosen from the data."""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.commands.column_facts import facts_from_profile, is_timestamp_type
from agent.commands.descriptions import column_description
from agent.commands.model_files import choose_key
from agent.commands.naming import is_identifier
from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from graph.plan_spec import Operation, PlanSpec
from tools.codegen import ColumnDoc, SnapshotSpec, dump_yaml, snapshot_entry
from tools.errors import InvalidArguments
from tools.layers import bare_name, entity_of
from tools.manifest import Node, close_matches
from tools.profiling import RelationProfile
from tools.yaml_edit import apply_test_style

_META_COLUMNS = (
    ("dbt_scd_id", "Unique id of this version of the row (dbt snapshot metadata)."),
    ("dbt_updated_at", "The change time dbt recorded for this version (dbt snapshot metadata)."),
    ("dbt_valid_from", "When this version became current (dbt snapshot metadata)."),
    (
        "dbt_valid_to",
        "When this version was replaced; null while it is the current one (dbt snapshot metadata).",
    ),
)


_SNAPSHOT_INPUT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$")


def _built_in_schema(nodes: Iterable[Node], schema: str, table: str) -> Node | None:
    """The seed or model whose relation is ``schema.table`` (its alias, else its name)."""
    return next(
        (
            n
            for n in nodes
            if (n.schema or "").lower() == schema.lower() and (n.alias or n.name).lower() == table.lower()
        ),
        None,
    )


def _snapshot_input(view: ProjectView, given: str) -> tuple[Node, str]:
    """The node to snapshot and how the snapshot YAML names it (``source(...)`` or ``ref(...)``).

    ``given`` is a declared source table (``source_name.table``, or ``schema.table`` of its
    relation), a seed or a model (its name, or ``schema.table`` of its relation), nothing else: a name
    that is not one (``raw.customers; drop table prod.fct_orders``) is refused, never read as its last
    part (J2). A table the project does not declare is refused naming the /dbt-source that declares it:
    a snapshot reads what dbt knows, never a hard-coded relation."""
    if not _SNAPSHOT_INPUT.match(given):
        raise InvalidArguments(
            f"--source-table {given!r} is not a table name",
            hint="give source_name.table, schema.table, or a model's or seed's name (letters, digits and _)",
        )
    schema, _, table = given.rpartition(".")
    built = [*view.seeds.values(), *view.models.values()]
    if schema:
        by_source_name = view.source_table(schema, table)
        by_schema = [s for s in view.sources_named(table) if (s.schema or "").lower() == schema.lower()]
        source = by_source_name or (by_schema[0] if len(by_schema) == 1 else None)
        if source is not None:
            return source, f"source('{source.source_name}', '{source.name}')"
        node = _built_in_schema(built, schema, table)
    else:
        node = view.models.get(table) or view.seeds.get(table)
    if node is not None:
        return node, f"ref('{node.name}')"
    known = sorted({s.label for s in view.sources} | set(view.models) | set(view.seeds))
    raise InvalidArguments(
        f"--source-table {given!r} is neither a declared source table, a seed nor a model"
        f"{close_matches(given, known)}",
        hint=f"declare it first: /dbt-source --schema {schema or '<schema>'} --table {table}",
    )


def _column_names(profile: RelationProfile) -> list[str]:
    return [c.name for c in profile.columns]


def _timestamp_column(profile: RelationProfile, requested: str | None) -> str:
    if requested is None:
        if not profile.updated_at_candidates:
            raise InvalidArguments(
                f"{profile.relation.qualified_name} has no updated_at-like timestamp "
                "for the timestamp strategy",
                hint="use --strategy check, or name the column with --updated-at",
            )
        return profile.updated_at_candidates[0]
    column = next((c for c in profile.columns if c.name == requested), None)
    if column is None or not is_timestamp_type(column.type):
        timestamps = ", ".join(profile.timestamp_columns) or "none"
        raise InvalidArguments(
            f"--updated-at {requested!r} is not a timestamp column of {profile.relation.qualified_name}",
            hint=f"timestamp columns: {timestamps}",
        )
    return requested


def _check_columns(profile: RelationProfile, requested: list[str], key: str) -> tuple[str, ...]:
    names = _column_names(profile)
    if requested:
        unknown = [c for c in requested if c not in names]
        if unknown:
            raise InvalidArguments(
                f"--check-cols names columns {profile.relation.name} does not have: {', '.join(unknown)}",
                hint=f"columns: {', '.join(names)}",
            )
        return tuple(requested)
    return tuple(c for c in names if c != key)


def _snapshot_name(given: str | None, node: Node, view: ProjectView) -> str:
    """``--name``, else ``<table>_snapshot`` without the input's layer prefix: dbt-project-evaluator
    types a node by its name's prefix, so ``stg_customers_snapshot`` would count as a staging model
    built on staging (fct_staging_dependent_on_staging). A name another input's snapshot has is
    refused: re-planning it would overwrite that snapshot's definition."""
    name = given or f"{bare_name(node.name)}_snapshot"
    if not is_identifier(name):
        raise InvalidArguments(f"snapshot name {name!r} must be lower case letters, digits and _")
    if name in view.models or name in view.seeds:
        raise InvalidArguments(f"{name!r} already names a model or seed", hint="choose another --name")
    existing = view.snapshots.get(name)
    if existing is not None and node.unique_id not in existing.depends_on:
        raise InvalidArguments(
            f"snapshot {name} ({existing.original_file_path}) already records another relation",
            hint="choose another --name",
        )
    return name


def _column_docs(node: Node, profile: RelationProfile, key: str, entity: str) -> list[ColumnDoc]:
    """The snapshot's columns (the input's, described as documented or from the data) and dbt's own."""
    described = {name: documented.description for name, documented in node.columns.items()}
    columns = [
        ColumnDoc(
            column.name,
            column_description(
                facts_from_profile(column, description=described.get(column.name) or None),
                entity,
            ),
            ("not_null",) if column.name == key else (),
        )
        for column in profile.columns
    ]
    return columns + [
        ColumnDoc(meta, text, ("unique", "not_null") if meta == "dbt_scd_id" else ())
        for meta, text in _META_COLUMNS
    ]


def dbt_snapshot(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    node, relation_expr = _snapshot_input(view, cmd.required_text("source-table"))
    table = node.name
    if not view.is_built(node):
        raise InvalidArguments(
            f"{table} does not exist in the warehouse yet", hint=f"build it first: /dbt-run --select {table}"
        )
    profile = view.profile(view.relation_of(node))
    key = choose_key(profile, cmd.text("unique-key"), {c: c for c in _column_names(profile)})
    strategy = cmd.text("strategy") or (
        "timestamp" if profile.updated_at_candidates or cmd.text("updated-at") else "check"
    )
    name = _snapshot_name(cmd.text("name"), node, view)
    entity = entity_of(table)
    columns = _column_docs(node, profile, key, entity)
    updated_at = _timestamp_column(profile, cmd.text("updated-at")) if strategy == "timestamp" else None
    check_cols = _check_columns(profile, cmd.items("check-cols"), key) if strategy == "check" else ()
    change = f"when {updated_at} moves" if updated_at else f"when any of {', '.join(check_cols)} changes"
    spec = SnapshotSpec(
        name=name,
        relation=relation_expr,
        description=(
            f"SCD type 2 history of {table}: one row per version of each {entity} (key {key}); a new version "
            f"starts {change}."
        ),
        unique_key=key,
        strategy="timestamp" if strategy == "timestamp" else "check",
        updated_at=updated_at,
        check_cols=check_cols,
        columns=tuple(columns),
    )
    existing = view.snapshots.get(name)
    path = existing.original_file_path if existing else f"snapshots/{name}.yml"
    if not path.endswith((".yml", ".yaml")):
        raise InvalidArguments(
            f"snapshot {name} exists as SQL in {path}", hint="edit it there, or pick another --name"
        )
    # the project's test style (`tests:` or `data_tests:`), as every other YAML ae writes there
    entry = apply_test_style(snapshot_entry(spec), view.test_style)
    view.tools.changeset.write_file(view.paths, path, dump_yaml({"snapshots": [entry]}))
    why = (
        f"{updated_at} is the last-change time found in the data"
        if strategy == "timestamp"
        else "no last-change timestamp to rely on, so rows are compared column by column"
    )
    return PlanSpec(
        summary=f"create snapshot {name} of {table} ({strategy} strategy)",
        operations=[Operation(command="snapshot", select=[name])],
        verify_select=[name],
        answer=f"{name}: snapshot of {relation_expr} keyed by {key} (unique in the data), "
        f"{strategy} strategy: "
        f"{why}. File: {path}. Each `dbt snapshot` run records changed rows as new versions.",
    )
