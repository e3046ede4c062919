"""Whether undoing a run would pull the ground from under newer work: runs undo newest first.

Undoing run A deletes the files A created and drops the relations it built. When a newer run B
(not undone or rolled back: its applied journal is still there) changed the same files, or B's
models use what A would remove (``ref``, ``source``, a macro), the undo would leave a project that
no longer parses, or tables built on nothing. The same holds for the person's own files. So the
undo is refused before anything changes, naming what depends on what, and the order to follow.

What depends on what is read two ways, both cheap: dbt's last manifest (tools/manifest.py:
``depends_on`` of every node) and the files' text (``ref('x')``, ``source('s', 't')``), which also
sees files written after the manifest.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from agent.runs import read_record, runs_dir
from graph.transaction import JOURNAL, UndoPlan, load_applied
from tools.changeset import AppliedChangeset
from tools.errors import ConfigurationError
from tools.manifest import Manifest

#: files whose text can name a model or source; bigger ones are data, not code
_CODE_SUFFIXES = (".sql", ".py", ".yml", ".yaml")
_MAX_SCANNED_BYTES = 1_000_000
#: folders that hold dbt's output, installed packages or other tools' data: never the project's code
_NOT_CODE = frozenset({"target", "dbt_packages", "dbt_modules", "logs", "node_modules"})
_REF = re.compile(r"""\bref\s*\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"])?""")
_SOURCE = re.compile(r"""\bsource\s*\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]""")
#: entries not looked at for what they need: sources depend on nothing; unit tests and functions are
#: left to dbt parse, which names them
_NOT_DEPENDENTS = frozenset({"source", "unit_test", "function"})


@dataclass(frozen=True)
class LiveRun:
    """A run whose changeset is still applied (its journal is there: not undone, not rolled back)."""

    run_id: str
    started: datetime
    request: str
    record: AppliedChangeset


@dataclass(frozen=True)
class Blocker:
    """One thing in the way: ``path`` (written by ``run``, or None: the person's file) needs ``needs``."""

    path: str
    needs: str
    run: LiveRun | None


def _started(state_dir: Path, run_id: str) -> tuple[datetime, str]:
    """When the run started and what it was asked (its record; else its journal's time)."""
    try:
        record = read_record(state_dir, run_id)
    except ConfigurationError:
        record = None
    if record is not None:
        return record.started_at, record.request
    journal = runs_dir(state_dir) / run_id / JOURNAL
    return datetime.fromtimestamp(journal.lstat().st_mtime, UTC), ""


def newer_live_runs(state_dir: Path, run_id: str) -> list[LiveRun]:
    """Runs started after ``run_id`` whose changeset is still applied, newest first. A run folder
    that is a link or holds a damaged journal is passed over: it is nothing ae could undo either."""
    started, _ = _started(state_dir, run_id)
    live: list[LiveRun] = []
    folder = runs_dir(state_dir)
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        if entry.name == run_id or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            record = load_applied(entry)
            if record is None:
                continue
            when, request = _started(state_dir, entry.name)
        except (ConfigurationError, OSError):
            continue
        if when > started:
            live.append(LiveRun(entry.name, when, request, record))
    return sorted(live, key=lambda run: run.started, reverse=True)


def blockers(plan: UndoPlan, state_dir: Path, run_id: str) -> list[Blocker]:
    """What newer runs and the person's files need from what undoing ``run_id`` removes."""
    if plan.record is None:
        return []
    newer = newer_live_runs(state_dir, run_id)
    touched = {prior.path for prior in plan.record.priors}
    found = [
        Blocker(path, "the same file (it changed it after this run)", run)
        for run in newer
        for path in sorted(touched & {prior.path for prior in run.record.priors})
    ]
    removed = _Removed.of(plan, _manifest(plan.paths.root))
    if removed.empty:
        return found
    owner = {p.path: run for run in reversed(newer) for p in run.record.priors}  # the newest wins
    needs: dict[str, set[str]] = {}
    for path, name in [
        *removed.manifest_dependents(plan.paths.root, touched),
        *removed.text_dependents(plan.paths.root, touched),
    ]:
        needs.setdefault(path, set()).add(name)
    found += [
        Blocker(path, ", ".join(sorted(names)), owner.get(path)) for path, names in sorted(needs.items())
    ]
    return found


def describe(blocked: list[Blocker], run_id: str, project: Path) -> str:
    """The refusal: what needs what, and the undo order (newest first) that gets there."""
    lines = [f"undoing run {run_id} would remove what other work needs:"]
    for blocker in blocked:
        who = (
            f"run {blocker.run.run_id} ({blocker.run.request!r})"
            if blocker.run
            else "a file no later run wrote"
        )
        lines.append(f"  - {blocker.path}, from {who}, needs {blocker.needs}")
    runs = list({b.run.run_id: b.run for b in blocked if b.run}.values())
    runs.sort(key=lambda run: run.started, reverse=True)
    steps = [f"`ae undo {r} --project {project}`" for r in [*(run.run_id for run in runs), run_id]]
    if runs:
        lines.append(f"undo the newer runs first, newest first: {', then '.join(steps)}")
    if any(b.run is None for b in blocked):
        lines.append(
            "change the files no run wrote so they no longer need it (or remove them), then undo again"
        )
    return "\n".join(lines)


