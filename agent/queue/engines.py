"""A worker's warm dbt engines: one per project and target, one task per project at a time.

dbt runs in a child process per engine (tools/engine), so two projects run side by side; two tasks on
one project never do — they would fight over its DuckDB file and its files (Session also holds the
project's lock across processes; this lock keeps a worker's own threads from queueing on it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from agent.settings import Settings
from tools.engine import DbtEngine


class EnginePool:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._project_locks: dict[str, threading.Lock] = {}
        self._engines: dict[tuple[str, str | None], DbtEngine] = {}

    @contextmanager
    def lease(self, settings: Settings, target: str | None) -> Iterator[DbtEngine]:
        """The warm engine for the settings' project and ``target``, held alone while in use."""
        project = str(settings.project_dir)
        with self._guard:
            lock = self._project_locks.setdefault(project, threading.Lock())
        with lock:
            key = (project, target)
            engine = self._engines.get(key)
            if engine is None:
                engine = self._engines[key] = settings.open_engine(target)
            yield engine

    def close(self) -> None:
        with self._guard:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.close()
