"""Round-trip edits of users' YAML: an edit changes the lines it means to and not one byte more."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.real_project import MARTS_SCHEMA, STAGING_SCHEMA, write_real_project
from tools.codegen import (
    ColumnDoc,
    accepted_values_test,
    column_entry,
    dump_yaml,
    relationships_test,
    resource_entry,
)
from tools.engine import DbtEngine
from tools.errors import InvalidArguments
from tools.yaml_edit import TestStyle as Style  # a Test* name would be collected by pytest
from tools.yaml_edit import (
    add_local_package,
    apply_test_style,
    detect_test_style,
    read_entry,
    read_section_item,
    upsert_entry,
    upsert_section_item,
    upsert_source_tables,
)

# A sources file as people keep them: a comment on the source, folded text, flow freshness, blank line.
SOURCES = """\
version: 2

sources:
  - name: jaffle_raw   # loaded by the EL job every hour
    schema: main
    description: >
      Raw tables as the loader writes them.
    freshness:
      warn_after: {count: 12, period: hour}
    loaded_at_field: _loaded_at

    tables:
      - name: raw_customers
        identifier: customers_v2
      - name: raw_orders
        columns:
          - name: id
            tests: [unique, not_null]
"""

PACKAGES = """\
packages:
  # pinned: 1.2 broke our surrogate keys
  - package: dbt-labs/dbt_utils
    version: [">=1.1.0", "<1.2.0"]
