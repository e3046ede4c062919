"""Static text is fast because it loads nothing heavy: `ae --help`, `ae run "/help"` and
`ae run "/<cmd> --help"` must print without importing dbt, LangGraph, the Anthropic SDK or
SQLAlchemy (their times are in `make bench`, evals/bench_startup.py; here only what is imported)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("langgraph", "dbt", "anthropic", "sqlalchemy", "pydantic_settings", "evals", "dbos")

#: runs ae's main in a fresh interpreter, then lists every module it imported on stderr
PROBE = """\
import sys
from agent.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:  # argparse's --help
    code = stop.code
print("\\n".join(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["run", "/help"], ["run", "/dbt-model --help"], ["run", "/help dbt-test", "--json"]],
    ids=["ae --help", "run /help", "run /dbt-model --help", "run /help dbt-test --json"],
)
def test_static_text_imports_only_what_it_prints(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "nothing was printed"
    loaded = {name.split(".")[0] for name in done.stderr.splitlines()}
    assert loaded, done.stderr
    assert "agent" in loaded  # the probe saw ae's own modules, so the list is real
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
