"""A dbt call that runs long says so every few seconds, and each invocation is counted for the run."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from graph.context import RunContext
from graph.dbt_calls import count_invocations
from graph.progress import ProgressEvent
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner
from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine
from tools.engine.process import Heartbeat, LineReader
from tools.paths import ProjectPaths


def test_a_reply_awaited_longer_than_the_interval_beats_until_it_comes() -> None:
    read_end, write_end = os.pipe()
    beats: list[float] = []
    answer = threading.Timer(0.45, lambda: os.write(write_end, b"done\n"))
    answer.start()
    try:
        line = LineReader(read_end).read_line(5.0, Heartbeat(0.1, beats.append))
    finally:
        answer.cancel()
        os.close(read_end)
        os.close(write_end)
    assert line == b"done"
    assert 3 <= len(beats) <= 5
    assert beats == sorted(beats) and beats[0] >= 0.1


def test_a_run_shows_a_dbt_call_still_running_and_counts_it_under_its_phase(tmp_path: Path) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    events: list[ProgressEvent] = []
    with DbtEngine(project) as engine:
        tools = ToolContext(paths=ProjectPaths.for_project(project), target="dev", engine=engine)
        ctx = RunContext(run_id="r", run_dir=tmp_path / "run", tools=tools, planner=ScriptedPlanner([]))
        ctx.bind_stream(events.append)  # in a run, each node binds LangGraph's stream writer
        engine.heartbeat_s = 0.05  # a dbt run here takes a few tenths of a second, not 5 s
        ctx.progress("execute", "building", kind="phase")
        started = time.perf_counter()
        assert ctx.dbt("execute", DbtCall(command="run", select=["stg_people"])).success
        took = time.perf_counter() - started
    waiting = [e.message for e in events if e.message.startswith("waiting for dbt run (")]
    assert waiting and all(e.phase == "execute" for e in events if e.message in waiting)
    assert len(waiting) <= took / 0.05 + 1
    assert count_invocations(tmp_path / "run").by_phase == {"execute": {"run": 1}}