"""

Edit = tuple[str, int, list[str], list[str]]


def _edits(before: str, after: str) -> list[Edit]:
    """What difflib sees changed: (tag, first line number in ``before``, lines removed, lines added)."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return [
        (tag, i1 + 1, old[i1:i2], new[j1:j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def _line(text: str, content: str) -> int:
    """The 1-based number of the one line of ``text`` that is ``content``."""
    lines = text.splitlines()
    assert lines.count(content) == 1, content
    return lines.index(content) + 1


def _orders(text: str) -> dict[str, Any]:
    orders = read_entry(text, "models", "orders", "schema.yml")
    assert orders is not None
    return orders


def _orders_column(name: str, **keys: object) -> dict[str, object]:
    return {"name": "orders", "columns": [{"name": name, **keys}]}


# --- minimal merges into the marts' schema.yml --------------------------------------------------------


def test_a_test_added_to_one_column_inserts_only_that_line() -> None:
    after = upsert_entry(MARTS_SCHEMA, "models", _orders_column("status", tests=["not_null"]), "schema.yml")
    values = "              values: ['placed', 'shipped', 'completed', 'return_pending', 'returned']"
    # an insert before the line after the accepted_values test: the blank line before `amount`
    assert _edits(MARTS_SCHEMA, after) == [
        ("insert", _line(MARTS_SCHEMA, values) + 1, [], ["          - not_null\n"])
    ]
    assert _orders(after)["columns"][3]["tests"][-1] == "not_null"


def test_a_test_added_to_a_flow_list_stays_in_the_flow_list() -> None:
    after = upsert_entry(MARTS_SCHEMA, "models", _orders_column("amount", tests=["unique"]), "schema.yml")
    line = _line(MARTS_SCHEMA, "        tests: [not_null]")
    assert _edits(MARTS_SCHEMA, after) == [
        ("replace", line, ["        tests: [not_null]\n"], ["        tests: [not_null, unique]\n"])
    ]


def test_a_generated_test_goes_into_the_columns_tests_key_in_the_projects_style() -> None:
    style = detect_test_style([MARTS_SCHEMA, STAGING_SCHEMA])
    assert style == Style(key="tests", arguments=False)
    # what codegen builds (data_tests + arguments:), rewritten the project's way
    column = column_entry(ColumnDoc("customer_id", "Foreign key to the customers table", ("not_null",)))
    column["data_tests"] = ["not_null", relationships_test("customers", "customer_id"), "unique"]
    entry = apply_test_style({"name": "orders", "columns": [column]}, style)
    assert entry["columns"][0]["tests"][1] == {
        "relationships": {"to": "ref('customers')", "field": "customer_id"}
    }
    after = upsert_entry(MARTS_SCHEMA, "models", entry, "schema.yml")
    # not_null and the relationships test are there already (in the old syntax): only unique is new
    field = _line(MARTS_SCHEMA, "              field: customer_id")
    assert _edits(MARTS_SCHEMA, after) == [("insert", field + 1, [], ["          - unique\n"])]
    assert "data_tests" not in after


def test_new_tests_join_an_existing_tests_key_even_when_the_entry_says_data_tests() -> None:
    entry = _orders_column("order_id", data_tests=["unique", "not_null", accepted_values_test([1])])
    after = upsert_entry(MARTS_SCHEMA, "models", entry, "schema.yml")
    line = _line(MARTS_SCHEMA, "        tests: [unique, not_null]")
    assert _edits(MARTS_SCHEMA, after) == [
        (
            "replace",
            line,
            ["        tests: [unique, not_null]\n"],
            ["        tests: [unique, not_null, {accepted_values: {arguments: {values: [1]}}}]\n"],
        )
    ]


def test_a_column_without_tests_gets_them_after_its_description() -> None:
    column = {
        "name": "order_date",
        "description": "Date (UTC) that the order was placed",
        "tests": ["not_null"],
    }
    after = upsert_entry(MARTS_SCHEMA, "models", {"name": "orders", "columns": [column]}, "schema.yml")
    line = _line(MARTS_SCHEMA, "        description: Date (UTC) that the order was placed")
    assert _edits(MARTS_SCHEMA, after) == [
        ("insert", line + 1, [], ["        tests:\n", "          - not_null\n"])
    ]


def test_a_changed_column_description_changes_one_line() -> None:
    entry = _orders_column("status", description="Where the order is: placed, shipped, completed, returned")
    after = upsert_entry(MARTS_SCHEMA, "models", entry, "schema.yml")
    line = _line(MARTS_SCHEMA, """        description: '{{ doc("orders_status") }}'""")
    assert _edits(MARTS_SCHEMA, after) == [
        (
            "replace",
            line,
            ["""        description: '{{ doc("orders_status") }}'\n"""],
            ["        description: 'Where the order is: placed, shipped, completed, returned'\n"],
        )
    ]


def test_a_changed_folded_description_replaces_just_the_folded_block() -> None:
    after = upsert_entry(
        MARTS_SCHEMA, "models", {"name": "orders", "description": "One row per order."}, "schema.yml"
    )
    line = _line(MARTS_SCHEMA, "    description: >")
    [(tag, first, removed, added)] = _edits(MARTS_SCHEMA, after)
    assert (tag, first, added) == ("replace", line, ["    description: One row per order.\n"])
    assert len(removed) == 3  # `>` and its two lines; the blank line before `columns:` stays
    assert yaml.safe_load(after)["models"][1]["description"] == "One row per order."


def test_a_new_model_is_appended_after_a_blank_line_and_nothing_else_changes() -> None:
    entry = resource_entry(
        "fct_payments", "One row per payment.", [ColumnDoc("payment_id", "Key.", ("unique",))]
    )
    after = upsert_entry(MARTS_SCHEMA, "models", entry, "schema.yml")
    assert after == MARTS_SCHEMA + (
        "\n"
        "  - name: fct_payments\n"
        "    description: One row per payment.\n"
        "    columns:\n"
        "      - name: payment_id\n"
        "        description: Key.\n"
        "        data_tests:\n"
        "          - unique\n"
    )


def test_a_new_column_goes_after_the_last_one_keeping_the_blank_line_rhythm() -> None:
    column = {"name": "customer_lifetime_value", "description": "Total paid (AUD)."}
    after = upsert_entry(MARTS_SCHEMA, "models", {"name": "customers", "columns": [column]}, "schema.yml")
    expected = MARTS_SCHEMA.replace(
        "orders\n\n  - name: orders\n",
        "orders\n\n"
        "      - name: customer_lifetime_value\n"
        "        description: Total paid (AUD).\n"
        "\n  - name: orders\n",
    )
    assert after == expected


def test_a_new_kind_becomes_a_new_section_at_the_end() -> None:
    after = upsert_entry(STAGING_SCHEMA, "seeds", {"name": "raw_orders", "description": "Raw."}, "schema.yml")
    assert after == STAGING_SCHEMA + "\nseeds:\n  - name: raw_orders\n    description: Raw.\n"


@pytest.mark.parametrize("text", [MARTS_SCHEMA, STAGING_SCHEMA])
def test_upserting_what_is_there_returns_the_same_bytes(text: str) -> None:
    for entry in yaml.safe_load(text)["models"]:
        same = read_entry(text, "models", entry["name"], "schema.yml")
        assert same == entry
        assert upsert_entry(text, "models", same, "schema.yml") == text
        # callers strip a folded description's trailing newline: still the same text
        stripped = (
            {**entry, "description": str(entry.get("description", "")).strip()}
            if "description" in entry
            else entry
        )
        assert upsert_entry(text, "models", stripped, "schema.yml") == text


def test_keys_the_entry_does_not_mention_are_kept() -> None:
    after = upsert_entry(
        MARTS_SCHEMA, "models", {"name": "orders", "config": {"tags": ["daily"]}}, "schema.yml"
    )
    orders = _orders(after)
    assert orders["config"] == {"tags": ["daily"]}
    assert len(orders["columns"]) == 5
    assert _edits(MARTS_SCHEMA, after)[0][0] == "insert"


def test_read_entry_returns_plain_data_or_none() -> None:
    orders = read_entry(MARTS_SCHEMA, "models", "orders", "schema.yml")
    assert orders is not None
    assert orders["columns"][0] == {
        "name": "order_id",
        "tests": ["unique", "not_null"],
        "description": "This is a unique identifier for an order",
    }
    assert read_entry(MARTS_SCHEMA, "models", "nope", "schema.yml") is None
    assert read_entry(None, "models", "orders", "schema.yml") is None
    assert read_entry(MARTS_SCHEMA, "seeds", "orders", "schema.yml") is None


# --- new files and ae's own style ---------------------------------------------------------------------


def test_a_new_file_and_an_appended_entry_match_codegen_output() -> None:
    first = resource_entry(
        "dim_a",
        "A.",
        [
            ColumnDoc("id", "Key.", ("unique", "not_null", accepted_values_test(["x", "yes"]))),
            ColumnDoc("b", "two\nlines"),
        ],
    )
    second = resource_entry(
        "fct_b",
        "B.",
        [ColumnDoc("a_id", "To A.", (relationships_test("dim_a", "id"),))],
        extra={"config": {"materialized": "table"}},
    )
    fresh = upsert_entry(None, "models", first, "models/marts/x.yml")
    assert fresh == dump_yaml({"version": 2, "models": [first]})
    assert upsert_entry(fresh, "models", second, "models/marts/x.yml") == dump_yaml(
        {"version": 2, "models": [first, second]}
    )
    assert "'yes'" in fresh  # dbt reads a bare yes as true


def test_the_files_indentation_and_line_endings_are_followed() -> None:
    indentless = (
        "version: 2\r\nmodels:\r\n- name: a\r\n  columns:\r\n  - name: id\r\n    tests:\r\n    - unique\r\n"
    )
    entry = {
        "name": "a",
        "columns": [{"name": "id", "tests": ["not_null"]}, {"name": "b", "tests": ["unique"]}],
    }
    after = upsert_entry(indentless, "models", entry, "x.yml")
    assert after == indentless + "    - not_null\r\n  - name: b\r\n    tests:\r\n    - unique\r\n"


def test_anchored_parts_are_not_edited_behind_the_users_back() -> None:
    text = "models:\n  - &base\n    name: a\n    description: shared\n  - name: b\n"
    with pytest.raises(InvalidArguments, match=r"x.yml line 2: .*anchor &base"):
        upsert_entry(text, "models", {"name": "a", "description": "new"}, "x.yml")
    # other entries of the same file are fine
    after = upsert_entry(text, "models", {"name": "b", "description": "B"}, "x.yml")
    assert after == text + "    description: B\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an empty section, a comment on it, an empty flow list, a flow document, only a comment
        ("version: 2\nmodels:\n", "version: 2\nmodels:\n  - name: a\n    tests:\n      - unique\n"),
        ("models:  # soon\n", "models:  # soon\n  - name: a\n    tests:\n      - unique\n"),
        ("models: []\n", "models:\n  - name: a\n    tests:\n      - unique\n"),
        ("{version: 2, models: [{name: a}]}\n", "{version: 2, models: [{name: a, tests: [unique]}]}\n"),
        ("models: [{name: a, tests: [not_null,]}]\n", "models: [{name: a, tests: [not_null, unique]}]\n"),
        (
            "# nothing yet\n",
            "# nothing yet\nversion: 2\n\nmodels:\n  - name: a\n    tests:\n      - unique\n",
        ),
    ],
)
def test_odd_but_valid_shapes_get_valid_minimal_edits(text: str, expected: str) -> None:
    after = upsert_entry(text, "models", {"name": "a", "tests": ["unique"]}, "x.yml")
    assert after == expected
    assert yaml.safe_load(after)["models"] == [
        {"name": "a", "tests": [*(["not_null"] if "not_null" in text else []), "unique"]}
    ]


