"""Proof that an incremental model equals a full refresh — on the data as it is, and after upstream
rows are edited in place, as a source system does (the case an append-only model gets wrong).

On DuckDB everything happens in a scratch copy of the run's audit copy (tools/engine/scratch.py);
on PostgreSQL in a scratch database on the same server holding copies of what the model reads
(tools/engine/scratch_database.py; the run's audit schema alone, first half only, when the role may
not create databases). The user's warehouse is never written here, whatever the proof finds. There
the built table is fingerprinted (row count plus an order-free hash of its rows) and rebuilt with
--full-refresh; then about one row in ten of
each upstream source or seed with a last-change column is edited, the model and what it reads run
incrementally, and the result must equal a full refresh.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from graph.context import RunContext
from graph.nodes import ancestors, upstream_tables
from tools.context import ToolContext
from tools.engine import DbtCall, NodeResult
from tools.engine.scratch import edit_rows_in_place, scratch_engine
from tools.engine.scratch_database import CannotCreateDatabase, ScratchDatabase, scratch_database
from tools.errors import AeError, QueryError
from tools.manifest import Manifest
from tools.warehouse_port import Warehouse
from tools.warehouse_port.models import RelationName
from tools.warehouse_port.port import parse_relation_name


class IncrementalCheck(BaseModel):
    model: str
    #: (rows, hash) as built, and after a full refresh on the same data
    incremental: tuple[int, str]
    full_refresh: tuple[int, str]
    #: rows edited per upstream table; empty when none has a last-change column (nothing to edit)
    edited: dict[str, int] = {}
    #: (rows, hash) after the edits: run incrementally, and fully refreshed; None when nothing was edited
    after_edits_incremental: tuple[int, str] | None = None
    after_edits_full_refresh: tuple[int, str] | None = None
    #: a dbt run in the copy that failed: the proof could not be made, which fails it
    error: str | None = None
    #: why no upstream row was edited in place although the proof would have (the adapter cannot)
    not_edited: str | None = None

    @property
    def matches(self) -> bool:
        return (
            self.error is None
            and self.incremental == self.full_refresh
            and self.after_edits_incremental == self.after_edits_full_refresh
        )

    def record(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "matches": self.matches}

    def describe(self) -> str:
        if self.error is not None:
            return f"{self.model}: the proof could not run in the scratch copy: {self.error}"
        line = f"{self.model}: incremental {_verdict(self.incremental, self.full_refresh)} full refresh"
        edited, full = self.after_edits_incremental, self.after_edits_full_refresh
        if edited is None or full is None:
            return (
                line
                + "; "
                + (
                    self.not_edited
                    or "no upstream table records when rows change, so none was edited in place"
                )
            )
        return (
            f"{line}; after editing {sum(self.edited.values())} upstream row(s) in place, incremental "
            f"{_verdict(edited, full)} full refresh"
        )


def _verdict(incremental: tuple[int, str], full: tuple[int, str]) -> str:
    rows = f"({incremental[0]} vs {full[0]} rows)"
    return f"matches {rows}" if incremental == full else f"DIFFERS FROM {rows}"


def _fingerprint(warehouse: Warehouse, relation: str) -> tuple[int, str]:
    found = warehouse.fingerprint(_here(warehouse, relation))
    return found.rows, found.hash


def _here(warehouse: Warehouse, relation: str) -> str:
    """``relation`` in ``warehouse``'s own database: a scratch copy holds it under the schema and
    name it has where it lives, whatever database the manifest names."""
    _, schema, name = parse_relation_name(relation, warehouse.dialect.sqlglot)
    ident = warehouse.dialect.ident
    return f"{ident(schema)}.{ident(name)}" if schema else relation


def _run_in(tools: ToolContext, select: str, *, full_refresh: bool) -> str | None:
    """A dbt run through the policy layer, recorded like the run's own calls; what went wrong, or None."""
    try:
        result = tools.dbt(DbtCall(command="run", select=[select], full_refresh=full_refresh))
    except AeError as exc:
        return str(exc)
    return None if result.success else result.summary()


@dataclass(frozen=True)
class _Site:
    """Where a proof may write: a copy of the warehouse (a DuckDB file copied, or a scratch database
    on the server), with the run's tools on an engine pointed at it."""

    tools: ToolContext
    warehouse: Warehouse
    #: the model's relation there, and the upstream tables to edit in place
    relation: str
    upstream: list[str]


def _prove(site: _Site, node: NodeResult) -> IncrementalCheck:
    """As built against a full refresh; then upstream rows edited in place, the model and what it
    reads run incrementally, against a full refresh again. The same steps on every adapter."""
    tools, warehouse, relation = site.tools, site.warehouse, site.relation
    built = _fingerprint(warehouse, relation)
    error = _run_in(tools, node.name, full_refresh=True)
    check = IncrementalCheck(
        model=node.name, incremental=built, full_refresh=_fingerprint(warehouse, relation)
    )
    edited = {t: n for t in site.upstream if (n := edit_rows_in_place(warehouse, t))}
    if error is None and edited:
        error = _run_in(tools, f"+{node.name}", full_refresh=False)
        after = _fingerprint(warehouse, relation)
        error = error or _run_in(tools, node.name, full_refresh=True)
        check = check.model_copy(
            update={
                "edited": edited,
                "after_edits_incremental": after,
                "after_edits_full_refresh": _fingerprint(warehouse, relation),
            }
        )
    return check.model_copy(update={"error": error})


