"""Changing what exists through the /commands (issue 24): a model that exists is never regenerated,
edits are made in place and list their impact first, a YAML-only model is built to its declaration,
and a column's lineage is one read-only dbt call. dbt and DuckDB run for real on dbt-labs' public
jaffle_shop (with a package model beside it) and on the shape of Spider2-DBT's chinook001.

The plan-level tests share one built project and apply nothing; the runs through ``ae run`` that
change the project each take a copy of their own and are marked slow.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from agent.cli import main
from agent.commands import CommandPlanner
from agent.commands.model_edit import parse_edit
from agent.commands.parser import parse_command
from agent.exit_codes import ExitCode
from graph.plan_spec import PlanRequest, PlanSpec
from tests.change_what_exists import FIXTURE, PROFILE
from tests.project_snapshots import files_snapshot, warehouse_snapshot
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.errors import InvalidArguments, UnknownNode
from tools.paths import ProjectPaths
from tools.properties_files import declarations, disk_reader, properties_files

CHINOOK = FIXTURE.parent / "chinook"
PACKAGE_MODEL = "stg_shop__products"
EXPOSURE = """\
version: 2

exposures:
  - name: revenue_board
    type: dashboard
    owner: {name: Finance}
    depends_on: [ref('customers')]
"""
PACKAGE_FILES = {
    "dbt_packages/shop_pkg/dbt_project.yml": "name: shop_pkg\nversion: '1.0.0'\nconfig-version: 2\n",
    f"dbt_packages/shop_pkg/models/{PACKAGE_MODEL}.sql": (
        "select 1 as product_id, date '2024-01-01' as updated_at\n"
    ),
}
TIERS = ("gold", "silver", "bronze")


def jaffle_copy(root: Path, *, extras: bool = False) -> Path:
    """The public jaffle_shop in ``root`` with a profile; ``extras``: an installed package's model, a
    dashboard reading customers, and a ``tier`` column on raw_customers that stg_customers does not
    select yet."""
    shutil.copytree(FIXTURE, root)
    (root / "profiles.yml").write_text(PROFILE.format(name="jaffle_shop"))
    if extras:
        (root / "models" / "exposures.yml").write_text(EXPOSURE)
        for path, text in PACKAGE_FILES.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
        seed = root / "seeds" / "raw_customers.csv"
        header, *rows = seed.read_text().splitlines()
        lines = [f"{header},tier"] + [f"{row},{TIERS[int(row.split(',')[0]) % 3]}" for row in rows]
        seed.write_text("\n".join(lines) + "\n")
    return root


def chinook_copy(root: Path) -> Path:
    """Spider2-DBT chinook001's shape: fact_invoice declared in YAML with no SQL, over stg_invoice."""
    shutil.copytree(CHINOOK, root)
    (root / "profiles.yml").write_text(PROFILE.format(name="chinook"))
    with duckdb.connect(str(root / "chinook.duckdb")) as con:
        con.execute(
            "create table main.invoice as select * from (values "
            "(1, 2, timestamp '2009-01-01', 'Heuss-Strasse 34', 'Stuttgart', null, 'Germany', '70174', 1.98),"
            "(2, 4, timestamp '2009-01-02', 'Ullevalsveien 14', 'Oslo', null, 'Norway', '0171', 3.96),"
            "(3, 8, timestamp '2009-01-03', 'Gretrystraat 63', 'Brussels', null, 'Belgium', '1000', 5.94)"
            ") t(invoice_id, customer_id, invoice_date, billing_address, billing_city, billing_state, "
            "billing_country, billing_postal_code, total)"
        )
    return root


def build(root: Path) -> None:
    with DbtEngine(root) as engine:
        result = engine.run("build")
        assert result.success, [f"{n.name}: {n.message}" for n in result.failed_nodes]


def dbt_as_a_person(root: Path, *args: str) -> None:
    """dbt in this process, run from the project folder as a person runs it (the profile's warehouse
    path is relative to it)."""
    from dbt.cli.main import dbtRunner

    with contextlib.chdir(root):
        result = dbtRunner().invoke(
            [*args, "--profiles-dir", str(root), "--quiet", "--no-send-anonymous-usage-stats"]
        )
    assert result.success, result.exception


