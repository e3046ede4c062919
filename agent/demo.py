"""`ae demo`: the whole loop on the bundled example, offline, with a summary people and programs read.

It generates the example warehouse, builds a complete project through the command planner (sources
with freshness, staging for every raw table, dimensions, facts — one incremental —, a snapshot,
profiled tests, an exposure, docs), then advances time and runs again so the incremental model and
the snapshot pick up the change.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.approvals import nobody_approves
from agent.commands.describer import HeuristicDescriber
from agent.commands.planner import CommandPlanner
from agent.runner import RunOutcome, Session
from agent.settings import load_settings
from graph.figures import project_figures
from graph.progress import Emit
from tools.errors import AeError, InvalidArguments
from tools.example_postgres import DEFAULT_DATABASE, claim_database, load_raw, write_postgres_profile
from tools.example_project import EXAMPLE_PROJECT, advance_example, create_example_project, warehouse_path
from tools.lint import lint_project
from tools.manifest import Manifest, target_dir
from tools.postgres_server import PostgresServer
from tools.warehouse_port import RelationName, Warehouse, warehouse_for

#: the warehouses the demo builds on; PostgreSQL's server comes from the libpq variables
ADAPTERS = ("duckdb", "postgres")


def source_step(database: str) -> str:
    """The first step: every raw table as a source, in the warehouse's own database (the DuckDB file's
    catalog, or the PostgreSQL database the profile names)."""
    return (
        f'/dbt-source --database {database} --schema raw --table "*" --source-name raw '
        '--freshness "warn_after: {count: 12, period: hour}"'
    )


def build_steps(database: str) -> tuple[str, ...]:
    return (source_step(database), *_MODEL_STEPS)


_MODEL_STEPS: tuple[str, ...] = (
    "/dbt-model --name stg_customers --type staging",
    "/dbt-model --name stg_orders --type staging",
    "/dbt-model --name stg_items --type staging",
    "/dbt-model --name stg_products --type staging",
    "/dbt-model --name stg_stores --type staging",
    "/dbt-model --name stg_supplies --type staging",
    "/dbt-model --name dim_customers --type dimension --materialization table",
    "/dbt-model --name dim_products --type dimension --materialization table",
    "/incremental-model --name fct_orders --unique-key order_id --strategy merge --from stg_orders",
    "/dbt-model --name fct_order_items --type fact --materialization table",
    "/dbt-snapshot --source-table raw.customers --unique-key id --strategy timestamp --updated-at updated_at",
    '/data-quality-test --model fct_orders --tests "not_null,unique,relationships,accepted_values"',
    '/exposure-define --name revenue_dashboard --type dashboard --depends-on "fct_orders,dim_customers"',
)
#: the steps on the DuckDB example, whose file (so catalog) is jaffle_shop.duckdb
BUILD_STEPS: tuple[str, ...] = build_steps(EXAMPLE_PROJECT)
AFTER_ADVANCE_STEPS: tuple[str, ...] = (
    "/dbt-run --select fct_orders",
    "/dbt-snapshot --source-table raw.customers --unique-key id --strategy timestamp --updated-at updated_at",
    "/dbt-test --select path:models",
    "/dbt-docs --generate",
)


@dataclass
class DemoSummary:
    status: str
    project_dir: str
    adapter: str = "duckdb"
    models_built: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    data_quality: float | None = None
    documentation_coverage: float | None = None
    schema_compliance: float | None = None
    incremental_models_ratio: float | None = None
    incremental_matches_full_refresh: bool = False
    snapshot_history_rows: int = 0
    lint_errors: int = 0
    lint_warnings: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    docs_index: str | None = None
    wall_seconds: float = 0.0


def _prepare(directory: Path, force: bool, scale: int, seed: int) -> Path:
    project = directory / "jaffle_shop"
    if directory.exists() and any(directory.iterdir()):
        ours = (directory / "demo-summary.json").exists() or project.exists()
        if not force or not ours:
            # how ae was called (a --dir that holds something else), not a broken environment
            raise InvalidArguments(
                f"{directory} is not empty",
                hint="pass --force to replace an earlier demo there, or choose another --dir",
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return create_example_project(project, scale=scale, seed=seed)


def _on_postgres(project: Path, *, force: bool, say: Callable[[str], None]) -> str:
    """The generated example moved to the PostgreSQL database PGDATABASE names (created when missing;
    an earlier demo's schemas there replaced only with --force); returns the database's name."""
    server = PostgresServer.from_environment()
    database = os.environ.get("PGDATABASE") or DEFAULT_DATABASE
    claim_database(server, database, replace=force)
    write_postgres_profile(project, server)
    counts = load_raw(warehouse_path(project), server, database)
    rows = sum(counts.values())
    say(f"raw data loaded into PostgreSQL at {server.address}, database {database} ({rows} rows)")
    return database


def _example(
    directory: Path, adapter: str, *, force: bool, scale: int, seed: int, say: Callable[[str], None]
) -> tuple[Path, str]:
    """The example project in ``directory`` on ``adapter``, and the name of its database."""
    if adapter not in ADAPTERS:
        raise InvalidArguments(f"the demo runs on {' or '.join(ADAPTERS)}, not {adapter!r}")
    project = _prepare(directory, force, scale, seed)
    say(f"example project generated at {project} (scale {scale}, seed {seed})")
    if adapter == "postgres":
        return project, _on_postgres(project, force=force, say=say)
    return project, EXAMPLE_PROJECT


def _snapshot_history_rows(warehouse: Warehouse) -> int:
    """Closed versions in the snapshots: rows whose dbt_valid_to was set when a change arrived."""
    [tables] = warehouse.read(
        [
            "select distinct table_schema, table_name from information_schema.columns "
            "where column_name = 'dbt_valid_to'"
        ]
    )
    total = 0
    for schema, table in tables.rows:
        relation = warehouse.sql_of(RelationName(schema_name=str(schema), name=str(table)))
        [counted] = warehouse.read([f"select count(*) from {relation} where dbt_valid_to is not null"])
        total += int(str(counted.rows[0][0]))
    return total


# Over 60 lines on purpose: the demo's steps in the order the README walks through them, one call each.
def run_demo(
    directory: Path,
    *,
    scale: int = 1,
    seed: int = 42,
    force: bool = False,
    adapter: str = "duckdb",
    emit: Emit,
    say: Callable[[str], None] = print,
) -> DemoSummary:
    started = time.perf_counter()
    directory = directory.expanduser().resolve()
    project, database = _example(directory, adapter, force=force, scale=scale, seed=seed, say=say)
    settings = load_settings(project)
    summary = DemoSummary(status="running", project_dir=str(project), adapter=adapter)
    outcomes: list[RunOutcome] = []
    with Session(settings, emit=emit) as session:

        def run(step: str) -> RunOutcome:
            say(f"\n$ ae run '{step}'")
            outcome = session.handle(
                step, planner=CommandPlanner(), describer=HeuristicDescriber(), ask=nobody_approves
            )
            outcomes.append(outcome)
            summary.runs.append(
                {
                    "request": step,
                    "status": outcome.status,
                    "run_id": outcome.run_id,
                    "reason": outcome.reason,
                }
            )
            if not outcome.ok:
                raise DemoStepFailed(step, outcome)
            return outcome

        try:
            for step in build_steps(database):
                run(step)
            advanced = advance_example(project, days=7, seed=seed)
            say(
                f"\nadvanced time: {advanced.orders_added} new orders, {advanced.orders_updated} orders "
                f"and {advanced.customers_updated} customers changed"
            )
            results = [run(step) for step in AFTER_ADVANCE_STEPS]
            history_rows = _snapshot_history_rows(warehouse_for(session.engine))
        except DemoStepFailed:
            summary.status = "failed"
            summary.wall_seconds = round(time.perf_counter() - started, 1)
            _write(directory, summary)
            raise
    incremental_run, test_run = results[0].report(), results[2].report()
    checks = incremental_run.verification.get("incremental_checks", []) if incremental_run else []
    test_figures = test_run.figures if test_run else {}
    manifest = Manifest.load(project)
    lint = lint_project(manifest.raw, project)
    figures = project_figures(manifest)
    built = {
        name
        for outcome in outcomes
        if (report := outcome.report()) is not None
        for name in report.models_built()
    }
    summary.models_built = len(built)
    summary.tests_passed = int(test_figures.get("tests_passed", 0))
    summary.tests_failed = int(test_figures.get("tests_failed", 0))
    summary.data_quality = test_figures.get("test_pass_rate")
    summary.documentation_coverage = figures["documentation_coverage"]
    summary.schema_compliance = figures["schema_compliance"]
    summary.incremental_models_ratio = figures["incremental_models_ratio"]
    summary.incremental_matches_full_refresh = bool(checks) and all(c["matches"] for c in checks)
    summary.snapshot_history_rows = history_rows
    summary.lint_errors = len(lint.errors)
    summary.lint_warnings = len(lint.warnings)
    summary.docs_index = str(target_dir(project) / "index.html")
    summary.wall_seconds = round(time.perf_counter() - started, 1)
    summary.status = "success" if _passes(summary) else "failed"
    _write(directory, summary)
    return summary


def _passes(summary: DemoSummary) -> bool:
    return (
        summary.tests_failed == 0
        and summary.data_quality == 1.0
        and summary.documentation_coverage == 1.0
        and summary.schema_compliance == 1.0
        and summary.incremental_matches_full_refresh
        and summary.snapshot_history_rows > 0
        and summary.lint_errors == 0
    )


def _write(directory: Path, summary: DemoSummary) -> None:
    data = {k: v for k, v in summary.__dict__.items()}
    (directory / "demo-summary.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def render_summary(summary: DemoSummary, directory: Path) -> str:
    rows = [
        ("status", summary.status),
        ("warehouse", summary.adapter),
        ("models built", summary.models_built),
        ("tests passed / failed", f"{summary.tests_passed} / {summary.tests_failed}"),
        ("data quality (test pass rate)", summary.data_quality),
        ("documentation coverage", summary.documentation_coverage),
        ("schema compliance", summary.schema_compliance),
        ("incremental models ratio", summary.incremental_models_ratio),
        ("incremental = full refresh", summary.incremental_matches_full_refresh),
        ("snapshot history rows", summary.snapshot_history_rows),
        ("lint errors / warnings", f"{summary.lint_errors} / {summary.lint_warnings}"),
        ("wall time (s)", summary.wall_seconds),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["", "demo summary", "-" * (width + 24)]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    lines += [
        "",
        f"docs:     {summary.docs_index}",
        f"reports:  {Path(summary.project_dir) / '.ae' / 'runs'}",
        f"summary:  {directory / 'demo-summary.json'}",
    ]
    return "\n".join(lines)


class DemoStepFailed(AeError):
    def __init__(self, step: str, outcome: RunOutcome) -> None:
        report = outcome.report_dir / "report.md" if outcome.report_dir else None
        super().__init__(
            f"demo step failed: {step}: {outcome.status}: {outcome.reason}",
            hint=f"see {report}" if report else "",
        )
        self.step = step
        self.outcome = outcome
