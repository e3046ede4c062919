"""Publish what a run built in its audit schemas (PostgreSQL), in one transaction; restore it after.

Publishing moves relations, it does not copy them: in one transaction each relation the run replaces
is renamed and moved into the ``ae_history`` schema (kept for ``ae undo``), and the audit's is moved
into its place (``ALTER ... SET SCHEMA``). PostgreSQL binds a view to the relations it reads, not to
their names, so a view the run did not rebuild that reads a replaced relation would follow it into
the history: each such view is redefined over the new relation in the same transaction (from its
own definition, which PostgreSQL prints schema-qualified), or the transaction fails and nothing is
published. Views the run rebuilt move with the tables they read.

Only ae's own statements, with every name read from the catalog and quoted; the journal
(tools/audit/record.py) is written before and after, and ``settled`` tells which side of the
transaction a run killed in between is on.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.audit.record import Publication, PublishedRelation
from tools.audit.schema_audit import Counterpart
from tools.warehouse_port import Warehouse
from tools.warehouse_port.models import RelationRef
from tools.warehouse_port.port import parse_relation_name

HISTORY_SCHEMA = "ae_history"


def kept_name(run_id: str, index: int) -> str:
    """The name a replaced relation is kept under in ``ae_history``: the run and its place."""
    return "r" + run_id.replace("-", "")[:40] + f"_{index}"


def _catalog(warehouse: Warehouse) -> dict[str, RelationRef]:
    return {r.qualified_name.lower(): r for r in warehouse.list_relations()}


def _parts(warehouse: Warehouse, relation: str) -> tuple[str, str, str]:
    database, schema, name = parse_relation_name(relation, warehouse.dialect.sqlglot)
    return database or warehouse.current_database(), schema or "public", name


def plan_schema_publication(
    warehouse: Warehouse, pairs: Sequence[Counterpart], run_id: str
) -> list[PublishedRelation]:
    """The relations to move, in build order, each with what it replaces; a node the audit holds no
    relation of (it failed, or is ephemeral) is skipped."""
    catalog = _catalog(warehouse)
    planned: list[PublishedRelation] = []
    for pair in pairs:
        audit = catalog.get(".".join(_parts(warehouse, pair.audit)).lower())
        if audit is None:
            continue
        database, schema, name = _parts(warehouse, pair.live)
        before = catalog.get(f"{database}.{schema}.{name}".lower())
        planned.append(
            PublishedRelation(
                name=f"{database}.{schema}.{name}".lower(),
                database=database,
                schema_name=before.schema_name if before else schema,
                relation=before.name if before else name,
                kind=audit.kind,
                previous=before.kind if before else None,
                kept_as=kept_name(run_id, len(planned)) if before else None,
                audit_schema=audit.schema_name,
                audit_relation=audit.name,
            )
        )
    return planned


def _dependent_views(
    warehouse: Warehouse, relations: Sequence[RelationRef], moving: set[str]
) -> list[tuple[str, str]]:
    """Views outside ``moving`` that read one of ``relations``: (the view as SQL, its definition)."""
    dialect = warehouse.dialect
    found: dict[str, str] = {}
    for ref in relations:
        regclass = dialect.literal(dialect.relation(None, ref.schema_name, ref.name))
        rows = warehouse.read(
            [
                "SELECT DISTINCT vn.nspname, vc.relname, pg_get_viewdef(vc.oid, true) "
                "FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
                "JOIN pg_class vc ON vc.oid = r.ev_class JOIN pg_namespace vn ON vn.oid = vc.relnamespace "
                "WHERE d.classid = CAST('pg_rewrite' AS regclass) "
                f"AND d.refobjid = CAST({regclass} AS regclass) AND vc.oid <> d.refobjid"
            ]
        )[0].rows
        for schema, name, definition in rows:
            key = f"{ref.database}.{schema}.{name}".lower()
            if key not in moving:
                found[dialect.relation(None, str(schema), str(name))] = str(definition).strip().rstrip(";")
    return list(found.items())


def _move(warehouse: Warehouse, kind: str, source: tuple[str, str], dest: tuple[str, str]) -> list[str]:
    """Statements moving the relation ``source`` (schema, name) to ``dest`` (schema, name)."""
    (schema, name), (to_schema, to_name) = source, dest
    dialect, keyword = warehouse.dialect, kind.upper()
    statements = []
    if to_name != name:
        statements.append(
            f"ALTER {keyword} {dialect.relation(None, schema, name)} RENAME TO {dialect.ident(to_name)}"
        )
    if to_schema != schema:
        statements.append(dialect.move_sql(keyword, dialect.relation(None, schema, to_name), to_schema))
    return statements


def publish_schema(warehouse: Warehouse, planned: Sequence[PublishedRelation]) -> list[PublishedRelation]:
    """Move each planned relation from the audit into place, the ones it replaces into the history,
    in one transaction; the relations as published (tables fingerprinted)."""
    dialect = warehouse.dialect
    catalog = _catalog(warehouse)
    moving = {r.name for r in planned}
    replaced = [catalog[r.name] for r in planned if r.previous is not None and r.name in catalog]
    dependents = _dependent_views(warehouse, replaced, moving)
    statements = [f"CREATE SCHEMA IF NOT EXISTS {dialect.ident(HISTORY_SCHEMA)}"]
    for rel in planned:
        if rel.previous is not None and rel.kept_as is not None:
            statements += _move(
                warehouse, rel.previous, (rel.schema_name, rel.relation), (HISTORY_SCHEMA, rel.kept_as)
            )
        statements.append(f"CREATE SCHEMA IF NOT EXISTS {dialect.ident(rel.schema_name)}")
        statements += _move(
            warehouse,
            rel.kind,
            (str(rel.audit_schema), str(rel.audit_relation)),
            (rel.schema_name, rel.relation),
        )
    statements += [f"CREATE OR REPLACE VIEW {view} AS {definition}" for view, definition in dependents]
    warehouse.execute(statements)
    return [
        rel.model_copy(update={"published": warehouse.fingerprint(rel.name)}) if rel.kind == "table" else rel
        for rel in planned
    ]


def schema_settled(warehouse: Warehouse, publication: Publication) -> bool:
    """Whether a ``publishing`` journal's transaction committed: no relation is left in the audit."""
    catalog = _catalog(warehouse)
    return all(
        f"{r.database}.{r.audit_schema}.{r.audit_relation}".lower() not in catalog and r.name in catalog
        for r in publication.relations
    )


