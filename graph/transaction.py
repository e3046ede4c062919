"""Applying a plan's changeset so that it can be undone exactly, even after the process dies.

A journal in the run directory holds what the changeset replaces *before* any file is written
(write-ahead), then the full record after. A resumed run finds the journal: if the disk already
holds the changeset it is not applied twice; if it holds a half-applied one, that is undone first.

A journal is read back as untrusted input (it may have been edited, planted, or copied with the
project): its paths are relative to the project it is read in, each is checked before anything is
touched (``prepare_rollback``), and a warehouse outside the project is touched only when the
project reading the journal is the one that wrote it and, at ``ae undo``, when the profile still
names that warehouse (``WarehouseNow``): the same DuckDB file, or the same server and database.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import Field

from tools.audit.duckdb_publish import restore_duckdb
from tools.audit.file_audit import copy_folder, release
from tools.audit.history import history_dir
from tools.audit.record import AUDIT_FOLDER, PUBLICATION_JOURNAL, Publication, changed_since
from tools.audit.schema_audit import drop_audit_schemas
from tools.audit.schema_publish import kept_relations, restore_schema
from tools.changeset import AppliedChangeset, Changeset, PriorFile, RolledBack
from tools.errors import AeError, PathRefused
from tools.installed_packages import LOCK_FILE, InstalledPackages, PackagesUndo, after_deps, before_deps
from tools.journal import DamagedJournal, ProjectStamp, load, save
from tools.manifest import target_dir
from tools.paths import STATE_DIR, ProjectPaths, inside_project, recorded_location, refuse_state_links
from tools.warehouse_port import Warehouse, duckdb_warehouse
from tools.warehouse_undo import drop_relations

JOURNAL = "applied.json"
#: relations Execute built, for a rollback to drop the ones it created
RELATIONS_JOURNAL = "relations.json"
#: where dbt's own output stood when the changeset was applied (see ArtifactMark)
ARTIFACTS_JOURNAL = "artifacts.json"
#: what the run's ``dbt deps`` installed (tools/installed_packages.py)
PACKAGES_JOURNAL = "packages.json"


def _damaged_hint(run_dir: Path) -> str:
    return (
        f"`ae undo {run_dir.name}` falls back to the run's checkpoint; failing that, restore the "
        "project's files from version control (`git status` shows what changed) and delete the file"
    )


def load_applied(run_dir: Path) -> AppliedChangeset | None:
    """The run's applied-changeset journal; None when there is none, DamagedJournal when unreadable."""
    return load(run_dir / JOURNAL, AppliedChangeset, what_to_do=_damaged_hint(run_dir))


def apply_journaled(changeset: Changeset, paths: ProjectPaths, run_dir: Path) -> AppliedChangeset:
    journal = run_dir / JOURNAL
    previous = load_applied(run_dir)
    if previous is not None:
        if changeset.is_applied(paths):
            return previous  # resumed after apply: the files are already in place
        previous.rollback(paths, source=str(journal))
    mark_artifacts(paths.root, run_dir)
    priors = AppliedChangeset.stamped(
        paths.root,
        priors=[
            PriorFile.capture(c.path, paths.resolve(c.path, must_exist=False), after=c.content)
            for c in changeset.changes
        ],
    )
    save(journal, priors)  # write-ahead: what will be replaced is on disk before anything is
    applied = changeset.apply(paths)
    save(journal, applied)
    return applied


class ArtifactMark(ProjectStamp):
    """dbt's output folders as they were at apply, so a rollback can take back what the run wrote.

    dbt writes compiled SQL, run_results.json and its log as it goes; after a failed run they hold
    the rolled-back code, compiled with whatever values it read (secrets included). A rollback
    deletes the files under target/ written since the mark (dbt regenerates them; a missing
    partial-parse file only costs one full parse) and truncates logs/dbt.log to its size then.
    Both places are recorded relative to the project when inside it (``recorded_location``).
    """

    since_ns: int
    target_dir: str
    log_file: str
    #: None when the log did not exist: the run created it, so the rollback removes it
    log_size: int | None


