"""/dbt-model and /incremental-model: one generator, staging or mart by layer, for models that do
not exist yet. A name that exists is never regenerated (agent/commands/existing.py): a model declared
only in YAML is built to its declaration, /incremental-model edits an existing model in place, and
anything else is refused naming the file and the command that edits it."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from agent.commands.declared_model import plan_declared
from agent.commands.edit_inputs import EditInputs
from agent.commands.existing import find_existing, refuse_regenerate
from agent.commands.incremental_edit import plan_incremental_edit
from agent.commands.marts import plan_mart
from agent.commands.model_files import (
    ModelRequest,
    Strategy,
    configured_materialization,
    model_files,
)
from agent.commands.naming import is_identifier
from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from agent.commands.staging import plan_staging, with_raw_source
from graph.plan_spec import PlanSpec
from tools.errors import InvalidArguments
from tools.layers import KINDS, Materialization, ModelType, model_type_of


def _checked_name(name: str) -> str:
    if not is_identifier(name):
        raise InvalidArguments(
            f"model name {name!r} must be lower case letters, digits and _ (starting with a letter or _)",
            hint="e.g. stg_orders, dim_customers, fct_orders",
        )
    return name


def _resolved(view: ProjectView, request: ModelRequest, given: Materialization | None) -> ModelRequest:
    """The request with its materialization settled: what was asked, else what dbt_project.yml gives the
    model's folder, else the layer's default; and what the project config already says, so the model
    does not repeat it."""
    files = model_files(view, request.name, request.model_type, source_name=request.source_name)
    configured = configured_materialization(view, files)
    materialization = given or cast(Materialization | None, configured)
    return replace(
        request,
        materialization=materialization or KINDS[request.model_type].materialization,
        inherited_materialization=configured,
    )


def _plan(view: ProjectView, request: ModelRequest, given: Materialization | None) -> PlanSpec:
    if request.model_type == "staging":
        if request.base is not None:
            raise InvalidArguments("--from is for models built on other models; staging reads a --source")
        if request.partition is not None:
            raise InvalidArguments("partitioning is for fact and dimension tables, not staging models")
        request = _resolved(view, with_raw_source(view, request), given)
        answer = plan_staging(view, request)
    else:
        if request.source is not None:
            raise InvalidArguments(
                "--source is for staging models; facts, dimensions and intermediate models read refs",
                hint="stage the source first (/dbt-model --type staging) and pass --from stg_<table>",
            )
        request = _resolved(view, request, given)
        answer = plan_mart(view, request)
    kind = f"{request.materialization} {request.model_type}"
    return PlanSpec(summary=f"create {kind} model {request.name}", answer="\n".join(answer))


def _refuse_flags(cmd: ParsedCommand, flags: tuple[str, ...], what: str) -> None:
    given = [f"--{flag}" for flag in flags if cmd.text(flag) is not None]
    if given:
        raise InvalidArguments(
            f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for new models; {what}",
            hint="leave them out; nothing was written",
        )


def dbt_model(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    model_type = cast(ModelType, cmd.required_text("type"))
    given = cast(Materialization | None, cmd.text("materialization"))
    name = _checked_name(cmd.required_text("name"))
    existing = find_existing(view, name)
    if existing is not None and existing.kind != "declared":
        raise refuse_regenerate(existing, "/dbt-model")
    if existing is not None:
        _refuse_flags(
            cmd,
            ("description", "partition-by"),
            f"{name}'s declaration in {existing.path} is kept as written",
        )
        return plan_declared(
            view, existing, parents=cmd.text("from") or cmd.text("source"), materialization=given
        )
    request = ModelRequest(
        name=name,
        model_type=model_type,
        materialization=given or KINDS[model_type].materialization,
        partition=cmd.text("partition-by"),
        source=cmd.text("source"),
        base=cmd.text("from"),
        description=cmd.text("description"),
    )
    return _plan(view, request, given)


def incremental_model(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    name = _checked_name(cmd.required_text("name"))
    existing = find_existing(view, name)
    if existing is not None:
        # edited in place (a package's model and a YAML-only declaration are refused there)
        _refuse_flags(cmd, ("from", "description", "partition"), f"{name} exists and is edited in place")
        inputs = EditInputs.for_model(view, name, "/incremental-model")
        return plan_incremental_edit(
            inputs, unique_key=cmd.required_text("unique-key"), strategy=cmd.required_text("strategy")
        )
    model_type = model_type_of(name)
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
    return _plan(view, request, "incremental")
