"""`ae undo RUN_ID` (and chat's /undo): bring a project back from a run.

A run killed mid-way (or stopped by a damaged file) may leave its changeset on disk; a finished run
can be undone too. Its journal (``.ae/runs/RUN_ID/applied.json``) says what each file was before;
when that journal is unreadable, the run's last checkpoint holds the same record. The undo takes
the project's lock, so it never races a live run, and keeps any file changed since the run wrote it.

Everything is checked before anything changes, and a refusal changes nothing (exit 3): a journal
path outside the project (graph/transaction.py), relations in another warehouse than the profile
names now or in a protected location, and newer runs or files that need what the undo removes
(agent/undo_order.py). A file a newer run changed too does not block the undo when the run's own
lines come out of it cleanly (agent/undo_revert.py): the newer lines stay.

What the run taught memory (its models, the conventions they set, its failure) is forgotten with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.memory.learn import unlearn_run
from agent.memory.project_memory import open_project_memory
from agent.runs import read_record, run_folder
from agent.settings import Settings
from agent.store import RunStore, open_checkpointer
from agent.undo_order import blockers, describe
from agent.undo_revert import through_revert
from graph.transaction import (
    RELATIONS_JOURNAL,
    LeftAudit,
    Rollback,
    UndoPlan,
    WarehouseNow,
    load_applied,
    load_relations,
    prepare_rollback,
)
from tools.audit.record import AUDIT_FOLDER
from tools.audit.schema_audit import STATE_FOLDER, audit_schema_name
from tools.errors import AeError, ApprovalRequired, ConfigurationError, InvalidArguments
from tools.journal import DamagedJournal
from tools.profiles import read_profile
from tools.protection import protection_of
from tools.warehouse_port import Warehouse, adapter_warehouse
from tools.warehouse_undo import server_of


class UndoRefused(ApprovalRequired):
    """The undo would act where the run did not, or break newer work: nothing was changed (exit 3)."""


def _applied_from_checkpoint(settings: Settings, run_id: str) -> dict[str, Any] | None:
    with open_checkpointer(settings.store_url, settings.state_dir) as saver:
        saved = saver.get_tuple({"configurable": {"thread_id": run_id}})
    if saved is None:
        return None
    applied: dict[str, Any] | None = saved.checkpoint.get("channel_values", {}).get("applied")
    return applied


def _warehouse_now(settings: Settings, target: str | None) -> WarehouseNow:
    """The run's target as the profile resolves it now, and which of its locations are protected."""
    profile = read_profile(settings.project_dir, target, settings.profiles_dir, profile=settings.profile)
    chosen = profile.target

    def protected(relation: str) -> str | None:
        # the relation's own schema decides, so a dev target's build into prod's schema is caught
        here = chosen.model_copy(update={"schema_name": relation.split(".", 2)[1]})
        verdict = protection_of(
            here,
            profile.targets,
            protected_targets=settings.protected_targets,
            protected_schemas=settings.protected_schemas,
        )
        return verdict.reason if verdict.protected else None

    if chosen.path is not None:
        return WarehouseNow(chosen.path, chosen.target, protected)

    @contextmanager
    def opened() -> Iterator[Warehouse]:
        # a server is reached only through dbt's adapter: an engine on the run's target, for the drop
        with settings.open_engine(chosen.target) as engine:
            yield adapter_warehouse(engine)

    schema = chosen.schema_name or "public"
    return WarehouseNow(None, chosen.target, protected, server=server_of(chosen), open=opened, schema=schema)


