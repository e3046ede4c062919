"""The project's habits decide where generated files go and what their config repeats."""

from __future__ import annotations

from typing import Any

from agent.commands.catalog import COMMANDS
from agent.commands.conventions import Conventions
from agent.commands.descriptions import model_description
from agent.commands.naming import timestamp_phrase
from tools.layers import MODEL_KINDS, bare_name, layer_of_path, model_type_of
from tools.manifest import Node


def _model(path: str, patch: str | None = None, **more: Any) -> Node:
    name = path.rsplit("/", 1)[-1].removesuffix(".sql")
    raw = {"name": name, "original_file_path": path, "patch_path": f"p://{patch}" if patch else None}
    return Node.of(f"model.p.{name}", {**raw, **more}, "p")


JAFFLE = [
    _model("models/customers.sql", "models/schema.yml"),
    _model("models/orders.sql", "models/schema.yml"),
    _model("models/order_status_counts.sql"),
    _model("models/staging/stg_customers.sql", "models/staging/schema.yml"),
    _model("models/staging/stg_orders.sql", "models/staging/schema.yml"),
    _model("models/staging/base/base_payments.sql"),
]
DBT_PROJECT = {"models": {"p": {"materialized": "table", "staging": {"+materialized": "view"}}}}


def test_marts_follow_the_project_to_the_models_root_with_its_shared_schema_yml() -> None:
    conventions = Conventions.read(JAFFLE, DBT_PROJECT, "p")
    assert conventions.folder_for("marts") == "models"
    assert conventions.properties_file_for("models", "fct_orders") == "models/schema.yml"
    # staging/base is part of staging but not where new staging models go
    assert conventions.folder_for("staging") == "models/staging"
    assert conventions.properties_file_for("models/staging", "stg_x") == "models/staging/schema.yml"
    # no intermediate models yet: ae's default, documented the way the project does (shared files)
    assert conventions.folder_for("intermediate") == "models/intermediate"
    assert conventions.properties_file_for("models/intermediate", "int_x") == "models/intermediate/schema.yml"


def test_a_project_with_one_yaml_per_model_keeps_that() -> None:
    models = [
        _model("models/marts/dim_a.sql", "models/marts/dim_a.yml"),
        _model("models/marts/fct_b.sql", "models/marts/fct_b.yml"),
    ]
    conventions = Conventions.read(models, {}, "p")
    assert conventions.folder_for("marts") == "models/marts"
    assert conventions.properties_file_for("models/marts", "fct_c") == "models/marts/fct_c.yml"
    assert conventions.properties_file_for("models/staging", "stg_c") == "models/staging/stg_c.yml"
    # an empty project falls back to ae's layout
    empty = Conventions.read([], {}, "p")
    assert empty.folder_for("marts") == "models/marts"
    assert empty.properties_file_for("models/marts", "fct_c") == "models/marts/fct_c.yml"


def test_materializations_come_from_dbt_project_yml_by_folder() -> None:
    conventions = Conventions.read(JAFFLE, DBT_PROJECT, "p")
    assert conventions.configured_materialization("models/orders.sql", ["models"]) == "table"
    assert conventions.configured_materialization("models/staging/stg_x.sql", ["models"]) == "view"
    assert conventions.configured_materialization("models/staging/base/b.sql", ["models"]) == "view"
    assert Conventions.read(JAFFLE, {}, "p").configured_materialization("models/x.sql", ["models"]) is None


def test_layers_know_base_models_and_seeds_names() -> None:
    assert layer_of_path("models/staging/base/base_payments.sql", "base_payments") == "staging"
    assert layer_of_path("models/customers.sql", "customers") == "other"
    assert bare_name("raw_orders") == "orders"


def test_the_naming_table_decides_type_layer_folder_and_materialization() -> None:
    empty = Conventions.read([], {}, "p")
    for kind in MODEL_KINDS:
        name = f"{kind.prefix}orders"
        assert model_type_of(name) == kind.model_type
        assert layer_of_path(f"models/{name}.sql", name) == kind.layer
        if kind.layer != "staging":  # a new staging model goes to its source's folder
            assert empty.folder_for(kind.layer) == kind.folder
    assert [kind.materialization for kind in MODEL_KINDS] == ["view", "view", "table", "table"]
    # a bare name is a fact to create (jaffle_shop names its marts so); its layer waits for its folder
    assert model_type_of("orders") == "fact"
    assert layer_of_path("models/orders.sql", "orders") == "other"
    assert layer_of_path("models/marts/orders.sql", "orders") == "marts"
    # the prefix of a staging or intermediate model wins over a marts folder, as it always did
    assert layer_of_path("models/marts/stg_orders.sql", "stg_orders") == "staging"
    assert layer_of_path("models/marts/int_orders.sql", "int_orders") == "intermediate"
    types = next(o.choices for o in COMMANDS["dbt-model"].options if o.flag == "type")
    assert types == tuple(kind.model_type for kind in MODEL_KINDS)
    assert model_description("dim_orders", "marts", "order", None, []).startswith("Dimension dim_orders")
    assert model_description("fct_orders", "marts", "order", None, []).startswith("Fact table fct_orders")
    assert model_description("orders", "other", "order", None, []).startswith("Model orders")


def test_timestamp_descriptions_read_as_english() -> None:
    assert timestamp_phrase("order_date", "order") == "Date of the order"
    assert timestamp_phrase("ordered_at", "order") == "When the order was ordered"
    assert timestamp_phrase("updated_at", "customer") == "When the customer was last updated"
    assert timestamp_phrase("first_order_date", "customer") == "First order date of the customer"


def _staging(path: str, source: str | None) -> Node:
    depends = [f"source.p.{source}.t"] if source else ["seed.p.raw_regions"]
    return _model(path, depends_on={"nodes": depends})


def test_staging_goes_in_a_folder_per_source_unless_the_project_keeps_one_shared_folder() -> None:
    # no staging yet: dbt Labs' layout, one folder per source (dbt-project-evaluator's fct_model_directories)
    empty = Conventions.read([], {}, "p")
    assert empty.staging_folder_for("raw") == "models/staging/raw"
    assert empty.staging_folder_for(None) == "models/staging"
    per_source = Conventions.read([_staging("models/stage/shop/stg_orders.sql", "shop")], {}, "p")
    assert per_source.staging_folder_for("crm") == "models/stage/crm"
    # jaffle_shop's habit: every source-reading staging model in models/staging itself
    flat = Conventions.read(
        [
            _staging("models/staging/stg_orders.sql", "shop"),
            _staging("models/staging/stg_customers.sql", "shop"),
            _staging("models/staging/stg_regions.sql", None),
        ],
        {},
        "p",
    )
    assert flat.staging_folder_for("shop") == "models/staging"
