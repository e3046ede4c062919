"""The whole state machine, wired in one place: plan, approve, validate, execute, verify, document.

Approve sits before Validate: Validate's own dbt parse and compile already run the code it approves.
The gate sits after it: what dbt resolved the change to (graph/trust_gate.py) may need a person's yes;
Validate, having undone the change, runs again once it is given.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph.context import RunContext
from graph.phases.approve import approve, approve_resolved
from graph.phases.document import document
from graph.phases.execute import execute
from graph.phases.finish import finish
from graph.phases.guard import guarded
from graph.phases.plan import plan
from graph.phases.validate import validate
from graph.phases.verify import verify
from graph.routing import (
    after_approve,
    after_execute,
    after_gate,
    after_plan,
    after_validate,
    after_verify,
)
from graph.state import RunState


def build_graph(
    checkpointer: Any = None, *, interrupt_after: list[str] | None = None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = StateGraph(RunState, context_schema=RunContext)
    builder.add_node("plan", guarded("plan", plan))
    builder.add_node("approve", guarded("approve", approve))
    builder.add_node("validate", guarded("validate", validate))
    builder.add_node("gate", guarded("gate", approve_resolved))
    builder.add_node("execute", guarded("execute", execute))
    builder.add_node("verify", guarded("verify", verify))
    builder.add_node("document", guarded("document", document))
    builder.add_node("finish", finish)
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", after_plan)
    builder.add_conditional_edges("approve", after_approve)
    builder.add_conditional_edges("validate", after_validate)
    builder.add_conditional_edges("gate", after_gate)
    builder.add_conditional_edges("execute", after_execute)
    builder.add_conditional_edges("verify", after_verify)
    builder.add_edge("document", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer, interrupt_after=interrupt_after)
