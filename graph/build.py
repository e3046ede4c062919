"""The whole state machine, wired in one place: plan, approve, validate, execute, verify, publish,
document.

Approve sits before Validate: Validate's own dbt parse and compile already run the code it approves.
The gate sits after it: what dbt resolved the change to (graph/trust_gate.py) may need a person's yes;
Validate, having undone the change, runs again once it is given.

Every node's progress and questions go up LangGraph's stream (``streamed``), which the runner reads.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph.context import Node, RunContext, streamed
from graph.phases.approve import approve, approve_resolved
from graph.phases.document import document
from graph.phases.execute import execute
from graph.phases.finish import guarded_finish
from graph.phases.guard import guarded
from graph.phases.plan import plan
from graph.phases.publish import publish
from graph.phases.validate import validate
from graph.phases.verify import verify
from graph.routing import ROUTES
from graph.state import RunState

PHASE_NODES: dict[str, Node] = {
    "plan": plan,
    "approve": approve,
    "validate": validate,
    "gate": approve_resolved,
    "execute": execute,
    "verify": verify,
    "publish": publish,
    "document": document,
}


def build_graph(
    checkpointer: Any = None, *, interrupt_after: list[str] | None = None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = StateGraph(RunState, context_schema=RunContext)
    for name, phase in PHASE_NODES.items():
        builder.add_node(name, streamed(guarded(name, phase)))
    builder.add_node("finish", streamed(guarded_finish))
    builder.add_edge(START, "plan")
    for name, route in ROUTES.items():
        builder.add_conditional_edges(name, route, route.destinations)
    builder.add_edge("document", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer, interrupt_after=interrupt_after)
