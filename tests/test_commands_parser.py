"""Parsing /command lines and their help: typed values, readable refusals with usage and an example."""

from __future__ import annotations

import pytest

from agent.commands import HelpRequested, ParsedCommand, command_help, parse_command
from agent.commands.catalog import COMMANDS
from agent.commands.planner import HANDLERS
from tools.errors import InvalidArguments


def refusal(line: str) -> str:
    with pytest.raises(InvalidArguments) as caught:
        parse_command(line)
    assert not isinstance(caught.value, HelpRequested)
    return str(caught.value)


def test_every_catalogued_command_has_a_handler_and_help() -> None:
    assert set(HANDLERS) == set(COMMANDS)
    listing = command_help(None)
    for name, spec in COMMANDS.items():
        assert f"/{name}" in listing and spec.summary in listing
        assert spec.example.startswith(f"/{name} ")
        # every catalogued example parses (help would otherwise teach a broken line)
        assert parse_command(spec.example).name == name


def test_values_are_typed_and_target_is_lifted_out() -> None:
    parsed = parse_command(
        "/dbt-run --select 'stg_orders+ tag:daily' --full-refresh --vars '{\"days\": 7}' --target prod"
    )
    assert parsed == ParsedCommand(
        name="dbt-run",
        options={"select": "stg_orders+ tag:daily", "full-refresh": True, "vars": {"days": 7}},
        target="prod",
    )


def test_flag_equals_value_lists_ints_and_defaults() -> None:
    parsed = parse_command(
        '/exposure-define --name=revenue --type dashboard --depends-on "fct_orders, dim_customers"'
    )
    assert parsed.items("depends-on") == ["fct_orders", "dim_customers"]
    lineage = parse_command("/model-lineage --model fct_orders --upstream 2")
    assert (lineage.integer("upstream"), lineage.integer("downstream")) == (2, 1)  # downstream defaulted
    quality = parse_command("/data-quality-test --model fct_orders")
    assert quality.items("tests") == ["not_null", "unique", "relationships", "accepted_values"]


def test_boolean_flags_stand_alone_or_take_true_false() -> None:
    docs = parse_command("/dbt-docs --generate true --serve false --port 8080")
    assert (docs.boolean("generate"), docs.boolean("serve"), docs.integer("port")) == (True, False, 8080)
    assert parse_command("/dbt-compile --select fct_orders --show-compiled-sql").boolean("show-compiled-sql")
    assert "takes true or false" in refusal("/dbt-docs --serve=maybe")


def test_yaml_dates_in_vars_travel_as_strings() -> None:
    parsed = parse_command("/dbt-run --vars '{start: 2024-01-01}'")
    assert parsed.mapping("vars") == {"start": "2024-01-01"}
    assert "JSON or YAML mapping" in refusal("/dbt-run --vars '[1, 2]'")


def test_unknown_command_suggests_the_close_one_and_lists_all() -> None:
    message = refusal("/dbt-modle --name x")
    assert "unknown command /dbt-modle" in message and "Did you mean /dbt-model" in message
    assert "/exposure-define" in message


def test_unknown_flag_shows_usage_and_example() -> None:
    message = refusal("/dbt-model --name fct_orders --type fact --materialisation table")
    assert "unknown flag --materialisation. Did you mean --materialization?" in message
    assert "usage: /dbt-model --name NAME --type staging|intermediate|fact|dimension" in message
    assert "example: /dbt-model --name fct_orders" in message


def test_missing_required_flag_is_named() -> None:
    assert "missing required flag --name" in refusal("/dbt-model --type fact")
    assert "missing required flags --name, --type" in refusal("/dbt-model")


def test_bad_enum_value_lists_the_choices() -> None:
    message = refusal("/dbt-model --name fct_orders --type factt")
    assert (
        "--type must be one of staging, intermediate, fact, dimension, not 'factt'. Did you mean fact?"
        in message
    )


def test_a_flag_where_a_value_belongs_is_refused() -> None:
    assert "--select needs a value, but got '-x', which looks like a flag" in refusal("/dbt-run --select -x")
    assert "--name needs a value" in refusal("/dbt-model --type fact --name")


def test_selection_characters_are_checked_like_the_engine_does() -> None:
    assert "not a dbt selection" in refusal("/dbt-run --select 'stg_orders; drop table x'")


def test_other_malformed_lines() -> None:
    assert "is not a /command" in refusal("dbt-run --select x")
    assert "given twice" in refusal("/dbt-run --select a --select b")
    assert "unexpected argument 'stg_orders'" in refusal("/dbt-run stg_orders")
    assert "takes a whole number" in refusal("/model-lineage --model x --upstream two")
    assert "check the quotes" in refusal("/dbt-run --select 'unclosed")
    assert "no empty items" in refusal("/dbt-macro --name m --parameters 'a,,b'")


def test_help_for_all_and_for_one_command() -> None:
    with pytest.raises(HelpRequested) as listing:
        parse_command("/help")
    assert listing.value.text == command_help(None)
    with pytest.raises(HelpRequested) as one:
        parse_command("/dbt-snapshot --source-table raw.x --help")
    assert one.value.text == command_help("dbt-snapshot")
    assert "--check-cols A,B" in one.value.text and "example: /dbt-snapshot" in one.value.text
    with pytest.raises(HelpRequested) as named:
        parse_command("/help /dbt-seed")
    assert named.value.text.startswith("/dbt-seed: ")
    assert "unknown command /nope" in refusal("/help nope")


def test_model_edit_and_the_lineage_column_are_catalogued_with_help() -> None:
    edit = parse_command("/model-edit --name orders --rename-column amount:amount_usd")
    assert edit.options == {"name": "orders", "rename-column": "amount:amount_usd"}
    with pytest.raises(HelpRequested) as shown:
        parse_command("/model-edit --help")
    for flag in ("--add-column PARENT.COLUMN", "--rename-column OLD:NEW", "--extract CTE", "--as NAME"):
        assert flag in shown.value.text
    assert "--materialized view|table|incremental" in shown.value.text
    assert "/model-edit" in command_help(None)
    lineage = parse_command("/model-lineage --model customers --column customer_lifetime_value")
    assert lineage.text("column") == "customer_lifetime_value"
    assert "--column COLUMN" in command_help("model-lineage")
    assert "must be one of view, table, incremental" in refusal(
        "/model-edit --name x --materialized ephemeral"
    )