#: kernels stamp files with a coarse clock that can lag time.time_ns(); a file the run wrote
#: just after the mark must not look older than it
_CLOCK_SLACK_NS = 1_000_000_000


def dbt_output(root: Path) -> tuple[Path, Path]:
    """Where dbt writes for the project now: its target folder (tools/manifest.py ``target_dir``; a
    run's engine passes no ``--target-path``) and its log file (dbt runs with the working directory at
    the project, so relative settings are relative to it)."""
    target = target_dir(root)
    log_file = root / os.environ.get("DBT_LOG_PATH", "logs") / "dbt.log"
    return target.resolve(), log_file.resolve()


def mark_artifacts(root: Path, run_dir: Path) -> None:
    """Record where dbt's output stands; a resumed run keeps the first mark."""
    journal = run_dir / ARTIFACTS_JOURNAL
    refuse_state_links(journal)
    if journal.exists():
        return
    target_dir, log_file = dbt_output(root)
    save(
        journal,
        ArtifactMark.stamped(
            root,
            since_ns=time.time_ns() - _CLOCK_SLACK_NS,
            target_dir=recorded_location(root, target_dir),
            log_file=recorded_location(root, log_file),
            log_size=log_file.stat().st_size if log_file.is_file() else None,
        ),
    )


def keep_artifacts(run_dir: Path) -> None:
    """A successful run's dbt output is the person's to keep: no later undo takes it back."""
    refuse_state_links(run_dir)
    for mark in run_dir.rglob(ARTIFACTS_JOURNAL):
        mark.unlink()


@contextmanager
def journaled_deps(root: Path, run_dir: Path) -> Iterator[None]:
    """Around a run's ``dbt deps``: journal the lock file and the package folders it installs, so
    that the run's rollback and a later ``ae undo`` remove them. Written before deps runs (a crash
    inside it still leaves what to take back) and completed when it returns or fails; a run that
    runs deps again keeps what stood before its first."""
    journal = run_dir / PACKAGES_JOURNAL
    first = _load_packages(run_dir)
    if first is None:
        first = before_deps(root)
        save(journal, first)
    try:
        yield
    finally:
        save(journal, after_deps(first, root))


def _load_packages(run_dir: Path) -> InstalledPackages | None:
    return load(
        run_dir / PACKAGES_JOURNAL,
        InstalledPackages,
        what_to_do=f"remove what dbt deps installed by hand ({LOCK_FILE}, dbt_packages/), then delete it",
    )


class BuiltRelations(ProjectStamp):
    """What Execute built in the warehouse: relations it created, and existing ones it rebuilt."""

    #: the target's DuckDB file, relative to the project when inside it (``recorded_location``)
    warehouse: str = ""
    adapter: str = "duckdb"
    #: a warehouse that is no file: its server and database (``tools.warehouse_undo.server_of``)
    server: str = ""
    #: the dbt target the run built on ("" in a journal from an older ae)
    target: str = ""
    #: an older ae's absolute file, read only when ``warehouse`` is empty
    db_path: str = ""
    created: list[str] = Field(default_factory=list)
    replaced: list[str] = Field(default_factory=list)


def built_relations(
    root: Path,
    db_path: Path | None,
    target: str,
    created: list[str],
    replaced: list[str],
    *,
    adapter: str = "duckdb",
    server: str = "",
) -> BuiltRelations:
    """The journal record of a build in the project at ``root``: on the DuckDB file ``db_path``, or
    (``db_path`` None) on ``adapter``'s ``server``."""
    return BuiltRelations.stamped(
        root,
        warehouse=recorded_location(root, db_path) if db_path is not None else "",
        adapter=adapter,
        server=server if db_path is None else "",
        target=target,
        created=created,
        replaced=replaced,
    )


def record_built_relations(run_dir: Path, built: BuiltRelations) -> None:
    """Journal the relations a build created, so that a rollback (now or after a crash) drops them."""
    save(run_dir / RELATIONS_JOURNAL, built)


def load_relations(run_dir: Path) -> BuiltRelations | None:
    return load(
        run_dir / RELATIONS_JOURNAL, BuiltRelations, what_to_do="drop the relations the run created by hand"
    )


