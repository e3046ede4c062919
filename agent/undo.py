"""`ae undo RUN_ID`: bring a project back from a run that was left half-applied.

A run killed mid-way (or stopped by a damaged file) may leave its changeset on disk. Its journal
(``.ae/runs/RUN_ID/applied.json``) says what each file was before; when that journal is damaged,
the run's last checkpoint holds the same record. The undo takes the project's lock, so it never
races a live run, and keeps any file changed since the run wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.settings import Settings
from agent.store import RunStore, open_checkpointer
from graph.transaction import load_applied, rollback_journaled
from tools.errors import InvalidArguments
from tools.journal import DamagedJournal


def _applied_from_checkpoint(settings: Settings, run_id: str) -> dict[str, Any] | None:
    with open_checkpointer(settings.store_url, settings.state_dir) as saver:
        saved = saver.get_tuple({"configurable": {"thread_id": run_id}})
    if saved is None:
        return None
    applied: dict[str, Any] | None = saved.checkpoint.get("channel_values", {}).get("applied")
    return applied


def undo_run(settings: Settings, run_id: str, *, notify: Callable[[str], None]) -> str:
    """Roll back what run ``run_id`` left on disk and in the warehouse; returns what was done."""
    run_dir = settings.state_dir / "runs" / run_id
    if not run_id or "/" in run_id or not run_dir.is_dir():
        raise InvalidArguments(
            f"no run {run_id!r} in {settings.state_dir / 'runs'}",
            hint=f"`ae runs --project {settings.project_dir}` lists the project's runs and their ids",
        )
    store = RunStore(settings.store_url, settings.state_dir)
    try:
        with store.project_lock(settings.project_dir, f"undo {run_id}", notify=notify):
            applied: dict[str, Any] | None = None
            try:
                load_applied(run_dir)
            except DamagedJournal:
                applied = _applied_from_checkpoint(settings, run_id)
                if applied is None:
                    raise  # neither record survives: the error says what to do by hand
            undone = rollback_journaled(applied, run_dir)
        if undone is None:
            return f"run {run_id} left nothing to undo"
        if store.get(run_id) is not None:
            store.finish(run_id, status="rolled_back", reason="undone by `ae undo`", report_dir=None)
        return f"run {run_id}: {undone.describe()}"
    finally:
        store.close()