def test_values_inside_flow_collections_stay_flow() -> None:
    text = "models:\n  - name: orders\n    columns: [{name: id, description: old}]\n"
    column = {"name": "id", "description": "two\nlines", "tests": ["unique"]}
    after = upsert_entry(text, "models", {"name": "orders", "columns": [column]}, "x.yml")
    flow = '[{name: id, description: "two\\nlines", tests: [unique]}]'
    assert after == f"models:\n  - name: orders\n    columns: {flow}\n"


def test_a_column_named_twice_in_the_entry_is_refused() -> None:
    entry = {"name": "orders", "columns": [{"name": "status"}, {"name": "status", "description": "x"}]}
    with pytest.raises(InvalidArguments, match=r"the new columns for schema\.yml list status more than once"):
        upsert_entry(MARTS_SCHEMA, "models", entry, "schema.yml")


def test_merge_keys_count_as_present() -> None:
    text = "x: &cols {description: shared}\nmodels:\n  - name: a\n    <<: *cols\n"
    assert upsert_entry(text, "models", {"name": "a", "description": "shared"}, "x.yml") == text
    after = upsert_entry(text, "models", {"name": "a", "description": "own"}, "x.yml")
    assert after == text.replace("  - name: a\n", "  - name: a\n    description: own\n")
    assert yaml.safe_load(after)["models"][0]["description"] == "own"
    # an entry appended after one that ends with its merge key leaves the key with its entry
    appended = upsert_entry(text, "models", {"name": "b"}, "x.yml")
    assert appended == text + "  - name: b\n"
    assert yaml.safe_load(appended)["models"] == [{"name": "a", "description": "shared"}, {"name": "b"}]


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 2\nmodels:\n  - name: a\n    columns: [\n",
            r"models/schema.yml is not valid YAML at line 5",
        ),
        (
            "version: 2\nmodels:\n  - name: a\n   description: x\n",
            r"models/schema.yml is not valid YAML at line 4",
        ),
        (
            "models:\n  - name: a\n  - name: a\n    name: b\n",
            r"models/schema.yml is not valid YAML at line 4: .*dup",
        ),
        ("- name: a\n", r"models/schema.yml does not hold a YAML mapping at the top level"),
        ("models:\n  name: a\n", r"models in models/schema.yml \(line 2\) is not a list"),
    ],
)
def test_broken_files_are_refused_with_the_file_and_line(text: str, message: str) -> None:
    for call in (
        lambda: upsert_entry(text, "models", {"name": "a", "description": "d"}, "models/schema.yml"),
        lambda: read_entry(text, "models", "a", "models/schema.yml"),
    ):
        with pytest.raises(InvalidArguments, match=message) as caught:
            call()
        assert caught.value.hint