def _never_protected(_relation: str) -> str | None:
    return None


#: opens a warehouse for the time of a drop (an adapter's engine is closed after)
OpenWarehouse = Callable[[], AbstractContextManager[Warehouse]]


@dataclass(frozen=True)
class WarehouseNow:
    """The warehouse the run's target names now, from the profile as it is at undo time."""

    #: the target's DuckDB file; None when the target is not a DuckDB file
    path: Path | None
    target: str = ""
    #: why a relation (``db.schema.name``) may not be dropped without the person (a protected
    #: location), or None when it may
    protected: Callable[[str], str | None] = _never_protected
    #: a target that is no DuckDB file: its server (``tools.warehouse_undo.server_of``) and how to
    #: open it (through dbt's adapter); None for a file, which ae opens itself
    server: str = ""
    open: OpenWarehouse | None = None
    #: the target's schema, beside which a run's audit schemas are named (audit_schema_name)
    schema: str = ""


@dataclass(frozen=True)
class LeftAudit:
    """The audit schemas a stopped run left on a server (``<schema>__ae_<run>`` and its siblings):
    built, maybe tested, never published, so nothing in them is anyone's but the run's."""

    schema: str
    open: OpenWarehouse


@dataclass(frozen=True)
class Rollback:
    """What undoing a run did: files restored or kept, relations dropped or left rebuilt."""

    files: bool
    #: files changed by someone else since this run wrote them: kept, not overwritten
    conflicts: list[str] = field(default_factory=list)
    #: files changed by someone else since, from which only the run's own lines were taken out
    reverted: list[str] = field(default_factory=list)
    #: package folders the run's ``dbt deps`` installed, removed
    packages: list[str] = field(default_factory=list)
    #: dbt output files the run wrote (target/, logs/dbt.log) taken back
    artifacts: int = 0
    dropped: list[str] = field(default_factory=list)
    #: relations the run replaced, put back as they were before it (write-audit-publish's history)
    restored: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    error: str | None = None
    #: memories of what the run taught, forgotten with it (``ae undo``: agent/memory/learn.py)
    forgotten: int = 0
    #: the audit schemas a stopped run left unpublished, dropped with what they held
    audit_dropped: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts: list[str] = []
        if self.files and self.conflicts:
            parts.append(
                f"rolled the changeset back except {', '.join(self.conflicts)}: changed since this run "
                "wrote them, so the newer version was kept; check them by hand"
            )
        elif self.files and not self.reverted:
            parts.append("rolled the changeset back; the project's files are as they were")
        elif self.files:
            parts.append("rolled the changeset back")
        if self.files and self.reverted:
            parts.append(
                f"took only this run's own lines out of {', '.join(self.reverted)}: changed since, "
                "the newer lines were kept"
            )
        if self.packages:
            parts.append(f"removed the package(s) the run's dbt deps installed: {', '.join(self.packages)}")
        if self.artifacts:
            parts.append(f"removed {self.artifacts} dbt output file(s) the run wrote (target/, logs/)")
        if self.dropped:
            parts.append(
                f"dropped {len(self.dropped)} relation(s) the run created: {', '.join(self.dropped)}"
            )
        if self.restored:
            parts.append(
                f"restored {len(self.restored)} relation(s) the run replaced, as they were before it: "
                f"{', '.join(self.restored)}"
            )
        if self.replaced:
            names = " ".join(r.rsplit(".", 1)[-1] for r in self.replaced)
            parts.append(
                f"{', '.join(self.replaced)} were rebuilt by the run and keep its data: "
                f"rebuild them from the restored files with `dbt build --select {names}`"
            )
        if self.audit_dropped:
            parts.append(
                f"dropped the audit schema(s) the run left unpublished: {', '.join(self.audit_dropped)}"
            )
        if self.forgotten:
            many = "memory" if self.forgotten == 1 else "memories"
            parts.append(f"forgot {self.forgotten} {many} of what the run taught (`ae memory list`)")
        if self.error:
            parts.append(self.error)
        return "; ".join(parts)


