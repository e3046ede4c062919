"""Where ``ae replay`` runs: a throwaway copy of the project and of its warehouse, never the real ones.

A replayed plan builds, so it must not reach anything the user has. The project is copied (without
``.ae``, ``target`` and ``logs``), the target's DuckDB file is copied beside it wherever it lives
(an absolute path outside the project included), and a profiles.yml of the copy's own points that
target, and only that target, at the copied file (tools/engine/scratch.py). The copy keeps its run
store and memory in its own ``.ae``: the user's store and memory URLs are not used either.

Refused before anything is copied: a protected target (a replay never runs on a protected location,
not even a copy of one: Execute would stop there for an approval nobody can give), and a warehouse
that cannot be copied (another adapter, MotherDuck or in-memory DuckDB, a target that attaches other
databases), since replaying there would build on the real one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from agent.approvals import target_protection
from agent.settings import Settings, load_settings
from tools.engine.scratch import copy_duckdb, profile_pointing_at
from tools.errors import ApprovalRequired, ConfigurationError
from tools.profiles import ProfileTarget, find_profiles, read_profile


@dataclass(frozen=True)
class Sandbox:
    #: the copy's settings: its project, its own profiles folder, the chosen target
    settings: Settings
    folder: Path
    warehouse: Path

    def describe(self, *, kept: bool) -> str:
        fate = "kept for you to look at" if kept else "removed afterwards"
        return (
            f"replayed on a copy ({fate}): project {self.settings.project_dir}, warehouse "
            f"{self.warehouse} (target {self.settings.target})"
        )


def _copyable(target: ProfileTarget) -> Path:
    """The DuckDB file of ``target``; a warehouse a replay cannot copy is refused."""
    if target.type != "duckdb" or target.path is None:
        kind = f"a {target.type} warehouse" if target.type != "duckdb" else "not a DuckDB file"
        raise ConfigurationError(
            f"ae replay cannot copy target {target.target!r}'s warehouse ({kind}), and will not "
            "replay on the real one",
            hint="replay with --target naming a target whose warehouse is a local DuckDB file",
        )
    return target.path


def _skipping(*paths: Path) -> Callable[[str, list[str]], set[str]]:
    """A copytree filter leaving out ae's and dbt's own folders and ``paths`` (the warehouse, copied
    on its own)."""
    state = {".ae", "target", "logs"}
    skipped = {p.with_name(p.name + suffix) for p in paths for suffix in ("", ".wal")}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in state or (Path(folder) / n).resolve() in skipped}

    return ignore


@contextmanager
def sandbox(settings: Settings, target: str | None = None, *, keep: bool = False) -> Iterator[Sandbox]:
    """A copy of ``settings``' project and of ``target``'s warehouse (default: the settings' target,
    else the profile's), with settings of its own; removed afterwards unless ``keep``."""
    profile = read_profile(
        settings.project_dir, target or settings.target, settings.profiles_dir, profile=settings.profile
    )
    chosen = profile.target
    protection = target_protection(settings, chosen.target)
    if protection.protected:
        raise ApprovalRequired(
            f"ae replay refuses target {chosen.target!r}: {protection.reason}; a replay never runs on a "
            "protected location, not even a copy of one",
            hint="replay with --target naming a target that is not protected (e.g. dev)",
        )
    original = _copyable(chosen)
    folder = Path(tempfile.mkdtemp(prefix="ae-replay-"))
    try:
        project = folder / settings.project_dir.name
        shutil.copytree(settings.project_dir, project, ignore=_skipping(original))
        warehouse = folder / "warehouse" / original.name  # the same name: DuckDB's catalog is the file's
        warehouse.parent.mkdir()
        copy_duckdb(original, warehouse)
        profiles = folder / "profiles"
        profiles.mkdir()
        users = find_profiles(settings.project_dir, settings.profiles_dir).file
        entry = profile_pointing_at(users, profile.name, chosen.target, warehouse)
        (profiles / "profiles.yml").write_text(yaml.safe_dump(entry), encoding="utf-8")
        copied = load_settings(
            project, target=chosen.target, profile=profile.name, profiles_dir=profiles
        ).model_copy(update={"store_url": None, "memory_url": None})
        where = read_profile(project, chosen.target, profiles, profile=profile.name).target.path
        if where is None or not where.is_relative_to(folder.resolve()):
            raise ConfigurationError(  # the copy's own profile says otherwise: never run there
                f"the replay's copy would write {where}, outside its folder {folder}",
                hint="report this as a bug of ae replay",
            )
        yield Sandbox(settings=copied, folder=folder, warehouse=where)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
