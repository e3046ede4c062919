"""Commands that promise not to build leave the warehouse and the project as they were, and make no
more dbt calls than their answer needs. One built project (with an incremental model, the kind
Verify would rebuild to prove) and one session serve every command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import duckdb
import pytest

from agent.commands.planner import CommandPlanner
from agent.runner import Session
from agent.settings import load_settings
from graph.plan_spec import ExecCommand, Operation, PlanSpec
from graph.read_only import is_read_only
from tests.dbt_project_factory import write_tiny_project
from tests.project_snapshots import files_snapshot, warehouse_snapshot
from tools.changeset import Changeset, FileChange
from tools.engine import BUILDING, DbtCall, DbtEngine
from tools.engine import COMMANDS as DBT_COMMANDS
from tools.engine.commands import READING, only_reads
from tools.registry import all_tools

INCREMENTAL_SQL = """\
{{ config(materialized='incremental', unique_key='person_id') }}
select person_id, name, age from {{ ref('stg_people') }}
{% if is_incremental() %}where person_id > (select max(person_id) from {{ this }}){% endif %}
"""

#: each read-only command, and the dbt calls (phase -> command -> count) its answer needs
COMMANDS: dict[str, dict[str, dict[str, int]]] = {
    "/dbt-compile --select people_inc --show-compiled-sql": {"plan": {"compile": 1}},
    "/dbt-compile --select stg_people+": {"plan": {"compile": 1}},
    "/model-lineage --model stg_people --upstream 1 --downstream 1": {"plan": {"parse": 1}},
    # the column's lineage reads compiled SQL: one compile, which parses too
    "/model-lineage --model stg_people --column person_id": {"plan": {"compile": 1}},
    "/dbt-debug": {"execute": {"debug": 1}},
    "/dbt-docs --generate": {"execute": {"docs generate": 1}},
    # a named selection is checked against the parsed project (a misspelt name is named, not
    # silently empty), then the tests run
    "/dbt-test --select stg_people": {"plan": {"parse": 1}, "verify": {"test": 1}},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, Path]]:
    project = write_tiny_project(tmp_path_factory.mktemp("readonly") / "tiny")
    (project / "models" / "people_inc.sql").write_text(INCREMENTAL_SQL)
    with DbtEngine(project) as engine:
        assert engine.invoke(DbtCall(command="run")).success
    with Session(load_settings(project, max_repairs=0)) as session:
        yield session, project


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_read_only_command_changes_nothing_and_calls_dbt_only_as_needed(
    built: tuple[Session, Path], command: str
) -> None:
    session, project = built
    db = project / "tiny.duckdb"
    relations, files = warehouse_snapshot(db), files_snapshot(project)
    assert "main.people_inc" in relations

    outcome = session.run(command, planner=CommandPlanner())

    assert outcome.status == "success", outcome.reason
    assert warehouse_snapshot(db) == relations
    assert files_snapshot(project) == files
    assert outcome.report_dir is not None
    report: dict[str, Any] = json.loads((outcome.report_dir / "report.json").read_text())
    assert report["dbt_calls"]["by_phase"] == COMMANDS[command]
    assert not [r for r in report["execution"].get("results", []) if r["command"] in {"run", "build"}]
    assert report["verification"].get("incremental_checks", []) == []


@pytest.mark.parametrize("command", get_args(ExecCommand))
def test_a_plan_reads_only_when_each_of_its_commands_is_in_the_one_reading_set(command: str) -> None:
    plan = PlanSpec(summary="s", operations=[Operation(command=command)])  # type: ignore[arg-type]
    assert is_read_only(plan) == (command in READING)
    # a test that stores its failures writes tables; so does any plan with a file change
    stored = PlanSpec(summary="s", operations=[Operation(command=command, store_failures=True)])  # type: ignore[arg-type]
    assert not is_read_only(stored)
    assert not only_reads(command, store_failures=True)
    edits = Changeset(changes=[FileChange(op="create", path="models/a.sql", content="select 1")])
    assert not is_read_only(PlanSpec(summary="s", changeset=edits, operations=[Operation(command=command)]))  # type: ignore[arg-type]


def test_the_dbt_tools_are_read_only_exactly_as_their_commands() -> None:
    marks = {spec.name: spec.read_only for spec in all_tools() if spec.family == "dbt"}
    commands = {name: name.removeprefix("dbt_").replace("_", " ") for name in marks}
    assert set(commands.values()) <= set(DBT_COMMANDS)
    differ = {name for name, command in commands.items() if marks[name] != only_reads(command)}
    assert differ == set()
    assert READING.isdisjoint(BUILDING | {"deps", "run-operation", "retry"})


# --- issue 25 item 2: no freshness check a read-only answer does not need --------------------------

#: raw.people late by ten days, and raw.absent declared but not in the warehouse: a freshness check
#: of either fails ("error", "runtime error"), so a read-only command that checks them says FAIL
STALE_SOURCES = """\
    tables:
      - name: absent
        loaded_at_field: loaded_at
        freshness: {error_after: {count: 1, period: day}}
      - name: people
        loaded_at_field: loaded_at
        freshness: {warn_after: {count: 1, period: hour}, error_after: {count: 1, period: day}}
"""


def _with_stale_sources(project: Path) -> Path:
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("    tables:\n      - name: people\n", STALE_SOURCES))
    with duckdb.connect(str(project / "tiny.duckdb")) as con:
        con.execute("alter table raw.people add column loaded_at timestamp")
        con.execute("update raw.people set loaded_at = now()::timestamp - interval 10 day")
    return project


@pytest.fixture(scope="module")
def stale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, list[str]]]:
    """A built project whose sources declare freshness rules they fail, one session, its progress."""
    project = _with_stale_sources(write_tiny_project(tmp_path_factory.mktemp("stale") / "tiny"))
    (project / "models" / "people_inc.sql").write_text(INCREMENTAL_SQL)
    with DbtEngine(project) as engine:
        assert engine.invoke(DbtCall(command="run")).success
    lines: list[str] = []
    settings = load_settings(project, max_repairs=0)
    with Session(settings, emit=lambda event: lines.append(event.line())) as session:
        yield session, lines


def test_read_only_commands_check_no_freshness_on_a_project_with_stale_sources(
    stale: tuple[Session, list[str]],
) -> None:
    """Before: Verify checked every source with a rule after any command, so each of these made one
    more dbt call than its answer needs and printed a FAIL line under its success."""
    session, lines = stale
    for command, calls in COMMANDS.items():
        lines.clear()
        outcome = session.run(command, planner=CommandPlanner())
        assert outcome.status == "success", outcome.reason
        assert outcome.report_dir is not None
        report: dict[str, Any] = json.loads((outcome.report_dir / "report.json").read_text())
        assert report["dbt_calls"]["by_phase"] == calls, command
        assert [line for line in lines if " FAIL " in line] == [], command
        assert report["verification"]["figures"]["data_freshness_sla"] is None
