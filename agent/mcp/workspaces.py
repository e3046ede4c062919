"""The projects one MCP server serves: settings and a warm dbt engine per project and target.

One project per server (``ae mcp --project``) is the default; a tool call may name another project.
Each (project, target) keeps its own dbt process for the server's life, so a call pays dbt's start-up
once, and two projects never share one dbt invocation (BRIEF §7).
"""

from __future__ import annotations

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
    _settings: dict[Path, Settings] = field(default_factory=dict)
    _engines: dict[tuple[Path, str | None], DbtEngine] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def settings(self, project: str = "") -> Settings:
        """The settings of ``project`` (a folder; empty: the server's project), checked to be dbt's."""
        root = Path(project).expanduser().resolve() if project else self.default_project.resolve()
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
