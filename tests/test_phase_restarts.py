"""Transient faults that outlast the per-call retries: the phase starts over, or the run ends cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.runner import Session
from agent.settings import load_settings
from graph.plan_spec import PlanRequest, PlanSpec
from graph.progress import ProgressEvent
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import NEW_MODEL, fingerprint
from tools.context import ToolContext
from tools.errors import ConnectionFault, EngineTimeout, WarehouseLocked
from tools.faults import FaultInjector


@dataclass
class FailFirstDbtCalls(FaultInjector):
    """A warehouse lock held through the first ``count`` dbt attempts, then released."""

    count: int = 0

    def maybe_fail(self, family: str) -> None:
        if family == "dbt" and self.injected < self.count:
            self.injected += 1
            raise WarehouseLocked("Could not set lock on file (held by another process)")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


@pytest.fixture
def events() -> list[ProgressEvent]:
    return []


@pytest.fixture
def session(project: Path, events: list[ProgressEvent]) -> Iterator[Session]:
    # two attempts per call keeps the test quick; one restart per phase is the default
    settings = load_settings(project, retry_attempts=2, retry_initial_wait_s=0.01, retry_max_wait_s=0.02)
    with Session(settings, emit=events.append) as sess:
        yield sess


def test_a_fault_outlasting_the_retries_restarts_the_phase_and_the_run_succeeds(
    session: Session, project: Path, events: list[ProgressEvent]
) -> None:
    # Validate's first dbt call (parse) fails on both of its attempts; the repeated Validate succeeds
    session.policy.faults = FailFirstDbtCalls(rate=0.0, count=2)
    outcome = session.run("add stg_people_names", planner=ScriptedPlanner([writes(NEW_MODEL)]))
    assert outcome.status == "success", outcome.reason
    restarts = [e.message for e in events if "repeating validate from its start" in e.message]
    assert len(restarts) == 1 and "restart 1 of 1" in restarts[0]
    assert (project / "models" / "stg_people_names.sql").exists()
    report = outcome.report()
    assert report is not None
    parse_calls = [c for c in report.tool_calls if c.name == "dbt_parse"]
    assert [c.ok for c in parse_calls[:2]] == [False, True]
    assert parse_calls[0].channel == "retry" and parse_calls[0].retries == 1


def test_a_fault_that_persists_ends_failed_with_the_project_as_it_was(
    session: Session, project: Path, events: list[ProgressEvent]
) -> None:
    before = fingerprint(project)
    session.policy.faults = FailFirstDbtCalls(rate=0.0, count=1_000)
    outcome = session.run("add stg_people_names", planner=ScriptedPlanner([writes(NEW_MODEL)]))
    assert outcome.status == "failed"
    assert outcome.reason.startswith("validate stopped by an infrastructure fault: Could not set lock")
    assert fingerprint(project) == before
    assert any("rolled the changeset back" in e.message for e in events)
    report = outcome.report()
    assert report is not None and report.status == "failed" and report.reason == outcome.reason


def test_a_planner_hit_by_a_lasting_fault_plans_again(session: Session) -> None:
    calls: list[int] = []

    def flaky(request: PlanRequest, tools: ToolContext) -> PlanSpec:
        calls.append(request.attempt)
        if len(calls) == 1:
            raise ConnectionFault("connection reset while profiling")
        return writes(NEW_MODEL)(request, tools)

    outcome = session.run("add stg_people_names", planner=ScriptedPlanner([flaky]))
    assert outcome.status == "success", outcome.reason
    # the same visit, started over: not a repair (no feedback, attempt still 1)
    assert calls == [1, 1]


@dataclass
class TimeoutOnEveryDbtCall(FaultInjector):
    """A dbt call past its time limit, every time it is tried."""

    def maybe_fail(self, family: str) -> None:
        if family == "dbt":
            self.injected += 1
            raise EngineTimeout("dbt parse ran past the engine's 30s time limit")


def test_a_timeout_is_neither_retried_nor_a_reason_to_repeat_the_phase(
    session: Session, project: Path, events: list[ProgressEvent]
) -> None:
    # it was: 2 attempts x 2 visits of Validate, each one the full timeout; now once, then failed
    before = fingerprint(project)
    faults = TimeoutOnEveryDbtCall(rate=0.0)
    session.policy.faults = faults
    outcome = session.run("add stg_people_names", planner=ScriptedPlanner([writes(NEW_MODEL)]))
    assert outcome.status == "failed"
    assert "30s time limit" in outcome.reason
    assert faults.injected == 1
    assert not any("repeating" in e.message for e in events)
    assert fingerprint(project) == before
