"""Issue 11: dbt code that would run before anyone approves it (E1, E2, E3, E9, E10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from agent.commands.catalog import COMMANDS
from agent.commands.macro_library import macro_files
from agent.commands.parser import parse_command
from agent.exit_codes import ExitCode
from agent.runner import Session
from agent.settings import load_settings
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import GOOD_YML, fingerprint
from tools.errors import InvalidArguments
from tools.jinja_inspect import inspect_file, inspect_vars
from tools.warehouse_undo import list_relation_names

E1 = "{% raw %} #}{% endmacro %}{% macro generate_schema_name(custom_schema_name, node) %}prod{% endmacro %}"
HOSTILE_SQL = """\
{{ config(materialized='table', post_hook="drop table if exists raw.people") }}
{% do run_query("create schema if not exists prod; create or replace table prod.x as select 1 as a") %}
select id as person_id, name from {{ source('raw', 'people') }}
"""
JINJA_PAYLOADS = [
    E1,
    "Stores {% if true %}x{% endif %}",
    "{{ run_query('drop table raw.people') }}",
    "a #} b",
]


def test_the_inspection_names_every_piece_of_code_with_its_line() -> None:
    kinds = {(f.kind, f.line) for f in inspect_file("models/x.sql", HOSTILE_SQL)}
    assert ("hook", 1) in kinds and ("warehouse_call", 2) in kinds
    # E1: what /dbt-macro wrote before it refused Jinja in --description
    kinds_e1 = {f.kind for f in inspect_file("macros/m.sql", macro_files("m", [], E1)[0].sql)}
    assert kinds_e1 and kinds_e1 <= {"naming_override", "unparsable"}
    assert [f.kind for f in inspect_vars({"x": "{{ run_query('x') }}"}, "--vars")] == ["vars_jinja"]
    assert inspect_file("models/ok.sql", "select * from {{ ref('a') }}") == []


@pytest.mark.parametrize("payload", JINJA_PAYLOADS)
def test_no_command_takes_jinja_in_any_text_argument(payload: str) -> None:
    """E1, E9, E10: every free-text, list and mapping flag of every /command refuses Jinja."""
    for spec in COMMANDS.values():
        for option in spec.options:
            if option.kind not in {"text", "list", "mapping"}:
                continue
            value = f'{{"x": "{payload}"}}' if option.kind == "mapping" else payload
            line = f"/{spec.name} --{option.flag} {value!r}"
            with pytest.raises(InvalidArguments):
                parse_command(line)


def _session(project: Path, max_repairs: int = 0) -> Session:
    return Session(load_settings(project, max_repairs=max_repairs, retry_attempts=1))


def test_hostile_code_is_asked_about_before_validate_and_a_no_changes_nothing(tmp_path: Path) -> None:
    """E2/E3/E4: the question comes before any parse or compile; "no" leaves project and warehouse."""
    project = write_tiny_project(tmp_path / "tiny")
    before, relations = fingerprint(project), list_relation_names(project / "tiny.duckdb")
    planner = ScriptedPlanner([writes({"models/stg_x.sql": HOSTILE_SQL, "models/stg_x.yml": GOOD_YML})])
    with _session(project) as session:
        outcome = session.run("hostile", planner=planner)
        assert outcome.status == "awaiting_approval"
        assert outcome.question is not None and outcome.question["kind"] == "code"
        assert any("post_hook" in f["snippet"] for f in outcome.question["findings"])
        outcome = session.resume(outcome.run_id, planner=planner, approval=False)
    assert outcome.status == "refused"
    assert fingerprint(project) == before
    assert list_relation_names(project / "tiny.duckdb") == relations


def test_approved_code_still_cannot_write_while_validate_compiles_it(tmp_path: Path) -> None:
    """Second wall: with --allow-code, Validate's compile runs read-only; the run_query fails there."""
    project = write_tiny_project(tmp_path / "tiny")
    before, relations = fingerprint(project), list_relation_names(project / "tiny.duckdb")
    planner = ScriptedPlanner([writes({"models/stg_x.sql": HOSTILE_SQL, "models/stg_x.yml": GOOD_YML})])
    with _session(project) as session:
        outcome = session.run("hostile", planner=planner, allow_code=True)
    assert outcome.status == "failed", outcome.reason
    assert "read-only" in outcome.reason or "read only" in outcome.reason.lower()
    assert fingerprint(project) == before
    assert list_relation_names(project / "tiny.duckdb") == relations


def test_ae_run_refuses_a_config_file_change_without_allow_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "dbt_project.yml").write_text("name: pkg\nversion: '1.0.0'\nconfig-version: 2\n")
    request = ["run", "/dbt-package --name pkg --local ../pkg", "--project", str(project)]
    assert main(request) == ExitCode.REFUSED
    assert "re-run with --allow-code" in capsys.readouterr().err
    assert not (project / "packages.yml").exists()
    assert main([*request, "--allow-code"]) == ExitCode.OK
    assert "local: ../pkg" in (project / "packages.yml").read_text()
