"""``ae`` whose planner spends seconds in an in-process DuckDB query, for the Ctrl-C tests
(tests/test_oneway_ctrl_c.py): ``python -m tests.ctrl_c_entry run "anything" --project P``.

DuckDB turns a SIGINT that reaches it into ``RuntimeError: Query interrupted`` (issue 25 item 9)."""

from __future__ import annotations

import sys
from typing import Any

import duckdb

from agent import cli
from graph.plan_spec import PlanRequest, PlanSpec
from tools.context import ToolContext

#: a few seconds of DuckDB work on this machine
QUERY = "select count(*) from range(25000) a(i), range(25000) b(j) where (i * j) % 7 = 3"


class QueryingPlanner:
    name = "querying"
    can_repair = False

    def plan(self, request: PlanRequest, tools: ToolContext) -> PlanSpec:
        if request.progress is not None:
            request.progress("querying DuckDB", None, None)
        with duckdb.connect() as con:
            con.execute("set enable_progress_bar = false")
            con.execute(QUERY).fetchall()
        return PlanSpec(summary="nothing to do", operations=[], verify_select=[], document=False)


def _querying(*_args: Any, **_kwargs: Any) -> tuple[QueryingPlanner, None]:
    return QueryingPlanner(), None


if __name__ == "__main__":
    import agent.planners

    agent.planners.choose_planner = _querying  # type: ignore[assignment]
    sys.exit(cli.main(sys.argv[1:]))
