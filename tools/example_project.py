"""Fresh copies of the bundled example dbt project, each with its own generated warehouse.

Demos, evals and tests each work on a copy so that what the agent builds never touches the
template in ``examples/jaffle_shop``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tools.errors import ConfigurationError
from tools.example_postgres import load_raw
from tools.jaffle_data import AdvanceSummary, advance_time, generate
from tools.postgres_server import PostgresServer
from tools.profiles import read_target

# The package is installed editable, so the template sits beside the code, not in site-packages.
EXAMPLE_PROJECT = "jaffle_shop"
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "examples" / EXAMPLE_PROJECT
WAREHOUSE_FILE = f"{EXAMPLE_PROJECT}.duckdb"
# Build output and local state a template folder may hold after someone ran dbt or ae in it.
_NOT_COPIED = shutil.ignore_patterns(
    WAREHOUSE_FILE, f"{WAREHOUSE_FILE}.*", "target", "logs", "dbt_packages", ".ae", ".user.yml"
)


def warehouse_path(project_dir: Path) -> Path:
    """The DuckDB file the example project's profile points at (its ``path`` is project-relative)."""
    return project_dir / WAREHOUSE_FILE


def create_example_project(dest: Path, *, scale: int = 1, seed: int = 42) -> Path:
    """Copy the example project to ``dest`` and generate its warehouse there; returns ``dest``.

    ``dest`` may exist only as an empty folder. Run dbt on the copy with the working directory
    and ``--profiles-dir`` both set to ``dest``.
    """
    if not (TEMPLATE_DIR / "dbt_project.yml").is_file():
        raise ConfigurationError(
            f"the example project template is missing at {TEMPLATE_DIR}",
            hint="ae must be installed from its source tree (editable) for the bundled example",
        )
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ConfigurationError(
            f"refusing to create the example project in {dest}: it exists and is not an empty folder",
            hint="choose a new or empty folder",
        )
    shutil.copytree(TEMPLATE_DIR, dest, ignore=_NOT_COPIED, dirs_exist_ok=True)
    generate(warehouse_path(dest), scale=scale, seed=seed)
    return dest


def advance_example(project_dir: Path, *, days: int, seed: int) -> AdvanceSummary:
    """``advance_time`` on the project's data: its DuckDB file, or on PostgreSQL the example's generated
    file and then the database loaded from it (tools/example_postgres.py): one generator for both."""
    target = read_target(project_dir)
    if target.type == "postgres" and target.database:
        summary = advance_time(warehouse_path(project_dir), days=days, seed=seed)
        load_raw(warehouse_path(project_dir), PostgresServer.from_environment(), target.database)
        return summary
    return advance_time(target.path or warehouse_path(project_dir), days=days, seed=seed)
