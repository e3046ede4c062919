"""Memory reaches Claude: recalled memories in its first message, and memory_search / memory_store
as tools (through the real SDK and the fake Messages API on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.memory.cli import remember_decision
from agent.memory.project_memory import open_project_memory
from agent.settings import load_settings
from tests.fake_anthropic import FakeAnthropic, tool_use
from tests.test_claude_run import fast_retries, project, run_cli

__all__ = ["fast_retries", "project"]

STEPS = [
    tool_use("memory_search", {"query": "merge for facts", "kind": "decisions"}, id="m1"),
    tool_use("memory_store", {"text": "never touch models/legacy/", "key": "no-legacy"}, id="m2"),
    tool_use("submit_plan", {"summary": "nothing to change", "answer": "Merge is the rule here."}, id="m3"),
]


def test_claude_is_told_what_memory_recalls_and_can_search_and_store_it(
    monkeypatch: pytest.MonkeyPatch, project: Path, fast_retries: None
) -> None:
    with open_project_memory(load_settings(project)) as memory:
        remember_decision(memory, "always use merge for facts", "chat")
    with FakeAnthropic(STEPS) as fake:
        code, out, err = run_cli(monkeypatch, fake.base_url, project, "--json")
        bodies = [r.body for r in fake.requests]
    assert code == 0, out + err
    first = json.dumps(bodies[0]["messages"][0])
    assert "Remembered from earlier runs" in first and "always use merge for facts" in first
    assert {"memory_search", "memory_store"} <= {t["name"] for t in bodies[0]["tools"]}
    # the search's result went back to the model, and the stated decision was kept
    assert "always use merge for facts" in json.dumps(bodies[1]["messages"][-1])
    with open_project_memory(load_settings(project)) as memory:
        kept = memory.get("decisions", "no-legacy")
    assert kept is not None and kept.text == "never touch models/legacy/"
    assert kept.data["source"] == "claude"
