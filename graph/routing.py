"""Where a run goes after each phase: on, back to Plan with feedback, or to the finish."""

from __future__ import annotations

from typing import Literal

from graph.state import RunState


def _ended(state: RunState) -> bool:
    return state.get("status", "running") != "running"


def after_plan(state: RunState) -> Literal["approve", "finish"]:
    return "finish" if _ended(state) else "approve"


def after_approve(state: RunState) -> Literal["validate", "plan", "finish"]:
    if _ended(state):
        return "finish"
    return "plan" if state.get("needs_repair") else "validate"


def after_validate(state: RunState) -> Literal["gate", "execute", "plan", "finish"]:
    if _ended(state):
        return "finish"
    if state.get("gate"):  # a question for a person first; Validate runs again once it is answered yes
        return "gate"
    return "plan" if state.get("needs_repair") else "execute"


def after_gate(state: RunState) -> Literal["validate", "finish"]:
    return "finish" if _ended(state) else "validate"


def after_execute(state: RunState) -> Literal["verify", "plan", "finish"]:
    if _ended(state):
        return "finish"
    return "plan" if state.get("needs_repair") else "verify"


def after_verify(state: RunState) -> Literal["document", "plan", "finish"]:
    if _ended(state):
        return "finish"
    return "plan" if state.get("needs_repair") else "document"
