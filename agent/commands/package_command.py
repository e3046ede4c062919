"""/dbt-package: install local dbt packages. Hub and git packages need the network, which this
machine does not have.

A local copy of a package the project declares from the dbt Hub (or git) replaces that entry in
place (``packages.yml``, or ``dependencies.yml`` when that is where the project lists packages): dbt
would otherwise keep asking the Hub for it. The edit changes that item only; the file's comments and
other entries stay byte for byte. Validate then runs ``dbt deps``, which deletes the install folder
before installing: a change that leaves any entry needing the network is refused, naming each
package (and those installed now, which would be lost) and the one command that makes them local.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from graph.plan_spec import PlanSpec
from tools.errors import InvalidArguments
from tools.package_entries import entries_in, entry_of, offline_problem, packages_file
from tools.yaml_edit import add_local_package, replace_section_item


def _local_package(view: ProjectView, given: str) -> tuple[Path, dict[str, object]]:
    folder = (view.root / given).resolve()
    project_file = folder / "dbt_project.yml"
    if not project_file.is_file():
        raise InvalidArguments(
            f"--local {given!r} is not a dbt package: {folder} has no dbt_project.yml",
            hint="give the folder of the package, relative to the project",
        )
    loaded = yaml.safe_load(project_file.read_text(encoding="utf-8")) or {}
    return folder, loaded if isinstance(loaded, dict) else {}


def _wanted(cmd: ParsedCommand) -> list[tuple[str, str]]:
    """(name, local path) pairs: ``--name a,b --local pa,pb``, or a refusal naming the offline fix."""
    names, locals_ = cmd.items("name"), cmd.items("local")
    if not locals_:
        version = cmd.text("version")
        wanted = f"{names[0]} {version}" if version and len(names) == 1 else ", ".join(names)
        pairs = ",".join(f"path/to/{n}" for n in names)
        raise InvalidArguments(
            f"cannot install {wanted}: this machine is offline, so hub and git packages cannot be downloaded",
            hint=f"install a local copy instead: /dbt-package --name {','.join(names)} --local {pairs}",
        )
    if len(names) != len(locals_) or len(set(names)) != len(names):
        raise InvalidArguments(
            f"--name lists {len(names)} package(s) and --local {len(locals_)} folder(s)",
            hint="give one folder per package, in the same order: --name a,b --local path/a,path/b",
        )
    if cmd.text("version") and len(names) > 1:
        raise InvalidArguments(
            "--version is for one package", hint="leave it out, or add one package at a time"
        )
    return list(zip(names, locals_, strict=True))


def _install(text: str | None, file: str, name: str, entry_path: str) -> tuple[str | None, str]:
    """``file``'s text with ``local: entry_path`` for ``name`` (replacing its download entry), and
    what was done."""

    def downloads_it(item: Any) -> bool:
        entry = entry_of(item, file)
        return entry is not None and entry.needs_network and entry.name == name

    updated, replaced = replace_section_item(
        text or "", "packages", downloads_it, {"local": entry_path}, file
    )
    was = entry_of(replaced, file)
    if was is not None:
        return updated, f"replaced the {was.kind} entry {was.source} with {entry_path} in {file}"
    updated, added = add_local_package(text, entry_path, file)
    return updated, f"added {entry_path} to {file}" if added else f"{entry_path} is already in {file}"


def dbt_package(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    wanted = _wanted(cmd)
    version = cmd.text("version")
    file = packages_file(view.root)
    changeset = view.tools.changeset
    before = text = changeset.view(view.paths, file)
    done: list[str] = []
    notes: list[str] = []
    for name, local in wanted:
        folder, project = _local_package(view, local)
        if project.get("name") != name:
            notes.append(f"the package at {local} calls itself {project.get('name')!r}, not {name!r}")
        if version and str(project.get("version")) != version:
            notes.append(f"its dbt_project.yml says version {project.get('version')!r}, not {version!r}")
        # the path is kept as written relative to the project, so the project stays movable
        text, what = _install(text, file, name, os.path.relpath(folder, view.root))
        done.append(what)
    problem = offline_problem(view.root, entries_in(text, file), dict(wanted))
    if problem is not None:
        raise InvalidArguments(
            f"Validate would run dbt deps for {file}, and it cannot work here: {problem}",
            hint="nothing was written",
        )
    if text is not None and text != before:
        changeset.write_file(view.paths, file, text)
    answer = ["; ".join(done) + "; Validate installs it with dbt deps (local packages need no network)."]
    answer += [f"note: {n}" for n in notes]
    return PlanSpec(
        summary=f"add local package {', '.join(name for name, _ in wanted)}",
        operations=[],
        verify_select=[],
        answer="\n".join(answer),
        document=False,
    )
