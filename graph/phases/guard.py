"""What happens when an infrastructure fault escapes a phase: repeat the phase, then end cleanly.

The policy layer retries each call; a transient fault that outlasts those retries (a warehouse lock
held for long, an engine that keeps dying) reaches the phase. Every phase can be repeated without
harm — Plan writes nothing, Validate's apply is journaled and idempotent, dbt builds and tests can
run again — so the phase is visited again from its start, up to ``phase_restarts`` times. A fault
that persists, or one that retrying cannot fix (an open circuit, a configuration error, a dbt call
past its time limit, which would run as long again), ends the run ``failed``: the changeset is
rolled back and Finish writes the report. So does any other AeError a phase did not turn into
feedback for Plan. Programmer errors pass through, unretried.

Written here rather than as LangGraph node retry policies so a restart is shown as progress and a
fault that persists still reaches Finish (a report, not an exception out of ``invoke``).
"""

from __future__ import annotations

import functools
from typing import Any

from langgraph.runtime import Runtime

from graph.audit_run import discard_audit
from graph.context import Node, RunContext
from graph.state import RunState
from graph.transaction import rollback_journaled
from tools.errors import AeError, TransientError
from tools.timings import span


def guarded(name: str, phase: Node) -> Node:
    """``phase`` as a graph node that restarts on lasting transient faults and never leaks an AeError."""

    @functools.wraps(phase)
    def node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = runtime.context
        restarts = 0
        while True:
            try:
                with span(f"phase {name}"):
                    return phase(state, runtime)
            except TransientError as exc:
                if restarts >= ctx.phase_restarts:
                    return _end_failed(ctx, state, name, exc)
                restarts += 1
                ctx.progress(
                    name,
                    f"a transient fault outlasted its retries ({exc.message}); "
                    f"repeating {name} from its start (restart {restarts} of {ctx.phase_restarts})",
                    ok=False,
                )
            except AeError as exc:
                return _end_failed(ctx, state, name, exc)

    return node


def _end_failed(ctx: RunContext, state: RunState, name: str, exc: AeError) -> dict[str, Any]:
    reason = f"{name} stopped by an infrastructure fault: {exc}"
    ctx.progress(name, reason, ok=False)
    discarded = discard_audit(ctx, state)  # nothing is published: the warehouse stays as it was
    if undone := rollback_journaled(state.get("applied"), ctx.run_dir, warehouse=ctx.warehouse_now()):
        ctx.progress(name, undone.describe())
    return {"status": "failed", "reason": reason, "applied": None, "needs_repair": False, **discarded}