def changes(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed lines, added lines) of a diff."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")]


def ae_run(root: Path, request: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """``ae run --json`` on the project: its exit code and its report (or error)."""
    capsys.readouterr()
    code = main(["run", request, "--project", str(root), "--json"])
    return code, json.loads(capsys.readouterr().out)


@dataclass
class Built:
    root: Path
    engine: DbtEngine

    def tools(self) -> ToolContext:
        return ToolContext(paths=ProjectPaths.for_project(self.root), target="dev", engine=self.engine)

    def plan(self, line: str) -> tuple[PlanSpec, ToolContext]:
        tools = self.tools()
        return CommandPlanner().plan(PlanRequest(request=line), tools), tools

    def refusal(self, line: str) -> str:
        with pytest.raises((InvalidArguments, UnknownNode)) as caught:
            self.plan(line)
        return str(caught.value)

    def text(self, path: str) -> str:
        return (self.root / path).read_text()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = jaffle_copy(tmp_path_factory.mktemp("cwe") / "jaffle_shop", extras=True)
    build(root)
    with DbtEngine(root) as engine:
        yield Built(root, engine)


def dbt_calls(tools: ToolContext) -> list[str]:
    return [c.name for c in tools.calls if c.name.startswith("dbt_")]


# --- never regenerate ----------------------------------------------------------------------------------


def test_a_model_that_exists_is_never_regenerated(built: Built) -> None:
    message = built.refusal("/dbt-model --name stg_payments --type staging")
    assert "stg_payments already exists (models/staging/stg_payments.sql)" in message
    assert "nothing was written or built" in message
    assert "/model-edit --name stg_payments --rename-column OLD:NEW" in message
    assert "/incremental-model --name stg_payments --unique-key KEY" in message
    assert "orders already exists (models/orders.sql)" in built.refusal(
        "/dbt-model --name orders --type fact"
    )


def test_a_package_model_is_never_edited(built: Built) -> None:
    for line in (
        f"/dbt-model --name {PACKAGE_MODEL} --type staging",
        f"/incremental-model --name {PACKAGE_MODEL} --unique-key product_id",
        f"/model-edit --name {PACKAGE_MODEL} --rename-column product_id:id",
        f"/model-edit --name {PACKAGE_MODEL} --materialized table",
    ):
        message = built.refusal(line)
        assert "installed package shop_pkg" in message and "never edits" in message, line
    assert not (built.root / "models" / f"{PACKAGE_MODEL}.sql").exists()


# --- /incremental-model on an existing model -----------------------------------------------------------


def test_orders_is_made_incremental_in_place_and_its_impact_is_listed_first(built: Built) -> None:
    spec, tools = built.plan("/incremental-model --name orders --unique-key order_id")
    [change] = spec.changeset.changes
    assert change.path == "models/orders.sql" and change.content is not None
    removed, added = changes(built.text("models/orders.sql"), change.content)
    assert removed == []  # the pivot loop, the CTEs and every column are the user's lines
    assert added[:8] == [
        "{{",
        "  config(",
        "    materialized='incremental',",
        "    unique_key='order_id',",
        "    incremental_strategy='merge',",
        "    on_schema_change='fail'",
        "  )",
        "}}",
    ]
    assert [line.strip() for line in added[9:]] == [
        "{% if is_incremental() %}",
        "where order_date >= (",
        "select max(this_model.order_date) - interval '{{ var('ae_incremental_lookback', '1 day') }}'",
        "from {{ this }} as this_model",
        ")",
        "{% endif %}",
        "{% if is_incremental() %}",
        "where order_id in (select orders.order_id from orders)",
        "{% endif %}",
    ]
    answer = spec.answer or ""
    assert "time column: stg_orders.order_date, its event time in the data" in answer
    assert "unique_key order_id: unique and not null in the 99 rows built now" in answer
    assert "test unique_orders_order_id" in answer and "test not_null_orders_amount" in answer
    assert '"main"' not in answer  # relations are named as people name them
    assert dbt_calls(tools) == ["dbt_parse", "dbt_compile"]


def test_incremental_edits_refuse_what_they_cannot_do(built: Built) -> None:
    assert "not one this edit writes" in built.refusal(
        "/incremental-model --name orders --unique-key order_id --strategy append"
    )
    assert "are for new models" in built.refusal(
        "/incremental-model --name orders --unique-key order_id --from stg_orders --description x"
    )
    assert "does not identify rows of orders" in built.refusal(
        "/incremental-model --name orders --unique-key customer_id"
    )
    # customers' key is computed through joins of aggregates: nothing drives its grain alone
    assert "no date or timestamp column" in built.refusal(
        "/incremental-model --name stg_customers --unique-key customer_id"
    )


# --- /model-edit ---------------------------------------------------------------------------------------


def test_add_column_edits_the_sql_and_the_model_s_existing_yaml_entry(built: Built) -> None:
    spec, _ = built.plan("/model-edit --name stg_customers --add-column raw_customers.tier --as loyalty_tier")
    files = {c.path: c.content for c in spec.changeset.changes}
    assert set(files) == {"models/staging/stg_customers.sql", "models/staging/schema.yml"}
    sql_removed, sql_added = changes(
        built.text("models/staging/stg_customers.sql"), str(files["models/staging/stg_customers.sql"])
    )
    assert sql_removed == ["        last_name"] and sql_added == [
        "        last_name,",
        "        tier as loyalty_tier",
    ]
    yml_before, yml_after = built.text("models/staging/schema.yml"), str(files["models/staging/schema.yml"])
    removed, _ = changes(yml_before, yml_after)
    assert removed == []  # every byte of the user's YAML stays; the column joins stg_customers' entry
    entry = next(m for m in yaml.safe_load(yml_after)["models"] if m["name"] == "stg_customers")
    assert [c["name"] for c in entry["columns"]] == ["customer_id", "loyalty_tier"]
    column = entry["columns"][1]
    assert column["description"].startswith("Loyalty tier of the customer: one of bronze, gold, silver")
    tests = column.get("tests") or column.get("data_tests")
    assert tests[0] == "not_null" and sorted(tests[1]["accepted_values"]["values"]) == sorted(TIERS)
    assert "impact: no existing column of stg_customers changes; read by model customers" in (
        spec.answer or ""
    )


def test_rename_plans_every_use_in_one_change_and_lists_the_impact(built: Built) -> None:
    spec, _ = built.plan("/model-edit --name stg_payments --rename-column amount:amount_usd")
    assert {c.path for c in spec.changeset.changes} == {
        "models/staging/stg_payments.sql",
        "models/customers.sql",
        "models/orders.sql",
    }
    answer = spec.answer or ""
    assert "impact: 2 downstream model(s), 6 column(s), 5 test(s), 1 exposure(s)" in answer
    assert "column customers.customer_lifetime_value" in answer and "test not_null_orders_amount" in answer
    assert "exposure revenue_board uses stg_payments on the way" in answer and "by hand" in answer


def test_materialization_and_extract_edit_in_place(built: Built) -> None:
    spec, _ = built.plan("/model-edit --name customers --materialized view")
    [change] = spec.changeset.changes
    assert change.content == "{{ config(materialized='view') }}\n\n" + built.text("models/customers.sql")
    assert "already materialized as table" in built.refusal("/model-edit --name orders --materialized table")
    assert "/incremental-model --name orders --unique-key KEY" in built.refusal(
        "/model-edit --name orders --materialized incremental"
    )
    spec, _ = built.plan("/model-edit --name orders --extract order_payments --as int_order_payments")
    files = {c.path: str(c.content) for c in spec.changeset.changes}
    assert set(files) == {
        "models/orders.sql",
        "models/intermediate/int_order_payments.sql",
        "models/intermediate/schema.yml",
    }
    assert "select * from {{ ref('int_order_payments') }}" in files["models/orders.sql"]
    assert (
        "{% for payment_method in payment_methods -%}" in files["models/intermediate/int_order_payments.sql"]
    )
    [entry] = yaml.safe_load(files["models/intermediate/schema.yml"])["models"]
    assert [c["name"] for c in entry["columns"]][:2] == ["order_id", "credit_card_amount"]
    assert entry["columns"][0]["tests"] == ["unique", "not_null"]
    assert "impact: orders outputs the same columns and rows; read by nothing, unchanged" in (
        spec.answer or ""
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("/model-edit --name orders", "give exactly one of --add-column"),
        ("/model-edit --name orders --materialized view --extract final --as int_x", "exactly one"),
        ("/model-edit --name orders --rename-column amount", "takes OLD:NEW"),
        ("/model-edit --name orders --rename-column 'amount:x; drop table orders'", "is not a plain name"),
        ("/model-edit --name orders --rename-column 'amount:\"amount\"'", "is not a plain name"),
        (
            "/model-edit --name orders --rename-column \"amount:{{ run_query('drop table x') }}\"",
            "holds Jinja",
        ),
        ('/model-edit --name orders --rename-column "{% set x = 1 %}:y"', "holds Jinja"),
        ("/model-edit --name orders --rename-column amount:AMOUNT", "to itself"),
        ("/model-edit --name orders --add-column amount", "takes PARENT.COLUMN"),
        ("/model-edit --name orders --add-column 'stg_orders.a b'", "is not a plain name"),
        ("/model-edit --name orders --extract order_payments", "--extract needs --as"),
        ("/model-edit --name orders --rename-column a:b --as c", "--as names an added column"),
        ("/model-edit --name orders --materialized view --unique-key order_id", "--unique-key goes with"),
        ("/model-edit --name 'orders; drop' --materialized view", "is not a model name"),
    ],
)
def test_model_edit_flags_are_refused_before_dbt_is_asked(line: str, reason: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        parse_edit(parse_command(line))
    assert reason in str(caught.value)


def test_hostile_edits_on_the_project_are_refused(built: Built) -> None:
    assert "has no CTE 'nope'" in built.refusal("/model-edit --name orders --extract nope --as int_nope")
    assert "a model named customers already exists" in built.refusal(
        "/model-edit --name orders --extract order_payments --as customers"
    )
    assert "customers does not read raw_payments" in built.refusal(
        "/model-edit --name customers --add-column raw_payments.amount"
    )
    assert "has no output column 'nope'" in built.refusal("/model-edit --name orders --rename-column nope:x")
    assert "no model named 'ordres'" in built.refusal("/model-edit --name ordres --materialized view")


# --- column lineage ------------------------------------------------------------------------------------


def test_column_lineage_reaches_the_raw_column_in_one_dbt_call(built: Built) -> None:
    spec, tools = built.plan("/model-lineage --model customers --column customer_lifetime_value")
    answer = spec.answer or ""
    assert "column customers.customer_lifetime_value" in answer
    assert "stg_payments.amount (1 model away)" in answer
    assert "raw_payments.amount (2 models away; where it starts: seed)" in answer
    assert dbt_calls(tools) == ["dbt_compile"]  # the compile parses too: no parse before it
    down, tools = built.plan("/model-lineage --model stg_payments --column amount")
    assert "customers.customer_lifetime_value (1 model away)" in (down.answer or "")
    assert "orders.amount (1 model away)" in (down.answer or "")
    _, tools = built.plan("/model-lineage --model customers")
    assert dbt_calls(tools) == ["dbt_parse"]
    assert "has no column 'nope'" in built.refusal("/model-lineage --model customers --column nope")


def test_through_ae_run_a_regenerate_is_refused_and_lineage_reads_only(
    built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    files, relations = files_snapshot(built.root), warehouse_snapshot(built.root / "jaffle_shop.duckdb")
    code, report = ae_run(built.root, "/dbt-model --name stg_payments --type staging", capsys)
    assert code == ExitCode.USAGE == 2
    assert "stg_payments already exists (models/staging/stg_payments.sql)" in json.dumps(report)
    code, report = ae_run(
        built.root, "/model-lineage --model customers --column customer_lifetime_value", capsys
    )
    assert code == ExitCode.OK
    assert "raw_payments.amount" in report["answer"]
    assert report["dbt_calls"]["by_phase"] == {"plan": {"compile": 1}}
    assert files_snapshot(built.root) == files
    assert warehouse_snapshot(built.root / "jaffle_shop.duckdb") == relations


# --- YAML-only models ----------------------------------------------------------------------------------


def test_a_yaml_only_model_is_planned_from_its_declaration_s_refs(tmp_path: Path) -> None:
    root = chinook_copy(tmp_path / "chinook")
    build(root)
    with DbtEngine(root) as engine:
        project = Built(root, engine)
        spec, _ = project.plan("/dbt-model --name fact_invoice --type fact")
        [change] = spec.changeset.changes
        assert change.path == "models/intermediate/fact_invoice.sql"
        assert change.content == (
            "select\n    invoice_id,\n    customer_id,\n    invoice_date,\n    invoice_billing_address,\n"
            "    invoice_billing_city,\n    invoice_billing_state,\n    invoice_billing_country,\n"
            "    invoice_billing_postal_code,\n    invoice_total\nfrom {{ ref('stg_invoice') }}\n"
        )
        yml = root / "models" / "intermediate" / "fct_invoice.yml"
        yml.write_text(yml.read_text().replace("- name: invoice_total", "- name: invoice_grand_total"))
        message = project.refusal("/dbt-model --name fact_invoice --type fact")
        assert "cannot all be derived by name: no parent has invoice_grand_total" in message
        assert "--description is for new models; fact_invoice's declaration" in project.refusal(
            "/dbt-model --name fact_invoice --type fact --description other"
        )
        assert "has no SQL yet" in project.refusal(
            "/incremental-model --name fact_invoice --unique-key invoice_id"
        )


@pytest.mark.slow
def test_through_ae_run_a_yaml_only_model_is_built_to_its_one_declaration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = chinook_copy(tmp_path / "chinook")
    build(root)
    declaration = (root / "models" / "intermediate" / "fct_invoice.yml").read_bytes()
    before = files_snapshot(root)
    code, report = ae_run(root, "/dbt-model --name fact_invoice --type fact --from stg_invoice", capsys)
    assert code == ExitCode.OK, report
    assert (root / "models" / "intermediate" / "fct_invoice.yml").read_bytes() == declaration
    after = files_snapshot(root)
    assert {p for p in after if before.get(p) != after[p]} == {"models/intermediate/fact_invoice.sql"}
    dbt_as_a_person(root, "build")
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    tests = [n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    assert tests.count("not_null_fact_invoice_invoice_id") == 1
    assert (
        manifest["nodes"]["model.chinook.fact_invoice"]["patch_path"]
        == "chinook://models/intermediate/fct_invoice.yml"
    )


# --- edits through ae run ------------------------------------------------------------------------------


def _orders_fingerprint(root: Path) -> tuple[int, int]:
    with duckdb.connect(str(root / "jaffle_shop.duckdb"), read_only=True) as con:
        row = con.execute("select count(*), sum(hash(t)) from main.orders t").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.mark.slow
def test_through_ae_run_orders_is_made_incremental_and_keeps_every_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = jaffle_copy(tmp_path / "jaffle_shop")
    build(root)
    fingerprint, sql, before = (
        _orders_fingerprint(root),
        (root / "models" / "orders.sql").read_text(),
        files_snapshot(root),
    )
    code, report = ae_run(root, "/incremental-model --name orders --unique-key order_id", capsys)
    assert code == ExitCode.OK, report
    removed, added = changes(sql, (root / "models" / "orders.sql").read_text())
    assert removed == [] and len(added) == 18  # the config block and a blank line (9), the filters (6 and 3)
    after = files_snapshot(root)
    assert {p for p in after if before[p] != after[p]} == {"models/orders.sql"}
    [check] = report["verification"]["incremental_checks"]
    assert check["model"] == "orders" and check["matches"] is True
    assert _orders_fingerprint(root) == fingerprint
    dbt_as_a_person(root, "build")  # the person's own build: incremental now
    dbt_as_a_person(root, "build", "--full-refresh")
    assert _orders_fingerprint(root) == fingerprint  # every row and value of a full refresh unchanged


@pytest.mark.slow
def test_through_ae_run_a_rename_reaches_two_models_and_the_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = jaffle_copy(tmp_path / "jaffle_shop")
    staging_yml = root / "models" / "staging" / "schema.yml"
    staging_yml.write_text(
        staging_yml.read_text()
        + "      - name: amount\n        description: Amount in dollars.\n"
        + "        tests:\n          - not_null\n"
    )
    (root / "tests").mkdir()
    (root / "tests" / "assert_no_negative_payments.sql").write_text(
        "select payment_id from {{ ref('stg_payments') }} where amount < 0\n"
    )
    build(root)
    before = files_snapshot(root)
    code, report = ae_run(root, "/model-edit --name stg_payments --rename-column amount:amount_usd", capsys)
    assert code == ExitCode.OK, report
    after = files_snapshot(root)
    assert {p for p in after if before[p] != after[p]} == {
        "models/staging/stg_payments.sql",
        "models/staging/schema.yml",
        "models/customers.sql",
        "models/orders.sql",
        "tests/assert_no_negative_payments.sql",
    }
    assert "- name: amount_usd\n        description: Amount in dollars." in staging_yml.read_text()
    assert "where amount_usd < 0" in (root / "tests" / "assert_no_negative_payments.sql").read_text()
    dbt_as_a_person(root, "build")
    with duckdb.connect(str(root / "jaffle_shop.duckdb"), read_only=True) as con:
        columns = [r[0] for r in con.execute("describe main.stg_payments").fetchall()]
        total = con.execute("select sum(amount) from main.orders").fetchone()
    assert "amount_usd" in columns and "amount" not in columns
    assert total is not None and float(total[0]) == 1672.0  # the amounts are the user's dollars still


# --- the project's own properties files ------------------------------------------------------------


def test_properties_files_are_the_project_s_own_yaml_reached_through_no_link(tmp_path: Path) -> None:
    root, outside = tmp_path / "project", tmp_path / "elsewhere"
    (root / "models" / "marts").mkdir(parents=True)
    (root / "seeds").mkdir()
    outside.mkdir()
    (root / "dbt_project.yml").write_text("name: p\nmodel-paths: ['models']\n")
    declared = "models:\n  - name: fct_sales\n    columns: [{name: id}]\n"
    (root / "models" / "marts" / "schema.yml").write_text(declared)
    (root / "seeds" / "seeds.yml").write_text("seeds:\n  - name: raw\n")
    (root / "models" / "broken.yml").write_text("models: [unclosed\n")
    (outside / "schema.yml").write_text(declared.replace("fct_sales", "fct_stolen"))
    (root / "models" / "linked").symlink_to(outside)
    (root / "models" / "linked.yml").symlink_to(outside / "schema.yml")
    read = disk_reader(root)

    files = properties_files(root, read, pending=["models/new.yml", "macros/macros.yml", "models/x.sql"])

    assert files == ["models/broken.yml", "models/marts/schema.yml", "models/new.yml", "seeds/seeds.yml"]
    [(path, entry)] = declarations(files, read, "fct_sales")
    assert path == "models/marts/schema.yml" and entry["columns"] == [{"name": "id"}]
    assert declarations(files, read, "fct_stolen") == []  # only behind links
    assert declarations(files, read, "unclosed") == []  # a file that does not load declares nothing
    # dbt_project.yml says where models are: a folder it does not name holds no properties
    assert properties_files(
        root, lambda p: "model-paths: ['elsewhere']\n" if p == "dbt_project.yml" else None
    ) == ["seeds/seeds.yml"]
