"""The state a run carries from phase to phase (checkpointed after every step).

Only data lives here — JSON-able, so a killed run resumes from its checkpoint. The engine, planner
and other live objects of a run are in ``graph.context.RunContext``.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from graph.usage import add_usage

Status = Literal["running", "success", "failed", "refused", "invalid"]
PHASES = ("plan", "approve", "validate", "gate", "execute", "verify", "publish", "document")


class RunState(TypedDict, total=False):
    request: str
    run_id: str
    #: Plan visits so far (1 on the first plan)
    attempt: int
    #: graph.plan_spec.PlanSpec, dumped
    plan: dict[str, Any]
    #: graph.plan_spec.Feedback items from failed Validate/Verify visits, oldest first; a visit
    #: returns its own item, which is appended
    feedback: Annotated[list[dict[str, Any]], operator.add]
    #: tools.changeset.AppliedChangeset of the plan on disk now, dumped; None when nothing is applied
    applied: dict[str, Any] | None
    #: unified diff of everything this run changed (kept after rollback, for the report)
    diff: str
    #: unique ids of the nodes the changeset defines or touches
    changed_nodes: list[str]
    #: of those, the ones whose definition changed: what Execute builds (with what depends on them)
    build_nodes: list[str]
    #: models the change created: the ones Document describes
    created_nodes: list[str]
    #: names of tests the change added to models it does not rebuild: Verify runs just these for them
    new_tests: list[str]
    #: tools.jinja_inspect.CodeFinding items of the plan Approve showed (empty: it held no code)
    code_review: list[dict[str, Any]]
    #: CodeFinding items Validate found on dbt's resolved manifest (graph/trust_gate.py): code beside
    #: the models' own statements, and nodes landing on protected locations
    trust_review: list[dict[str, Any]]
    #: the question the gate asks before Validate runs again (graph/phases/approve.py); None: none
    gate: dict[str, Any] | None
    #: what a person approved of trust_review: ``{"attempt": n, "findings": [rendered, ...]}``, for
    #: the plan of Plan visit n only
    gate_approved: dict[str, Any]
    validation: dict[str, Any]
    execution: dict[str, Any]
    verification: dict[str, Any]
    #: the folder of the audit copy Execute built in and Verify tested (graph/audit_run.py); None when
    #: the run builds straight in the warehouse or its audit is gone (published or discarded)
    audit: str | None
    #: tools.audit.record.Publication's summary: what Publish put into the warehouse
    publication: dict[str, Any]
    documentation: dict[str, Any]
    #: set by a failed Validate/Execute/Verify visit that has repair attempts left: go back to Plan
    needs_repair: bool
    #: tokens and cost of every LLM call of the run: a visit returns what it spent, which is summed
    #: in (graph.usage.add_usage)
    llm_usage: Annotated[dict[str, float], add_usage]
    #: the policy's counters when the run began (``instance`` + CallStats.as_dict): the report
    #: shows this run's retries and breaker trips, not the whole session's
    resilience_start: dict[str, Any]
    status: Status
    #: why the run ended the way it did, for a person
    reason: str
    report_dir: str
