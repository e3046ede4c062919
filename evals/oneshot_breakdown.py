"""Where the time of a one-shot ``ae run`` goes, part by part (``make bench``'s breakdown).

Each run is a new ``ae`` process with ``AE_TIMINGS`` naming a file, where tools/timings.py writes the
parts it timed. The first part (``BEFORE_ANY_SPAN``) is the process's wall time less what the run
timed itself: a Python start and the hand-off to the run server's copy (agent/launcher.py), or,
when no run server serves it, ae's first imports; "unaccounted" is what its own clock saw outside
every top-level part. Parts nested in "run" (memory recall, each phase, memory learn) are shown
indented under it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

#: a served run's clock starts in the run server's copy; an unserved one's at ae's first imports
BEFORE_ANY_SPAN = "python start, hand-off or imports"
#: idle after the unmeasured run, as between two commands a person types: the run server it started
#: imports the run stack then (agent/run_server.py), as the one the medians were taken on did
PRELOAD_S = 2.0
#: parts timed inside another part: shown under it, not added to the total
NESTED_IN_RUN = ("memory recall", "memory learn", "phase ")


def _nested(name: str) -> bool:
    return name.startswith(NESTED_IN_RUN)


def _python_start(repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def breakdown(argv: list[str], project: Path, env: dict[str, str], repeat: int) -> dict[str, float]:
    """Median seconds per part over ``repeat`` runs of ``argv`` in ``project``, after one unmeasured
    run (``AE_TIMINGS`` is another environment, so another run server, which that run starts)."""
    parts: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="ae-timings-") as tmp:
        record = Path(tmp) / "timings.json"
        timed = {**env, "AE_TIMINGS": str(record)}
        subprocess.run(argv, cwd=project, env=timed, check=True, capture_output=True)
        time.sleep(PRELOAD_S)
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(argv, cwd=project, env=timed, check=True, capture_output=True)
            wall = time.perf_counter() - started
            data = json.loads(record.read_text())
            seen: dict[str, float] = defaultdict(float)
            for name, seconds in data["parts"]:
                seen[name] += seconds
            top = sum(s for n, s in seen.items() if not _nested(n))
            parts[BEFORE_ANY_SPAN].append(wall - data["since_first_import_s"])
            for name, seconds in seen.items():
                parts[name].append(seconds)
            parts["unaccounted"].append(data["since_first_import_s"] - top)
            parts["total (wall)"].append(wall)
    return {name: statistics.median(values) for name, values in parts.items()}


def print_breakdown(argv: list[str], project: Path, env: dict[str, str], repeat: int) -> None:
    medians = breakdown(argv, project, env, repeat)
    print(f"\nwhere a one-shot `ae run` spends its time (median of {repeat} runs):")
    print(f"  {'python -c pass (for scale)':<42} {_python_start(repeat):>7.3f}s")
    for name, seconds in medians.items():
        indent = "    " if _nested(name) else "  "
        print(f"{indent}{name:<{44 - len(indent)}} {seconds:>7.3f}s")
