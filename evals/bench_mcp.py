"""MCP round trips of ``ae_show`` and ``ae_lineage`` against the same questions through the dbt CLI.

One run, one tiny real project: an ``ae mcp`` server over stdio (the SDK's own client, its warm dbt
process started by one warm-up call each) and ``dbt show`` / ``dbt ls --select +M+`` as subprocesses,
taken in turns so both see the same machine load. Prints the median of each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.dbt_project_factory import write_tiny_project

MODEL = "stg_people"
ROOT = Path(__file__).resolve().parents[1]


def _dbt(project: Path, *args: str) -> None:
    dbt = str(Path(sys.executable).with_name("dbt"))
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    subprocess.run(
        [dbt, *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def _mcp_times(project: Path, repeat: int) -> dict[str, list[float]]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "agent.mcp", "--project", str(project)],
        env=dict(os.environ),
        cwd=str(ROOT),
    )
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "show": ("ae_show", {"select": MODEL, "limit": 5}),
        "lineage": ("ae_lineage", {"node": MODEL}),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    async with Client(params, read_timeout_seconds=120) as client:
        for tool, arguments in calls.values():  # warm-up: the server's dbt process starts here
            result = await client.call_tool(tool, arguments)
            if result.is_error:
                raise SystemExit(f"{tool} failed: {result.content}")
        for _ in range(repeat):
            for name, (tool, arguments) in calls.items():
                start = time.perf_counter()
                await client.call_tool(tool, arguments)
                times[name].append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        project = write_tiny_project(Path(tmp) / "tiny")
        _dbt(project, "run")
        mcp = anyio.run(_mcp_times, project, args.repeat)
        cli = {
            "show": [
                _timed(lambda: _dbt(project, "show", "--select", MODEL, "--limit", "5"))
                for _ in range(args.repeat)
            ],
            "lineage": [
                _timed(lambda: _dbt(project, "ls", "--select", f"+{MODEL}+")) for _ in range(args.repeat)
            ],
        }
    for name in ("show", "lineage"):
        m, c = statistics.median(mcp[name]), statistics.median(cli[name])
        print(f"{name:<8} MCP (warm server) {m:>6.3f}s   dbt CLI {c:>6.3f}s   CLI/MCP {c / m:>6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
