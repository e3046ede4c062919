"""The lint judges the change, not the project: Validate, `ae lint` and the baseline on a project
shaped like a real user's (tests/real_project.py), with real dbt.

One project and one session (stopped after Validate) per module; each test's changes to the
project's files are undone after it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.exit_codes import ExitCode
from agent.runner import Session
from agent.settings import load_settings
from graph.figures import project_figures
from graph.plan_spec import PlanRequest, PlanSpec
from graph.report import RunReport, render_markdown
from tests.real_project import MARTS_SCHEMA, STAGING_SCHEMA, write_real_project
from tests.scripted_planner import ScriptedPlanner, writes
from tools.context import ToolContext
from tools.lint_baseline import BASELINE_FILE
from tools.manifest import Manifest
from tools.registry import invoke

GENERATED = {"target", ".ae", "logs", "dbt_packages"}
FINDING_LINE = re.compile(r"^\S+:\d+: AE\d{3} (?:error|warning) ")
CUSTOMERS = "model.jaffle_shop.customers"


@dataclass
class RealProject:
    root: Path
    session: Session

    def validate(self, files: dict[str, str]) -> dict[str, Any]:
        """Plan writes ``files``; the run stops after Validate. Returns the validation result."""
        planner = ScriptedPlanner([writes(files)], can_repair=False)
        outcome = self.session.run("a change", planner=planner)
        validation: dict[str, Any] = outcome.state["validation"]
        return validation

    def lint(self, *flags: str) -> int:
        return main(["lint", "--project", str(self.root), *flags])


def project_files(root: Path) -> dict[Path, bytes]:
    return {
        path: path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and not GENERATED & set(path.relative_to(root).parts) and ".duckdb" not in path.name
    }


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealProject]:
    base = tmp_path_factory.mktemp("real")
    home = base / "home"
    root = write_real_project(base / "jaffle_shop", home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        patch.setenv("DO_NOT_TRACK", "1")
        settings = load_settings(root, max_repairs=0, retry_attempts=2, retry_initial_wait_s=0.05)
        with Session(settings, interrupt_after=["validate"]) as session:
            yield RealProject(root, session)


def restore(root: Path, before: dict[Path, bytes]) -> None:
    """The project's files back as ``before`` holds them (a run stopped after Validate leaves its
    change applied)."""
    for path in set(project_files(root)) - set(before):
        path.unlink()
    for path, data in before.items():
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)


@pytest.fixture
def project(real: RealProject) -> Iterator[RealProject]:
    before = project_files(real.root)
    yield real
    restore(real.root, before)


def printed_findings(out: str) -> list[str]:
    # ae's log lines reach stdout here because the CLI's logging setup does not run in tests
    return [line for line in out.splitlines() if FINDING_LINE.match(line)]


def by_rule(findings: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(f["rule_id"], f["node"].rsplit(".", 1)[-1]) for f in findings}


# --- Validate scopes findings by node ------------------------------------------------------------


def test_a_test_added_to_one_entry_of_a_shared_schema_yml_is_not_blocked_by_its_neighbours(
    project: RealProject,
) -> None:
    # stg_customers gains a documented, tested column; its neighbours (and it) have old debt
    documented = STAGING_SCHEMA.replace(
        "          - not_null\n\n  - name: stg_orders",
        "          - not_null\n"
        "      - name: first_name\n"
        "        description: The customer's first name.\n"
        "        tests: [not_null]\n\n"
        "  - name: stg_orders",
    )
    assert documented != STAGING_SCHEMA

    validation = project.validate({"models/staging/schema.yml": documented})

    assert validation["ok"], validation["errors"]
    assert validation["lint_scope"] == {"created": [], "modified": ["model.jaffle_shop.stg_customers"]}
    assert validation["lint"] == []
    debt = by_rule(validation["lint_debt"])
    assert {("AE006", "stg_orders"), ("AE006", "stg_payments"), ("AE007", "stg_orders")} <= debt
    # stg_customers' own findings from before the change are debt too
    assert ("AE006", "stg_customers") in debt


def test_a_new_model_without_description_blocks_while_the_files_old_debt_does_not(
    project: RealProject,
) -> None:
    schema = MARTS_SCHEMA + (
        "\n  - name: payment_methods\n"
        "    columns:\n"
        "      - name: payment_method\n"
        "        description: How the order was paid.\n"
        "        tests: [unique, not_null]\n"
    )
    sql = "select distinct payment_method from {{ ref('stg_payments') }}\n"

    validation = project.validate({"models/schema.yml": schema, "models/payment_methods.sql": sql})

    assert not validation["ok"]
    assert validation["lint_scope"]["created"] == ["model.jaffle_shop.payment_methods"]
    assert by_rule(validation["lint"]) == {("AE006", "payment_methods")}
    assert len(validation["errors"]) == 1 and "payment_methods has no description" in validation["errors"][0]
    # customers' documented-but-missing column sits in the same file: debt, not a block
    assert ("AE014", "customers") in by_rule(validation["lint_debt"])


def test_a_modified_model_is_blocked_by_its_new_findings_only(project: RealProject) -> None:
    # the SQL changes: customers' old AE014 (total_order_amount) is not this change's doing
    sql_path = project.root / "models" / "customers.sql"
    edited = sql_path.read_text().replace(
        "select * from final", "-- one row per customer\nselect * from final"
    )
    assert project.validate({"models/customers.sql": edited})["ok"]

    # its YAML entry gains a column the SQL does not output: that finding is new and blocks
    schema = MARTS_SCHEMA.replace(
        "      - name: total_order_amount",
        "      - name: lifetime_orders\n        description: Orders.\n      - name: total_order_amount",
    )
    validation = project.validate({"models/schema.yml": schema})

    assert not validation["ok"]
    assert validation["lint_scope"]["modified"] == [CUSTOMERS]
    assert [(f["rule_id"], f["detail"]) for f in validation["lint"] if f["severity"] == "error"] == [
        ("AE014", "lifetime_orders")
    ]
    assert not any("total_order_amount" in e for e in validation["errors"])
    assert ("AE014", "total_order_amount") in {(f["rule_id"], f["detail"]) for f in validation["lint_debt"]}


# column names made by a Jinja loop: only the compiled SQL says what this model outputs
PAYMENT_TOTALS_SQL = """\
{% set methods = ['credit_card', 'coupon'] %}
select
    order_id,
    {% for m in methods %}sum(case when payment_method = '{{ m }}' then amount end) as {{ m }}_amount,
    {% endfor %}sum(amount) as total
