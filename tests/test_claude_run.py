"""`ae run` with free text, through the real anthropic SDK talking to a fake Messages API on 127.0.0.1."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from tests.fake_anthropic import FakeAnthropic, Step, overloaded, rate_limited, token_usage, tool_use
from tests.test_graph import fingerprint
from tools.example_project import create_example_project

STG_ORDERS_SQL = """\
select
    id as order_id,
    customer_id,
    store_id,
    ordered_at,
    order_total
from {{ source('raw', 'orders') }}
"""
STG_ORDERS_YML = """\
version: 2
models:
  - name: stg_orders
    description: One row per order, renamed from the raw orders table.
    columns:
      - name: order_id
        description: Primary key of the order.
        data_tests: [unique, not_null]
      - name: customer_id
        description: The customer who placed the order.
        data_tests: [not_null]
      - name: store_id
        description: The store the order was placed in.
      - name: ordered_at
        description: When the order was placed.
      - name: order_total
        description: Order total in cents, tax included.
"""
FCT_SQL = """\
select
    order_id,
    customer_id,
    ordered_at,
    order_total
from {{ ref('stg_orders') }}
"""
FCT_YML = """\
version: 2
models:
  - name: fct_orders
    description: Orders as facts, one row per order.
    columns:
      - name: order_id
        description: Primary key of the order.
        data_tests: [unique, not_null]
      - name: customer_id
        description: The customer who placed the order.
      - name: ordered_at
        description: When the order was placed.
      - name: order_total
        description: Order total in cents, tax included.