def _manifest(root: Path) -> Manifest:
    """dbt's last manifest of the project; empty when there is none or it is unreadable."""
    try:
        return Manifest.load(root, missing_ok=True)
    except ConfigurationError:
        return Manifest({})


@dataclass(frozen=True)
class _Removed:
    """What the undo removes, as dbt names it: unique ids, ref names, and (source, table) pairs."""

    manifest: Manifest
    ids: frozenset[str]
    names: frozenset[str]
    sources: frozenset[tuple[str, str]]

    @property
    def empty(self) -> bool:
        return not (self.ids or self.names or self.sources)

    @classmethod
    def of(cls, plan: UndoPlan, manifest: Manifest) -> _Removed:
        deleted = set(plan.removed_files())
        # what goes: every definition in a deleted file, and what a restored file defines no more
        gone = {path: _definitions(path, _text(plan.paths.root / path)) for path in deleted}
        gone.update(_shrunk_definitions(plan))
        names = {Path(path).stem for path in deleted if path.endswith((".sql", ".py", ".csv"))}
        names |= {relation.rsplit(".", 1)[-1] for relation in plan.dropped_relations()}
        ids: set[str] = set()
        # a package's files are not the project's (its paths are relative to the package): never undone
        for node in [*manifest.nodes.values(), *manifest.sources.values(), *manifest.macros.values()]:
            if node.is_package:
                continue
            path, is_node = node.original_file_path, node.unique_id in manifest.nodes
            defined = (node.source_name or "", node.name) if node.resource_type == "source" else node.name
            if path in deleted or (not is_node and defined in gone.get(path, set())):
                ids.add(node.unique_id)
                if is_node:
                    names.add(node.name)
        sources = {d for definitions in gone.values() for d in definitions if isinstance(d, tuple)}
        return cls(manifest, frozenset(ids), frozenset(names), frozenset(sources))

    def manifest_dependents(self, root: Path, touched: set[str]) -> Iterator[tuple[str, str]]:
        """(file, what it needs) for every manifest entry depending on a removed id whose file is
        still there (the manifest may be older than the last undo)."""
        for node in self.manifest.every():
            if node.resource_type in _NOT_DEPENDENTS or node.is_package:
                continue
            path = node.original_file_path
            needed = {*node.depends_on, *node.depends_on_macros} & self.ids
            if not needed or not path or path in touched or node.unique_id in self.ids:
                continue
            if (root / path).is_file():
                yield path, ", ".join(sorted(_short(n) for n in needed))

    def text_dependents(self, root: Path, touched: set[str]) -> Iterator[tuple[str, str]]:
        """(file, what it needs) for every project file whose text refs or sources a removed one."""
        for path in _code_files(root):
            rel = path.relative_to(root).as_posix()
            if rel in touched:
                continue
            text = _text(path)
            for match in _REF.finditer(text):
                name = match.group(2) or match.group(1)
                if name in self.names:
                    yield rel, name
            for match in _SOURCE.finditer(text):
                if (match.group(1), match.group(2)) in self.sources:
                    yield rel, f"source {match.group(1)}.{match.group(2)}"


def _short(unique_id: str) -> str:
    """``model.shop.dim_x`` as ``dim_x``; ``source.shop.raw.orders`` as ``source raw.orders``."""
    parts = unique_id.split(".")
    if parts[0] == "source" and len(parts) >= 4:
        return f"source {parts[-2]}.{parts[-1]}"
    return f"macro {parts[-1]}" if parts[0] == "macro" else parts[-1]


def _shrunk_definitions(plan: UndoPlan) -> dict[str, set[str | tuple[str, str]]]:
    """For each file the undo restores to an earlier text: the sources (``(source, table)``) and macros
    (names) it defines now and did not before, which the restore therefore removes."""
    shrunk: dict[str, set[str | tuple[str, str]]] = {}
    if plan.record is None:
        return shrunk
    targets = plan.record.targets(plan.paths, source=plan.source)
    for prior in plan.record.priors:
        target = targets[prior.path]
        if not (prior.existed and target.is_file()) or prior.changed_since(target):
            continue
        before = base64.b64decode(prior.content_b64 or "").decode("utf-8", errors="replace")
        now = _text(target)
        gone = (_definitions(prior.path, now) - _definitions(prior.path, before)) if before != now else set()
        if gone:
            shrunk[prior.path] = gone
    return shrunk


_MACRO = re.compile(r"{%-?\s*macro\s+(\w+)\s*\(")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _definitions(path: str, text: str) -> set[str | tuple[str, str]]:
    """The macros a file defines (names) and the source tables its YAML declares (pairs)."""
    found: set[str | tuple[str, str]] = set(_MACRO.findall(text))
    if not path.endswith((".yml", ".yaml")):
        return found
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return found
    for source in (loaded.get("sources") or []) if isinstance(loaded, dict) else []:
        if isinstance(source, dict):
            for table in source.get("tables") or []:
                if isinstance(table, dict) and "name" in table:
                    found.add((str(source.get("name", "")), str(table["name"])))
    return found


def _code_files(root: Path) -> Iterator[Path]:
    """The project's code files, without dbt's output, packages, hidden folders or links."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _NOT_CODE and not d.startswith(".")]
        for name in files:
            path = Path(folder) / name
            code = name.endswith(_CODE_SUFFIXES) and not path.is_symlink()
            if code and path.stat().st_size <= _MAX_SCANNED_BYTES:
                yield path
