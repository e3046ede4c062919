"""A run's audit location: where Execute builds and Verify tests, and what Publish puts in the warehouse.

Write, audit, publish. A building run builds where nobody reads, tests there, and publishes only
what passed (graph/phases/publish.py); a run that fails publishes nothing and its audit goes.

- **DuckDB**: the target's file copied into the project's audit folder (``.ae/audit/``, one per
  project: tools/audit/file_audit.py says why), under the same file name so compiled SQL means the
  same, the engine's dbt process pointed at the copy. The
  copy is a separate file and dbt's connections are confined away from other DuckDB files
  (tools/engine/confine.py), so nothing the plan runs reaches the live file: the one write to it is
  Publish's.
- **PostgreSQL**: schemas of the run's own (``<schema>__ae_<run>`` and its ``_<custom>``
  siblings), parents read live through dbt's ``--defer`` (tools/audit/schema_audit.py). The wall
  there is the approval gate (graph/trust_gate.py): the audit target logs in as the user does.
- Any other adapter builds straight in the warehouse, as dbt does, and the run says so.

Everything the plan's code does happens in the audit: models, hooks, tests, Verify's proofs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from graph.context import RunContext
from graph.nodes import listed_ids
from graph.plan_spec import Operation
from graph.state import RunState
from tools.audit.file_audit import claim, copy_folder, last_user, owner, release
from tools.audit.record import AUDIT_FOLDER
from tools.audit.schema_audit import (
    SCHEMA_AUDITS,
    STATE_FOLDER,
    audit_schema_name,
    carry_in,
    counterparts,
    drop_audit_schemas,
    open_schema_audit,
    overlapping,
    reopen_schema_audit,
)
from tools.engine import BUILDING, DbtCall, DbtEngine
from tools.engine.scratch import Scratch, copy_warehouse, reopen_copy
from tools.errors import ConfigurationError, EmptySelection
from tools.manifest import Manifest


@dataclass(frozen=True)
class Audit:
    """The run's audit: its engine, its folder, and where it builds (a DuckDB copy or a schema)."""

    engine: DbtEngine
    folder: Path
    copy: Scratch | None = None
    schema: str | None = None


def _schema_of(ctx: RunContext) -> str:
    target = (ctx.live_tools or ctx.tools).profile_target()
    return audit_schema_name(target.schema_name or "public", ctx.run_id)


def open_audit(ctx: RunContext, ops: list[Operation], kinds: list[str]) -> Audit | None:
    """Make the run's audit and point the run's tools at it; None (and a line saying why) when the
    run builds straight in the warehouse."""
    target = ctx.tools.profile_target()
    if target.path is not None:
        folder = copy_folder(ctx.project_dir)
        claim(folder, ctx.run_id)
        try:
            scratch = copy_warehouse(ctx.engine, target.path, folder)
        except ConfigurationError as why:  # a target that attaches other files: no copy is whole
            release(folder, ctx.run_id)
            ctx.progress(
                "execute", f"{why.message}: this run builds straight in the warehouse", kind="warning"
            )
            return None
        ctx.enter_audit(scratch.engine)
        return Audit(scratch.engine, folder, copy=scratch)
    if target.type in SCHEMA_AUDITS:
        return _open_schema_audit(ctx, ops, kinds, ctx.run_dir / AUDIT_FOLDER)
    ctx.progress(
        "execute",
        f"not on {target.type}: building in an audit location first (ae audits DuckDB files and "
        "PostgreSQL schemas); this run builds straight in the warehouse, as dbt does",
        kind="warning",
    )
    return None


def _open_schema_audit(ctx: RunContext, ops: list[Operation], kinds: list[str], folder: Path) -> Audit | None:
    schema = _schema_of(ctx)
    audit = open_schema_audit(ctx.engine, folder, schema)
    tools = replace(ctx.tools, engine=audit.engine)
    listed: list[str] = []
    for op in ops:
        if op.command in BUILDING:
            try:
                listed += tools.dbt(DbtCall(command="ls", select=op.select, resource_types=kinds)).listed
            except EmptySelection:
                continue  # Execute reports a selection that matches nothing
    mine, live = Manifest.for_engine(audit.engine), Manifest.for_engine(ctx.engine)
    pairs = counterparts(live, mine, sorted(listed_ids(mine, listed, kinds)))
    if clash := overlapping(pairs):
        shutil.rmtree(folder, ignore_errors=True)
        ctx.progress(
            "execute",
            f"{', '.join(clash)} would be built in the live schema even for an audit target (the "
            "project's generate_schema_name ignores target.schema): this run builds straight in the "
            "warehouse, as dbt does",
            kind="warning",
        )
        return None
    if copied := carry_in(ctx.tools.warehouse(), pairs):
        ctx.progress(
            "execute", f"copied {', '.join(copied)} into the audit schema: an incremental run reads itself"
        )
    ctx.enter_audit(audit.engine)
    return Audit(audit.engine, folder, schema=schema)


def audit_of(ctx: RunContext, state: RunState) -> Audit | None:
    """The run's audit, with the run's tools pointed at it (again, after a resume); None when the
    run has none."""
    recorded = state.get("audit")
    folder = Path(recorded) if recorded else None
    live = ctx.live_tools or ctx.tools
    if folder is None or live.engine is None:
        return None
    if (folder / STATE_FOLDER).is_dir():
        schema = _schema_of(ctx)
        audit = reopen_schema_audit(live.engine, folder, schema)
        ctx.enter_audit(audit.engine)
        return Audit(audit.engine, folder, schema=schema)
    path = live.warehouse_file()
    if path is None:
        return None
    if owner(folder) != ctx.run_id:
        taken = last_user(folder)
        raise ConfigurationError(
            f"run {ctx.run_id}'s audit copy is gone"
            + (f": run {taken} has built in {folder} since" if taken and taken != ctx.run_id else "")
            + "; nothing of this run was published",
            hint="run the request again",
        )
    scratch = reopen_copy(live.engine, path, folder)
    ctx.enter_audit(scratch.engine)
    return Audit(scratch.engine, folder, copy=scratch)


def discard_audit(ctx: RunContext, state: RunState) -> dict[str, None]:
    """Point the run back at the live warehouse and drop the audit (nothing was published)."""
    recorded = state.get("audit")
    folder = Path(recorded) if recorded else None
    ctx.leave_audit()
    if folder is None:
        return {}
    if (folder / STATE_FOLDER).is_dir():
        drop_audit_schemas(ctx.tools.warehouse(), _schema_of(ctx))
        shutil.rmtree(folder, ignore_errors=True)
    else:
        release(folder, ctx.run_id)
    return {"audit": None}
