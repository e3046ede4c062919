"""A run's audit copy: where Execute builds and Verify tests, and what Publish puts in the warehouse.

Write, audit, publish. A building run copies the target's DuckDB file into its run folder
(``.ae/runs/<id>/audit/``, under the same file name so compiled SQL means the same) and points the
engine's dbt process at the copy (no second process). Everything the plan's code does happens
there: models, hooks, tests, Verify's proofs. Publish then puts the relations the run built into the
live file in one transaction (tools/audit/duckdb_publish.py), keeping the versions it replaces for
``ae undo``. A run that fails publishes nothing: its copy is deleted and the warehouse is as it was.

The copy is a separate file, and dbt's connections are confined to the project minus other DuckDB
files (tools/engine/confine.py), so nothing the plan runs can reach the live file: the one write to
it is Publish's, ae's own statements over the relations the run built.

On a warehouse that is no DuckDB file the run still builds straight in the warehouse, as dbt does;
the run says so.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from graph.context import RunContext
from graph.state import RunState
from tools.audit.record import AUDIT_FOLDER
from tools.engine.scratch import Scratch, copy_warehouse, reopen_copy


def open_audit(ctx: RunContext) -> Scratch | None:
    """Copy the warehouse into the run's audit folder and point the run's tools at it; None (and a
    line saying so) when the target is no DuckDB file."""
    live = ctx.warehouse_path()
    if live is None:
        adapter = ctx.tools.profile_target().type
        ctx.progress(
            "execute",
            f"not on {adapter}: building in an audit copy first (ae copies DuckDB files only); this run "
            "builds straight in the warehouse, as dbt does",
            kind="warning",
        )
        return None
    scratch = copy_warehouse(ctx.engine, live, ctx.run_dir / AUDIT_FOLDER)
    ctx.enter_audit(scratch.engine)
    return scratch


def audit_of(ctx: RunContext, state: RunState) -> Scratch | None:
    """The run's audit copy, with the run's tools pointed at it (again, after a resume); None when the
    run has none."""
    folder = state.get("audit")
    if not folder:
        return None
    live_tools = ctx.live_tools or ctx.tools
    live = live_tools.warehouse_file()
    if live is None or live_tools.engine is None:
        return None
    scratch = reopen_copy(live_tools.engine, live, Path(folder))
    ctx.enter_audit(scratch.engine)
    return scratch


def discard_audit(ctx: RunContext, state: RunState) -> dict[str, None]:
    """Point the run back at the live warehouse and delete the audit copy: nothing was published."""
    ctx.leave_audit()
    folder = state.get("audit")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
    return {"audit": None} if folder else {}