# --- sources and packages -----------------------------------------------------------------------------


def test_a_table_added_to_an_existing_source_appends_only_that_table() -> None:
    source = {"name": "jaffle_raw", "description": "Tables of warehouse schema main.", "schema": "main"}
    table = {"name": "raw_payments", "description": "Payments."}
    after = upsert_source_tables(SOURCES, source, [table], "models/sources.yml")
    assert after == SOURCES + "      - name: raw_payments\n        description: Payments.\n"


def test_a_changed_table_gets_only_its_new_key() -> None:
    source = {"name": "jaffle_raw"}
    tables: list[dict[str, Any]] = [
        {"name": "raw_customers", "identifier": "customers_v2"},
        {
            "name": "raw_orders",
            "loaded_at_field": "ordered_at",
            "columns": [{"name": "id", "tests": ["unique"]}],
        },
    ]
    after = upsert_source_tables(SOURCES, source, tables, "models/sources.yml")
    line = _line(SOURCES, "      - name: raw_orders")
    assert _edits(SOURCES, after) == [("insert", line + 1, [], ["        loaded_at_field: ordered_at\n"])]


def test_a_new_source_is_appended_whole() -> None:
    source = {"name": "stripe", "description": "Tables of warehouse schema stripe.", "schema": "stripe"}
    after = upsert_source_tables(SOURCES, source, [{"name": "payment"}], "models/sources.yml")
    assert after == SOURCES + (
        "  - name: stripe\n"
        "    description: Tables of warehouse schema stripe.\n"
        "    schema: stripe\n"
        "    tables:\n"
        "      - name: payment\n"
    )
    assert read_entry(after, "sources", "stripe", "models/sources.yml") == {
        **source,
        "tables": [{"name": "payment"}],
    }
    # and the first source in a new file: codegen's layout
    assert upsert_source_tables(None, source, [{"name": "payment"}], "x.yml") == dump_yaml(
        {"version": 2, "sources": [{**source, "tables": [{"name": "payment"}]}]}
    )


