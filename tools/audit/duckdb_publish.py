"""Publish what a run built in its audit copy of a DuckDB file, in one transaction; restore it after.

The audit copy is the warehouse file copied under the same name, so its catalog has the live file's
name and a view's SQL, which names that catalog, means the same in both. Publishing:

1. the journal (tools/audit/record.py) is written with what will be replaced (``publishing``);
2. the previous version of each replaced table is copied into the run's history file, and each
   replaced view's query is kept in the journal (DuckDB writes one database per transaction, so the
   history cannot be written in the publish transaction; a crash after it publishes nothing);
3. one transaction on the live file, the audit copy attached read-only: each relation is replaced
   by the audit's (a table's rows, a view's query), in the order dbt built them;
4. the journal records what was published (``published``).

Only ae's own statements run here, over names read from the catalogs and quoted; the plan's code ran
in the copy only. A crash during 3 leaves the live file as it was (DuckDB discards an uncommitted
transaction); ``settled`` tells which state a ``publishing`` journal left.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from tools.audit.record import Publication, PublishedRelation
from tools.errors import ConfigurationError, WarehouseLocked
from tools.locks import locked_message
from tools.warehouse_port import Fingerprint, duckdb_warehouse
from tools.warehouse_port.models import RelationRef, quote_identifier

#: the catalog names the two other files are attached under on the live file's connection
AUDIT, HISTORY = "ae_audit", "ae_history"
#: a kept table's name in the history file: ae chooses it, a journal that says otherwise is refused
_KEPT = re.compile(r"r[0-9]{1,6}")


@contextmanager
def _live(live: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    try:
        con = duckdb.connect(str(live))
    except duckdb.IOException as exc:
        raise WarehouseLocked(locked_message(f"warehouse {live}", str(exc))) from exc
    try:
        yield con
    finally:
        con.close()


def _sql(catalog: str, schema: str, name: str) -> str:
    return ".".join(quote_identifier(part) for part in (catalog, schema, name))


def view_query(definition: str) -> str:
    """The query of a view as DuckDB keeps it (``CREATE VIEW s.v AS SELECT ...``), checked to be one
    statement creating a view over a query; ConfigurationError otherwise (a tampered journal)."""
    try:
        statements = sqlglot.parse(definition, dialect="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ConfigurationError(f"a kept view definition does not parse: {exc}") from exc
    create = statements[0] if len(statements) == 1 else None
    query = create.expression if isinstance(create, exp.Create) and create.kind == "VIEW" else None
    if not isinstance(query, exp.Query):
        raise ConfigurationError(
            "a kept view definition is not one CREATE VIEW over a query; it is not run",
            hint="restore the view by rebuilding it with dbt",
        )
    return str(query.sql(dialect="duckdb"))


def _view_definition(con: duckdb.DuckDBPyConnection, catalog: str, ref: RelationRef) -> str:
    row = con.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = ? AND schema_name = ? AND view_name = ?",
        [catalog, ref.schema_name, ref.name],
    ).fetchone()
    if row is None:
        raise ConfigurationError(f"view {ref.qualified_name} has no definition in {catalog}")
    return view_query(str(row[0]))


def plan_publication(live: Path, audit: Path, names: Sequence[str]) -> list[PublishedRelation]:
    """The relations to publish (``database.schema.name`` as the audit lists them, in build order),
    each with what it replaces in the live file; a name the audit does not hold is skipped."""
    in_audit = {r.qualified_name.lower(): r for r in duckdb_warehouse(audit).list_relations()}
    in_live = (
        {r.qualified_name.lower(): r for r in duckdb_warehouse(live).list_relations()}
        if live.is_file()
        else {}
    )
    planned: list[PublishedRelation] = []
    for name in dict.fromkeys(n.lower() for n in names):
        ref = in_audit.get(name)
        if ref is None:
            continue
        before = in_live.get(name)
        planned.append(
            PublishedRelation(
                name=name,
                database=ref.database,
                schema_name=ref.schema_name,
                relation=ref.name,
                kind=ref.kind,
                previous=before.kind if before else None,
                kept_as=f"r{len(planned)}" if before and before.kind == "table" else None,
            )
        )
    return planned


def _keep_previous(
    con: duckdb.DuckDBPyConnection, history: Path, planned: list[PublishedRelation]
) -> list[PublishedRelation]:
    """Copy each replaced table into ``history`` and keep each replaced view's query."""
    history.unlink(missing_ok=True)
    con.execute(f"ATTACH {exp.Literal.string(str(history)).sql()} AS {HISTORY}")
    try:
        kept = []
        for rel in planned:
            ref = RelationRef(
                database=rel.database, schema_name=rel.schema_name, name=rel.relation, kind="table"
            )
            if rel.previous == "table" and rel.kept_as:
                con.execute(
                    f"CREATE TABLE {HISTORY}.main.{quote_identifier(rel.kept_as)} AS "
                    f"SELECT * FROM {_sql(rel.database, rel.schema_name, rel.relation)}"
                )
            kept.append(
                rel.model_copy(update={"kept_view": _view_definition(con, rel.database, ref)})
                if rel.previous == "view"
                else rel
            )
        return kept
    finally:
        con.execute(f"DETACH {HISTORY}")


