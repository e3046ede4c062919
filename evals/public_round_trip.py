"""`make bench-public`: the core suite exported to ADE-bench's and Spider2-DBT's formats and run back.

Oracle must resolve every exported task and noop none, in both; exits 1 otherwise. Task ids may be
given as arguments (default: every core task the formats can express).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from evals.ade_export import round_trip
from evals.spider2_run import spider2_round_trip
from evals.task import load_suite


def _line(name: str, scores: dict[str, list[bool]]) -> str:
    rates = {agent: sum(s) / len(s) if s else 0.0 for agent, s in scores.items()}
    return f"{name}: {len(scores['oracle'])} tasks  oracle {rates['oracle']:.2f}  noop {rates['noop']:.2f}"


def main(argv: list[str]) -> int:
    tasks = [t for t in load_suite() if not argv or t.id in argv]
    ok = True
    with tempfile.TemporaryDirectory(prefix="ae-public-") as tmp:
        ade = round_trip(Path(tmp) / "ade", [t.id for t in tasks])
        spider = spider2_round_trip(Path(tmp) / "spider2", tasks)
    for name, scores in (
        ("ade-bench", {a: [r.passed for r in rows] for a, rows in ade.items()}),
        ("spider2-dbt", {a: [bool(r.score) for r in rows] for a, rows in spider.items()}),
    ):
        print(_line(name, scores))
        ok = ok and bool(scores["oracle"]) and all(scores["oracle"]) and not any(scores["noop"])
    for agent, rows in ade.items():
        for row in rows:
            if row.passed != (agent == "oracle"):
                print(f"  ade-bench {agent} {row.task_id}: {row.reason}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
