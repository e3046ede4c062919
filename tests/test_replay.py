"""Replaying the shipped transcripts: each reproduces its run; a code change shows as a divergence."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.replay import Recording, ReplayResult, replay
from agent.settings import load_settings
from tests.transcripts.record import HERE, TRANSCRIPTS
from tools.example_project import create_example_project


def replay_on_fresh_project(tmp_path: Path, name: str) -> ReplayResult:
    project = create_example_project(tmp_path / "shop")
    return replay(load_settings(project), HERE / name)


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_each_shipped_transcript_replays_to_the_same_run(tmp_path: Path, name: str) -> None:
    result = replay_on_fresh_project(tmp_path, name)
    assert result.reproduced, result.render()
    assert result.outcome.ok, result.outcome.reason
    assert result.calls_made == result.calls_recorded == len(TRANSCRIPTS[name][1])


def test_the_repair_transcript_really_holds_two_plan_visits() -> None:
    recording = Recording.load(HERE / "incremental_fact_repair.jsonl")
    assert [c.visit for c in recording.calls] == [1, 1, 2, 2]
    assert "order_date" in recording.calls[2].messages[0]["content"]  # the failure it repaired


def test_a_changed_tool_output_is_reported_where_it_diverges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a deliberate code change: tool results cut to 20 characters before they reach the model
    monkeypatch.setattr("agent.loop.MAX_RESULT_CHARS", 20)
    result = replay_on_fresh_project(tmp_path, "question_no_edits.jsonl")
    assert not result.reproduced
    first = result.divergences[0]
    assert (first.visit, first.step) == (1, 2)
    assert "the result of tool call toolu_31 differs" in first.what
    assert "result cut at 20 characters" in first.what


def test_a_changed_prompt_is_reported_as_different_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools.prompt_text import load

    monkeypatch.setattr(
        "agent.claude_planner.load", lambda name: load(name) + ("\nBe terse." if name == "system" else "")
    )
    result = replay_on_fresh_project(tmp_path, "question_no_edits.jsonl")
    assert [d.step for d in result.divergences] == [1, 2]
    assert "system prompt or the tool definitions differ" in result.divergences[0].what


def test_ae_replay_runs_on_a_copy_and_leaves_the_project_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from agent.replay_cli import configure_replay_parser
    from tests.test_graph import fingerprint

    project = create_example_project(tmp_path / "shop")
    before = fingerprint(project)
    parser = argparse.ArgumentParser(prog="ae")
    configure_replay_parser(parser.add_subparsers())
    args = parser.parse_args(["replay", str(HERE / "staging_model.jsonl"), "--project", str(project)])
    assert args.handler(args) == 0
    assert "replay reproduced the recorded run (3 model calls)" in capsys.readouterr().out
    assert fingerprint(project) == before  # the run built stg_orders in the copy only


# --- issue 23 item 9: replay is a sandbox -------------------------------------------------------------


def _warehouse_outside(tmp_path: Path) -> tuple[Path, Path]:
    """The example project with its warehouse moved out to an absolute path its profile names."""
    project = create_example_project(tmp_path / "shop")
    real = tmp_path / "data" / "jaffle_shop.duckdb"
    real.parent.mkdir()
    (project / "jaffle_shop.duckdb").rename(real)
    profiles = project / "profiles.yml"
    profiles.write_text(profiles.read_text().replace("path: jaffle_shop.duckdb", f"path: {real}"))
    return project, real


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_ae_replay_copies_a_warehouse_kept_outside_the_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the project was copied but its profile still named the real warehouse, and the
    replayed plan built there."""
    from agent.cli import main
    from tools.warehouse_port import duckdb_warehouse

    project, real = _warehouse_outside(tmp_path)
    before = _digest(real)
    assert main(["replay", str(HERE / "staging_model.jsonl"), "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert "replay reproduced the recorded run (3 model calls)" in out
    assert "replayed on a copy (removed afterwards)" in out and "warehouse /" in out
    assert str(real) not in out.split("warehouse ", 1)[1]  # it names the copy, not the real file
    assert _digest(real) == before
    assert "stg_orders" not in {r.name for r in duckdb_warehouse(real).list_relations()}


def test_ae_replay_refuses_a_protected_target_and_a_warehouse_it_cannot_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import main

    project, real = _warehouse_outside(tmp_path)
    before = _digest(real)
    transcript = str(HERE / "staging_model.jsonl")
    assert main(["replay", transcript, "--project", str(project), "--target", "prod"]) == 3
    err = capsys.readouterr().err
    assert "ae replay refuses target 'prod'" in err and "never runs on a protected location" in err
    profiles = project / "profiles.yml"
    profiles.write_text(
        profiles.read_text()
        + "    shared:\n      type: postgres\n      host: 127.0.0.1\n      user: x\n      password: y\n"
        "      port: 5432\n      dbname: d\n      schema: s\n      threads: 1\n"
    )
    assert main(["replay", transcript, "--project", str(project), "--target", "shared"]) == 5
    err = capsys.readouterr().err
    assert "cannot copy target 'shared'" in err and "a postgres warehouse" in err and "Traceback" not in err
    assert _digest(real) == before