def _prove_in_audit(ctx: RunContext, node: NodeResult, why: str) -> IncrementalCheck:
    """The first half alone, where no scratch database can be made (``why``): in the run's audit,
    the model as built incrementally against its full refresh on the same data. What is published
    is then the full refresh, equal to it when the proof passes (and nothing is published when not)."""
    warehouse = ctx.tools.warehouse()
    relation = node.relation or node.name
    built = warehouse.fingerprint(relation)
    error = _run_in(ctx.tools, node.name, full_refresh=True)
    refreshed = warehouse.fingerprint(relation)
    return IncrementalCheck(
        model=node.name,
        incremental=(built.rows, built.hash),
        full_refresh=(refreshed.rows, refreshed.hash),
        error=error,
        not_edited=f"not on {warehouse.adapter}: editing upstream rows in place {why}",
    )


def _copy_upstream(
    scratch: ScratchDatabase, audit: Warehouse, manifest: Manifest, live: Manifest, node: NodeResult
) -> str:
    """Copy into the scratch database every relation the model reads (sources, seeds, parent
    models) and the model's own table, each under its live name (where dbt, pointed at the scratch
    database with the user's schema, looks for it), with the rows the run's audit reads: what the
    audit built, else the warehouse's own. Returns the model's relation there."""
    names = live if node.unique_id in live.nodes else manifest  # a model the run added: audit names
    for uid in [*ancestors(manifest, node.unique_id), node.unique_id]:
        audit_name = getattr(manifest.get(uid), "relation_name", None)
        live_name = getattr(names.get(uid), "relation_name", None) or audit_name
        if not audit_name or not live_name:
            continue  # an ephemeral model: compiled into its children
        try:
            found = audit.resolve(audit_name)
        except QueryError:
            found = audit.resolve(live_name)  # not built by the run: read where it lives
        _, schema, name = parse_relation_name(live_name, audit.dialect.sqlglot)
        scratch.copy_in(audit, found, RelationName(schema_name=str(schema), name=name))
    return str(getattr(names.get(node.unique_id), "relation_name", None) or node.relation)


def _prove_in_scratch_database(
    ctx: RunContext, live: ToolContext, manifest: Manifest, node: NodeResult
) -> IncrementalCheck:
    """The whole proof on a server: in a scratch database beside the user's, holding copies of
    what the model reads (tools/engine/scratch_database.py); the user's database is only read."""
    engine = live.engine or ctx.engine  # the live target's engine: its profile is the user's own
    live_manifest = Manifest.for_engine(engine, missing_ok=True)
    try:
        with scratch_database(engine, live.warehouse()) as scratch:
            relation = _copy_upstream(scratch, ctx.tools.warehouse(), manifest, live_manifest, node)
            names = live_manifest if node.unique_id in live_manifest.nodes else manifest
            site = _Site(
                tools=dataclasses.replace(ctx.tools, engine=scratch.engine),
                warehouse=scratch.warehouse,
                relation=relation,
                upstream=upstream_tables(names, node.unique_id),
            )
            return _prove(site, node)
    except CannotCreateDatabase as exc:
        return _prove_in_audit(ctx, node, f"needs CREATEDB ({exc})")


def prove_incrementals(
    ctx: RunContext, db_path: Path | None, manifest: Manifest, built: list[NodeResult]
) -> list[IncrementalCheck]:
    """Prove each incremental model in ``built`` (nodes a building command of this run built): in a
    scratch copy of the DuckDB file ``db_path`` (the run's audit copy); on a server, in the run's
    audit schema on the data as it is (``_prove_in_audit``). Without an audit there is nowhere to
    prove it without writing the warehouse, which the run says rather than passing it in silence."""
    models = [
        n
        for n in built
        if n.ok
        and n.relation
        and (model := manifest.nodes.get(n.unique_id)) is not None
        and model.config.materialized == "incremental"
    ]
    if not models:
        return []
    checks = []
    if db_path is None:
        if ctx.live_tools is None:
            names = ", ".join(n.name for n in models)
            ctx.progress(
                "verify",
                f"{names} not proved equal to a full refresh: the run built straight in the warehouse "
                "(no audit), where a proof would rebuild them; compare `dbt build --full-refresh` by hand",
                ok=False,
            )
            return []
        for node in models:
            check = _prove_in_scratch_database(ctx, ctx.live_tools, manifest, node)
            ctx.progress("verify", check.describe(), ok=check.matches)
            checks.append(check)
        return checks
    with scratch_engine(ctx.engine, db_path) as scratch:
        for node in models:
            scratch.reset()  # each proof starts from the user's data, not another's edits
            site = _Site(
                tools=dataclasses.replace(ctx.tools, engine=scratch.engine),
                warehouse=scratch.warehouse,
                relation=node.relation or node.name,
                upstream=upstream_tables(manifest, node.unique_id),
            )
            check = _prove(site, node)
            ctx.progress("verify", check.describe(), ok=check.matches)
            checks.append(check)
    return checks