def restore_schema(
    warehouse: Warehouse, run_id: str, publication: Publication
) -> tuple[list[str], list[str]]:
    """Put back every relation the run replaced and drop the ones it created, in one transaction;
    (restored, dropped). The run's versions of replaced relations are moved aside and dropped once no
    view reads them (views outside the run are redefined over the restored relations)."""
    dialect = warehouse.dialect
    catalog = _catalog(warehouse)
    present = [catalog[r.name] for r in publication.relations if r.name in catalog]
    dependents = _dependent_views(warehouse, present, {r.name for r in publication.relations})
    statements: list[str] = []
    dropped: list[str] = []
    for rel in reversed(publication.created):
        if (ref := catalog.get(rel.name)) is not None:
            statements.append(f"DROP {ref.kind.upper()} {dialect.relation(None, ref.schema_name, ref.name)}")
            dropped.append(rel.name)
    aside: list[tuple[str, str]] = []
    for index, rel in enumerate(publication.replaced):
        kept = str(rel.kept_as)
        if (ref := catalog.get(rel.name)) is not None:
            name = f"{kept}_undone"[:63] if len(kept) < 56 else f"u{run_id.replace('-', '')[:40]}_{index}"
            statements += _move(warehouse, ref.kind, (ref.schema_name, ref.name), (HISTORY_SCHEMA, name))
            aside.append((ref.kind, name))
        statements += _move(
            warehouse, str(rel.previous), (HISTORY_SCHEMA, kept), (rel.schema_name, rel.relation)
        )
    statements += [f"CREATE OR REPLACE VIEW {view} AS {definition}" for view, definition in dependents]
    statements += [
        f"DROP {kind.upper()} {dialect.relation(None, HISTORY_SCHEMA, name)}"
        for kind, name in reversed(aside)
    ]
    warehouse.execute(statements)
    return [r.name for r in publication.replaced], dropped


def kept_relations(warehouse: Warehouse, publication: Publication) -> list[str]:
    """The replaced relations whose kept version is missing from ``ae_history`` (pruned)."""
    catalog = _catalog(warehouse)
    database = warehouse.current_database()
    return [
        r.name
        for r in publication.replaced
        if f"{database}.{HISTORY_SCHEMA}.{r.kept_as}".lower() not in catalog
    ]


def prune_schema_history(warehouse: Warehouse, *, keep: int) -> int:
    """Drop the kept relations of all but the newest ``keep`` runs from ``ae_history``."""
    kept = warehouse.list_relations(HISTORY_SCHEMA)
    runs = sorted({r.name.rsplit("_", 1)[0] for r in kept if r.name.startswith("r")}, reverse=True)
    old = set(runs[keep:])
    doomed = [r for r in kept if r.name.rsplit("_", 1)[0] in old]
    if doomed:
        warehouse.execute([f"DROP {r.kind.upper()} IF EXISTS {warehouse.sql_of(r)}" for r in doomed])
    return len(old)
