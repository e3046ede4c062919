"""Claude changes existing models with the same in-place edits as the /commands (tools/edit_tools.py),
and never rewrites a model wholesale: on dbt-labs' jaffle_shop (tests/fixtures/change_what_exists),
built for real with dbt and DuckDB, planned by "Claude" through the fake Messages API and the real
anthropic SDK.

- ``orders`` made incremental through ``make_model_incremental``: the diff is the config and the
  filters only (its Jinja payment loop and every column kept), and Verify's incremental proof passes.
- ``write_file`` over ``orders.sql`` is refused naming the tools to use; the edit through the tool
  that follows succeeds.
- A rename through ``rename_model_column`` changes the model, the models below it and the YAML tests
  in one changeset, and the run builds.
- Hostile arguments (quotes, Jinja, a package's model, a lookback that is SQL) come back as tool
  errors and record nothing.
"""

from __future__ import annotations

import difflib
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from tests.change_what_exists import FIXTURE, PROFILE
from tests.fake_anthropic import FakeAnthropic, Step, tool_use
from tests.project_snapshots import files_snapshot
from tests.test_sql_edit import ORDERS_INCREMENTAL_LINES
from tools.changeset import Changeset
from tools.context import ToolContext
from tools.paths import ProjectPaths
from tools.registry import invoke

FAKE_KEY = "sk-ant-test-claude-edits-not-a-key-00"
ORDERS = "models/orders.sql"
STAGING_YML = "models/staging/schema.yml"
KEY_ENTRY = "      - name: order_key\n        tests:\n"
MAKE_INCREMENTAL = {
    "model": "orders",
    "unique_key": "order_id",
    "time_column": "order_date",
    "lookback": "3 days",
}


@pytest.fixture(scope="module")
def built_jaffle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture with a profile, built once by dbt (seeds, models, tests) for the module's copies,
    in the engine's own process: once it closes, the DuckDB file holds everything and can be copied."""
    from agent.settings import load_settings

    root = tmp_path_factory.mktemp("built") / "jaffle_shop"
    shutil.copytree(FIXTURE, root)
    (root / "profiles.yml").write_text(PROFILE.format(name="jaffle_shop"))
    engine = load_settings(root).open_engine(None)
    try:
        result = engine.run("build")
    finally:
        engine.close()
    assert result.success, result.summary()
    return root