@dataclass(frozen=True)
class UndoPlan:
    """A run's rollback with every journal read and checked, before anything is touched."""

    run_dir: Path
    paths: ProjectPaths
    record: AppliedChangeset | None
    #: where the record came from, for messages (the journal, or the run's checkpoint)
    source: str
    #: the checked places of dbt's output to take back (None: nothing to take back there)
    target_dir: Path | None = None
    log_file: Path | None = None
    mark: ArtifactMark | None = None
    relations: BuiltRelations | None = None
    #: opens the warehouse the relations are dropped from, once checked (a DuckDB file or a server)
    warehouse: OpenWarehouse | None = None
    #: why the relations may not be dropped from here; None when they may
    relations_refused: str | None = None
    #: relations in a protected location, with the reason: never dropped without the person
    protected: list[tuple[str, str]] = field(default_factory=list)
    #: what the run's ``dbt deps`` installed, checked
    packages: PackagesUndo | None = None
    #: what the run published (write-audit-publish): its replaced relations are restored from
    #: ``history``, not left holding the run's data
    publication: Publication | None = None
    history: Path | None = None
    #: the audit schemas a stopped run left on a server, dropped with its audit folder
    left_audit: LeftAudit | None = None

    def removed_files(self) -> list[str]:
        """The files this rollback deletes: created by the run and unchanged since."""
        if self.record is None:
            return []
        targets = self.record.targets(self.paths, source=self.source)
        return [p.path for p in self.record.priors if p.undo_deletes(targets[p.path])]

    def dropped_relations(self) -> list[str]:
        """The relations this rollback drops (``db.schema.name``), when it may drop them."""
        if self.relations is None or self.relations_refused is not None:
            return []
        kept = {name for name, _ in self.protected}
        return [r for r in self.relations.created if r not in kept]

    def refusals(self) -> list[str]:
        """What ``ae undo`` must not do from here, in words; empty when the whole run can be undone."""
        reasons = [self.relations_refused] if self.relations_refused else []
        if self.protected:
            listed = "; ".join(f"{name} ({why})" for name, why in self.protected)
            reasons.append(
                f"the run created relations in a protected location, which an undo never drops: {listed}. "
                f"Drop them by hand if they should go, then delete {self.run_dir / RELATIONS_JOURNAL} "
                "and run the undo again to restore the files"
            )
        return reasons

    def reverted_files(self) -> dict[str, bytes]:
        """The files others changed since the run wrote them from which the rollback takes out only
        the run's own lines (a clean three-way revert, tools/revert_merge.py), each with the bytes it
        leaves. A newer run that changed such a file keeps its lines: it does not block the undo."""
        return self.record.reverted_files(self.paths, source=self.source) if self.record else {}

    def carry_out(self) -> Rollback | None:
        """Undo what the plan holds; None when the run had nothing to undo."""
        files = self.record.rollback(self.paths, source=self.source) if self.record else RolledBack()
        (self.run_dir / JOURNAL).unlink(missing_ok=True)
        # an audit a stopped run left unpublished: nothing of it reached the warehouse's own relations
        audit_dropped, audit_error = self._drop_left_audit()
        if audit_error is None:  # kept otherwise: the next undo tries again
            shutil.rmtree(self.run_dir / AUDIT_FOLDER, ignore_errors=True)
        release(copy_folder(self.paths.root), self.run_dir.name)
        removed, lock = self._take_back_packages()
        undone = Rollback(
            files=self.record is not None or self.packages is not None,
            conflicts=[*files.conflicts, *([LOCK_FILE] if lock == "kept" else [])],
            reverted=[*files.reverted, *([LOCK_FILE] if lock == "reverted" else [])],
            packages=removed,
            artifacts=self._clean_artifacts(),
            audit_dropped=audit_dropped,
            error=audit_error,
        )
        if self.relations is None:
            return undone if undone.files or audit_dropped or audit_error else None
        dropped = self._drop(self.relations)
        return replace(
            dropped,
            files=undone.files,
            conflicts=undone.conflicts,
            reverted=undone.reverted,
            packages=undone.packages,
            artifacts=undone.artifacts,
            audit_dropped=audit_dropped,
            error="; ".join(filter(None, [dropped.error, audit_error])) or None,
        )

    def _drop_left_audit(self) -> tuple[list[str], str | None]:
        """Drop the audit schemas a stopped run left: (the schemas dropped, what went wrong)."""
        if self.left_audit is None:
            return [], None
        try:
            with self.left_audit.open() as warehouse:
                return drop_audit_schemas(warehouse, self.left_audit.schema), None
        except AeError as exc:
            return [], (
                f"could not drop the run's audit schema {self.left_audit.schema} and its "
                f"{self.left_audit.schema}_* siblings ({exc}): drop them by hand, or run the undo again"
            )

    def _take_back_packages(self) -> tuple[list[str], str | None]:
        """Remove what the run's ``dbt deps`` installed: (entries removed, what became of the lock)."""
        if self.packages is None:
            return [], None
        removed, lock = self.packages.take_back()
        (self.run_dir / PACKAGES_JOURNAL).unlink(missing_ok=True)
        return removed, lock

    def _drop(self, built: BuiltRelations) -> Rollback:
        if self.relations_refused is not None or self.warehouse is None:
            return Rollback(files=False, replaced=built.replaced, error=self.relations_refused)
        if self.publication is not None:
            return self._restore(self.publication)
        try:
            with self.warehouse() as warehouse:
                dropped = drop_relations(warehouse, self.dropped_relations())
        except AeError as exc:
            return Rollback(
                files=False, replaced=built.replaced, error=f"could not drop {built.created}: {exc}"
            )
        if not self.protected:  # a relation left in a protected location stays journaled
            (self.run_dir / RELATIONS_JOURNAL).unlink(missing_ok=True)
        return Rollback(files=False, dropped=dropped, replaced=built.replaced)

    def _restore(self, publication: Publication) -> Rollback:
        """Put back what the run replaced and drop what it created, in one transaction."""
        try:
            if isinstance(self.warehouse, _FileWarehouse) and self.history is not None:
                restored, dropped = restore_duckdb(self.warehouse.place, self.history, publication)
            elif self.warehouse is not None:
                with self.warehouse() as warehouse:
                    restored, dropped = restore_schema(warehouse, self.run_dir.name, publication)
            else:
                return Rollback(files=False, error="no warehouse to restore the run's relations in")
        except AeError as exc:
            return Rollback(files=False, error=f"could not restore the warehouse: {exc}")
        save(self.run_dir / PUBLICATION_JOURNAL, publication.model_copy(update={"state": "undone"}))
        (self.run_dir / RELATIONS_JOURNAL).unlink(missing_ok=True)
        return Rollback(files=False, dropped=dropped, restored=restored)

    def _clean_artifacts(self) -> int:
        """Take back dbt's output written since the mark; returns how many files were removed or cut."""
        if self.mark is None:
            return 0
        cleaned = 0
        target = self.target_dir
        for path in sorted(target.rglob("*"), reverse=True) if target and target.is_dir() else []:
            status = path.lstat()
            if stat.S_ISREG(status.st_mode) and status.st_mtime_ns >= self.mark.since_ns:
                path.unlink()
                cleaned += 1
            elif stat.S_ISDIR(status.st_mode) and not any(path.iterdir()):
                path.rmdir()
        log_file, size = self.log_file, self.mark.log_size
        if log_file is not None and log_file.is_file() and not log_file.is_symlink():
            if size is None:
                log_file.unlink()
                cleaned += 1
            elif log_file.stat().st_size > size:
                # dbt appends to its log: cutting it back removes exactly the run's lines
                os.truncate(log_file, size)
                cleaned += 1
        (self.run_dir / ARTIFACTS_JOURNAL).unlink()
        return cleaned


