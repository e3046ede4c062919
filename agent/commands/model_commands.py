"""/dbt-model and /incremental-model: one generator, staging or mart by layer."""

from __future__ import annotations

from typing import cast

from agent.commands.marts import plan_mart
from agent.commands.model_files import (
    DEFAULT_MATERIALIZATION,
    Materialization,
    ModelRequest,
    ModelType,
    Strategy,
)
from agent.commands.naming import is_identifier, model_type_of
from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from agent.commands.staging import plan_staging
from graph.plan_spec import PlanSpec
from tools.errors import InvalidArguments


def _checked_name(name: str) -> str:
    if not is_identifier(name):
        raise InvalidArguments(
            f"model name {name!r} must be lower case letters, digits and _ (starting with a letter or _)",
            hint="e.g. stg_orders, dim_customers, fct_orders",
        )
    return name


def _plan(view: ProjectView, request: ModelRequest) -> PlanSpec:
    if request.model_type == "staging":
        if request.base is not None:
            raise InvalidArguments("--from is for models built on other models; staging reads a --source")
        if request.partition is not None:
            raise InvalidArguments("partitioning is for fact and dimension tables, not staging models")
        answer = plan_staging(view, request)
    else:
        if request.source is not None:
            raise InvalidArguments(
                "--source is for staging models; facts, dimensions and intermediate models read refs",
                hint="stage the source first (/dbt-model --type staging) and pass --from stg_<table>",
            )
        answer = plan_mart(view, request)
    kind = f"{request.materialization} {request.model_type}"
    return PlanSpec(summary=f"create {kind} model {request.name}", answer="\n".join(answer))


def dbt_model(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    model_type = cast(ModelType, cmd.required_text("type"))
    materialization = cast(
        Materialization, cmd.text("materialization") or DEFAULT_MATERIALIZATION[model_type]
    )
    request = ModelRequest(
        name=_checked_name(cmd.required_text("name")),
        model_type=model_type,
        materialization=materialization,
        partition=cmd.text("partition-by"),
        source=cmd.text("source"),
        base=cmd.text("from"),
        description=cmd.text("description"),
    )
    return _plan(view, request)


def incremental_model(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    name = _checked_name(cmd.required_text("name"))
    model_type = cast(ModelType, model_type_of(name))
    request = ModelRequest(
        name=name,
        model_type=model_type,
        materialization="incremental",
        strategy=cast(Strategy, cmd.required_text("strategy")),
        partition=cmd.text("partition"),
        base=cmd.text("from") if model_type != "staging" else None,
        source=cmd.text("from") if model_type == "staging" else None,
        unique_key=cmd.required_text("unique-key"),
        description=cmd.text("description"),
    )
    return _plan(view, request)
