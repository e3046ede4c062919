"""Opening a project's memory from the settings: the store URL, the project's name, the embedding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from agent.settings import Settings
from tools.errors import ConfigurationError
from tools.memory.store import ProjectMemory, open_memory


def project_name(project_dir: Path) -> str:
    """The dbt project's ``name``: memories belong to the project, whichever checkout runs it."""
    path = project_dir / "dbt_project.yml"
    if not path.is_file():
        return project_dir.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        raise ConfigurationError(
            f"{path} is not readable YAML text, so the project's name (its memory) is unknown",
            hint="save dbt_project.yml as UTF-8 YAML",
        ) from None
    return str(data.get("name")) if isinstance(data, dict) and data.get("name") else project_dir.name


@contextmanager
def open_project_memory(settings: Settings) -> Iterator[ProjectMemory]:
    url = settings.memory_url or settings.store_url
    with open_memory(
        url, settings.state_dir, project_name(settings.project_dir), settings.memory_embedding
    ) as memory:
        yield memory