from {{ ref('stg_payments') }}
group by order_id
"""
PAYMENT_TOTALS_YML = """\
version: 2
models:
  - name: payment_totals
    description: Payments per order and method.
    columns:
      - name: order_id
        description: The order.
        tests: [unique]
      - name: credit_card_amount
        description: Paid by credit card.
      - name: coupon_amount
        description: Paid by coupon.
      - name: gift_card_amount
        description: Paid by gift card (no longer computed).
      - name: total
        description: Paid in all.
"""


def test_old_findings_only_compiled_sql_shows_do_not_block_a_modified_model(project: RealProject) -> None:
    (project.root / "models" / "payment_totals.sql").write_text(PAYMENT_TOTALS_SQL)
    (project.root / "models" / "payment_totals.yml").write_text(PAYMENT_TOTALS_YML)
    tested = PAYMENT_TOTALS_YML.replace("tests: [unique]", "tests: [unique, not_null]")

    validation = project.validate({"models/payment_totals.yml": tested})

    assert validation["ok"], validation["errors"]
    assert validation["lint_scope"]["modified"] == ["model.jaffle_shop.payment_totals"]
    assert ("AE014", "gift_card_amount") in {(f["rule_id"], f["detail"]) for f in validation["lint_debt"]}


def test_a_hard_coded_status_filter_in_a_new_mart_is_reported(project: RealProject) -> None:
    sql = "select order_id, amount\nfrom {{ ref('orders') }}\nwhere status = 'completed'\n"
    schema = (
        "version: 2\nmodels:\n  - name: fct_completed_orders\n"
        "    description: Completed orders.\n    columns:\n"
        "      - name: order_id\n        description: The order.\n        tests: [unique, not_null]\n"
        "      - name: amount\n        description: What was paid.\n"
    )

    validation = project.validate(
        {"models/marts/fct_completed_orders.sql": sql, "models/marts/fct_completed_orders.yml": schema}
    )

    assert validation["ok"], validation["errors"]  # a warning is reported, never blocking
    assert by_rule(validation["lint"]) == {("AE012", "fct_completed_orders")}


def test_the_report_shows_blocking_findings_and_debt_apart(project: RealProject) -> None:
    schema = MARTS_SCHEMA + "\n  - name: payment_methods\n"
    validation = project.validate(
        {"models/schema.yml": schema, "models/payment_methods.sql": "select 1 as payment_method\n"}
    )
    report = RunReport(
        run_id="r1",
        request="a change",
        planner="scripted",
        target="dev",
        status="failed",
        validation=validation,
    )

    markdown = render_markdown(report)
    blocking, debt = markdown.split("## Existing lint debt (not blocking)")

    assert "## Lint" in blocking and "AE006 error: model payment_methods" in blocking
    assert "total_order_amount" in debt and "total_order_amount" not in blocking


# --- a rename is not new debt; a declared model's SQL gets its declaration ---------------------------

STG_ORDERS = "models/staging/stg_orders.sql"
STATUS = "case when status = 'R' then 'returned' else status end as status"
ORDER_STATUS = "case when status = 'R' then 'returned' else status end as order_status"


def renamed_status(project: RealProject) -> dict[str, str]:
    """stg_orders.status (in YAML with tests but no description: AE007 debt) renamed order_status in
    the model, its YAML entry and the two models that read it, as the rename edits write it."""
    text = {path: (project.root / path).read_text() for path in (STG_ORDERS, "models/orders.sql")}
    legacy = (project.root / "models" / "order_status_counts.sql").read_text()
    return {
        STG_ORDERS: text[STG_ORDERS].replace(STATUS, ORDER_STATUS),
        "models/staging/schema.yml": STAGING_SCHEMA.replace("- name: status", "- name: order_status"),
        "models/orders.sql": text["models/orders.sql"].replace(
            "orders.status,", "orders.order_status as status,"
        ),
        "models/order_status_counts.sql": legacy.replace(
            "select status,", "select order_status as status,"
        ).replace("group by status", "group by order_status"),
    }


def errors_of(validation: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["rule_id"], f["detail"]) for f in validation["lint"] if f["severity"] == "error"}


def test_a_renamed_column_keeps_its_debt_and_a_new_one_does_not(project: RealProject) -> None:
    as_it_was = project_files(project.root)
    renamed = project.validate(renamed_status(project))
    restore(project.root, as_it_was)
    assert renamed["ok"], renamed["errors"]
    assert "model.jaffle_shop.stg_orders" in renamed["lint_scope"]["modified"]
    assert ("AE007", "order_status") in {(f["rule_id"], f["detail"]) for f in renamed["lint_debt"]}

    # the same rename with a new undescribed column beside it: the new column is this change's
    files = renamed_status(project)
    files[STG_ORDERS] = files[STG_ORDERS].replace(
        ORDER_STATUS, f"{ORDER_STATUS},\n        order_date as placed_on"
    )
    files["models/staging/schema.yml"] = files["models/staging/schema.yml"].replace(
        "      - name: order_status", "      - name: placed_on\n      - name: order_status"
    )
    with_new = project.validate(files)
    restore(project.root, as_it_was)
    assert not with_new["ok"]
    assert errors_of(with_new) == {("AE007", "placed_on")}

    # a rename the YAML cannot tell from another column (two bare entries): every finding counts
    bare = renamed_status(project)
    bare["models/staging/schema.yml"] = bare["models/staging/schema.yml"].replace(
        "      - name: order_status\n        tests:\n          - accepted_values:\n"
        "              values: ['placed', 'shipped', 'completed', 'return_pending', 'returned']\n",
        "      - name: order_status\n      - name: placed_on\n",
    )
    bare[STG_ORDERS] = bare[STG_ORDERS].replace(
        ORDER_STATUS, f"{ORDER_STATUS},\n        order_date as placed_on"
    )
    unsure = project.validate(bare)
    assert not unsure["ok"]
    assert {("AE007", "order_status"), ("AE007", "placed_on")} <= errors_of(unsure)


ORDER_TOTALS_YML = """\
version: 2
models:
  - name: order_totals
    description: One row per order, with its total amount.
    columns:
      - name: order_id
        description: The order.
        tests: [unique, not_null]
      - name: amount
        description: What the order cost in all.