def _replace(
    con: duckdb.DuckDBPyConnection, rel: PublishedRelation, current: str | None, source: str
) -> None:
    """Replace the live relation ``rel`` (now of kind ``current``, None when absent) with ``source``:
    a table's ``SELECT * FROM`` or a view's query."""
    target = _sql(rel.database, rel.schema_name, rel.relation)
    if current is not None and current != rel.kind:
        con.execute(f"DROP {current.upper()} {target}")
    if rel.kind == "table":
        con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {source}")
    else:
        con.execute(f"CREATE OR REPLACE VIEW {target} AS {source}")


def publish_duckdb(
    live: Path, audit: Path, history: Path, planned: list[PublishedRelation]
) -> list[PublishedRelation]:
    """Steps 2 and 3 of the module's: keep the previous versions, then publish in one transaction.
    Returns the relations as kept (views' queries filled in), with what was published."""
    with _live(live) as con:
        kept = _keep_previous(con, history, planned) if any(r.previous for r in planned) else planned
        con.execute(f"ATTACH {exp.Literal.string(str(audit)).sql()} AS {AUDIT} (READ_ONLY)")
        con.execute("BEGIN TRANSACTION")
        try:
            for schema in dict.fromkeys((r.database, r.schema_name) for r in kept):
                con.execute(
                    f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema[0])}.{quote_identifier(schema[1])}"
                )
            for rel in kept:
                ref = RelationRef(
                    database=AUDIT, schema_name=rel.schema_name, name=rel.relation, kind=rel.kind
                )
                source = (
                    _sql(AUDIT, rel.schema_name, rel.relation)
                    if rel.kind == "table"
                    else _view_definition(con, AUDIT, ref)
                )
                _replace(con, rel, rel.previous, source)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.execute(f"DETACH {AUDIT}")
    return [_stamp(live, rel) for rel in kept]


def _stamp(live: Path, rel: PublishedRelation) -> PublishedRelation:
    if rel.kind != "table":
        return rel
    return rel.model_copy(update={"published": duckdb_warehouse(live).fingerprint(rel.name)})


def fingerprints(db: Path, relations: Sequence[PublishedRelation]) -> dict[str, Fingerprint | None]:
    """Each table's fingerprint in ``db`` (None when absent); views are not fingerprinted."""
    warehouse = duckdb_warehouse(db)
    present = {r.qualified_name.lower() for r in warehouse.list_relations()} if db.is_file() else set()
    return {
        r.name: warehouse.fingerprint(r.name) if r.name in present else None
        for r in relations
        if r.kind == "table"
    }


def settled(live: Path, audit: Path, publication: Publication) -> bool:
    """Whether a ``publishing`` journal's transaction committed: the live tables hold the audit's
    rows (True), or not (False: nothing was published, DuckDB discarded the transaction)."""
    tables = [r for r in publication.relations if r.kind == "table"]
    if not tables or not audit.is_file():
        return False
    return fingerprints(live, tables) == fingerprints(audit, tables)


def restore_duckdb(live: Path, history: Path, publication: Publication) -> tuple[list[str], list[str]]:
    """Put back every relation the run replaced and drop the ones it created, in one transaction;
    (restored, dropped). The caller checked nothing changed them since (``changed_since``)."""
    restored: list[str] = []
    dropped: list[str] = []
    in_live = {r.qualified_name.lower(): r for r in duckdb_warehouse(live).list_relations()}
    with _live(live) as con:
        if any(r.kept_as for r in publication.relations):
            con.execute(f"ATTACH {exp.Literal.string(str(history)).sql()} AS {HISTORY} (READ_ONLY)")
        con.execute("BEGIN TRANSACTION")
        try:
            for rel in reversed(publication.relations):
                current = in_live.get(rel.name)
                if rel.previous is None and current is not None:
                    con.execute(f"DROP {current.kind.upper()} {current.sql}")
                    dropped.append(rel.name)
            for rel in publication.replaced:
                current = in_live.get(rel.name)
                back = rel.model_copy(update={"kind": rel.previous})
                if rel.previous == "table":
                    if rel.kept_as is None or not _KEPT.fullmatch(rel.kept_as):
                        raise ConfigurationError(f"the journal keeps {rel.name} under a name ae never gives")
                    _replace(
                        con,
                        back,
                        current.kind if current else None,
                        f"{HISTORY}.main.{quote_identifier(rel.kept_as)}",
                    )
                else:
                    _replace(
                        con,
                        back,
                        current.kind if current else None,
                        view_query(f"CREATE VIEW v AS {rel.kept_view}"),
                    )
                restored.append(rel.name)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return restored, dropped