def test_a_local_package_is_appended_once() -> None:
    after, added = add_local_package(PACKAGES, "packages/my_utils")
    assert added
    assert after == PACKAGES + "  - local: packages/my_utils\n"
    again, added_again = add_local_package(after, "packages/my_utils")
    assert (again, added_again) == (after, False)
    assert read_section_item(after, "packages", "packages/my_utils", "packages.yml", key="local") == {
        "local": "packages/my_utils"
    }
    assert add_local_package(None, "packages/my_utils") == ("packages:\n  - local: packages/my_utils\n", True)


def test_a_package_pin_is_updated_in_place() -> None:
    item = {"package": "dbt-labs/dbt_utils", "version": [">=1.1.0", "<1.3.0"]}
    after = upsert_section_item(PACKAGES, "packages", item, "packages.yml", key="package")
    assert _edits(PACKAGES, after) == [
        (
            "replace",
            4,
            ['    version: [">=1.1.0", "<1.2.0"]\n'],
            ["    version: ['>=1.1.0', <1.3.0]\n"],
        )
    ]


# --- what dbt makes of it ---------------------------------------------------------------------------


def test_dbt_parses_the_edited_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    root = write_real_project(tmp_path / "jaffle", home)
    marts, staging = root / "models" / "schema.yml", root / "models" / "staging" / "schema.yml"
    style = detect_test_style([marts.read_text(), staging.read_text()])

    orders = {
        "name": "orders",
        "description": "One row per order.\nAmounts are in AUD.",
        "columns": [
            {"name": "status", "data_tests": ["not_null"]},
            {"name": "amount", "data_tests": ["unique"]},
        ],
    }
    customers = {
        "name": "customers",
        "columns": [column_entry(ColumnDoc("customer_lifetime_value", "Paid.", ("not_null",)))],
    }
    text = upsert_entry(marts.read_text(), "models", apply_test_style(orders, style), "models/schema.yml")
    marts.write_text(upsert_entry(text, "models", apply_test_style(customers, style), "models/schema.yml"))
    payments = {
        "name": "stg_payments",
        "columns": [
            column_entry(
                ColumnDoc(
                    "payment_method", "How it was paid.", (accepted_values_test(["coupon", "gift_card"]),)
                )
            )
        ],
    }
    staging.write_text(
        upsert_entry(staging.read_text(), "models", apply_test_style(payments, style), "x.yml")
    )

    with DbtEngine(root, profiles_dir=home / ".dbt", timeout_s=120) as engine:
        result = engine.run("parse")
    assert result.success, result.summary()
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    tests = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "test"}
    assert {
        "not_null_orders_status",
        "unique_orders_amount",
        "not_null_customers_customer_lifetime_value",
        "accepted_values_stg_payments_payment_method__coupon__gift_card",
        "relationships_orders_customer_id__customer_id__ref_customers_",  # the user's own, untouched
    } <= tests
    assert (
        manifest["nodes"]["model.jaffle_shop.orders"]["description"]
        == "One row per order.\nAmounts are in AUD."
    )
