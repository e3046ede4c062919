"""Where a run goes after each phase: on, back to Plan with feedback, or to the finish."""

from __future__ import annotations

from dataclasses import dataclass

from graph.state import RunState

FINISH = "finish"
PLAN = "plan"


@dataclass(frozen=True)
class Route:
    """After a phase: the finish once the run has ended, else a waiting question (``gate``), else back
    to Plan when the phase asked for a repair, else ``onward``."""

    onward: str
    #: whether the phase can send the run back to Plan with feedback
    repairs: bool = True
    #: the node that asks the question a phase left in ``state["gate"]`` (Validate's resolved gate)
    asks: str | None = None

    def __call__(self, state: RunState) -> str:
        if state.get("status", "running") != "running":
            return FINISH
        if self.asks is not None and state.get("gate"):
            return self.asks  # a question for a person first; the phase runs again once it is a yes
        if self.repairs and state.get("needs_repair"):
            return PLAN
        return self.onward

    @property
    def destinations(self) -> list[str]:
        """Every node this route may lead to, for the graph's wiring and its drawing."""
        asked = [self.asks] if self.asks else []
        return [FINISH, *asked, *([PLAN] if self.repairs else []), self.onward]


#: phase -> where it goes next
ROUTES: dict[str, Route] = {
    "plan": Route("approve", repairs=False),
    "approve": Route("validate"),
    "validate": Route("execute", asks="gate"),
    "gate": Route("validate", repairs=False),
    "execute": Route("verify"),
    "verify": Route("publish"),
    "publish": Route("document", repairs=False),
}