def project_of(run_dir: Path, record: ProjectStamp | None) -> Path:
    """The project a run folder belongs to: the folder holding its ``.ae``. A run folder kept outside
    any project (a library caller's choice) belongs to the project its record names."""
    parts = run_dir.parts
    if STATE_DIR in parts:
        return Path(*parts[: len(parts) - 1 - parts[::-1].index(STATE_DIR)])
    if record is not None and record.root:
        return Path(record.root)
    raise DamagedJournal(
        f"cannot tell which project the run folder {run_dir} belongs to",
        hint="undo a run from inside its project's .ae/runs/",
    )


def prepare_rollback(
    applied: dict[str, Any] | None,
    run_dir: Path,
    *,
    warehouse: WarehouseNow | None = None,
    left_audit: LeftAudit | None = None,
) -> UndoPlan:
    """Read and check every journal of the run (``applied``: the record from the run's state, which
    wins over the journal). DamagedJournal, naming the journal and the entry, when a path is not
    this project's: then nothing of the run may be undone.

    ``warehouse``: the target's warehouse as the profile names it now (``ae undo``); the relations
    are dropped only there. None (a run's own rollback) trusts the journal's warehouse when it is
    inside the project, or outside it when this project wrote the journal. ``left_audit``: the
    audit schemas a stopped run left on a server (``ae undo``), dropped with its audit folder.
    """
    refuse_state_links(run_dir)
    record = AppliedChangeset.model_validate(applied) if applied else load_applied(run_dir)
    source = f"the state of run {run_dir.name}" if applied else str(run_dir / JOURNAL)
    mark = load(
        run_dir / ARTIFACTS_JOURNAL, ArtifactMark, what_to_do="delete it; dbt's target/ can be removed safely"
    )
    relations = load_relations(run_dir)
    installed = _load_packages(run_dir)
    root = project_of(run_dir, record or relations or mark or installed)
    paths = ProjectPaths.for_project(root)
    if record is not None:
        record.targets(paths, source=source)  # refuses the whole run on one bad path
    packages = None
    if installed is not None:
        try:
            packages = PackagesUndo.checked(installed, paths)
        except PathRefused as exc:
            raise DamagedJournal(
                f"{run_dir / PACKAGES_JOURNAL} names what is not this project's to touch: {exc.message}; "
                "nothing of the run was undone",
                hint="a journal ae wrote names the project's packages folder and the packages dbt deps "
                "put in it: this one was edited or planted; remove what dbt deps installed by hand "
                f"({LOCK_FILE}, dbt_packages/) and delete it",
            ) from None
    plan = UndoPlan(
        run_dir=run_dir,
        paths=paths,
        record=record,
        source=source,
        mark=mark,
        relations=relations,
        packages=packages,
        left_audit=left_audit,
    )
    if mark is not None:
        target_dir, log_file = _mark_places(mark, run_dir / ARTIFACTS_JOURNAL, paths.root)
        plan = replace(plan, target_dir=target_dir, log_file=log_file)
    if relations is not None:
        plan = replace(plan, **_relations_places(relations, run_dir, paths.root, warehouse))
        plan = _with_publication(plan, run_dir, paths.root)
    return plan