@pytest.fixture
def project(built_jaffle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "jaffle_shop"
    shutil.copytree(built_jaffle, root, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("AE_RETRY_ATTEMPTS", "1")
    return root


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")]


def claude_run(
    monkeypatch: pytest.MonkeyPatch, root: Path, request: str, steps: list[Step]
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """``ae run --json`` planned by the fake Claude: exit code, report, and the requests it got."""
    out, err = io.StringIO(), io.StringIO()
    with FakeAnthropic(steps) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.setattr("sys.stdout", out)
        monkeypatch.setattr("sys.stderr", err)
        code = main(["run", request, "--project", str(root), "--json", "--planner", "claude"])
        bodies = [r.body for r in fake.requests]
    assert FAKE_KEY not in out.getvalue() + err.getvalue()
    try:
        report = json.loads(out.getvalue())
    except json.JSONDecodeError:
        pytest.fail(f"no JSON report (exit {code}):\n{out.getvalue()}\n{err.getvalue()}")
    return code, report, bodies


def tool_results(bodies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every tool_result Claude was sent, by tool_use id."""
    return {
        block["tool_use_id"]: block
        for body in bodies
        for message in body["messages"]
        if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    }


# --- end to end: ae run, planned by Claude ---------------------------------------------------------


def test_a_wholesale_rewrite_is_refused_and_orders_is_made_incremental_in_place(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (project / ORDERS).read_text()
    others = {path: digest for path, digest in files_snapshot(project).items() if path != ORDERS}
    regenerated = "select order_id, customer_id, order_date, status from {{ ref('stg_orders') }}\n"
    steps = [
        tool_use("write_file", {"path": ORDERS, "content": regenerated}, id="t1"),
        tool_use("make_model_incremental", MAKE_INCREMENTAL, id="t2"),
        tool_use("submit_plan", {"summary": "orders made incremental on order_id"}, id="t3"),
    ]
    code, report, bodies = claude_run(monkeypatch, project, "make orders incremental", steps)
    assert code == 0, report.get("reason")
    assert report["status"] == "success"

    results = tool_results(bodies)
    refused = results["t1"]
    assert refused.get("is_error") and "models/orders.sql is an existing model" in refused["content"]
    assert "make_model_incremental" in refused["content"] and "edit_file" in refused["content"]
    edited = json.loads(results["t2"]["content"])
    assert not results["t2"].get("is_error")
    assert edited["changed"] == ["modified models/orders.sql"]
    assert "+        where order_id in (select orders.order_id from orders)" in edited["diff"]
    assert "unique_orders_order_id" in edited["impact"]["tests"]

    # the diff is the config and the filters: the payment loop and every other byte are the user's
    after = (project / ORDERS).read_text()
    removed, added = changed_lines(before, after)
    assert removed == [] and added == ORDERS_INCREMENTAL_LINES
    assert "{% for payment_method in payment_methods -%}" in after
    assert {path: digest for path, digest in files_snapshot(project).items() if path != ORDERS} == others

    (check,) = report["verification"]["incremental_checks"]
    assert check["model"] == "orders" and check["matches"] is True, check


@pytest.mark.slow  # the tools' own test below covers the rename without a run
def test_a_rename_changes_the_model_the_models_below_it_and_the_yaml_tests_in_one_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = files_snapshot(project)
    steps = [
        tool_use(
            "rename_model_column", {"model": "stg_orders", "old": "order_id", "new": "order_key"}, id="t1"
        ),
        tool_use("submit_plan", {"summary": "stg_orders.order_id renamed order_key"}, id="t2"),
    ]
    code, report, bodies = claude_run(monkeypatch, project, "rename stg_orders.order_id to order_key", steps)
    # the renamed entry has no description, as order_id had none: the rename keeps that debt, and
    # Validate's lint does not count it as the change's own (graph/lint_scope.py)
    assert code == 0, report.get("reason")
    renamed = json.loads(tool_results(bodies)["t1"]["content"])
    assert renamed["next_steps"] == []
    expected = {
        "models/staging/stg_orders.sql",
        "models/orders.sql",
        "models/customers.sql",
        STAGING_YML,
    }
    assert {line.split(" ", 1)[1] for line in renamed["changed"]} == expected
    assert {"unique_stg_orders_order_id", "not_null_stg_orders_order_id"} <= set(renamed["impact"]["tests"])
    after = files_snapshot(project)
    assert {path for path in before if before[path] != after[path]} == expected
    staging = (project / STAGING_YML).read_text()
    assert KEY_ENTRY + "          - unique\n          - not_null\n" in staging
    assert "orders.order_key as order_id" in (project / ORDERS).read_text()  # orders keeps its column
    assert report["verification"]["figures"]["tests_failed"] == 0


# --- the tools, called as Plan calls them (one project and engine for the module) -----------------

#: a model with a parent column left to add, and an installed package's model (never edited)
NAMES_SQL = """\
with customers as (
    select * from {{ ref('stg_customers') }}
)

select
    customer_id,
    first_name
from customers
"""
#: a model on a parent that was never built: its columns come from the parent's compiled SQL
FIRST_NAMES_SQL = "select customer_id, first_name from {{ ref('customer_names') }}\n"
PACKAGE_MODEL = "dbt_packages/shop_source/models/stg_shop__orders.sql"


@pytest.fixture(scope="module")
def shared(built_jaffle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolContext]:
    """A copy of the built project with two more models, and an engine on it; each test gets a
    context with an empty changeset (``context``) and must not write to the disk."""
    from agent.settings import load_settings

    root = tmp_path_factory.mktemp("shared") / "jaffle_shop"
    shutil.copytree(built_jaffle, root, ignore=shutil.ignore_patterns("target", "logs"))
    (root / "models" / "customer_names.sql").write_text(NAMES_SQL)
    (root / "models" / "first_names.sql").write_text(FIRST_NAMES_SQL)
    package = root / "dbt_packages" / "shop_source"
    (package / "models").mkdir(parents=True)
    (package / "dbt_project.yml").write_text("name: shop_source\nversion: '1.0'\nconfig-version: 2\n")
    (root / PACKAGE_MODEL).write_text("select 1 as order_id\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        engine = load_settings(root).open_engine(None)
        try:
            yield ToolContext(
                paths=ProjectPaths.for_project(root), target=engine.target_name(), engine=engine
            )
        finally:
            engine.close()


@pytest.fixture
def context(shared: ToolContext) -> ToolContext:
    return replace(shared, changeset=Changeset(), calls=[])


HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("make_model_incremental", {**MAKE_INCREMENTAL, "model": "orders' or 1=1"}, "should match pattern"),
    ("make_model_incremental", {**MAKE_INCREMENTAL, "unique_key": "order_id'); drop table x; --"}, "pattern"),
    (
        "add_model_column",
        {"model": "orders", "parent": "stg_orders", "column": "{{ env_var('X') }}"},
        "pattern",
    ),
    ("add_model_column", {"model": "orders", "parent": "{{ ref('x') }}", "column": "status"}, "pattern"),
    ("rename_model_column", {"model": "orders", "old": "status", "new": 'st"atus'}, "pattern"),
    ("extract_model_cte", {"model": "orders", "cte": "payments", "new_model": "../../outside"}, "pattern"),
    (
        "make_model_incremental",
        {**MAKE_INCREMENTAL, "lookback": "1 day' from x; drop table y --"},
        "lookback",
    ),
    ("make_model_incremental", {**MAKE_INCREMENTAL, "time_column": "no_such_column"}, "has no column"),
    (
        "add_model_column",
        {"model": "orders", "parent": "raw_orders", "column": "id"},
        "does not read raw_orders",
    ),
    ("add_model_column", {"model": "orders", "parent": "stg_payments", "column": "payment_id"}, "aggregates"),
    (
        "set_model_materialization",
        {"model": "orders", "materialized": "incremental"},
        "the edit that writes its filter and unique key too",
    ),
    ("set_model_materialization", {"model": "no_such_model", "materialized": "view"}, "no model named"),
    (
        "extract_model_cte",
        {"model": "orders", "cte": "final", "new_model": "int_final"},
        "extract order_payments",
    ),
    ("extract_model_cte", {"model": "orders", "cte": "payments", "new_model": "customers"}, "exists already"),
    ("set_model_materialization", {"model": "stg_shop__orders", "materialized": "view"}, "installed package"),
]


@pytest.mark.parametrize(
    ("tool", "arguments", "why"), HOSTILE, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(HOSTILE)]
)
def test_hostile_or_unsafe_arguments_are_tool_errors_that_record_nothing(
    context: ToolContext, tool: str, arguments: dict[str, Any], why: str
) -> None:
    outcome = invoke(context, tool, arguments)
    assert not outcome.ok and outcome.channel == "model", outcome
    assert why in (outcome.error or ""), outcome.error
    assert "command again" not in (outcome.error or "") and "(--" not in (outcome.error or "")
    assert context.changeset.is_empty


def test_the_time_column_comes_from_the_data_when_not_given(context: ToolContext) -> None:
    asked = {"model": "orders", "unique_key": "order_id"}
    made = invoke(context, "make_model_incremental", asked)
    assert made.ok, made.error
    assert (
        "stg_orders rows whose order_date is within 1 day of the newest loaded" in made.output["description"]
    )
    assert "select max(this_model.order_date) - interval '1 day'" in made.output["diff"]
    no_time = invoke(
        context, "make_model_incremental", {"model": "customer_names", "unique_key": "customer_id"}
    )
    assert not no_time.ok and "stg_customers, which drives customer_names's grain, has no date" in (
        no_time.error or ""
    )


def test_a_package_s_files_are_never_written(context: ToolContext) -> None:
    for name, arguments in (
        ("write_file", {"path": PACKAGE_MODEL, "content": "select 2"}),
        ("edit_file", {"path": PACKAGE_MODEL, "old": "1", "new": "2"}),
        ("delete_file", {"path": PACKAGE_MODEL}),
    ):
        refused = invoke(context, name, arguments)
        assert not refused.ok and "installed package" in (refused.error or ""), (name, refused.error)
    assert context.changeset.is_empty


def test_an_edit_of_a_model_this_plan_already_changed_is_refused(context: ToolContext) -> None:
    edit = {"path": ORDERS, "old": "select * from final", "new": "select * from final\n"}
    assert invoke(context, "edit_file", edit).ok
    outcome = invoke(context, "make_model_incremental", MAKE_INCREMENTAL)
    assert not outcome.ok and "already has pending edits" in (outcome.error or "")
    assert context.changeset.touched_paths() == [ORDERS]


def test_a_new_model_may_be_written_whole_and_rewritten(context: ToolContext) -> None:
    for content in ("select 1 as id\n", "select 2 as id\n"):
        written = invoke(context, "write_file", {"path": "models/one_row.sql", "content": content})
        assert written.ok, written.error
    assert context.changeset.view(context.paths, "models/one_row.sql") == "select 2 as id\n"
    refused = invoke(context, "write_file", {"path": "models/customer_names.sql", "content": "select 1"})
    assert not refused.ok and "rename_model_column" in (refused.error or "")


def added_lines(diff: str) -> list[str]:
    return [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def test_add_extract_and_materialization_record_their_edits(context: ToolContext) -> None:
    add = {"model": "customer_names", "parent": "stg_customers", "column": "last_name", "as_name": "surname"}
    added = invoke(context, "add_model_column", add)
    assert added.ok, added.error
    assert added_lines(added.output["diff"]) == ["    first_name,", "    last_name as surname"]
    assert "surname" in added.output["next_steps"][0]
    unbuilt = invoke(
        context,
        "add_model_column",
        {"model": "first_names", "parent": "customer_names", "column": "customer_id"},
    )
    assert not unbuilt.ok and "the model already outputs customer_names.customer_id as customer_id" in (
        unbuilt.error or ""
    )

    cte = {"model": "orders", "cte": "order_payments", "new_model": "int_order_payments"}
    extracted = invoke(context, "extract_model_cte", cte)
    assert extracted.ok, extracted.error
    assert extracted.output["changed"] == [
        "modified models/orders.sql",
        "created models/int_order_payments.sql",
    ]
    moved = context.changeset.view(context.paths, "models/int_order_payments.sql") or ""
    assert "{% for payment_method in payment_methods -%}" in moved
    assert "int_order_payments.yml" in extracted.output["next_steps"][0]

    materialized = invoke(
        context, "set_model_materialization", {"model": "customers", "materialized": "view"}
    )
    assert materialized.ok, materialized.error
    assert added_lines(materialized.output["diff"]) == ["{{ config(materialized='view') }}", ""]
    assert "unique_customers_customer_id" in materialized.output["impact"]["tests"]
    changed = ["models/customer_names.sql", ORDERS, "models/int_order_payments.sql", "models/customers.sql"]
    assert context.changeset.touched_paths() == changed


def test_a_rename_records_every_file_it_changes_and_lists_its_impact(context: ToolContext) -> None:
    renamed = invoke(
        context, "rename_model_column", {"model": "stg_payments", "old": "amount", "new": "amount_aud"}
    )
    assert renamed.ok, renamed.error
    assert context.changeset.touched_paths() == [
        "models/staging/stg_payments.sql",
        "models/customers.sql",
        ORDERS,
    ]
    impact = renamed.output["impact"]
    assert "customers.customer_lifetime_value" in impact["columns"] and "orders.amount" in impact["columns"]
    assert "not_null_orders_amount" in impact["tests"] and impact["complete"]
    assert any("Jinja loop" in warning for warning in renamed.output["warnings"])
    orders = context.changeset.view(context.paths, ORDERS) or ""
    assert "then amount_aud else 0 end) as {{ payment_method }}_amount" in orders


def test_column_lineage_names_the_staging_and_the_raw_column(context: ToolContext) -> None:
    asked = {"node": "customers", "column": "customer_lifetime_value"}
    outcome = invoke(context, "model_lineage", asked)
    assert outcome.ok, outcome.error
    answer = outcome.output
    assert answer["upstream"] == [{"node": "stg_payments", "column": "amount", "distance": 1, "starts": None}]
    assert answer["origins"] == ["raw_payments.amount"] and answer["complete"]
    unknown = invoke(context, "model_lineage", {"node": "customers", "column": "nope"})
    assert not unknown.ok and "customer_lifetime_value" in (unknown.error or "")
