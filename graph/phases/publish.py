"""Publish: put what the run built and Verify passed into the warehouse, in one transaction.

Only when Execute built in an audit (graph/audit_run.py). The relations published are the ones dbt
reported built, in the order it built them (on DuckDB also the ones the build created besides, such
as a test's stored failures); the version each replaces is kept for ``ae undo`` (tools/audit). The
journal is written before the transaction and after it, so a run killed in between resumes here and
finds out which side of the transaction the warehouse is on instead of publishing twice.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from langgraph.runtime import Runtime

from graph.audit_run import Audit, audit_of
from graph.context import RunContext
from graph.state import RunState
from graph.transaction import built_relations, record_built_relations
from tools.audit.duckdb_publish import plan_publication, publish_duckdb, settled
from tools.audit.file_audit import release
from tools.audit.history import history_file, prune_history
from tools.audit.record import PUBLICATION_JOURNAL, Publication
from tools.audit.schema_audit import counterparts, drop_audit_schemas
from tools.audit.schema_publish import (
    plan_schema_publication,
    prune_schema_history,
    publish_schema,
    schema_settled,
)
from tools.context import ToolContext
from tools.engine import BUILDING, DbtResult, NodeResult
from tools.engine.scratch import Scratch
from tools.journal import load, save
from tools.manifest import Manifest
from tools.warehouse_port import duckdb_warehouse
from tools.warehouse_undo import qualified, server_of


def _built(state: RunState) -> list[NodeResult]:
    """What the run built, in dbt's order."""
    results = [DbtResult.model_validate(r) for r in state.get("execution", {}).get("results", [])]
    return [n for r in results if r.command in BUILDING for n in r.nodes if n.ok and n.relation]


def _file_names(state: RunState, scratch: Scratch) -> list[str]:
    """What the run built in the copy, then what else the build created there."""
    audit = duckdb_warehouse(scratch.copy)
    built = [qualified(str(n.relation), audit) for n in _built(state)]
    before = duckdb_warehouse(scratch.original).relation_names() if scratch.original.is_file() else set()
    created = sorted(audit.relation_names() - before - set(built))
    return [*built, *created]


def _publish_file(
    ctx: RunContext, state: RunState, scratch: Scratch, earlier: Publication | None
) -> Publication:
    root = ctx.project_dir
    history = history_file(root, ctx.run_id)
    kept = str(history.relative_to(root))
    if (
        earlier is not None
        and earlier.state == "publishing"
        and settled(scratch.original, scratch.copy, earlier)
    ):
        return earlier.model_copy(update={"state": "published"})  # killed after the commit
    planned = plan_publication(scratch.original, scratch.copy, _file_names(state, scratch))
    save(
        ctx.run_dir / PUBLICATION_JOURNAL,
        Publication.stamped(root, state="publishing", history=kept, relations=planned),
    )
    published = publish_duckdb(scratch.original, scratch.copy, history, planned)
    return Publication.stamped(root, state="published", history=kept, relations=published)


def _publish_schema(
    ctx: RunContext, state: RunState, audit: Audit, live: ToolContext, earlier: Publication | None
) -> Publication:
    warehouse = live.warehouse()
    root = ctx.project_dir
    if earlier is not None and earlier.state == "publishing" and schema_settled(warehouse, earlier):
        return earlier.model_copy(update={"state": "published"})  # killed after the commit
    if live.engine is None:
        raise RuntimeError("a schema audit is opened only with an engine")
    pairs = counterparts(
        Manifest.for_engine(live.engine),
        Manifest.for_engine(audit.engine),
        [n.unique_id for n in _built(state)],
    )
    adapter = warehouse.adapter
    planned = plan_schema_publication(warehouse, pairs, ctx.run_id)
    save(
        ctx.run_dir / PUBLICATION_JOURNAL,
        Publication.stamped(root, state="publishing", adapter=adapter, relations=planned),
    )
    published = publish_schema(warehouse, planned)
    return Publication.stamped(root, state="published", adapter=adapter, relations=published)


def _summary(publication: Publication) -> dict[str, Any]:
    return {
        "published": [r.name for r in publication.relations],
        "replaced": [r.name for r in publication.replaced],
        "created": [r.name for r in publication.created],
        "history": publication.history,
    }


def publish(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    audit = audit_of(ctx, state)
    live = ctx.live_tools
    if audit is None or live is None:
        return {}
    ctx.progress("publish", "publishing what passed into the warehouse", kind="phase")
    started = time.perf_counter()
    journal = ctx.run_dir / PUBLICATION_JOURNAL
    earlier = load(journal, Publication, what_to_do=f"delete {journal} and run the request again")
    root = ctx.project_dir
    if audit.copy is not None:
        publication = _publish_file(ctx, state, audit.copy, earlier)
        place, server = audit.copy.original, ""
    else:
        publication = _publish_schema(ctx, state, audit, live, earlier)
        place, server = None, server_of(live.profile_target())
    save(journal, publication)
    # the same record as a build straight in the warehouse, so undo checks the place the same way
    built = built_relations(
        root,
        place,
        ctx.target,
        [r.name for r in publication.created],
        [r.name for r in publication.replaced],
        adapter=publication.adapter,
        server=server,
    )
    record_built_relations(ctx.run_dir, built)
    ctx.leave_audit()
    if audit.schema is not None:
        drop_audit_schemas(live.warehouse(), audit.schema)
        shutil.rmtree(audit.folder, ignore_errors=True)
        pruned = prune_schema_history(live.warehouse(), keep=ctx.history_runs)
    else:
        release(audit.folder, ctx.run_id)
        pruned = prune_history(root, keep=ctx.history_runs)
    kept = len(publication.replaced)
    ctx.progress(
        "publish",
        f"published {len(publication.relations)} relation(s) in one transaction"
        + (f"; the {kept} relation(s) it replaced are kept for `ae undo {ctx.run_id}`" if kept else "")
        + (f"; removed {pruned} older run(s)' kept versions" if pruned else ""),
        ok=True,
        duration_s=time.perf_counter() - started,
    )
    return {"audit": None, "publication": _summary(publication)}
