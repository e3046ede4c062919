"""`ae eval` as a program of its own: ae runs it without importing it (no agent <-> evals cycle:
tests/test_package_cycles.py), its errors exit with ae's codes, its thresholds are the graders' table."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from agent.exit_codes import ExitCode
from evals.cli import description
from evals.cli import main as eval_main
from evals.graders import THRESHOLDS


def test_ae_eval_runs_the_benchmark_program_and_returns_its_code(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["eval", "--tasks", "no_such_task_*", "--out", str(out)]) == ExitCode.USAGE
    err = capfd.readouterr().err
    assert "ae eval: error: --tasks 'no_such_task_*' matches no task" in err
    assert not out.exists()


def test_errors_exit_with_the_code_their_kind_has_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    assert eval_main(["--faults", "2"]) == ExitCode.USAGE  # how ae eval was called
    assert eval_main(["--suite", "no-such-suite"]) == ExitCode.ENVIRONMENT  # what is on disk
    assert "no suite 'no-such-suite'" in capsys.readouterr().err


def test_the_help_states_the_thresholds_of_the_graders_table() -> None:
    text = " ".join(description().split())
    for figure, value in THRESHOLDS.items():
        assert f"{figure.replace('_', ' ')} {value}" in text
