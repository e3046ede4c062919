"""Memory across runs on real dbt: conventions learned and followed, failures recalled, forget undoes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.commands.planner import CommandPlanner
from agent.runner import Session
from agent.settings import Settings, load_settings
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import BROKEN_MODEL, NEW_MODEL

CORE_FACT = {
    "models/marts/core/fct_people.sql": "select person_id, age from {{ ref('stg_people') }}\n",
    "models/marts/core/fct_people.yml": (
        "version: 2\nmodels:\n  - name: fct_people\n    description: People.\n    columns:\n"
        "      - name: person_id\n        description: The person.\n        data_tests: [unique, not_null]\n"
        "      - name: age\n        description: Age in years.\n"
    ),
}
NEXT_FACT = "/dbt-model --name {} --type fact --from stg_people"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(write_tiny_project(tmp_path / "tiny"), max_repairs=2, retry_attempts=2)


def run_memory_scenarios(settings: Settings) -> None:
    """The issue's three behaviours, on whichever store ``settings`` names (SQLite or PostgreSQL)."""
    project = settings.project_dir
    with Session(settings) as session:
        assert session.run("/dbt-run --select stg_people", planner=CommandPlanner()).ok
        taught = session.run("add fct_people in marts/core", planner=ScriptedPlanner([writes(CORE_FACT)]))
        assert taught.ok, taught.reason
        # the project no longer shows a mart (the person removed it): only memory knows the habit
        shutil.rmtree(project / "models" / "marts")
        followed = session.run(NEXT_FACT.format("grown_ups"), planner=CommandPlanner())
        assert followed.ok, followed.reason
        assert (project / "models/marts/core/fct_grown_ups.sql").is_file()
        assert "Named fct_grown_ups" in (followed.state["plan"]["answer"] or "")

        repaired = session.run(
            "add stg_people_names", planner=ScriptedPlanner([writes(BROKEN_MODEL), writes(NEW_MODEL)])
        )
        assert repaired.ok and len(repaired.state["feedback"]) == 1
        recalled = session.run(
            "/dbt-model --name stg_people_names --type staging --source raw.people", planner=CommandPlanner()
        )
        answer = recalled.state["plan"]["answer"] or ""
        assert "Remembered failure: request 'add stg_people_names'" in answer and "validate failed" in answer

        assert session.memory is not None
        assert session.memory.forget("conventions") >= 2
        shutil.rmtree(project / "models" / "marts")
        forgotten = session.run(NEXT_FACT.format("big_people"), planner=CommandPlanner())
        assert forgotten.ok, forgotten.reason
        # back to what ae does with no memory: the name as given, at the models/ root beside tiny's others
        assert (project / "models/big_people.sql").is_file()
        assert not (project / "models/marts").exists()


@pytest.mark.slow
def test_memory_on_sqlite(settings: Settings) -> None:
    run_memory_scenarios(settings)
    assert (settings.state_dir / "memory.sqlite").is_file()
