"""The demo's generated project, without the graph: the command planner's changesets for the demo's
build steps (plus a few commands reviewers asked about), applied and built with real dbt and DuckDB.

Session-scoped, so the tests that judge the generated tests and the generated text share one build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.commands import CommandPlanner
from agent.demo import BUILD_STEPS
from graph.plan_spec import PlanRequest
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.example_project import create_example_project
from tools.lineage import load_manifest
from tools.paths import ProjectPaths

#: after the demo: a dimension whose stores all have orders today, and data tests on a fact whose
#: product columns hold ten distinct free-text values repeated over thousands of rows
EXTRA_STEPS: tuple[str, ...] = (
    "/dbt-model --name dim_stores --type dimension",
    '/data-quality-test --model fct_order_items --tests "not_null,unique,relationships,accepted_values"',
)
_READ_ONLY = ("/exposure-define", "/data-quality-test", "/dbt-snapshot", "/dbt-source")


@dataclass
class Generated:
    project: Path
    answers: dict[str, str] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    def properties(self, name: str) -> dict[str, Any]:
        """The YAML entry of model ``name``, from the file the manifest says holds it."""
        node = next(n for n in self.manifest["nodes"].values() if n["name"] == name)
        path = self.project / str(node["patch_path"]).split("://", 1)[1]
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))["models"]
        return dict(next(e for e in entries if e["name"] == name))

    def columns(self, name: str) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.properties(name)["columns"]}

    def answer(self, prefix: str) -> str:
        return next(text for line, text in self.answers.items() if line.startswith(prefix))


#: one build per test session, though each test module that imports the fixture defines its own copy
_BUILT: list[Generated] = []


def _generate(root: Path) -> Generated:
    project = create_example_project(root / "shop", scale=1, seed=42)
    paths = ProjectPaths.for_project(project)
    generated = Generated(project)
    with DbtEngine(project) as engine:
        for line in (*BUILD_STEPS, *EXTRA_STEPS):
            tools = ToolContext(paths=paths, target="dev", engine=engine)
            spec = CommandPlanner().plan(PlanRequest(request=line), tools)
            spec.changeset.apply(paths)
            generated.answers[line] = spec.answer or ""
            # later steps profile what earlier ones built
            if not line.startswith(_READ_ONLY):
                result = engine.run("build")
                assert result.success, [f"{n.name}: {n.status} {n.message}" for n in result.nodes]
        final = engine.run("build")
        assert final.success, [f"{n.name}: {n.status} {n.message}" for n in final.nodes]
        generated.manifest = load_manifest(project / "target" / "manifest.json")
    return generated


@pytest.fixture(scope="session")
def generated_demo(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    if not _BUILT:
        _BUILT.append(_generate(tmp_path_factory.mktemp("demo_generation")))
    return _BUILT[0]
