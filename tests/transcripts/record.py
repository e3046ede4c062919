"""The three shipped transcripts, scripted in the shape of real Claude runs, and how to re-record them.

A transcript pins everything the model saw, so a change to a prompt, a tool's text or a tool's
output makes its replay report a divergence (that is the point). When the change is intended,
re-record them and review the diff of the .jsonl files:

    .venv/bin/python -m tests.transcripts.record
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent.claude_planner import ClaudePlanner
from agent.commands.describer import HeuristicDescriber
from agent.llm.scripted import ScriptedClient, ScriptStep
from agent.llm.transcript import TRANSCRIPT_FILE
from agent.runner import RunOutcome, Session
from agent.settings import load_settings
from tests.test_claude_run import STG_ORDERS_SQL, STG_ORDERS_YML
from tools.example_project import create_example_project

HERE = Path(__file__).parent

FCT_ORDERS_SQL = """\
{{ config(materialized='incremental', unique_key='order_id') }}

select
    order_id,
    customer_id,
    order_date,
    order_total
from {{ ref('stg_orders') }}
{% if is_incremental() %}
where ordered_at > (select max(ordered_at) from {{ this }})
{% endif %}
"""
FCT_ORDERS_YML = """\
version: 2
models:
  - name: fct_orders
    description: Orders as facts, one row per order, loaded incrementally by order time.
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


def _call(name: str, input: dict[str, Any], id: str) -> dict[str, Any]:
    return {"name": name, "input": input, "id": id}


def _usage(fresh: int, cached: int, out: int) -> dict[str, int]:
    return {"input_tokens": fresh, "cache_read_tokens": cached, "output_tokens": out}


STAGING: list[ScriptStep] = [
    {
        "text": "I'll look at the project and the raw orders table first.",
        "tool_use": [
            _call("list_files", {"pattern": "models/**/*"}, "toolu_01"),
            _call("describe_warehouse_relation", {"relation": "raw.orders"}, "toolu_02"),
        ],
        "usage": _usage(6200, 0, 140),
    },
    {
        "text": "Writing the staging model with its tests.",
        "tool_use": [
            _call(
                "write_file", {"path": "models/staging/stg_orders.sql", "content": STG_ORDERS_SQL}, "toolu_03"
            ),
            _call(
                "write_file", {"path": "models/staging/stg_orders.yml", "content": STG_ORDERS_YML}, "toolu_04"
            ),
        ],
        "usage": _usage(900, 6200, 420),
    },
    {
        "tool_use": _call("submit_plan", {"summary": "stg_orders: orders renamed, key tested"}, "toolu_05"),
        "usage": _usage(300, 7100, 40),
    },
]

INCREMENTAL: list[ScriptStep] = [
    {
        "text": "An incremental fact needs a staging model underneath; writing both.",
        "tool_use": [
            _call(
                "write_file", {"path": "models/staging/stg_orders.sql", "content": STG_ORDERS_SQL}, "toolu_11"
            ),
            _call(
                "write_file", {"path": "models/staging/stg_orders.yml", "content": STG_ORDERS_YML}, "toolu_12"
            ),
            _call(
                "write_file", {"path": "models/marts/fct_orders.sql", "content": FCT_ORDERS_SQL}, "toolu_13"
            ),
            _call(
                "write_file", {"path": "models/marts/fct_orders.yml", "content": FCT_ORDERS_YML}, "toolu_14"
            ),
        ],
        "usage": _usage(6400, 0, 900),
    },
    {
        "tool_use": _call("submit_plan", {"summary": "incremental fct_orders on stg_orders"}, "toolu_15"),
        "usage": _usage(400, 7300, 40),
    },
    # visit 2: the build failed on the column name; the model fixes it
    {
        "text": "stg_orders has ordered_at, not order_date.",
        "tool_use": _call(
            "edit_file",
            {"path": "models/marts/fct_orders.sql", "old": "    order_date,\n", "new": "    ordered_at,\n"},
            "toolu_21",
        ),
        "usage": _usage(1800, 6000, 120),
    },
    {
        "tool_use": _call("submit_plan", {"summary": "incremental fct_orders, column fixed"}, "toolu_22"),
        "usage": _usage(200, 7800, 40),
    },
]

QUESTION: list[ScriptStep] = [
    {
        "tool_use": _call("run_query", {"sql": "select count(*) as orders from raw.orders"}, "toolu_31"),
        "usage": _usage(6100, 0, 60),
    },
    {
        "tool_use": _call(
            "submit_plan",
            {
                "summary": "answered: orders in raw.orders",
                "answer": "raw.orders holds the count shown above.",
            },
            "toolu_32",
        ),
        "usage": _usage(250, 6100, 70),
    },
]

#: file name -> (request, script)
TRANSCRIPTS: dict[str, tuple[str, list[ScriptStep]]] = {
    "staging_model.jsonl": ("add a staging model for orders with tests", STAGING),
    "incremental_fact_repair.jsonl": ("add an incremental orders fact on a staging model", INCREMENTAL),
    "question_no_edits.jsonl": ("how many orders are in the raw data?", QUESTION),
}


def run_scripted(project: Path, request: str, script: list[ScriptStep]) -> tuple[RunOutcome, Path]:
    """One run of ``request`` on ``project`` with the scripted model; its outcome and transcript."""
    settings = load_settings(project)
    planner = ClaudePlanner.from_settings(settings, ScriptedClient(script))
    with Session(settings) as session:
        outcome = session.run(request, planner=planner, describer=HeuristicDescriber())
    return outcome, settings.state_dir / "runs" / outcome.run_id / TRANSCRIPT_FILE


def record_all() -> None:
    for name, (request, script) in TRANSCRIPTS.items():
        with tempfile.TemporaryDirectory() as scratch:
            project = create_example_project(Path(scratch) / "shop")
            outcome, transcript = run_scripted(project, request, script)
            shutil.copyfile(transcript, HERE / name)
        print(f"{name}: {outcome.status}", file=sys.stderr)


if __name__ == "__main__":
    record_all()