def _with_publication(plan: UndoPlan, run_dir: Path, root: Path) -> UndoPlan:
    """``plan`` with the run's publication, once it is checked that the warehouse still holds what
    the run published and what it replaced is still kept (else ``relations_refused`` says why)."""
    journal = run_dir / PUBLICATION_JOURNAL
    publication = load(
        journal, Publication, what_to_do="restore the relations it names by hand, then delete it"
    )
    opener = plan.warehouse
    if publication is None or publication.state != "published" or plan.relations_refused is not None:
        return plan
    if opener is None:
        return plan
    history = None
    if isinstance(opener, _FileWarehouse):
        history = (root / publication.history).resolve()
        if not history.is_relative_to(history_dir(root).resolve()):
            raise _refused_entry(journal, publication.history, "kept versions live in .ae/warehouse-history/")
    try:
        with opener() as warehouse:
            missing = (
                [r.name for r in publication.replaced if r.kept_as]
                if history is not None and not history.is_file()
                else []
                if history is not None
                else kept_relations(warehouse, publication)
            )
            changed = changed_since(warehouse, publication) if not missing else []
    except AeError as exc:
        return replace(plan, relations_refused=f"could not read the warehouse to undo its relations: {exc}")
    refused = _publication_refused(missing, changed, run_dir)
    return replace(plan, publication=publication, history=history, relations_refused=refused)


