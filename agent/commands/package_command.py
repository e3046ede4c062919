"""/dbt-package: add a local package to packages.yml. Hub and git packages need the network."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from graph.plan_spec import PlanSpec
from tools.errors import InvalidArguments
from tools.yaml_edit import add_local_package

PACKAGES_FILE = "packages.yml"


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


def dbt_package(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    name = cmd.required_text("name")
    version = cmd.text("version")
    local = cmd.text("local")
    if local is None:
        wanted = f"{name} {version}" if version else name
        raise InvalidArguments(
            f"cannot install {wanted}: this machine is offline, so hub and git packages cannot be downloaded",
            hint=f"install a local copy instead: /dbt-package --name {name} --local path/to/{name}",
        )
    folder, project = _local_package(view, local)
    notes = []
    if project.get("name") != name:
        notes.append(f"the package at {local} calls itself {project.get('name')!r}, not {name!r}")
    if version and str(project.get("version")) != version:
        notes.append(f"its dbt_project.yml says version {project.get('version')!r}, not {version!r}")
    # packages.yml keeps the path as written relative to the project, so the project stays movable
    entry_path = os.path.relpath(folder, view.root)
    changeset = view.tools.changeset
    updated, added = add_local_package(changeset.view(view.paths, PACKAGES_FILE), entry_path, PACKAGES_FILE)
    if added:
        changeset.write_file(view.paths, PACKAGES_FILE, updated)
    status = (
        f"added {entry_path} to {PACKAGES_FILE}" if added else f"{entry_path} is already in {PACKAGES_FILE}"
    )
    answer = [f"{status}; Validate installs it with dbt deps (local packages need no network)."]
    answer += [f"note: {n}" for n in notes]
    return PlanSpec(
        summary=f"add local package {name}",
        operations=[],
        verify_select=[],
        answer="\n".join(answer),
        document=False,
    )
