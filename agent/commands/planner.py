"""CommandPlanner: ``/command`` lines to PlanSpecs with no LLM, deciding from the project and its data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from agent.commands.dbt_commands import dbt_compile, dbt_debug, dbt_docs, dbt_run, dbt_test, model_lineage
from agent.commands.exposure_command import exposure_define
from agent.commands.macro_command import dbt_macro
from agent.commands.model_commands import dbt_model, incremental_model
from agent.commands.model_edit import model_edit
from agent.commands.package_command import dbt_package
from agent.commands.parser import ParsedCommand, parse_command
from agent.commands.project import ProjectView
from agent.commands.quality_command import data_quality_test
from agent.commands.seed_command import dbt_seed
from agent.commands.snapshot_command import dbt_snapshot
from agent.commands.source_command import dbt_source
from agent.memory.recalled import Recall
from graph.plan_spec import PlanRequest, PlanSpec
from tools.context import ToolContext
from tools.logs import get_logger

log = get_logger("ae.commands")

Handler = Callable[[ParsedCommand, ProjectView], PlanSpec]

HANDLERS: dict[str, Handler] = {
    "dbt-run": dbt_run,
    "dbt-test": dbt_test,
    "dbt-model": dbt_model,
    "incremental-model": incremental_model,
    "dbt-snapshot": dbt_snapshot,
    "dbt-seed": dbt_seed,
    "dbt-macro": dbt_macro,
    "dbt-source": dbt_source,
    "data-quality-test": data_quality_test,
    "dbt-compile": dbt_compile,
    "dbt-debug": dbt_debug,
    "model-lineage": model_lineage,
    "model-edit": model_edit,
    "dbt-docs": dbt_docs,
    "exposure-define": exposure_define,
    "dbt-package": dbt_package,
}


def _named_by_convention(command: ParsedCommand, recall: Recall) -> tuple[ParsedCommand, str | None]:
    """/dbt-model with a name lacking the prefix remembered for its type gets that prefix (and a note)."""
    prefix = recall.prefixes.get(command.text("type") or "")
    name = command.text("name")
    if command.name != "dbt-model" or not prefix or not name or name.startswith(prefix):
        return command, None
    renamed = command.model_copy(update={"options": {**command.options, "name": prefix + name}})
    return renamed, f"Named {prefix}{name}: this project names {command.text('type')} models {prefix}<name>."


@dataclass(frozen=True)
class CommandPlanner:
    """The deterministic planner. Same project, same data, same command, same memory: same plan."""

    #: what memory recalled for this request (agent/memory), followed where the project is silent
    recall: Recall | None = None
    name: str = "command"
    #: a repeat visit would produce the same plan, so a failed run stops at its first failure
    can_repair: bool = False

    def with_recall(self, recall: Recall) -> CommandPlanner:
        return replace(self, recall=recall)

    def plan(self, request: PlanRequest, tools: ToolContext) -> PlanSpec:
        command = parse_command(request.request)
        log.info("command_plan", command=command.name, flags=sorted(command.options))
        notes: list[str] = []
        if self.recall is not None:
            command, renamed = _named_by_convention(command, self.recall)
            notes = [*([renamed] if renamed else []), *self.recall.lessons()]
        spec = HANDLERS[command.name](command, ProjectView(tools, recall=self.recall))
        answer = "\n".join(part for part in (spec.answer, *notes) if part) or None
        # handlers record into tools.changeset; the spec carries that changeset
        return spec.model_copy(update={"changeset": tools.changeset, "answer": answer})