def _plan(settings: Settings, run_id: str, run_dir: Path) -> UndoPlan:
    applied: dict[str, Any] | None = None
    try:
        load_applied(run_dir)
    except DamagedJournal:
        applied = _applied_from_checkpoint(settings, run_id)
        if applied is None:
            raise  # neither record survives: the error says what to do by hand
    relations = load_relations(run_dir)
    record = read_record(settings.state_dir, run_id)
    warehouse = None
    if relations is not None:
        target = relations.target or (record.target if record else None) or settings.target
        try:
            warehouse = _warehouse_now(settings, target)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"cannot tell where run {run_id}'s relations are now: {exc.message}",
                hint=f"fix the profile and run the undo again, or delete {run_dir / RELATIONS_JOURNAL} "
                "to restore only the files (the relations then stay)",
            ) from None
    left = _left_audit(settings, run_id, run_dir, (record.target if record else None) or settings.target)
    return prepare_rollback(applied, run_dir, warehouse=warehouse, left_audit=left)


def _left_audit(settings: Settings, run_id: str, run_dir: Path, target: str | None) -> LeftAudit | None:
    """The audit schemas a run stopped before Publish (killed, paused, failed while dropping them)
    left on a server: its audit folder still holds the deferred state. Named as the run named them,
    from its id and the target's schema (``audit_schema_name``, always ``<schema>__ae_<id>``), never
    from what a file in the folder says."""
    if not (run_dir / AUDIT_FOLDER / STATE_FOLDER).is_dir():
        return None
    try:
        now = _warehouse_now(settings, target)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"cannot tell where run {run_id}'s audit schemas are: {exc.message}",
            hint="fix the profile and run the undo again, or drop the schemas named "
            f"<schema>__ae_{run_id.rsplit('-', 1)[-1]}* by hand and delete {run_dir / AUDIT_FOLDER}",
        ) from None
    if now.open is None:
        return None  # a DuckDB file: its audit copy is released with the folder
    return LeftAudit(schema=audit_schema_name(now.schema, run_id), open=now.open)


def undo(settings: Settings, run_id: str, *, notify: Callable[[str], None]) -> Rollback | None:
    """Roll back what run ``run_id`` left on disk and in the warehouse; None when it left nothing.
    UndoRefused (nothing changed) when part of it may not or should not be undone."""
    run_dir = run_folder(settings.state_dir, run_id)
    if run_dir is None:
        raise InvalidArguments(
            f"no run {run_id!r} in {settings.state_dir / 'runs'}",
            hint=f"`ae runs --project {settings.project_dir}` lists the project's runs and their ids",
        )
    store = RunStore(settings.store_url, settings.state_dir)
    try:
        with store.project_lock(settings.project_dir, f"undo {run_id}", notify=notify):
            plan = _plan(settings, run_id, run_dir)
            refusals = plan.refusals()
            through = through_revert(plan)
            blocked = [b for b in blockers(plan, settings.state_dir, run_id) if b.path not in through]
            if blocked:
                refusals.append(describe(blocked, run_id, settings.project_dir))
            if refusals:
                raise UndoRefused("refused, nothing changed: " + "\n".join(refusals))
            undone = plan.carry_out()
            if undone is not None:
                undone = _forget(settings, run_id, undone)
        if undone is not None and store.get(run_id) is not None:
            store.finish(run_id, status="rolled_back", reason="undone by `ae undo`", report_dir=None)
        return undone
    finally:
        store.close()


def _forget(settings: Settings, run_id: str, undone: Rollback) -> Rollback:
    """``undone`` with what the run taught memory forgotten; a store that fails is said, not raised:
    the project is already undone."""
    if not settings.memory:
        return undone
    try:
        with open_project_memory(settings) as memory:
            return replace(undone, forgotten=unlearn_run(memory, run_id))
    except AeError as exc:
        note = (
            f"memory still holds what the run taught ({exc.message}): `ae memory list` shows it and "
            "`ae memory forget KIND KEY` removes it"
        )
        return replace(undone, error="; ".join(filter(None, [undone.error, note])))


def undo_run(settings: Settings, run_id: str, *, notify: Callable[[str], None]) -> str:
    """``undo``, said in one line for ``ae undo``."""
    undone = undo(settings, run_id, notify=notify)
    return f"run {run_id}: {undone.describe()}" if undone else f"run {run_id} left nothing to undo"
