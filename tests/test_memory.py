"""Memory across runs on real dbt: conventions learned and followed, failures recalled, forget undoes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.commands.planner import CommandPlanner
from agent.memory.learn import learn_from_run, unlearn_run
from agent.runner import Session
from agent.settings import Settings, load_settings
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import BROKEN_MODEL, NEW_MODEL
from tools.manifest import Manifest
from tools.memory.store import ProjectMemory, open_memory

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
        # the model exists now, so a change to it (never a regeneration) recalls the failure
        recalled = session.run(
            "/model-edit --name stg_people_names --materialized table", planner=CommandPlanner()
        )
        assert recalled.ok, recalled.reason
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


def _taught(memory: ProjectMemory, run_id: str, *paths: str) -> None:
    """What learn.py remembers of a successful run that created the models at ``paths``."""
    nodes = {}
    for path in paths:
        name = Path(path).stem
        nodes[f"model.shop.{name}"] = {
            "name": name,
            "unique_id": f"model.shop.{name}",
            "resource_type": "model",
            "original_file_path": path,
            "fqn": ["shop", *Path(path).parent.parts[1:], name],
            "config": {"materialized": "table"},
        }
    state = {"status": "success", "created_nodes": list(nodes), "request": f"request {run_id}"}
    learn_from_run(memory, state, Manifest({"nodes": nodes}), run_id)


def test_an_undone_run_is_forgotten_and_its_conventions_taught_again_by_what_remains(
    tmp_path: Path,
) -> None:
    with open_memory(None, tmp_path, "shop") as memory:
        _taught(memory, "R1", "models/marts/core/fct_sales.sql")
        _taught(memory, "R2", "models/marts/finance/fct_revenue.sql", "models/marts/finance/dim_accounts.sql")
        memory.remember("failures", "R2", "request 'x' -> validate failed", {"request": "x"})
        newest = memory.get("conventions", "folder:marts")
        assert newest is not None and newest.data["folder"] == "models/marts/finance"

        assert unlearn_run(memory, "R2") == 4  # two models, its failure, the dimension prefix
        assert [m.key for m in memory.items("models")] == ["fct_sales"]
        assert memory.get("failures", "R2") is None
        folder = memory.get("conventions", "folder:marts")
        assert folder is not None and folder.data == {
            "layer": "marts",
            "folder": "models/marts/core",
            "run_id": "R1",
        }
        assert memory.get("conventions", "prefix:fact") is not None
        assert memory.get("conventions", "prefix:dimension") is None  # only R2 named a dimension

        assert unlearn_run(memory, "R1") == 3
        assert memory.export() == []
        assert unlearn_run(memory, "R1") == 0  # twice is harmless
