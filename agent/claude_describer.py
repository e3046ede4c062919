"""Descriptions written by Claude for the models a Claude run created, within the run's budget.

The offline describer (HeuristicDescriber) drafts the YAML first: it declares every built column and
keeps whatever a person wrote. Claude is then shown each model's compiled SQL, its column profile
and that draft, and answers once through the ``describe_models`` tool. Its text replaces only what
the draft generated, never a person's. If Claude leaves something out, the draft's text stays; if
the budget is spent or the API fails, the whole draft stays and the run says why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent.commands.describer import HeuristicDescriber
from agent.commands.project import ProjectView
from agent.llm.base import LLMClient, LLMRequest
from agent.loop import Budgets, UsageMeter, check_budgets, price_for
from graph.plan_spec import PlanningFailed
from tools.changeset import Changeset
from tools.context import ToolContext
from tools.errors import AeError
from tools.logs import redact
from tools.manifest import Manifest, Node

DESCRIBE_TOOL = "describe_models"
#: what one model's SQL and profile may take of the request
MAX_MODEL_CHARS = 6_000


class ModelText(BaseModel):
    name: str = Field(description="The model's name, as given.")
    description: str = Field(description="One or two sentences: what a row is and what the model is for.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Column name -> one sentence saying what the column holds."
    )


class Described(BaseModel):
    models: list[ModelText]


def _describe_tool() -> dict[str, Any]:
    schema = Described.model_json_schema()
    return {
        "name": DESCRIBE_TOOL,
        "description": "Give the descriptions of the models shown, for their schema YAML.",
        "input_schema": schema,
    }


SYSTEM = (
    "You write dbt model and column descriptions for analytics engineers. Each is one or two plain, "
    "grammatical sentences that say what a row or a value means to the business, using the SQL and "
    "the data profile. Do not repeat the name as the description, and do not guess beyond the data."
)


@dataclass
class ClaudeDescriber:
    client: LLMClient
    model: str
    budgets: Budgets
    endpoint: str = "anthropic"
    max_tokens: int = 4096
    offline: HeuristicDescriber = field(default_factory=HeuristicDescriber)

    def describe(self, manifest: Manifest, unique_ids: list[str], tools: ToolContext) -> Changeset:
        """The offline draft alone (the Describer protocol); Document calls ``describe_within``."""
        return self.offline.describe(manifest, unique_ids, tools)

    def describe_within(
        self,
        manifest: Manifest,
        unique_ids: list[str],
        tools: ToolContext,
        spent: Mapping[str, float],
    ) -> tuple[Changeset, dict[str, float], str]:
        """The draft with Claude's descriptions in place, this call's usage, and why Claude's text
        was not used (empty when it was)."""
        draft = self.offline.describe(manifest, unique_ids, tools)
        meter = UsageMeter(model=self.model, price=price_for(self.model, self.budgets), prior=dict(spent))
        view = ProjectView(tools, manifest=manifest)
        shown = [node for uid in sorted(unique_ids) if (node := manifest.nodes.get(uid)) is not None]
        try:
            check_budgets(self.budgets, meter, before_call=True)
            started = time.perf_counter()
            response = tools.policy.call(
                "llm", self.endpoint, lambda: self.client.complete(self._request(view, draft, shown))
            )
            meter.add(response, time.perf_counter() - started)
            check_budgets(self.budgets, meter, before_call=False)
            use = next((u for u in response.tool_uses if u.name == DESCRIBE_TOOL), None)
            if use is None:
                return draft, meter.with_budgets(self.budgets), "Claude answered without describing"
            described = Described.model_validate(use.input)
        except PlanningFailed as exc:
            return draft, {**meter.with_budgets(self.budgets), **exc.usage}, str(exc)
        except (AeError, ValidationError) as exc:
            return draft, meter.with_budgets(self.budgets), f"Claude's descriptions were not usable: {exc}"
        return self._apply(view, draft, shown, described), meter.with_budgets(self.budgets), ""

    def _request(self, view: ProjectView, draft: Changeset, nodes: list[Node]) -> LLMRequest:
        parts = []
        for node in nodes:
            sql = node.compiled_code or node.raw_code
            profile = view.profile(view.relation_of(node)).model_dump_json() if view.is_built(node) else "{}"
            entry = view.existing_entry(draft, _yaml_path(view, node), "models", node.name)
            text = (
                f"## {node.name}\n\nSQL:\n{sql}\n\nProfile:\n{profile}\n\n"
                f"Draft entry:\n{json.dumps(entry, default=str)}"
            )
            parts.append(text[:MAX_MODEL_CHARS])
        return LLMRequest(
            system=SYSTEM,
            messages=[{"role": "user", "content": redact("\n\n".join(parts))}],
            tools=[_describe_tool()],
            tool_choice={"type": "tool", "name": DESCRIBE_TOOL},
            max_tokens=self.max_tokens,
            model=self.model,
        )

    def _apply(
        self, view: ProjectView, draft: Changeset, nodes: list[Node], described: Described
    ) -> Changeset:
        texts = {m.name: m for m in described.models}
        for node in nodes:
            name = node.name
            text = texts.get(name)
            path = _yaml_path(view, node)
            entry = view.existing_entry(draft, path, "models", name)
            if text is None or entry is None:
                continue
            # what a person wrote was in the manifest before the draft; only the draft's text is replaced
            written = {c: column.description.strip() for c, column in node.columns.items()}
            if not node.description.strip() and text.description.strip():
                entry = {**entry, "description": text.description.strip()}
            columns = []
            for column in entry.get("columns") or []:
                name_of = str(column.get("name"))
                new = text.columns.get(name_of, "").strip()
                columns.append({**column, "description": new} if new and not written.get(name_of) else column)
            view.write_entry(draft, path, "models", {**entry, "columns": columns})
        return draft


def _yaml_path(view: ProjectView, node: Node) -> str:
    # where HeuristicDescriber wrote the model's entry (beside its SQL unless a patch file exists)
    return view.properties_path(node, node.original_file_path.removesuffix(".sql") + ".yml")