def _publication_refused(missing: list[str], changed: list[str], run_dir: Path) -> str | None:
    """Why the run's publication cannot be undone now; None when it can."""
    if missing:
        return (
            f"the versions run {run_dir.name} replaced are no longer kept (only the latest runs' are: "
            f"the warehouse_history_runs setting); rebuild {', '.join(missing)} with dbt, or delete "
            f"{run_dir / RELATIONS_JOURNAL} and run the undo again to restore only the files"
        )
    if not changed:
        return None
    newer = sorted(
        other.parent.name
        for other in run_dir.parent.glob(f"*/{PUBLICATION_JOURNAL}")
        if other.parent.name > run_dir.name and _publishes(other, changed)
    )
    who = (
        f"run {', '.join(newer)} replaced them again"
        if newer
        else "they were changed since by something else"
    )
    first = f"`ae undo {newer[-1]}` first" if newer else "rebuild them with dbt"
    return (
        f"{', '.join(changed)} no longer hold what run {run_dir.name} published: {who}. Undo {first}, "
        "then this run; nothing was changed"
    )


def _publishes(journal: Path, names: list[str]) -> bool:
    try:
        other = Publication.model_validate_json(journal.read_bytes())
    except (OSError, ValueError):
        return False
    return other.state == "published" and any(r.name in names for r in other.relations)


def rollback_journaled(
    applied: dict[str, Any] | None, run_dir: Path, *, warehouse: WarehouseNow | None = None
) -> Rollback | None:
    """Undo what the run applied and built; None when it had nothing to undo (``prepare_rollback``)."""
    return prepare_rollback(applied, run_dir, warehouse=warehouse).carry_out()


def _refused_entry(journal: Path, entry: str, why: str) -> DamagedJournal:
    return DamagedJournal(
        f"{journal} names {entry!r}, which is not this project's to touch ({why}); "
        "nothing of the run was undone",
        hint="a journal ae wrote only names places inside its project or the ones its settings name: "
        "this one was edited or planted; restore the files from version control (`git status`) "
        "and delete it",
    )


def _checked_place(root: Path, recorded: str, journal: Path) -> Path:
    """A place a journal recorded, relative to the project (checked) or absolute (returned as is)."""
    if Path(recorded).is_absolute():
        return Path(recorded)
    try:
        return inside_project(root, recorded)
    except PathRefused as exc:
        raise _refused_entry(journal, recorded, exc.message) from None


def _mark_places(mark: ArtifactMark, journal: Path, root: Path) -> tuple[Path | None, Path | None]:
    """The artifact mark's places, each inside the project or exactly where dbt writes for it now
    (an absolute DBT_TARGET_PATH / DBT_LOG_PATH); one shared with the project this one was copied
    from is left alone (None)."""
    places: list[Path | None] = []
    for recorded, now in zip((mark.target_dir, mark.log_file), dbt_output(root), strict=True):
        place = _checked_place(root, recorded, journal)
        if place.resolve().is_relative_to(root.resolve()):
            places.append(place)
        elif place != now:
            raise _refused_entry(
                journal, recorded, "outside the project, and not where dbt writes for it now"
            )
        else:
            places.append(place if mark.written_in(root) else None)
    return places[0], places[1]


