"""The import direction agent -> graph -> tools is enforced by ruff (tools/ruff.toml, graph/ruff.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).parent / "ruff"


def _ruff(path: str, source: str) -> str:
    done = subprocess.run(
        [str(RUFF), "check", "--select", "TID251", "--stdin-filename", path, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return done.stdout


@pytest.mark.parametrize(
    ("path", "source", "banned"),
    [
        ("tools/probe.py", "from agent.settings import Settings\n", True),
        ("tools/probe.py", "import graph.nodes\n", True),
        ("tools/probe.py", "from evals.task import Task\n", True),
        ("graph/probe.py", "from agent.runner import Session\n", True),
        ("graph/probe.py", "from tools.engine import DbtCall\n", False),
        ("agent/probe.py", "from graph.build import build_graph\n", False),
    ],
)
def test_imports_against_the_direction_are_lint_errors(path: str, source: str, banned: bool) -> None:
    assert ("TID251" in _ruff(path, source)) is banned
