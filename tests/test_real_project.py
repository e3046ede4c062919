"""Every /command on a project ae did not generate: it passes, touches only what it was asked to, and
never trips over a warehouse lock of its own (dbt-duckdb's default keep_open, profile in ~/.dbt)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.commands.describer import HeuristicDescriber
from agent.commands.planner import CommandPlanner
from agent.commands.project import ProjectView
from agent.project_brief import project_brief
from agent.runner import RunOutcome, Session
from agent.settings import load_settings
from evals.judges import project_evaluator_findings
from tests.real_project import write_real_project
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.paths import ProjectPaths
from tools.yaml_edit import read_entry

SKIPPED_DIRS = {"target", "logs", ".ae", "dbt_packages"}


def _files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
        and not SKIPPED_DIRS.intersection(path.relative_to(root).parts)
        and not path.name.endswith((".duckdb", ".duckdb.wal"))
    }


def _removed_lines(before: bytes, after: bytes) -> list[str]:
    diff = difflib.unified_diff(before.decode().splitlines(), after.decode().splitlines(), lineterm="", n=0)
    return [line for line in diff if line.startswith("-") and not line.startswith("---")]


@dataclass(frozen=True)
class Case:
    request: str
    #: files the command may create or change; everything else must stay byte-identical
    may_write: frozenset[str] = frozenset()
    #: models it may build (its own nodes); None: it builds nothing
    builds: frozenset[str] = frozenset()
    #: it changes a file that decides what code dbt runs (packages.yml): approved when asked
    approve_code: bool = False
    #: what its answer must say
    says: str = ""


CASES = [
    # the user's models first, as `dbt run` builds them
    Case(
        "/dbt-run",
        builds=frozenset(
            {
                "stg_customers",
                "stg_orders",
                "stg_payments",
                "base_payments",
                "customers",
                "orders",
                "order_status_counts",
            }
        ),
    ),
    Case("/dbt-test --select stg_orders"),
    Case(
        "/data-quality-test --model stg_orders --tests not_null,unique,relationships,accepted_values",
        may_write=frozenset({"models/staging/schema.yml"}),
    ),
    Case(
        "/dbt-model --name stg_payment_records --type staging --source raw_payments",
        may_write=frozenset({"models/staging/stg_payment_records.sql", "models/staging/schema.yml"}),
        builds=frozenset({"stg_payment_records"}),
    ),
    Case(
        "/dbt-model --name payment_methods_summary --type fact --from stg_payments",
        may_write=frozenset({"models/payment_methods_summary.sql", "models/schema.yml"}),
        builds=frozenset({"payment_methods_summary"}),
        # asked to read stg_payments, which two marts nothing reads already read
        says="fan-out: stg_payments also feeds customers, orders, which nothing reads",
    ),
    Case(
        "/incremental-model --name stg_orders_incremental --unique-key order_id --strategy merge "
        "--from raw_orders",
        may_write=frozenset({"models/staging/stg_orders_incremental.sql", "models/staging/schema.yml"}),
        builds=frozenset({"stg_orders_incremental"}),
    ),
    Case(
        "/dbt-snapshot --source-table stg_customers --strategy check",
        # not stg_customers_snapshot: dbt-project-evaluator would type it staging, built on staging
        may_write=frozenset({"snapshots/customers_snapshot.yml"}),
    ),
    Case("/dbt-seed --file seeds/raw_customers.csv", may_write=frozenset({"seeds/raw_customers.yml"})),
    Case(
        '/dbt-macro --name cents_to_dollars --parameters "column_name"',
        may_write=frozenset(
            {
                "macros/cents_to_dollars.sql",
                "macros/cents_to_dollars.yml",
                "tests/macros/assert_cents_to_dollars.sql",
            }
        ),
    ),
    Case(
        "/dbt-source --schema main --table raw_orders --source-name legacy",
        may_write=frozenset({"models/staging/_sources.yml"}),
    ),
    Case("/dbt-compile --select orders"),
    Case("/dbt-debug"),
    Case("/model-lineage --model orders --upstream 2 --downstream 1"),
    Case("/dbt-docs --generate"),
    Case(
        '/exposure-define --name weekly_kpis --type dashboard --depends-on "orders,customers"',
        # only the exposure: publishing the models it reads is asked for with --publish
        may_write=frozenset({"models/exposures/weekly_kpis.yml"}),
        says="orders, customers are not public (access: protected)",
    ),
    Case(
        "/dbt-package --name tiny_utils --local local_packages/tiny_utils",
        may_write=frozenset({"packages.yml", "package-lock.yml"}),
        approve_code=True,
    ),
]


@pytest.fixture(scope="module")
def real_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("real")
    home = base / "home"
    root = write_real_project(base / "jaffle_shop", home)
    package = root / "local_packages" / "tiny_utils"
    (package / "macros").mkdir(parents=True)
    (package / "dbt_project.yml").write_text("name: tiny_utils\nversion: '0.1.0'\nconfig-version: 2\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.delenv("DBT_PROFILES_DIR", raising=False)
        # the user has loaded their seeds before (dbt seed); ae picks the project up from there
        with DbtEngine(root) as engine:
            assert engine.run("seed").success
        yield root


@pytest.mark.slow
def test_every_command_on_a_users_project_touches_only_what_it_asked(real_project: Path) -> None:
    settings = load_settings(real_project)
    failures: list[str] = []
    with Session(settings) as session:
        for case in CASES:
            before = _files(real_project)
            outcome: RunOutcome = session.run(
                case.request, planner=CommandPlanner(), describer=HeuristicDescriber()
            )
            if case.approve_code and outcome.status == "awaiting_approval":
                outcome = session.resume(
                    outcome.run_id, planner=CommandPlanner(), describer=HeuristicDescriber(), allow_code=True
                )
            after = _files(real_project)
            if outcome.status != "success":
                failures.append(f"{case.request}: {outcome.status} — {outcome.reason}")
                continue
            changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
            if not changed <= case.may_write:
                failures.append(f"{case.request}: changed {sorted(changed - case.may_write)}")
            for path in changed & before.keys():
                # an edit of a user's file only adds: comments, flow lists, blank lines stay as they were
                removed = _removed_lines(before[path], after.get(path, b""))
                if removed:
                    failures.append(f"{case.request}: {path} lost lines {removed}")
            report = outcome.report()
            if case.says and case.says not in ((report.answer if report else None) or ""):
                failures.append(f"{case.request}: the answer does not say {case.says!r}")
            built = set(report.models_built()) if report else set()
            if not built <= case.builds:
                failures.append(f"{case.request}: built {sorted(built - case.builds)} it was not asked to")
    assert not failures, "\n".join(failures)
    # what was written follows the project: its folders, its files, its test style, its config
    staging = (real_project / "models" / "staging" / "schema.yml").read_text()
    assert "ref('stg_customers')" in staging and "ref('customers')" not in staging  # upstream only
    assert "data_tests:" not in staging and "arguments:" not in staging  # the project's `tests:` style
    stg_orders = read_entry(staging, "models", "stg_orders", "schema.yml") or {}
    columns = {c["name"]: c for c in stg_orders["columns"]}
    assert "description" not in stg_orders and "description" not in columns["order_id"]  # tests, not docs
    assert "description" in columns["customer_id"]  # a column it declares is described
    mart = (real_project / "models" / "payment_methods_summary.sql").read_text()
    assert "config(" not in mart  # dbt_project.yml makes models/ tables already
    assert (
        "from {{ ref('raw_payments') }}"
        in (real_project / "models/staging/stg_payment_records.sql").read_text()
    )
    assert "- name: payment_methods_summary" in (real_project / "models" / "schema.yml").read_text()
    # ae's run data stays out of the user's git repository
    assert (real_project / ".ae" / ".gitignore").read_text() == "*\n"
    # dbt-project-evaluator's layout rules: no staging built on staging (a snapshot named stg_...),
    # no fan-out (the exposure reads customers and orders); the new source's YAML is in the project's
    # one staging folder, which ae follows over the rule's folder per source
    layout = project_evaluator_findings(real_project / "target" / "manifest.json")
    assert {(f.code, f.where) for f in layout} == {
        ("fct_source_directories", "source.jaffle_shop.legacy.raw_orders")
    }, layout


@pytest.mark.slow
def test_a_mart_at_the_grain_of_an_existing_one_is_refused(real_project: Path) -> None:
    settings = load_settings(real_project)
    with Session(settings) as session:
        session.run("/dbt-run --select stg_orders orders", planner=CommandPlanner())
        outcome = session.run("/dbt-model --name fct_orders --type fact", planner=CommandPlanner())
    assert outcome.status == "invalid"
    assert "orders (models/orders.sql) already has one row per order (key order_id)" in outcome.reason
    assert not (real_project / "models" / "fct_orders.sql").exists()


def test_claude_is_told_the_projects_conventions(real_project: Path) -> None:
    with DbtEngine(real_project) as engine:
        tools = ToolContext(paths=ProjectPaths.for_project(real_project), target="dev", engine=engine)
        brief = project_brief(ProjectView(tools))
    assert "New marts models go in `models/`, documented in `models/schema.yml`." in brief
    assert "New staging models go in `models/staging/`, documented in `models/staging/schema.yml`." in brief
    assert "listed under `tests:`, with a generic test's arguments directly under the test name" in brief
    assert "makes models under `models/` table" in brief and "under `staging/` view" in brief
    assert "seeds (raw_customers, raw_orders, raw_payments)" in brief
