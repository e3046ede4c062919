"""The guardrail lint on real dbt-duckdb projects, parsed and compiled in-process by dbt.

Two projects, each built once per module: a "good" one that must lint clean, and a "bad" one with
one violating model per rule (each otherwise clean, so the exact set of rule ids per model can be
asserted) plus models in layouts real projects use that must stay clean (base models, seeds as raw
inputs, a coded status decoded in staging). Each is linted twice: from the `dbt parse` manifest
(raw SQL only) and from the `dbt compile` manifest (compiled SQL present).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.errors import ConfigurationError
from tools.lint import (
    RULES,
    LintConfig,
    LintFinding,
    LintReport,
    documents_its_output,
    lint_dialect,
    lint_project,
)
from tools.manifest import Manifest

PROJECT_YML = """\
name: shop
version: '1.0'
config-version: 2
profile: shop
vars:
  order_start_date: '2018-01-01'
"""

GENERIC_KEY_TEST = """\
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
"""

SOURCES = {
    "name": "raw",
    "schema": "main",
    "tables": [{"name": "orders"}, {"name": "customers"}],
}

STAGING_SQL = {
    "stg_orders": """\
select
    id as order_id,
    user_id as customer_id,
    status as order_status,
    cast(order_date as date) as ordered_at
from {{ source('raw', 'orders') }}
""",
    "stg_customers": """\
select
    id as customer_id,
    first_name || ' ' || last_name as customer_name
from {{ source('raw', 'customers') }}
""",
}

GOOD_MART_SQL = {
    "dim_customers": """\
with customers as (
    select customer_id, customer_name from {{ ref('stg_customers') }}
),
orders as (
    select customer_id, count(*) as order_count, min(ordered_at) as first_ordered_at
    from {{ ref('stg_orders') }}
    group by customer_id
)
select
    c.customer_id,
    c.customer_name,
    coalesce(o.order_count, 0) as order_count,
    o.first_ordered_at