"""


def test_a_declared_model_s_sql_written_by_a_claude_plan_parses_with_its_declaration(
    project: RealProject,
) -> None:
    # declared in YAML before its SQL exists, and parsed that way (dbt's partial-parse cache knows it)
    (project.root / "models" / "order_totals.yml").write_text(ORDER_TOTALS_YML)
    sql = "select order_id, amount from {{ ref('orders') }}\n"

    def claude_style(_request: PlanRequest, tools: ToolContext) -> PlanSpec:
        for name, arguments in (
            ("dbt_parse", {}),
            ("write_file", {"path": "models/order_totals.sql", "content": sql}),
        ):
            outcome = invoke(tools, name, arguments)
            assert outcome.ok, outcome.error
        return PlanSpec(summary="order_totals built to its declaration", changeset=tools.changeset)

    outcome = project.session.run("a change", planner=ScriptedPlanner([claude_style], can_repair=False))
    validation: dict[str, Any] = outcome.state["validation"]

    assert validation["ok"], validation["errors"]
    assert validation["lint_scope"]["created"] == ["model.jaffle_shop.order_totals"]
    node = Manifest.load(project.root).nodes["model.jaffle_shop.order_totals"]
    assert node.description == "One row per order, with its total amount."
    assert list(node.columns) == ["order_id", "amount"]


# --- ae lint and the baseline ---------------------------------------------------------------------


def test_ae_lint_reports_the_project_and_learns_its_layout(
    project: RealProject, capsys: pytest.CaptureFixture[str]
) -> None:
    assert project.lint() == 1
    captured = capsys.readouterr()
    lines = printed_findings(captured.out)

    assert any(
        line.startswith("models/schema.yml:30: AE014 error column total_order_amount is documented")
        for line in lines
    )
    assert "ae lint: 13 error(s), 9 warning(s)" in captured.err
    rules = {line.split()[1] for line in lines}
    assert "AE008" not in rules  # stg_payments reads base_payments, which reads a seed
    assert "AE012" not in rules  # stg_orders decodes status 'R'
    assert "AE006" in rules


def test_schema_compliance_counts_documented_columns_that_the_model_does_not_output(
    project: RealProject,
) -> None:
    project.lint()
    figures = project_figures(Manifest.load(project.root))

    # of the seven models only orders documents exactly what it outputs
    assert figures["schema_compliance"] == round(1 / 7, 4)


def test_the_baseline_is_written_and_honoured(
    project: RealProject, capsys: pytest.CaptureFixture[str]
) -> None:
    assert project.lint("--baseline") == 0
    baseline = project.root / BASELINE_FILE
    text = baseline.read_text()
    fingerprints = json.loads(text)["findings"]
    assert fingerprints == sorted(fingerprints)
    assert "AE014 model.jaffle_shop.customers total_order_amount" in fingerprints
    assert '    "AE006 model.jaffle_shop.order_status_counts",\n' in text  # one per line
    assert not any(".yml" in f or ".sql" in f for f in fingerprints)  # no paths, so no line numbers
    capsys.readouterr()

    assert project.lint() == 0
    captured = capsys.readouterr()
    assert printed_findings(captured.out) == []
    assert "22 finding(s) accepted in .ae-lint-baseline.json not shown" in captured.err

    # A legacy model comes back (say, restored from git): created by the change, but its findings
    # were accepted, so they do not block. A plan cannot accept findings by writing the baseline.
    legacy = project.root / "models" / "order_status_counts.sql"
    sql = legacy.read_text()
    legacy.unlink()
    validation = project.validate({"models/order_status_counts.sql": sql})
    assert validation["ok"], validation["errors"]
    assert validation["lint_scope"]["created"] == ["model.jaffle_shop.order_status_counts"]
    assert ("AE006", "order_status_counts") in by_rule(validation["lint_debt"])

    baseline.unlink()
    legacy.unlink()  # the run above stopped after Validate, with its change applied
    forged = json.dumps({"version": 1, "findings": ["AE006 model.jaffle_shop.order_status_counts"]})
    refused = project.validate({"models/order_status_counts.sql": sql, BASELINE_FILE: forged})
    assert not refused["ok"]
    assert ("AE006", "order_status_counts") in by_rule(refused["lint"])


def test_ae_lint_explains_a_broken_baseline_and_a_project_that_does_not_parse(
    project: RealProject, capsys: pytest.CaptureFixture[str]
) -> None:
    (project.root / BASELINE_FILE).write_text("{not json")
    assert project.lint() == ExitCode.ENVIRONMENT
    said = capsys.readouterr().err
    assert "is not valid JSON" in said and "ae lint --baseline" in said

    (project.root / BASELINE_FILE).unlink()
    (project.root / "models" / "broken.sql").write_text("select * from {{ ref('no_such_model') }}\n")
    assert project.lint() == ExitCode.FAILED  # the project's files, as for a run
    assert "no_such_model" in capsys.readouterr().err
