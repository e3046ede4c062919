"""/dbt-macro writes working bodies for the common families, each pinned by a test dbt runs for real."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from agent.commands.planner import CommandPlanner
from graph.plan_spec import PlanRequest, PlanSpec
from tests.dbt_project_factory import write_tiny_project
from tools.context import ToolContext
from tools.engine import DbtEngine, DbtResult
from tools.paths import ProjectPaths

#: one macro per family, as a person would ask for it
REQUESTS = {
    "cents_to_dollars": '/dbt-macro --name cents_to_dollars --parameters "column_name, scale"',
    "dollars_to_cents": '/dbt-macro --name dollars_to_cents --parameters "amount"',
    "order_surrogate_key": '/dbt-macro --name order_surrogate_key --parameters "field_list"',
    "calendar_spine": '/dbt-macro --name calendar_spine --parameters "datepart, start_date, end_date"',
    "safe_divide": '/dbt-macro --name safe_divide --parameters "numerator, denominator"',
    "pivot_statuses": '/dbt-macro --name pivot_statuses --parameters "column, values, then_value"',
    "customer_cohort": '/dbt-macro --name customer_cohort --parameters "customer_column, at_column"',
}


@dataclass
class _Macros:
    project: Path
    engine: DbtEngine
    specs: dict[str, PlanSpec]

    def test(self, *names: str) -> DbtResult:
        return self.engine.run("test", select=[f"assert_{name}" for name in names])


def _plan(project: Path, engine: DbtEngine, line: str) -> PlanSpec:
    paths = ProjectPaths.for_project(project)
    spec = CommandPlanner().plan(
        PlanRequest(request=line), ToolContext(paths=paths, target="dev", engine=engine)
    )
    spec.changeset.apply(paths)
    return spec


@pytest.fixture(scope="module")
def macros(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Macros]:
    project = write_tiny_project(tmp_path_factory.mktemp("macros"))
    with DbtEngine(project) as engine:
        specs = {name: _plan(project, engine, line) for name, line in REQUESTS.items()}
        yield _Macros(project, engine, specs)


def test_every_family_gets_a_body_that_its_test_proves_under_dbt(macros: _Macros) -> None:
    result = macros.test(*REQUESTS)
    statuses = {node.name: node.status for node in result.nodes}
    assert statuses == {f"assert_{name}": "pass" for name in REQUESTS}, [
        f"{n.name}: {n.message}" for n in result.nodes
    ]
    for name, spec in macros.specs.items():
        assert spec.verify_select == [f"assert_{name}"]
        assert "working body" in str(spec.answer)


def test_cents_to_dollars_divides_by_100_and_its_test_catches_a_wrong_body(macros: _Macros) -> None:
    path = macros.project / "macros" / "cents_to_dollars.sql"
    body = path.read_text()
    assert "{% macro cents_to_dollars(column_name, scale=2) -%}" in body
    assert "/ 100.0" in body and "return(" not in body
    path.write_text(body.replace("/ 100.0", "/ 10.0"))
    try:
        wrong = macros.test("cents_to_dollars")
    finally:
        path.write_text(body)
    assert [node.status for node in wrong.nodes] == ["fail"]
    assert (wrong.nodes[0].failures or 0) >= 3


def test_argument_docs_say_what_each_argument_means(macros: _Macros) -> None:
    properties = yaml.safe_load((macros.project / "macros" / "cents_to_dollars.yml").read_text())
    (macro,) = properties["macros"]
    arguments = {a["name"]: a for a in macro["arguments"]}
    assert set(arguments) == {"column_name", "scale"}
    assert "cents" in arguments["column_name"]["description"]
    assert "decimal places" in arguments["scale"]["description"].lower()
    for argument in arguments.values():
        # not the tautology "The column name to pass to cents_to_dollars."
        assert not argument["description"].lower().startswith(f"the {argument['name'].replace('_', ' ')}")
        assert "to pass to" not in argument["description"]


def test_an_unknown_macro_is_a_stub_that_says_to_write_the_body(macros: _Macros) -> None:
    spec = _plan(macros.project, macros.engine, '/dbt-macro --name reformat_phone --parameters "phone"')
    assert "only a stub" in str(spec.answer) and spec.verify_select == []
    body = (macros.project / "macros" / "reformat_phone.sql").read_text()
    assert "write the body here" in body and "raise_compiler_error" in body
    assert not (macros.project / "tests" / "macros" / "assert_reformat_phone.sql").exists()
    # a family name with parameters that do not fit it is a stub too, saying why
    mismatch = _plan(macros.project, macros.engine, '/dbt-macro --name safe_divide_by --parameters "a, b, c"')
    assert "suggests a safe divide" in str(mismatch.answer)