from customers as c
left join orders as o on o.customer_id = c.customer_id
""",
    # if/else Jinja leaves two WHERE clauses once stripped, so the lint falls back to the compiled SQL,
    # where var('order_start_date') is rendered as a date literal that must not count as hard-coded
    "fct_orders": """\
{{ config(materialized='incremental', unique_key='order_id') }}
select order_id, customer_id, order_status, ordered_at
from {{ ref('stg_orders') }}
{% if is_incremental() %}
where ordered_at > (select max(ordered_at) from {{ this }})
{% else %}
where ordered_at >= '{{ var("order_start_date") }}'
{% endif %}
""",
}


def model_entry(
    name: str,
    columns: Mapping[str, str],
    *,
    description: str = "A model used by the lint tests.",
    key: str | None = None,
    foreign_keys: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    model_tests: list[Any] | None = None,
) -> dict[str, Any]:
    """A schema YAML entry: columns with descriptions ('' = none), key tested unique + not_null."""
    entry: dict[str, Any] = {"name": name}
    if description:
        entry["description"] = description
    if config:
        entry["config"] = dict(config)
    if model_tests:
        entry["data_tests"] = model_tests
    entry_columns = []
    for column, text in columns.items():
        column_entry: dict[str, Any] = {"name": column}
        if text:
            column_entry["description"] = text
        tests: list[Any] = ["unique", "not_null"] if column == key else []
        if foreign_keys and column in foreign_keys:
            target = foreign_keys[column]
            tests.append({"relationships": {"arguments": {"to": f"ref('{target}')", "field": column}}})
        if tests:
            column_entry["data_tests"] = tests
        entry_columns.append(column_entry)
    if entry_columns:
        entry["columns"] = entry_columns
    return entry


ORDER_COLUMNS = {
    "order_id": "Order key.",
    "customer_id": "Customer who placed it.",
    "order_status": "Order status.",
    "ordered_at": "Order date.",
}
STAGING_YAML = [
    model_entry("stg_orders", ORDER_COLUMNS, key="order_id"),
    model_entry(
        "stg_customers", {"customer_id": "Customer key.", "customer_name": "Full name."}, key="customer_id"
    ),
]
GOOD_MART_YAML = [
    model_entry(
        "dim_customers",
        {
            "customer_id": "Customer key.",
            "customer_name": "Full name.",
            "order_count": "Orders placed.",
            "first_ordered_at": "First order date.",
        },
        key="customer_id",
    ),
    model_entry("fct_orders", ORDER_COLUMNS, key="order_id", foreign_keys={"customer_id": "dim_customers"}),
]

ORDER_ID_AND_DATE = {"order_id": "Order key.", "ordered_at": "Order date."}
FROM_ORDERS = "from {{ ref('stg_orders') }}"
SEED_CSV = "id,name\n1,Main street\n"
INCREMENTAL_FILTER = """\
{% if is_incremental() %}
where ordered_at > (select max(ordered_at) from {{ this }})
{% endif %}
"""

# name -> (folder, sql, yaml entry); the expected findings are in BAD_EXPECTED below
BAD_MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "fct_star_outer": (
        "marts",
        f"select *\n{FROM_ORDERS}\n",
        model_entry(
            "fct_star_outer", ORDER_COLUMNS, key="order_id", foreign_keys={"customer_id": "stg_customers"}
        ),
    ),
    "fct_star_cte": (
        "marts",
        f"with orders as (\n    select *\n    {FROM_ORDERS}\n)\n"
        "select order_status, count(*) as order_count\nfrom orders\ngroup by order_status\n",
        model_entry(
            "fct_star_cte", {"order_status": "Status.", "order_count": "Orders."}, key="order_status"
        ),
    ),
    "fct_inc_no_key": (
        "marts",
        "{{ config(materialized='incremental') }}\n"
        f"select order_id, ordered_at\n{FROM_ORDERS}\n{INCREMENTAL_FILTER}",
        model_entry("fct_inc_no_key", ORDER_ID_AND_DATE, key="order_id"),
    ),
    "fct_inc_no_filter": (
        "marts",
        "{{ config(materialized='incremental', unique_key='order_id') }}\n"
        f"select order_id, ordered_at\n{FROM_ORDERS}\n",
        model_entry("fct_inc_no_filter", ORDER_ID_AND_DATE, key="order_id"),
    ),
    "fct_untested": (
        "marts",
        f"select order_id, ordered_at\n{FROM_ORDERS}\n",
        model_entry("fct_untested", ORDER_ID_AND_DATE),
    ),
    "int_untested": (
        "intermediate",
        f"select order_id, ordered_at\n{FROM_ORDERS}\n",
        model_entry("int_untested", ORDER_ID_AND_DATE),
    ),
    "fct_no_fk_test": (
        "marts",
        f"select order_id, customer_id\n{FROM_ORDERS}\n",
        model_entry("fct_no_fk_test", {"order_id": "Order key.", "customer_id": "Customer."}, key="order_id"),
    ),
    "fct_undescribed": (
        "marts",
        f"select order_id, ordered_at\n{FROM_ORDERS}\n",
        model_entry("fct_undescribed", ORDER_ID_AND_DATE, key="order_id", description=""),
    ),
    "fct_no_columns": (
        "marts",
        f"select order_id, ordered_at\n{FROM_ORDERS}\n",
        model_entry(
            "fct_no_columns",
            {},
            model_tests=[
                {
                    "unique_combination_of_columns": {
                        "arguments": {"combination_of_columns": ["order_id", "ordered_at"]}
                    }
                }
            ],
        ),
    ),
    "fct_col_undescribed": (
        "marts",
        f"select order_id, ordered_at\n{FROM_ORDERS}\n",
        model_entry("fct_col_undescribed", {"order_id": "Order key.", "ordered_at": ""}, key="order_id"),
    ),
    "stg_from_ref": (
        "staging",
        f"select order_id, ordered_at\n{FROM_ORDERS}\n",
        model_entry("stg_from_ref", ORDER_ID_AND_DATE, key="order_id"),
    ),
    "stg_joined": (
        "staging",
        "select o.id as order_id, c.first_name\n"
        "from {{ source('raw', 'orders') }} as o\n"
        "join {{ source('raw', 'customers') }} as c on c.id = o.user_id\n",
        model_entry("stg_joined", {"order_id": "Order key.", "first_name": "Name."}, key="order_id"),
    ),
    "fct_from_source": (
        "marts",
        "select id as order_id\nfrom {{ source('raw', 'orders') }}\n",
        model_entry("fct_from_source", {"order_id": "Order key."}, key="order_id"),
    ),
    # the nested dict in config() checks that Jinja stripping balances braces as Jinja does
    "fct_dates": (
        "marts",
        "{{ config(meta={'owner': {'team': 'finance'}}) }}\n"
        f"select order_id, ordered_at\n{FROM_ORDERS}\nwhere ordered_at >= '2020-01-01'\n",
        model_entry("fct_dates", ORDER_ID_AND_DATE, key="order_id"),
    ),
    # only the compiled SQL parses (two WHERE branches), so only a compiled manifest shows the date
    "fct_dates_branched": (
        "marts",
        f"select order_id, ordered_at\n{FROM_ORDERS}\n{{% if is_incremental() %}}\n"
        "where ordered_at > (select max(ordered_at) from {{ this }})\n"
        "{% else %}\nwhere ordered_at >= '2020-01-01'\n{% endif %}\n",
        model_entry("fct_dates_branched", ORDER_ID_AND_DATE, key="order_id"),
    ),
    "fct_status": (
        "marts",
        f"select order_id, order_status\n{FROM_ORDERS}\nwhere order_status in ('placed', 'shipped')\n",
        model_entry("fct_status", {"order_id": "Order key.", "order_status": "Status."}, key="order_id"),
    ),
    "fct_broken": (
        "marts",
        f"select order_id\n{FROM_ORDERS}\nwhere (\n",
        model_entry("fct_broken", {"order_id": "Order key."}, key="order_id"),
    ),
    "fct_dates_allowed_in_sql": (
        "marts",
        "{{ config(meta={'ae_lint_disable': ['AE011']}) }}\n"
        f"select order_id, ordered_at\n{FROM_ORDERS}\nwhere ordered_at >= '2020-01-01'\n",
        model_entry("fct_dates_allowed_in_sql", ORDER_ID_AND_DATE, key="order_id"),
    ),
    "fct_status_allowed_in_yaml": (
        "marts",
        f"select order_id, order_status\n{FROM_ORDERS}\nwhere order_status = 'placed'\n",
        model_entry(
            "fct_status_allowed_in_yaml",
            {"order_id": "Order key.", "order_status": "Status."},
            key="order_id",
            config={"meta": {"ae_lint_disable": ["AE012"]}},
        ),
    ),
    "fct_from_seed": (
        "marts",
        "select id as store_id\nfrom {{ ref('raw_stores') }}\n",
        model_entry("fct_from_seed", {"store_id": "Store key."}, key="store_id"),
    ),
    "base_from_ref": (
        "staging/base",
        f"select order_id\n{FROM_ORDERS}\n",
        model_entry("base_from_ref", {"order_id": "Order key."}, key="order_id"),
    ),
    # documents order_total, which `select * from final` (expanded through the CTE) does not output
    "int_missing_column": (
        "intermediate",
        f"with final as (\n    select order_id, ordered_at\n    {FROM_ORDERS}\n)\nselect * from final\n",
        model_entry(
            "int_missing_column", {**ORDER_ID_AND_DATE, "order_total": "Order total."}, key="order_id"
        ),
    ),
    "fct_undocumented_output": (
        "marts",
        f"select order_id, ordered_at, order_status\n{FROM_ORDERS}\n",
        model_entry("fct_undocumented_output", ORDER_ID_AND_DATE, key="order_id"),
    ),
    # layouts of real projects that must lint clean: a base model reading a source, staging reading a
    # base model and a seed, and a coded status decoded in staging
    "base_orders": (
        "staging/base",
        "select id as order_id, status\nfrom {{ source('raw', 'orders') }}\n",
        model_entry("base_orders", {"order_id": "Order key.", "status": "Status code."}, key="order_id"),
    ),
    "stg_from_base": (
        "staging",
        "select order_id, status as order_code\nfrom {{ ref('base_orders') }}\n",
        model_entry("stg_from_base", {"order_id": "Order key.", "order_code": "Code."}, key="order_id"),
    ),
    "stg_stores": (
        "staging",
        "select id as store_id, name as store_name\nfrom {{ ref('raw_stores') }}\n",
        model_entry("stg_stores", {"store_id": "Store key.", "store_name": "Name."}, key="store_id"),
    ),
    "stg_decoded": (
        "staging",
        "select\n    id as order_id,\n"
        "    case when status = 'R' then 'returned' when status = 'F' then 'fulfilled' else status end\n"
        "        as order_status\nfrom {{ source('raw', 'orders') }}\n",
        model_entry("stg_decoded", {"order_id": "Order key.", "order_status": "Status."}, key="order_id"),
    ),
}

# model -> rule ids expected from the parse manifest and from the compile manifest
BAD_EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    "stg_orders": (set(), set()),
    "stg_customers": (set(), set()),
    "fct_star_outer": ({"AE001"}, {"AE001"}),
    "fct_star_cte": ({"AE001"}, {"AE001"}),
    "fct_inc_no_key": ({"AE002"}, {"AE002"}),
    "fct_inc_no_filter": ({"AE003"}, {"AE003"}),
    "fct_untested": ({"AE004"}, {"AE004"}),
    "int_untested": ({"AE004"}, {"AE004"}),
    "fct_no_fk_test": ({"AE005"}, {"AE005"}),
    "fct_undescribed": ({"AE006"}, {"AE006"}),
    "fct_no_columns": ({"AE007"}, {"AE007"}),
    "fct_col_undescribed": ({"AE007"}, {"AE007"}),
    "stg_from_ref": ({"AE008"}, {"AE008"}),
    "stg_joined": ({"AE009"}, {"AE009"}),
    "fct_from_source": ({"AE010"}, {"AE010"}),
    "fct_dates": ({"AE011"}, {"AE011"}),
    "fct_dates_branched": (set(), {"AE011"}),
    "fct_status": ({"AE012"}, {"AE012"}),
    "fct_broken": (set(), {"AE013"}),
    "fct_dates_allowed_in_sql": (set(), set()),
    "fct_status_allowed_in_yaml": (set(), set()),
    "fct_from_seed": ({"AE010"}, {"AE010"}),
    "base_from_ref": ({"AE008"}, {"AE008"}),
    "int_missing_column": ({"AE014"}, {"AE014"}),
    "fct_undocumented_output": ({"AE014"}, {"AE014"}),
    "base_orders": (set(), set()),
    "stg_from_base": (set(), set()),
    "stg_stores": (set(), set()),
    "stg_decoded": (set(), set()),
}


@dataclass(frozen=True)
class LintedProject:
    root: Path
    parsed: dict[str, Any]
    compiled: dict[str, Any]

    def manifest(self, mode: str) -> dict[str, Any]:
        return self.parsed if mode == "parsed" else self.compiled

    def text(self, relative: str) -> str:
        return (self.root / relative).read_text()


def write_project(root: Path, sql: Mapping[str, tuple[str, str]], yaml_files: Mapping[str, Any]) -> None:
    files = {
        "dbt_project.yml": PROJECT_YML,
        "profiles.yml": yaml.safe_dump(
            {
                "shop": {
                    "target": "dev",
                    "outputs": {"dev": {"type": "duckdb", "path": str(root / "w.duckdb")}},
                }
            }
        ),
        "tests/generic/unique_combination_of_columns.sql": GENERIC_KEY_TEST,
        "seeds/raw_stores.csv": SEED_CSV,
    }
    files.update({f"models/{folder}/{name}.sql": text for name, (folder, text) in sql.items()})
    files.update({path: yaml.safe_dump(doc, sort_keys=False) for path, doc in yaml_files.items()})
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)


@pytest.fixture(scope="module")
def dbt_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        patch.setenv("DO_NOT_TRACK", "1")
        yield


def parse_and_compile(root: Path) -> LintedProject:
    from dbt.cli.main import dbtRunner

    manifests = {}
    for command in ("parse", "compile"):
        args = [command, "--project-dir", str(root), "--profiles-dir", str(root), "--quiet"]
        result = dbtRunner().invoke(args)
        assert result.success, f"dbt {command} failed: {result.exception}"
        manifests[command] = json.loads((root / "target" / "manifest.json").read_text())
    return LintedProject(root, manifests["parse"], manifests["compile"])


def staging_files() -> tuple[dict[str, tuple[str, str]], dict[str, Any]]:
    sql = {name: ("staging", text) for name, text in STAGING_SQL.items()}
    return sql, {"models/staging/_staging.yml": {"version": 2, "sources": [SOURCES], "models": STAGING_YAML}}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, dbt_env: None) -> LintedProject:
    root = tmp_path_factory.mktemp("good")
    sql, yaml_files = staging_files()
    sql.update({name: ("marts", text) for name, text in GOOD_MART_SQL.items()})
    yaml_files["models/marts/_marts.yml"] = {"version": 2, "models": GOOD_MART_YAML}
    write_project(root, sql, yaml_files)
    return parse_and_compile(root)


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory, dbt_env: None) -> LintedProject:
    root = tmp_path_factory.mktemp("bad")
    sql, yaml_files = staging_files()
    sql.update({name: (folder, text) for name, (folder, text, _) in BAD_MODELS.items()})
    for folder, _, entry in BAD_MODELS.values():
        layer = folder.split("/")[0]  # base models are documented in the staging YAML
        doc = yaml_files.setdefault(f"models/{layer}/_{layer}.yml", {"version": 2, "models": []})
        doc["models"].append(entry)
    write_project(root, sql, yaml_files)
    return parse_and_compile(root)


def rules_by_model(report: LintReport) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.node.rsplit(".", 1)[-1], set()).add(finding.rule_id)
    return found


def only(report: LintReport, model: str, rule_id: str) -> LintFinding:
    matches = [f for f in report.findings if f.node == f"model.shop.{model}" and f.rule_id == rule_id]
    assert len(matches) == 1, matches
    return matches[0]


def line_of(text: str, needle: str, *, after: str = "") -> int:
    start = text.index(after) if after else 0
    return text.count("\n", 0, text.index(needle, start)) + 1


MODES = ["parsed", "compiled"]


def test_rule_catalogue_lists_every_rule_with_its_default_severity() -> None:
    assert list(RULES) == [f"AE{n:03d}" for n in range(1, 15)]
    assert {rule_id for rule_id, info in RULES.items() if info.severity == "warning"} == {
        "AE005",
        "AE011",
        "AE012",
    }
    assert all(info.id == rule_id and info.title and info.description for rule_id, info in RULES.items())


@pytest.mark.parametrize("mode", MODES)
def test_good_project_has_no_findings(good: LintedProject, mode: str) -> None:
    report = lint_project(good.manifest(mode), good.root)

    assert report.findings == [], report.render_text()
    assert len([n for n in good.manifest(mode)["nodes"].values() if n["resource_type"] == "model"]) == 4


def test_compile_manifest_carries_compiled_sql(good: LintedProject) -> None:
    # the premise of the compiled-mode tests: compile fills compiled_code, parse does not
    fct = "model.shop.fct_orders"
    assert good.parsed["nodes"][fct].get("compiled_code") is None
    assert "'2018-01-01'" in good.compiled["nodes"][fct]["compiled_code"]


@pytest.mark.parametrize("mode", MODES)
def test_each_bad_model_breaks_exactly_its_rule(bad: LintedProject, mode: str) -> None:
    found = rules_by_model(lint_project(bad.manifest(mode), bad.root))

    expected = {model: rules[MODES.index(mode)] for model, rules in BAD_EXPECTED.items()}
    assert found == {model: rules for model, rules in expected.items() if rules}
    assert set(BAD_EXPECTED) == set(BAD_MODELS) | set(STAGING_SQL)


def test_every_rule_has_a_violating_model() -> None:
    covered = set().union(*(compiled for _, compiled in BAD_EXPECTED.values()))
    assert covered == set(RULES)


def test_findings_point_at_the_offending_file_and_line(bad: LintedProject) -> None:
    report = lint_project(bad.compiled, bad.root)
    marts_yml = bad.text("models/marts/_marts.yml")
    staging_yml = bad.text("models/staging/_staging.yml")

    # SQL tokens: the star inside the CTE (not count(*)), the join, the literal, the ref, the broken line
    assert (only(report, "fct_star_cte", "AE001").path, only(report, "fct_star_cte", "AE001").line) == (
        "models/marts/fct_star_cte.sql",
        2,
    )
    assert only(report, "stg_joined", "AE009").line == 3
    assert only(report, "fct_dates", "AE011").line == 4
    assert only(report, "fct_status", "AE012").line == 3
    assert only(report, "stg_from_ref", "AE008").line == 2
    assert only(report, "fct_from_source", "AE010").line == 2
    assert only(report, "fct_broken", "AE013").line == 3
    # YAML entries: the model and the column
    undescribed = only(report, "fct_undescribed", "AE006")
    assert (undescribed.path, undescribed.line) == (
        "models/marts/_marts.yml",
        line_of(marts_yml, "name: fct_undescribed"),
    )
    column = only(report, "fct_col_undescribed", "AE007")
    assert column.line == line_of(marts_yml, "name: ordered_at", after="name: fct_col_undescribed")
    fk = only(report, "fct_no_fk_test", "AE005")
    assert fk.line == line_of(marts_yml, "name: customer_id", after="name: fct_no_fk_test")
    assert only(report, "stg_from_ref", "AE008").path == "models/staging/stg_from_ref.sql"
    assert "stg_from_ref" in staging_yml


def test_messages_say_what_is_wrong_and_what_to_do(bad: LintedProject) -> None:
    report = lint_project(bad.compiled, bad.root)

    fk = only(report, "fct_no_fk_test", "AE005")
    assert "customer_id" in fk.message and "relationships" in fk.message and "stg_customers" in fk.message
    assert "stg_orders" in only(report, "stg_from_ref", "AE008").message
    assert "raw.orders" in only(report, "fct_from_source", "AE010").message
    assert "'2020-01-01'" in only(report, "fct_dates", "AE011").message
    assert "var(" in only(report, "fct_status", "AE012").message
    assert "'('" in only(report, "fct_broken", "AE013").message


def test_primary_key_rule_is_an_error_in_marts_and_a_warning_in_intermediate(bad: LintedProject) -> None:
    report = lint_project(bad.compiled, bad.root)

    assert only(report, "fct_untested", "AE004").severity == "error"
    assert only(report, "int_untested", "AE004").severity == "warning"


def test_config_disables_rules_and_overrides_severity(bad: LintedProject) -> None:
    config = LintConfig(
        disabled=frozenset({"AE001"}),
        severity_overrides={"AE005": "error", "AE012": "off", "AE004": "warning"},
    )
    report = lint_project(bad.compiled, bad.root, config=config)
    rule_ids = {f.rule_id for f in report.findings}

    assert "AE001" not in rule_ids and "AE012" not in rule_ids
    assert only(report, "fct_no_fk_test", "AE005").severity == "error"
    assert only(report, "fct_untested", "AE004").severity == "warning"
    assert {f.rule_id for f in report.errors} >= {"AE005", "AE013"}


def test_config_from_the_ae_yml_lint_section() -> None:
    config = LintConfig.from_mapping({"disable": ["ae011"], "severity": {"AE005": "Error", "AE012": "off"}})

    assert config.disabled == frozenset({"AE011"})
    assert config.severity_for("AE011", "warning") is None
    assert config.severity_for("AE005", "warning") == "error"
    assert config.severity_for("AE012", "warning") is None
    assert config.severity_for("AE001", "error") == "error"
    assert LintConfig.from_mapping(None) == LintConfig()


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"disable": ["AE999"]}, "AE999"),
        ({"severity": {"AE001": "fatal"}}, "fatal"),
        ({"disable": "AE001"}, "list"),
        ({"ignore": ["AE001"]}, "ignore"),
    ],
)
def test_bad_lint_configuration_is_refused_with_a_clear_message(data: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        LintConfig.from_mapping(data)


def test_only_paths_limits_findings_to_models_defined_in_those_files(bad: LintedProject) -> None:
    by_sql = lint_project(bad.compiled, bad.root, only_paths={"models/marts/fct_dates.sql"})
    by_yaml = lint_project(bad.compiled, bad.root, only_paths={"models/staging/_staging.yml"})
    absolute = lint_project(bad.compiled, bad.root, only_paths={str(bad.root / "models/marts/fct_dates.sql")})

    assert {f.node for f in by_sql.findings} == {"model.shop.fct_dates"}
    assert set(rules_by_model(by_yaml)) == {"stg_from_ref", "stg_joined", "base_from_ref"}
    assert absolute.findings == by_sql.findings
    assert lint_project(bad.compiled, bad.root, only_paths=set()).findings == []


def test_report_renders_one_line_per_finding_and_splits_errors_from_warnings(bad: LintedProject) -> None:
    report = lint_project(bad.compiled, bad.root, only_paths={"models/marts/fct_dates.sql"})
    finding = only(report, "fct_dates", "AE011")

    assert report.render_text() == f"models/marts/fct_dates.sql:4: AE011 warning {finding.message}"
    assert report.warnings == [finding] and report.errors == []
    assert LintReport.model_validate_json(report.model_dump_json()) == report


def test_models_of_installed_packages_are_not_linted(bad: LintedProject) -> None:
    manifest = json.loads(json.dumps(bad.compiled))
    for node in manifest["nodes"].values():
        node["package_name"] = "some_package"

    assert lint_project(manifest, bad.root).findings == []


def test_lint_does_not_depend_on_the_process_working_directory(
    bad: LintedProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = lint_project(bad.compiled, bad.root).findings
    monkeypatch.chdir(tmp_path)

    assert lint_project(bad.compiled, bad.root).findings == expected


def test_documented_columns_are_checked_against_the_output(bad: LintedProject) -> None:
    report = lint_project(bad.compiled, bad.root)
    marts_yml = bad.text("models/marts/_marts.yml")

    missing = only(report, "int_missing_column", "AE014")
    assert missing.severity == "error" and missing.detail == "order_total"
    assert "order_total" in missing.message and "does not output" in missing.message
    intermediate_yml = bad.text("models/intermediate/_intermediate.yml")
    assert missing.line == line_of(intermediate_yml, "name: order_total")
    undocumented = only(report, "fct_undocumented_output", "AE014")
    assert undocumented.severity == "warning" and undocumented.detail == "order_status"
    assert undocumented.line == line_of(marts_yml, "name: fct_undocumented_output")
    # a model that documents no column is AE007's finding only, not one AE014 warning per column
    assert {f.rule_id for f in report.findings if f.node == "model.shop.fct_no_columns"} == {"AE007"}


def test_raw_inputs_and_base_models_in_messages(bad: LintedProject) -> None:
    report = lint_project(bad.compiled, bad.root)

    from_seed = only(report, "fct_from_seed", "AE010")
    assert "seed raw_stores" in from_seed.message and from_seed.line == 2
    assert "source raw.orders" in only(report, "fct_from_source", "AE010").message
    # a base model reads raw data only; a staging model may also read base models
    assert "stg_orders" in only(report, "base_from_ref", "AE008").message
    assert "base models" not in only(report, "base_from_ref", "AE008").message
    assert "base models" in only(report, "stg_from_ref", "AE008").message


def test_schema_compliance_needs_documented_columns_to_match_the_output(bad: LintedProject) -> None:
    manifest = Manifest(bad.compiled)
    nodes = {n.name: n for n in manifest.root("model").values()}
    dialect = lint_dialect(manifest)
    assert dialect == "duckdb"

    assert documents_its_output(nodes["stg_orders"], dialect)
    assert documents_its_output(
        nodes["fct_star_outer"], dialect
    )  # select * from a ref: the output is unknown
    assert not documents_its_output(nodes["int_missing_column"], dialect)
    assert not documents_its_output(nodes["fct_undocumented_output"], dialect)
    assert not documents_its_output(nodes["fct_no_columns"], dialect)


def test_fingerprints_name_rule_node_and_detail_but_no_line(bad: LintedProject) -> None:
    report = lint_project(bad.compiled, bad.root)

    assert only(report, "fct_col_undescribed", "AE007").fingerprint == (
        "AE007 model.shop.fct_col_undescribed ordered_at"
    )
    assert only(report, "fct_dates", "AE011").fingerprint == "AE011 model.shop.fct_dates 2020-01-01"
    assert only(report, "fct_undescribed", "AE006").fingerprint == "AE006 model.shop.fct_undescribed"
    assert len({f.fingerprint for f in report.findings}) == len(report.findings)


def test_only_nodes_and_stand_in_texts_lint_a_model_as_it_was(bad: LintedProject) -> None:
    fct_dates = "model.shop.fct_dates"
    without_date = {"models/marts/fct_dates.sql": f"select order_id, ordered_at\n{FROM_ORDERS}\n"}

    as_on_disk = lint_project(bad.parsed, bad.root, only_nodes={fct_dates})
    as_it_was = lint_project(bad.parsed, bad.root, only_nodes={fct_dates}, texts=without_date)

    assert {f.rule_id for f in as_on_disk.findings} == {"AE011"}
    assert as_it_was.findings == []
    assert lint_project(bad.parsed, bad.root, only_nodes=set()).findings == []
