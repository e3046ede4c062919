"""The audit location on a warehouse that is a server (PostgreSQL): schemas of the run's own.

A run's audit target is the user's target with its schema renamed (``<schema>__ae_<run>``), so dbt
builds every selected model, seed and snapshot under the audit schema and its ``_<custom>`` siblings
(``generate_schema_name``), and reads every parent it does not build from the warehouse itself,
through ``--defer`` to the manifest of the live target. Incremental models and snapshots about to
be built are copied in first: an incremental run reads its own table (``{{ this }}``).

A project whose ``generate_schema_name`` ignores the target's schema would build in the live schema
here too; ``overlapping`` finds those nodes before anything is built, and the run builds straight in
the warehouse instead (and says so).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tools.engine import DbtEngine
from tools.engine.scratch import write_target_profile
from tools.manifest import MANIFEST_FILE, Manifest, target_dir
from tools.warehouse_port import Warehouse
from tools.warehouse_port.models import RelationName
from tools.warehouse_port.port import parse_relation_name

#: adapters whose relations ae can move between schemas in one transaction (Dialect.move_sql)
SCHEMA_AUDITS = frozenset({"postgres"})
#: where dbt's --defer finds the live target's manifest, in the audit folder
STATE_FOLDER = "state"


def audit_schema_name(schema: str, run_id: str) -> str:
    """The audit schema of run ``run_id`` beside the target's ``schema``: 63 characters at most."""
    return f"{schema[:40]}__ae_{run_id.rsplit('-', 1)[-1][:12]}"


@dataclass(frozen=True)
class SchemaAudit:
    """The engine's dbt process on the audit target, deferring to the live manifest."""

    engine: DbtEngine
    folder: Path
    schema: str


def open_schema_audit(engine: DbtEngine, folder: Path, schema: str) -> SchemaAudit:
    """Write the audit target's profile and the live manifest (for --defer) into ``folder``."""
    state = folder / STATE_FOLDER
    state.mkdir(parents=True, exist_ok=True)
    shutil.copy2(target_dir(engine.project_dir, engine.target_path) / MANIFEST_FILE, state / MANIFEST_FILE)
    write_target_profile(engine, folder, schema=schema)
    return reopen_schema_audit(engine, folder, schema)


def reopen_schema_audit(engine: DbtEngine, folder: Path, schema: str) -> SchemaAudit:
    audit = engine.pointed_at(folder, str(folder / "target"), defer_to=folder / STATE_FOLDER)
    return SchemaAudit(engine=audit, folder=folder, schema=schema)


@dataclass(frozen=True)
class Counterpart:
    """A node the run builds: where it is in the warehouse, and where the audit builds it."""

    unique_id: str
    live: str
    audit: str
    materialized: str


def counterparts(live: Manifest, audit: Manifest, unique_ids: list[str]) -> list[Counterpart]:
    """The selected nodes that have a relation in both manifests, in the order given."""
    found = []
    for uid in unique_ids:
        mine, theirs = audit.nodes.get(uid), live.nodes.get(uid)
        if mine is None or theirs is None or not mine.relation_name or not theirs.relation_name:
            continue
        found.append(
            Counterpart(uid, theirs.relation_name, mine.relation_name, mine.config.materialized or "")
        )
    return found


def overlapping(pairs: list[Counterpart]) -> list[str]:
    """Nodes the audit target would build where the live one does (a schema macro ignoring it)."""
    return [p.unique_id.rsplit(".", 1)[-1] for p in pairs if p.live.lower() == p.audit.lower()]


def carry_in(warehouse: Warehouse, pairs: list[Counterpart]) -> list[str]:
    """Copy the live table of each incremental model and snapshot into the audit; the ones copied."""
    copied = []
    live = {r.qualified_name.lower(): r for r in warehouse.list_relations()}
    for pair in pairs:
        if pair.materialized not in {"incremental", "snapshot"}:
            continue
        database, schema, name = parse_relation_name(pair.live, warehouse.dialect.sqlglot)
        key = f"{database or warehouse.current_database()}.{schema}.{name}".lower()
        if key not in live:
            continue
        _, audit_schema, audit_name = parse_relation_name(pair.audit, warehouse.dialect.sqlglot)
        warehouse.create_schema(str(audit_schema))
        warehouse.copy_relation(
            live[key], RelationName(schema_name=str(audit_schema), name=audit_name), as_table=True
        )
        copied.append(pair.unique_id.rsplit(".", 1)[-1])
    return copied


def drop_audit_schemas(warehouse: Warehouse, schema: str) -> list[str]:
    """Drop the audit schema and its ``<schema>_<custom>`` siblings with what is left in them."""
    literal = warehouse.dialect.literal(schema)
    rows = warehouse.read(
        [
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = "
            f"{literal} OR left(schema_name, {len(schema) + 1}) = {warehouse.dialect.literal(schema + '_')}"
        ]
    )[0].rows
    names = [str(name) for (name,) in rows]
    if names:
        warehouse.execute([f"DROP SCHEMA IF EXISTS {warehouse.dialect.ident(n)} CASCADE" for n in names])
    return names