def _relations_places(
    built: BuiltRelations, run_dir: Path, root: Path, now: WarehouseNow | None
) -> dict[str, Any]:
    """Where the journal's relations may be dropped (``warehouse``), or why not (``relations_refused``),
    and which of them are in a protected location (``protected``)."""
    journal = run_dir / RELATIONS_JOURNAL
    recorded = built.warehouse or built.db_path
    if not recorded and not built.server:
        raise _refused_entry(journal, "", "it names no warehouse")
    for relation in built.created:
        if len([part for part in relation.split(".", 2) if part]) != 3:
            raise _refused_entry(journal, relation, "not a database.schema.name")
    undo = f"`ae undo {run_dir.name} --project {root}`"
    names = ", ".join(built.created) or "nothing"
    files_only = (
        f"to restore only the files, delete {journal} and run {undo} again "
        "(the relations then stay where they are)"
    )
    if recorded:
        place = _checked_place(root, recorded, journal)
        where = str(place)
        opener, refused = _file_place(place, now, f"{undo} again", names, files_only)
    else:
        where = built.server
        opener, refused = _server_place(built, now, f"{undo} again", names, files_only)
    if refused is None and opener is not None and not built.written_in(root) and not _inside(opener, root):
        original = built.root or "another project (the journal is from an older ae)"
        refused = (
            f"this project is a copy of {original}, and the run built in {where}, a "
            f"warehouse outside both, which the original uses: undo the run there with `ae undo "
            f"{run_dir.name} --project {original}`; here, {files_only}"
        )
    protected = (
        [(r, why) for r in built.created if (why := now.protected(r)) is not None] if now is not None else []
    )
    return {"warehouse": opener, "relations_refused": refused, "protected": protected}


@dataclass(frozen=True)
class _FileWarehouse:
    """Opens a DuckDB file the journal named, once checked."""

    place: Path

    def __call__(self) -> AbstractContextManager[Warehouse]:
        return nullcontext(duckdb_warehouse(self.place))


def _inside(opener: OpenWarehouse, root: Path) -> bool:
    """Whether the warehouse is a file inside the project (a server never is)."""
    return isinstance(opener, _FileWarehouse) and opener.place.resolve().is_relative_to(root.resolve())


def _file_place(
    place: Path, now: WarehouseNow | None, again: str, names: str, files_only: str
) -> tuple[OpenWarehouse | None, str | None]:
    """The DuckDB file the run built in, when the profile still names it."""
    if now is not None and now.path is None:
        return None, (
            f"the run built in the DuckDB file {place}, but target {now.target!r} is no longer a DuckDB "
            f"file in the profile; drop {names} there by hand, or {files_only}"
        )
    if now is not None and now.path is not None and now.path.resolve() != place.resolve():
        return None, (
            f"the run built in {place}, but the profile now points target {now.target!r} at {now.path}: "
            f"an undo drops relations only where the run built them. Point the target back at {place} "
            f"and run {again}, or drop {names} there by hand; {files_only}"
        )
    return _FileWarehouse(place), None


def _server_place(
    built: BuiltRelations, now: WarehouseNow | None, again: str, names: str, files_only: str
) -> tuple[OpenWarehouse | None, str | None]:
    """The server and database the run built in, when the profile still names them; only the
    profile's target can open it (ae holds no credentials of its own)."""
    if now is None or now.open is None:
        where = f"target {now.target!r} is now a DuckDB file" if now is not None else "no profile was read"
        return None, (
            f"the run built in {built.server}, but {where}: ae reaches a {built.adapter} warehouse only "
            f"through the profile's target; drop {names} there by hand, or {files_only}"
        )
    if now.server != built.server:
        return None, (
            f"the run built in {built.server}, but the profile now points target {now.target!r} at "
            f"{now.server}: an undo drops relations only where the run built them. Point the target back "
            f"at {built.server} and run {again}, or drop {names} there by hand; {files_only}"
        )
    return now.open, None


def merge_applied(first: AppliedChangeset, second: AppliedChangeset) -> AppliedChangeset:
    """One record for two consecutive applies (Document's description edits after Validate's):
    each path keeps its state before the first and the bytes the second left."""
    later = {p.path: p for p in second.priors}
    known = {p.path for p in first.priors}
    merged = [
        p.model_copy(
            update={"after_sha256": later[p.path].after_sha256, "after_b64": later[p.path].after_b64}
        )
        if p.path in later
        else p
        for p in first.priors
    ]
    return AppliedChangeset(
        root=first.root,
        root_id=first.root_id,
        priors=[*merged, *(p for p in second.priors if p.path not in known)],
        created_dirs=[*first.created_dirs, *second.created_dirs],
    )
