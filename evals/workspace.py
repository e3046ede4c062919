"""A task's isolated copies: the project it starts from, its setup steps, and fingerprints of its state.

Each task run gets its own folder (project + warehouse file), so runs in parallel processes never
share a DuckDB file or a dbt target path. On PostgreSQL (``--adapter postgres``) the generated
example's copies each get a database of their own too (evals/postgres_copies.py); a task that
brings its own project runs on that project's warehouse.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from agent.settings import load_settings
from evals import postgres_copies
from evals.agents import copy_fixture
from evals.task import ProjectSpec, Step
from tools.engine import DbtCall, DbtEngine
from tools.errors import AeError, ConfigurationError
from tools.example_project import advance_example, create_example_project, warehouse_path
from tools.profiles import read_target
from tools.warehouse_port import Warehouse

#: build output and run state: not part of what an agent "changed"
_NOT_PROJECT_FILES = frozenset({".ae", "target", "logs", "dbt_packages", ".user.yml"})
RAW_SCHEMA = "raw"


class StepFailed(AeError):
    """A setup or after step did not work: the task (not the agent) is broken."""


def on_postgres(spec: ProjectSpec, adapter: str) -> bool:
    """Whether the task's copies live in PostgreSQL: the generated example under --adapter postgres."""
    return adapter == "postgres" and spec.path is None


def create_project(dest: Path, spec: ProjectSpec, adapter: str = "duckdb") -> Path:
    """The task's starting project in ``dest``: the generated example (on ``adapter``), or a copy of
    its folder."""
    if spec.path is None:
        dest.mkdir(parents=True, exist_ok=True)
        create_example_project(dest, scale=spec.scale, seed=spec.seed)
        if on_postgres(spec, adapter):
            postgres_copies.move_example(dest)
        return dest
    copy_project(Path(spec.path), dest)
    warehouse = warehouse_of(dest)
    if warehouse.parent.resolve() != dest.resolve() and dest.resolve() not in warehouse.parents:
        raise ConfigurationError(
            f"project {spec.path}: its profile points at {warehouse}, outside the project folder",
            hint="each task run needs its own warehouse: make the profile's DuckDB path project-relative",
        )
    if spec.warehouse is not None:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spec.warehouse, warehouse)
    if not warehouse.is_file():
        raise ConfigurationError(
            f"project {spec.path}: no warehouse at {warehouse.relative_to(dest)}, where its profile points",
            hint="put the DuckDB file there, or name it in the task's project.warehouse",
        )
    return dest


def data_file(project_dir: Path) -> Path:
    """The DuckDB file holding the copy's data: its warehouse, or on PostgreSQL the example's
    generated raw data that the database was loaded from."""
    return read_target(project_dir).path or warehouse_path(project_dir)


def warehouse_of(project_dir: Path) -> Path:
    """The DuckDB file the project's profile (default target) points at."""
    path = read_target(project_dir).path
    if path is None:
        raise ConfigurationError(
            f"the profile of {project_dir} does not point at a DuckDB file; eval tasks run on DuckDB",
            hint="give the project a profiles.yml whose default target is a DuckDB file",
        )
    return path


@contextmanager
def grading_engine(project_dir: Path, target: str | None = None) -> Iterator[DbtEngine]:
    """A dbt engine for setup and grading (no faults, no agent)."""
    engine = DbtEngine(project_dir, target=target)
    try:
        yield engine
    finally:
        engine.close()


def run_steps(steps: Sequence[Step], project_dir: Path, engine: DbtEngine) -> None:
    """Setup/after steps, in order; raises StepFailed naming the step that did not work."""
    for index, step in enumerate(steps, 1):
        try:
            _run_step(step, project_dir, engine)
        except StepFailed as exc:
            raise StepFailed(f"step {index} ({_describe(step)}): {exc.message}") from exc
        except AeError as exc:
            raise StepFailed(f"step {index} ({_describe(step)}): {exc}") from exc


def _describe(step: Step) -> str:
    return ", ".join(f"{k}={v!r}"[:80] for k, v in step.model_dump(exclude_none=True).items())


def _run_step(step: Step, project_dir: Path, engine: DbtEngine) -> None:
    if step.fixture is not None:
        copy_fixture(step.fixture, project_dir)
    for rel, content in (step.files or {}).items():
        target = project_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    for rel in step.delete or []:
        (project_dir / rel).unlink(missing_ok=True)
    if step.advance_time is not None:
        advance_example(project_dir, days=step.advance_time.days, seed=step.advance_time.seed)
    if step.dbt is not None:
        result = engine.invoke(
            DbtCall(command=step.dbt.command, select=step.dbt.select, full_refresh=step.dbt.full_refresh)
        )
        if not result.success:
            raise StepFailed(
                result.summary() + "".join(f"; {n.name}: {n.message}" for n in result.failed_nodes)
            )
    if step.command is not None:
        _run_command(step.command, project_dir)


def _run_command(request: str, project_dir: Path) -> None:
    from agent.commands.describer import HeuristicDescriber
    from agent.commands.planner import CommandPlanner
    from agent.runner import Session

    with Session(load_settings(project_dir)) as session:
        outcome = session.run(request, planner=CommandPlanner(), describer=HeuristicDescriber())
    if not outcome.ok:
        raise StepFailed(f"{request}: {outcome.status}: {outcome.reason}")


def copy_project(source: Path, dest: Path, *, postgres: bool = False) -> Path:
    """A second isolated copy (project + warehouse: with ``postgres``, a copy of its database too),
    without build output or run state."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*_NOT_PROJECT_FILES))
    if postgres:
        postgres_copies.clone(source, dest)
    return dest


def file_digests(project_dir: Path) -> dict[str, str]:
    """sha256 of every project file (not the warehouse, build output or run state)."""
    digests = {}
    warehouse = data_file(project_dir).name
    for path in sorted(project_dir.rglob("*")):
        rel = path.relative_to(project_dir)
        if not path.is_file() or rel.parts[0] in _NOT_PROJECT_FILES or path.name.startswith(warehouse):
            continue
        digests[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def raw_fingerprint(warehouse: Warehouse) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent hash of every raw table."""
    prints = {}
    for ref in warehouse.list_relations(RAW_SCHEMA):
        found = warehouse.fingerprint(ref)
        prints[ref.name] = (found.rows, found.hash)
    return prints
