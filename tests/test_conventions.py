"""The project's habits decide where generated files go and what their config repeats."""

from __future__ import annotations

from typing import Any

from agent.commands.conventions import Conventions
from agent.commands.naming import timestamp_phrase
from tools.layers import bare_name, layer_of_path


def _model(path: str, patch: str | None = None) -> dict[str, Any]:
    name = path.rsplit("/", 1)[-1].removesuffix(".sql")
    return {
        "name": name,
        "unique_id": f"model.p.{name}",
        "original_file_path": path,
        "patch_path": f"p://{patch}" if patch else None,
    }


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


def test_timestamp_descriptions_read_as_english() -> None:
    assert timestamp_phrase("order_date", "order") == "Date of the order"
    assert timestamp_phrase("ordered_at", "order") == "When the order was ordered"
    assert timestamp_phrase("updated_at", "customer") == "When the customer was last updated"
    assert timestamp_phrase("first_order_date", "customer") == "First order date of the customer"


def _staging(path: str, source: str | None) -> dict[str, Any]:
    depends = [f"source.p.{source}.t"] if source else ["seed.p.raw_regions"]
    return {**_model(path), "depends_on": {"nodes": depends}}


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
