"""`make bench`: how long `ae` takes to start and answer, as a person typing it sees it.

Each case is a fresh `ae` process (the console script of this venv), timed wall-clock end to end;
the median over ``--repeat`` runs is printed per case. The cases: `ae --help`, `ae run "/help"`,
`ae run "/dbt-model --help"` (static text: they should import only what they print), and a
read-only /command, `/model-lineage`, on a freshly generated example project (it starts dbt).
The last line is ``startup_help_median_s: <number>`` (the slowest of the three help medians).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.example_project import create_example_project

#: dbt's usage tracking would try the network; the engine keeps no dbt process between runs so each
#: lineage run pays the full start, as a first run in a new shell does
ENV = {
    **os.environ,
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "AE_ENGINE_KEEP_ALIVE_S": "0",
}

HELP_CASES: dict[str, list[str]] = {
    "ae --help": ["--help"],
    'ae run "/help"': ["run", "/help"],
    'ae run "/dbt-model --help"': ["run", "/dbt-model --help"],
}
LINEAGE_REQUEST = "/model-lineage --model raw.orders --upstream 1 --downstream 1"


def _ae() -> str:
    return shutil.which("ae", path=str(Path(sys.executable).parent)) or "ae"


def median_seconds(argv: list[str], repeat: int, cwd: Path | None = None) -> float:
    """The median wall-clock time of ``argv`` over ``repeat`` fresh processes; fails on a non-zero exit."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(argv, check=False, cwd=cwd, env=ENV, capture_output=True, text=True)
        samples.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench_startup", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (default: 5)")
    parser.add_argument(
        "--lineage-repeat", type=int, default=3, help="runs of the /model-lineage case (default: 3)"
    )
    args = parser.parse_args(argv)
    ae = _ae()
    helps = {}
    for name, case in HELP_CASES.items():
        helps[name] = median_seconds([ae, *case], args.repeat)
        print(f"{name:<32} median {helps[name]:.3f}s over {args.repeat} runs", flush=True)
    with tempfile.TemporaryDirectory(prefix="ae-bench-startup-") as tmp:
        project = create_example_project(Path(tmp) / "jaffle_shop")
        lineage = [ae, "run", LINEAGE_REQUEST, "--project", str(project)]
        median_seconds(lineage, 1)  # the first run parses the project; later ones reuse it
        took = median_seconds(lineage, args.lineage_repeat)
        print(f"{'ae run /model-lineage':<32} median {took:.3f}s over {args.lineage_repeat} runs")
    print(f"startup_help_median_s: {max(helps.values()):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
