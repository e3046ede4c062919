"""The projects one MCP server serves: settings and a warm dbt engine per project and target.

A call's ``project`` is confined: the server's ``--project`` (the default), or, when the user named
one at start, a folder under ``--projects-root`` that they own. Paths are resolved through links
before the check, so a link under the root to a folder elsewhere is refused. Anything else is a
tool error: an MCP client (or whoever reaches the port) must not point the server, which runs dbt
and so a project's code as the user who started it, at a folder someone else wrote.

Each (project, target) keeps its own dbt process for the server's life, so a call pays dbt's start-up
once, and two projects never share one dbt invocation (two invocations in one process break each
other: tools/engine/engine.py).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from agent.settings import Settings, load_settings
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.errors import InvalidArguments
from tools.paths import ProjectPaths


@dataclass
class Workspaces:
    default_project: Path
    #: a folder whose projects (the user's own) a call may name; None: only ``default_project``
    projects_root: Path | None = None
    _settings: dict[Path, Settings] = field(default_factory=dict)
    _engines: dict[tuple[Path, str | None], DbtEngine] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.default_project = self.default_project.expanduser().resolve()
        if self.projects_root is not None:
            self.projects_root = self.projects_root.expanduser().resolve()

    def project_root(self, project: str = "") -> Path:
        """The folder ``project`` names (relative: to ``--projects-root``, else to the server's
        project), when this server may serve it; else InvalidArguments saying what it serves."""
        if not project:
            return self.default_project
        base = self.projects_root or self.default_project
        root = (base / Path(project).expanduser()).resolve()
        if root == self.default_project:
            return root
        if self.projects_root is not None and root.is_relative_to(self.projects_root):
            _check_owned(root)
            return root
        served = f"{self.default_project} (its --project)"
        if self.projects_root is not None:
            served += f" and the projects under {self.projects_root} (its --projects-root)"
        raise InvalidArguments(
            f"project {project!r} ({root}) is not served here: this server serves {served}",
            hint="omit project to use the server's own; to serve other projects, the user restarts "
            "the server with --projects-root DIR",
        )

    def settings(self, project: str = "") -> Settings:
        """The settings of ``project`` (empty: the server's project), checked to be served and dbt's."""
        root = self.project_root(project)
        if not (root / "dbt_project.yml").is_file():
            raise InvalidArguments(
                f"{root} has no dbt_project.yml",
                hint="pass project as the folder that holds dbt_project.yml, or omit it for the server's",
            )
        with self._lock:
            if root not in self._settings:
                self._settings[root] = load_settings(root)
            return self._settings[root]

    def engine(self, settings: Settings, target: str | None) -> DbtEngine:
        """The warm engine of ``settings``' project on ``target`` (None: the profile's default)."""
        key = (settings.project_dir, target or None)
        with self._lock:
            if key not in self._engines:
                self._engines[key] = settings.open_engine(target or None)
            return self._engines[key]

    def tool_context(self, project: str, target: str) -> ToolContext:
        """A fresh context for one read-only tool call (its call list is this call's alone)."""
        settings = self.settings(project)
        engine = self.engine(settings, target)
        return ToolContext(
            paths=ProjectPaths.for_project(settings.project_dir),
            target=engine.target_name(),
            policy=settings.resilience(),
            engine=engine,
        )

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.close()
            self._engines.clear()


def _check_owned(root: Path) -> None:
    """A project under the root must be the server user's own: its folder and its dbt_project.yml."""
    uid = os.getuid()
    for path in (root, root / "dbt_project.yml"):
        if path.exists() and path.stat().st_uid != uid:
            raise InvalidArguments(
                f"{path} belongs to another user (uid {path.stat().st_uid}): this server runs dbt as "
                "its own user, so it serves only that user's projects",
                hint="copy the project into a folder of your own",
            )
