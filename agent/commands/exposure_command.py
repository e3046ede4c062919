"""/exposure-define: declare a consumer of models (dashboard, notebook, ML model...) in YAML."""

from __future__ import annotations

from typing import Literal, cast

from agent.commands.naming import is_identifier
from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView, close_matches
from graph.plan_spec import PlanSpec
from tools.codegen import ExposureSpec, exposure_entry
from tools.errors import InvalidArguments, UnknownNode

DEFAULT_OWNER = "Analytics Engineering"
ExposureType = Literal["dashboard", "notebook", "analysis", "ml", "application"]
Maturity = Literal["low", "medium", "high"]


def _title(name: str, kind: str) -> str:
    """revenue_dashboard (dashboard) -> "The revenue dashboard"; churn (ml) -> "The churn ml"."""
    words = name.replace("_", " ")
    return f"The {words}" if words.endswith(kind) else f"The {words} {kind}"


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
    existing = next(
        (e for e in (view.manifest.get("exposures") or {}).values() if e.get("name") == name), None
    )
    path = str(existing["original_file_path"]) if existing else f"models/exposures/{name}.yml"
    view.write_entry(view.tools.changeset, path, "exposures", exposure_entry(spec))
    owner_note = (
        f"; owner defaulted to {DEFAULT_OWNER!r} (set --owner-name/--owner-email)"
        if owner_name == DEFAULT_OWNER and not cmd.text("owner-name")
        else ""
    )
    return PlanSpec(
        summary=f"{'update' if existing else 'define'} exposure {name} ({kind})",
        operations=[],
        verify_select=[],
        answer=f"{name}: {kind} depending on {', '.join(spec.depends_on)}, in {path}{owner_note}. "
        f"`/model-lineage --model {name} --upstream 2` shows what feeds it.",
    )
