"""The claude agent in the benchmark: the real anthropic SDK against a fake Messages API on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.execute import Job, run_task
from evals.task import load_suite
from tests.fake_anthropic import FakeAnthropic, Step, tool_use

pytestmark = pytest.mark.slow


def test_the_claude_agent_is_graded_like_the_others_under_fault_injection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    task = next(t for t in load_suite("core") if t.id == "bugfix_broken_ref")
    assert task.reference is not None
    # Claude reads the broken model, edits it in place into the reference fix (write_file over an
    # existing model is refused), and submits the plan
    path = "models/marts/fct_orders.sql"
    broken, fixed = "{{ ref('stg_order') }}", "{{ ref('stg_orders') }}"
    written = {p: text for step in task.setup if step.files for p, text in step.files.items()}
    assert task.reference.files == {path: written[path].replace(broken, fixed)}
    steps: list[Step] = [
        tool_use("read_file", {"path": path}, id="read"),
        tool_use("edit_file", {"path": path, "old": broken, "new": fixed}, id="edit"),
    ]
    steps.append(tool_use("submit_plan", {"summary": "fct_orders refers to stg_orders again"}, id="done"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key-000")
    monkeypatch.setenv("AE_RETRY_INITIAL_WAIT_S", "0.01")
    monkeypatch.setenv("AE_RETRY_MAX_WAIT_S", "0.05")
    with FakeAnthropic(steps) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        job = Job(task=task, agent="claude", repeat=0, work_dir=tmp_path, fault_rate=0.3, seed=11)
        result = run_task(job)
    failing = [f"{c.name}: {c.detail}" for c in result.checks if not c.passed]
    assert result.passed and result.status == "success", (result.reason, result.error, failing)
    assert (result.data_quality, result.query_performance, result.reliability) == (1.0, 1.0, 1.0)
    # faults were injected and every one was retried (none outlasted its retries)
    assert result.faults_injected > 0 and result.retries == result.faults_injected
    # an injected fault stops a call before it leaves: the server saw each scripted answer asked once
    assert len(fake.requests) == len(steps)
    assert all(r.api_key_sent for r in fake.requests)
