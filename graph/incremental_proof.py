"""Proof that an incremental model equals a full refresh — on the data as it is, and after upstream
rows are edited in place, as a source system does (the case an append-only model gets wrong).

On DuckDB everything happens in a scratch copy of the run's audit copy (tools/engine/scratch.py);
on PostgreSQL in the run's audit schema (graph/audit_run.py). The user's warehouse is never written
here, whatever the proof finds. There the built table is fingerprinted (row count plus an
order-free hash of its rows) and rebuilt with --full-refresh; then (DuckDB) about one row in ten of
each upstream source or seed with a last-change column is edited, the model and what it reads run
incrementally, and the result must equal a full refresh.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from graph.context import RunContext
from graph.nodes import upstream_tables
from tools.context import ToolContext
from tools.engine import DbtCall, NodeResult
from tools.engine.scratch import Scratch, edit_rows_in_place, scratch_engine
from tools.errors import AeError
from tools.manifest import Manifest
from tools.warehouse import run_readonly_query


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


def _fingerprint(db: Path, relation: str) -> tuple[int, str]:
    result = run_readonly_query(
        db, f"select count(*) as n, coalesce(sum(hash(t)::hugeint), 0) as h from {relation} t", limit=1
    )
    n, h = result.rows[0]
    return int(str(n)), str(h)


def _run(ctx: RunContext, scratch: Scratch, select: str, *, full_refresh: bool) -> str | None:
    """A dbt run in the copy, through the policy layer and recorded like the run's own calls; what
    went wrong, or None."""
    return _run_in(dataclasses.replace(ctx.tools, engine=scratch.engine), select, full_refresh=full_refresh)


def _run_in(tools: ToolContext, select: str, *, full_refresh: bool) -> str | None:
    try:
        result = tools.dbt(DbtCall(command="run", select=[select], full_refresh=full_refresh))
    except AeError as exc:
        return str(exc)
    return None if result.success else result.summary()


def _prove(ctx: RunContext, scratch: Scratch, manifest: Manifest, node: NodeResult) -> IncrementalCheck:
    scratch.reset()
    copy, relation = scratch.copy, node.relation or node.name
    built = _fingerprint(copy, relation)
    error = _run(ctx, scratch, node.name, full_refresh=True)
    check = IncrementalCheck(model=node.name, incremental=built, full_refresh=_fingerprint(copy, relation))
    edited = {t: n for t in upstream_tables(manifest, node.unique_id) if (n := edit_rows_in_place(copy, t))}
    if error is None and edited:
        error = _run(ctx, scratch, f"+{node.name}", full_refresh=False)
        after = _fingerprint(copy, relation)
        error = error or _run(ctx, scratch, node.name, full_refresh=True)
        check = check.model_copy(
            update={
                "edited": edited,
                "after_edits_incremental": after,
                "after_edits_full_refresh": _fingerprint(copy, relation),
            }
        )
    return check.model_copy(update={"error": error})


def _prove_in_audit(ctx: RunContext, node: NodeResult) -> IncrementalCheck:
    """The proof where no copy of the warehouse can be made (a server): in the run's audit, the
    model as built incrementally against its full refresh on the same data. What is published is
    then the full refresh, equal to it when the proof passes (and nothing is published when not)."""
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
        not_edited=f"not on {warehouse.adapter}: editing upstream rows in place (its sources are read "
        "where they live, which ae never writes)",
    )


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
            check = _prove_in_audit(ctx, node)
            ctx.progress("verify", check.describe(), ok=check.matches)
            checks.append(check)
        return checks
    with scratch_engine(ctx.engine, db_path) as scratch:
        for node in models:
            check = _prove(ctx, scratch, manifest, node)
            ctx.progress("verify", check.describe(), ok=check.matches)
            checks.append(check)
    return checks