"""

PLAN_STEPS: list[Step] = [
    tool_use("list_files", {"pattern": "models/**/*"}, id="t1"),
    tool_use("describe_warehouse_relation", {"relation": "raw.orders"}, id="t2"),
    tool_use("write_file", {"path": "models/staging/stg_orders.sql", "content": STG_ORDERS_SQL}, id="t3"),
    tool_use("write_file", {"path": "models/staging/stg_orders.yml", "content": STG_ORDERS_YML}, id="t4"),
    tool_use("write_file", {"path": "models/marts/fct_orders.sql", "content": FCT_SQL}, id="t5"),
    tool_use("write_file", {"path": "models/marts/fct_orders.yml", "content": FCT_YML}, id="t6"),
    tool_use(
        "submit_plan",
        {"summary": "stg_orders and fct_orders with tests"},
        id="t7",
        usage=token_usage(100, 20, cache_read=80),
    ),
]
REQUEST = "add a staging model for orders and an orders fact with tests"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return create_example_project(tmp_path / "shop")


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AE_RETRY_INITIAL_WAIT_S", "0.01")
    monkeypatch.setenv("AE_RETRY_MAX_WAIT_S", "0.05")
    monkeypatch.setenv("AE_RETRY_ATTEMPTS", "4")


def run_cli(
    monkeypatch: pytest.MonkeyPatch, base_url: str, project: Path, *extra: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key-000")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", base_url)
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    code = main(["run", REQUEST, "--project", str(project), *extra])
    return code, out.getvalue(), err.getvalue()


def with_faults(
    steps: list[Step], fault: Callable[[int], Step | None]
) -> Callable[[dict[str, Any], int], Step]:
    served = 0

    def script(_body: dict[str, Any], index: int) -> Step:
        nonlocal served
        injected = fault(index)
        if injected is not None:
            return injected
        step = steps[served]
        served += 1
        return step

    return script


def test_free_form_request_goes_through_all_five_phases(
    monkeypatch: pytest.MonkeyPatch, project: Path, fast_retries: None
) -> None:
    with FakeAnthropic(PLAN_STEPS) as fake:
        code, out, err = run_cli(monkeypatch, fake.base_url, project, "--json")
        bodies = [r.body for r in fake.requests]
    assert code == 0, out + err
    report = json.loads(out)
    assert report["status"] == "success"
    assert report["planner"] == "claude"
    names = [c["name"] for c in report["tool_calls"]]
    for expected in (
        "list_files",
        "describe_warehouse_relation",
        "write_file",
        "dbt_parse",
        "dbt_build",
        "dbt_test",
    ):
        assert expected in names
    assert report["llm_usage"]["llm_calls"] == 7
    assert report["llm_usage"]["cache_read_tokens"] == 80
    assert report["verification"]["figures"]["tests_failed"] == 0
    assert (project / "models" / "marts" / "fct_orders.sql").read_text() == FCT_SQL
    # with --json, progress on stderr is JSON events too: one per line, every phase present
    events = [json.loads(line) for line in err.splitlines() if line.startswith('{"event": "progress"')]
    phases = {e["phase"] for e in events}
    assert {"plan", "validate", "execute", "verify", "document"} <= phases, phases
    # Plan is visible: a line per model call and per tool call, with the key argument and timing
    plan_lines = [e for e in events if e["phase"] == "plan" and e["kind"] == "tool"]
    assert sum(e["message"].startswith("model step") for e in plan_lines) == 7
    written = [e for e in plan_lines if e["message"] == "write_file models/marts/fct_orders.sql"]
    assert written and written[0]["ok"] is True and written[0]["duration_s"] is not None
    # the conversation is saved beside the report, linked from it, the key nowhere in it
    assert report["transcript"] == "transcript.jsonl"
    (transcript,) = project.rglob("transcript.jsonl")
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [r["kind"] for r in records] == ["visit"] + ["request", "response"] * 7
    assert "sk-ant-test" not in transcript.read_text()
    # every request of the run shares a byte-identical prefix up to the cache breakpoint
    prefixes = {json.dumps([b["tools"], b["system"]], sort_keys=False) for b in bodies}
    assert len(prefixes) == 1
    assert bodies[0]["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert bodies[0]["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "sk-ant-test" not in out + err


def test_rate_limits_and_overload_on_a_third_of_calls_still_succeed(
    monkeypatch: pytest.MonkeyPatch, project: Path, fast_retries: None
) -> None:
    def fault(index: int) -> Step | None:
        if index % 3 == 1:
            return rate_limited(retry_after=0) if index % 2 else overloaded()
        return None

    with FakeAnthropic(with_faults(PLAN_STEPS, fault)) as fake:
        code, out, err = run_cli(monkeypatch, fake.base_url, project, "--json")
        statuses = len(fake.requests)
    assert code == 0, out + err
    report = json.loads(out)
    assert report["status"] == "success"
    assert statuses > len(PLAN_STEPS)  # the faults really happened and were retried
    # one retry layer: every request the server saw is a counted call or a counted retry
    assert report["llm_usage"]["llm_calls"] + report["resilience"]["retries"] == statuses


def test_server_down_ends_cleanly_with_the_project_unchanged(
    monkeypatch: pytest.MonkeyPatch, project: Path, fast_retries: None
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = fingerprint(project)
    code, out, err = run_cli(monkeypatch, f"http://127.0.0.1:{port}", project)
    assert code == 1
    assert "Traceback" not in out + err
    status_line = next(line for line in out.splitlines() if line.startswith("status:"))
    assert "failed" in status_line and "model API" in status_line
    assert fingerprint(project) == before


def test_document_asks_claude_for_the_descriptions_it_left_out(
    monkeypatch: pytest.MonkeyPatch, project: Path, fast_retries: None
) -> None:
    bare_yml = (
        "version: 2\nmodels:\n  - name: stg_orders\n    columns:\n"
        "      - name: order_id\n        data_tests: [unique, not_null]\n"
    )
    described = {
        "models": [
            {
                "name": "stg_orders",
                "description": "One row per order placed in a store, renamed from the raw orders.",
                "columns": {
                    "order_id": "The order's id, unique per order.",
                    "store_id": "The store it was placed in.",
                },
            }
        ]
    }
    steps = [
        tool_use("write_file", {"path": "models/staging/stg_orders.sql", "content": STG_ORDERS_SQL}, id="t1"),
        tool_use("write_file", {"path": "models/staging/stg_orders.yml", "content": bare_yml}, id="t2"),
        tool_use("submit_plan", {"summary": "stg_orders"}, id="t3"),
        tool_use("describe_models", described, id="t4", usage=token_usage(900, 200)),
    ]
    # a project that lets undescribed models through Validate (descriptions are warnings there)
    monkeypatch.setenv("AE_LINT", json.dumps({"severity": {"AE006": "warning", "AE007": "warning"}}))
    with FakeAnthropic(steps) as fake:
        code, out, err = run_cli(monkeypatch, fake.base_url, project, "--json")
        describe_request = fake.requests[-1].body
    assert code == 0, out + err
    report = json.loads(out)
    assert report["llm_usage"]["llm_calls"] == 4  # the describe call is counted in the run's usage
    assert describe_request["tool_choice"] == {"type": "tool", "name": "describe_models"}
    assert "order_total" in describe_request["messages"][0]["content"][0]["text"]  # the SQL and profile
    yml = (project / "models" / "staging" / "stg_orders.yml").read_text()
    assert "One row per order placed in a store" in yml
    assert "The store it was placed in." in yml
    # a column Claude said nothing about keeps the offline describer's text
    assert "customer_id" in yml
