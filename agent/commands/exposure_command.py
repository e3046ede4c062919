"""/exposure-define: declare a consumer of models (dashboard, notebook, ML model...) in YAML.

By default only the exposure is written: the models it reads are the project's, and a contract on
them changes how they build (and can break another command later), so that is asked for, not done on
the way. The answer names the models that are still private and the command that publishes them.

With ``--publish`` they are published as dbt Labs recommends (and dbt-project-evaluator's
fct_exposures_dependent_on_private_models checks): ``access: public`` with an enforced contract,
every column typed as the warehouse has it. Execute then runs those models, which is when dbt checks
the contract against their SQL.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Literal, cast

from agent.commands.column_facts import facts_from_profile
from agent.commands.descriptions import column_description
from agent.commands.naming import is_identifier
from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from graph.plan_spec import Operation, PlanSpec
from tools.codegen import ExposureSpec, exposure_entry
from tools.errors import InvalidArguments, UnknownNode
from tools.layers import entity_of
from tools.manifest import close_matches

DEFAULT_OWNER = "Analytics Engineering"
ExposureType = Literal["dashboard", "notebook", "analysis", "ml", "application"]
Maturity = Literal["low", "medium", "high"]
#: what dbt accepts on an incremental model with an enforced contract
_CONTRACT_SAFE_SCHEMA_CHANGES = ("append_new_columns", "fail")


def _title(name: str, kind: str) -> str:
    """revenue_dashboard (dashboard) -> "The revenue dashboard"; churn (ml) -> "The churn ml"."""
    words = name.replace("_", " ")
    return f"The {words}" if words.endswith(kind) else f"The {words} {kind}"


def published_entry(view: ProjectView, name: str) -> tuple[str, dict[str, Any], str | None]:
    """The model's properties file, the entry that makes it public with an enforced contract, and
    why the contract is left off when the model's YAML documents columns its output lacks (a
    contract over them could never pass; ae does not delete what a person documented)."""
    node = view.built_model(name, purpose="its contract takes the column types from the warehouse")
    profile = view.profile(view.qualified_name(node))
    default = str(PurePosixPath(node.original_file_path).with_suffix(".yml"))
    declared = set(node.columns)
    stale = sorted(declared - {c.name for c in profile.columns})
    config: dict[str, Any] = {"access": "public"}
    if not stale:
        config["contract"] = {"enforced": True}
    # dbt refuses a contract on an incremental model that would silently drop or ignore a changed
    # column; a published schema changes by a decision, so a change fails the run
    incremental = node.config.materialized == "incremental"
    if incremental and node.config.on_schema_change not in _CONTRACT_SAFE_SCHEMA_CHANGES:
        config["on_schema_change"] = "fail"
    columns: list[dict[str, Any]] = []
    for column in profile.columns:
        typed: dict[str, Any] = {"name": column.name, "data_type": column.type.lower()}
        if column.name not in declared:  # a contract lists every column; a new one is described too
            typed["description"] = column_description(facts_from_profile(column), entity_of(name))
        columns.append(typed)
    why_no_contract = (
        f"{name} is public without a contract: its YAML documents {', '.join(stale)}, which its output "
        "does not have; correct the YAML and re-run /exposure-define to enforce one"
        if stale
        else None
    )
    entry = {"name": name, "config": config, "columns": columns}
    return view.properties_path(node, default), entry, why_no_contract


def exposure_define(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    name = cmd.required_text("name")
    if not is_identifier(name):
        raise InvalidArguments(f"exposure name {name!r} must be lower case letters, digits and _")
    depends_on = cmd.items("depends-on")
    unknown = [m for m in depends_on if m not in view.models]
    if unknown:
        known = sorted(view.models)
        named = "; ".join(f"{m}{close_matches(m, known)}" for m in unknown)
        raise UnknownNode(
            f"--depends-on names models that do not exist: {named}",
            hint=f"models: {', '.join(known) or 'none yet'}",
        )
    kind = cast(ExposureType, cmd.required_text("type"))
    owner_name = cmd.text("owner-name")
    owner_email = cmd.text("owner-email")
    if owner_name is None and owner_email is None:
        owner_name = DEFAULT_OWNER
    spec = ExposureSpec(
        name=name,
        type=kind,
        depends_on=tuple(dict.fromkeys(depends_on)),
        description=cmd.text("description") or f"{_title(name, kind)}, built on {', '.join(depends_on)}.",
        owner_name=owner_name,
        owner_email=owner_email,
        url=cmd.text("url"),
        maturity=cast(Maturity | None, cmd.text("maturity")),
    )
    existing = view.manifest.named("exposure").get(name)
    path = existing.original_file_path if existing else f"models/exposures/{name}.yml"
    view.write_entry(view.tools.changeset, path, "exposures", exposure_entry(spec))
    owner_note = (
        f"; owner defaulted to {DEFAULT_OWNER!r} (set --owner-name/--owner-email)"
        if owner_name == DEFAULT_OWNER and not cmd.text("owner-name")
        else ""
    )
    declared = f"{name}: {kind} depending on {', '.join(spec.depends_on)}, in {path}{owner_note}"
    lineage = f"`/model-lineage --model {name} --upstream 2` shows what feeds it."
    summary = f"{'update' if existing else 'define'} exposure {name} ({kind})"
    if not cmd.boolean("publish"):
        return PlanSpec(
            summary=summary,
            operations=[],
            verify_select=[],
            answer=f"{declared}. {_private_note(view, spec.depends_on, cmd)}{lineage}",
        )
    uncontracted: list[str] = []
    for model in spec.depends_on:
        model_path, entry, why_no_contract = published_entry(view, model)
        view.write_entry(view.tools.changeset, model_path, "models", entry)
        uncontracted += [why_no_contract] if why_no_contract else []
    return PlanSpec(
        summary=summary + ", publishing " + ", ".join(spec.depends_on),
        operations=[Operation(command="run", select=list(spec.depends_on))],
        verify_select=[],
        answer=f"{declared}; {', '.join(spec.depends_on)} now public"
        + ("; " + "; ".join(uncontracted) if uncontracted else " with an enforced contract")
        + f". {lineage}",
    )


def _private_note(view: ProjectView, models: tuple[str, ...], cmd: ParsedCommand) -> str:
    """Which of ``models`` are not public yet, and the command that publishes them."""
    private = [m for m in models if view.models[m].raw.get("access", "protected") != "public"]
    if not private:
        return ""
    again = cmd.model_copy(update={"options": {**cmd.options, "publish": True}}).as_line()
    return (
        f"{', '.join(private)} {'is' if len(private) == 1 else 'are'} not public (access: protected), "
        "so the exposure reads private models; left as they are. To publish them with an enforced "
        f"contract (and rebuild them): `{again}`. "
    )
