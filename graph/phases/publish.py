"""Publish: put what the run built and Verify passed into the warehouse, in one transaction.

Only when Execute built in an audit copy (graph/audit_run.py). The relations published are the ones
dbt reported built, in the order it built them, and the ones the build created besides (a test's
stored failures); the version each replaces is kept for ``ae undo`` (tools/audit). The journal is
written before the transaction and after it, so a run killed in between resumes here and finds out
which of the two the warehouse holds (``settled``) instead of publishing twice.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from langgraph.runtime import Runtime

from graph.audit_run import audit_of
from graph.context import RunContext
from graph.state import RunState
from graph.transaction import built_relations, record_built_relations
from tools.audit.duckdb_publish import plan_publication, publish_duckdb, settled
from tools.audit.history import history_file, prune_history
from tools.audit.record import PUBLICATION_JOURNAL, Publication
from tools.engine import BUILDING, DbtResult
from tools.engine.scratch import Scratch
from tools.journal import load, save
from tools.warehouse_port import duckdb_warehouse
from tools.warehouse_undo import qualified


def _built_names(state: RunState, scratch: Scratch) -> list[str]:
    """What the run built in the copy, in dbt's order, then what else the build created there."""
    audit = duckdb_warehouse(scratch.copy)
    results = [DbtResult.model_validate(r) for r in state.get("execution", {}).get("results", [])]
    built = [
        qualified(n.relation, audit)
        for r in results
        if r.command in BUILDING
        for n in r.nodes
        if n.ok and n.relation
    ]
    before = duckdb_warehouse(scratch.original).relation_names() if scratch.original.is_file() else set()
    created = sorted(audit.relation_names() - before - set(built))
    return [*built, *created]


def _summary(publication: Publication) -> dict[str, Any]:
    return {
        "published": [r.name for r in publication.relations],
        "replaced": [r.name for r in publication.replaced],
        "created": [r.name for r in publication.created],
        "history": publication.history,
    }


def publish(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    scratch = audit_of(ctx, state)
    if scratch is None:
        return {}
    ctx.progress("publish", "publishing what passed into the warehouse", kind="phase")
    started = time.perf_counter()
    journal = ctx.run_dir / PUBLICATION_JOURNAL
    root = ctx.project_dir
    history = history_file(root, ctx.run_id)
    earlier = load(journal, Publication, what_to_do=f"delete {journal} and run the request again")
    if (
        earlier is not None
        and earlier.state == "publishing"
        and settled(scratch.original, scratch.copy, earlier)
    ):
        publication = earlier.model_copy(update={"state": "published"})  # a kill after the commit
    else:
        planned = plan_publication(scratch.original, scratch.copy, _built_names(state, scratch))
        save(
            journal,
            Publication.stamped(
                root, state="publishing", history=str(history.relative_to(root)), relations=planned
            ),
        )
        published = publish_duckdb(scratch.original, scratch.copy, history, planned)
        publication = Publication.stamped(
            root, state="published", history=str(history.relative_to(root)), relations=published
        )
    save(journal, publication)
    # the same record as a build straight in the warehouse, so undo checks the place the same way
    built = built_relations(
        root,
        scratch.original,
        ctx.target,
        [r.name for r in publication.created],
        [r.name for r in publication.replaced],
    )
    record_built_relations(ctx.run_dir, built)
    ctx.leave_audit()
    shutil.rmtree(scratch.folder, ignore_errors=True)
    pruned = prune_history(root, keep=ctx.history_runs)
    kept = len(publication.replaced)
    ctx.progress(
        "publish",
        f"published {len(publication.relations)} relation(s) in one transaction"
        + (f"; the {kept} it replaced are kept for `ae undo {ctx.run_id}`" if kept else "")
        + (f"; removed {pruned} older run(s)' kept versions" if pruned else ""),
        ok=True,
        duration_s=time.perf_counter() - started,
    )
    return {"audit": None, "publication": _summary(publication)}
