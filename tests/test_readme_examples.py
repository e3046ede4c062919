"""The README's examples, run as a new user would: `make demo`'s `ae demo` (checked end to end: every
figure, the docs, the time advance), then every `ae` command the README shows, in the README's order,
on that demo project.

Commands are read from the README itself (its ```sh blocks), so an example that stops working fails
here. Three adjustments, each because the example as written cannot run in a test:
- the benchmark lines run one task (``--tasks``) instead of the whole suite (minutes to hours);
- ``--compare old/results.json ...`` compares the oracle's results with a copy of themselves;
- a request that needs ANTHROPIC_API_KEY must fail with exit 2 and say so (there is no key here).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
AE = Path(sys.executable).with_name("ae")
ONE_TASK = "staging_orders"


def readme_commands() -> list[tuple[str, list[str]]]:
    """(section, argv) for each `ae` line of the README's sh blocks, comments stripped, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands: list[tuple[str, list[str]]] = []
    section = ""
    in_block = False
    for line in text.splitlines():
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if line.startswith("```"):
            in_block = line.strip() == "```sh"
            continue
        if not in_block:
            continue
        argv = shlex.split(line, comments=True)
        if argv and re.fullmatch(r"(/path/to/ae/)?\.venv/bin/ae", argv[0]):
            commands.append((section, ["ae", *argv[1:]]))
    return commands


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC")}
    return subprocess.run(
        [str(AE), *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def _adjusted(argv: list[str], work: Path) -> list[str]:
    if argv[1] != "eval" or "--compare" in argv:
        return argv
    return [*argv, "--tasks", ONE_TASK, "--out", str(work / "eval-out")]


def only_timing_missed(stderr: str) -> bool:
    """Whether ``ae eval`` missed only query_performance, a ratio of build times. Measured here
    beside the other test process on two cores it is noise around 1.0 (0.949 was seen for a task
    whose SQL is the reference's), and a timing target is judged by `ae eval` and `make bench`, not
    by a test: every other figure must still meet its threshold."""
    missed = [line for line in stderr.splitlines() if line.startswith("threshold missed:")]
    return bool(missed) and all(line.startswith("threshold missed: query_performance ") for line in missed)


def test_readme_examples_run_in_order_on_the_demo(tmp_path: Path) -> None:
    commands = readme_commands()
    assert len(commands) >= 8, commands  # the README shows at least the usage and own-project lines

    demo = _run(["ae", "demo", "--dir", "demo"], tmp_path)  # what `make demo` runs
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "demo summary" in demo.stdout
    # the main job end to end, offline, through every phase: a tested, documented project that
    # survives a time advance
    summary = json.loads((tmp_path / "demo" / "demo-summary.json").read_text())
    assert summary["status"] == "success"
    for figure in ("data_quality", "documentation_coverage", "schema_compliance"):
        assert summary[figure] == 1.0, (figure, summary)
    assert summary["tests_failed"] == 0 and summary["tests_passed"] > 30
    assert summary["incremental_matches_full_refresh"] is True
    assert summary["snapshot_history_rows"] > 0
    assert summary["lint_errors"] == 0
    assert summary["models_built"] >= 10
    assert (tmp_path / "demo" / "jaffle_shop" / "target" / "index.html").exists()
    # a second demo into the same folder needs --force
    assert _run(["ae", "demo", "--dir", "demo"], tmp_path).returncode == 2

    project = tmp_path / "demo" / "jaffle_shop"
    for section, argv in commands:
        # "Using ae on your own project" runs inside the project (its `cd` line)
        cwd = project if "own project" in section else tmp_path
        if "--compare" in argv:
            (tmp_path / "old").mkdir(exist_ok=True)
            shutil.copy(tmp_path / "eval-out" / "results.json", tmp_path / "old" / "results.json")
        done = _run(_adjusted(argv, tmp_path), cwd)
        shown = f"{shlex.join(argv)}\nstdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-2000:]}"
        if argv[1] == "run" and not argv[2].startswith("/"):
            # free text is planned by Claude, and this machine has no key
            assert done.returncode == 2, shown
            assert "ANTHROPIC_API_KEY" in done.stderr, shown
            continue
        if argv[1] == "eval" and done.returncode == 1 and only_timing_missed(done.stderr):
            continue
        assert done.returncode == 0, shown


def test_only_a_missed_timing_target_is_let_through() -> None:
    assert only_timing_missed("progress\nthreshold missed: query_performance 0.949 < 0.95\n")
    assert not only_timing_missed(
        "threshold missed: query_performance 0.949 < 0.95\nthreshold missed: data_quality 0.500 < 0.98\n"
    )
    assert not only_timing_missed("threshold missed: reliability 0.900 < 0.99\n")
    assert not only_timing_missed("")
