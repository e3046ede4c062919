"""Opening a project's memory from the settings: the store URL, the project's name, the embedding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from agent.settings import Settings
from tools.memory.store import ProjectMemory, open_base_store


def project_name(project_dir: Path) -> str:
    """The dbt project's ``name``: memories belong to the project, whichever checkout runs it."""
    path = project_dir / "dbt_project.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    return str(data.get("name")) if isinstance(data, dict) and data.get("name") else project_dir.name


@contextmanager
def open_project_memory(settings: Settings) -> Iterator[ProjectMemory]:
    url = settings.memory_url or settings.store_url
    with open_base_store(url, settings.state_dir) as store:
        yield ProjectMemory(store, project_name(settings.project_dir), settings.memory_embedding)
