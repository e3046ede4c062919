"""Issue 11 point 3: every /command text, list and mapping argument fuzzed with Jinja, YAML and SQL.

Each command has a baseline line that plans on the example project (built once for the module).
For every fuzzable option set in a baseline, the option's plain value is replaced by each payload
and ``CommandPlanner().plan`` runs (Plan only, nothing applied). Either the command refuses with
``InvalidArguments`` (a usage error), or:

- every YAML file in the changeset loads with ``yaml.safe_load``;
- where the baseline wrote the plain value as a YAML value, the payload loads back there exactly;
- a mapping (``--vars``) carries the payload exactly;
- every ``.sql`` file still parses as Jinja, and its Jinja tags (the syntax tree without constants
  and plain text) are exactly the baseline's: no tag that ae did not write.

No hypothesis (not installed): a fixed table of payloads.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from jinja2 import nodes

from agent.commands import CommandPlanner
from agent.commands.catalog import COMMANDS
from graph.plan_spec import PlanRequest, PlanSpec
from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine, DbtResult
from tools.errors import InvalidArguments, PathRefused, UnknownNode
from tools.example_project import create_example_project
from tools.jinja_inspect import parse_jinja
from tools.paths import ProjectPaths

pytestmark = pytest.mark.slow

FUZZED_KINDS = frozenset({"text", "list", "mapping"})
JINJA = ("{{ x }}", "{% if true %}x{% endif %}", "{# c #}", "a #} b")
YAML = (
    "a: b",
    "- x",
    "&a x",
    "*a",
    "!!python/object/apply:os.system ['id']",
    "it's",
    'say "hi"',
    "line1\nline2: x",
    "# c",
)
SQL = ("'; drop table x; --", '"', "a\\b")
PAYLOADS = (*JINJA, *YAML, *SQL)
#: options whose every non-Jinja payload is accepted and compared in the YAML (at least once each)
WRITTEN_AS_VALUES = (
    "/dbt-model --description",
    "/incremental-model --description",
    "/dbt-macro --description",
    "/dbt-source --source-name",
    "/exposure-define --owner-name",
    "/exposure-define --owner-email",
    "/exposure-define --url",
    "/exposure-define --description",
    "/dbt-run --vars",
)

#: one line per command that plans on the module's project; every fuzzable option of the catalog
#: appears in at least one (a test below keeps it so as the catalog grows)
BASELINES: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "dbt-model",
        {"name": "stg_stores", "type": "staging", "source": "raw.stores", "description": "plainvalue"},
    ),
    ("dbt-model", {"name": "fct_orders", "type": "fact", "from": "stg_orders", "partition-by": "date"}),
    (
        "dbt-model",
        {"name": "dim_customers", "type": "dimension", "from": "stg_customers", "description": "plainvalue"},
    ),
    (
        "incremental-model",
        {"name": "fct_orders", "unique-key": "order_id", "from": "stg_orders", "partition": "ordered_at",
         "description": "plainvalue"},
    ),
    (
        "dbt-snapshot",
        {"source-table": "raw.customers", "unique-key": "id", "strategy": "timestamp",
         "updated-at": "updated_at", "name": "cust_snap"},
    ),
    (
        "dbt-snapshot",
        {"source-table": "raw.customers", "unique-key": "id", "strategy": "check", "check-cols": "name"},
    ),
    ("dbt-seed", {"file": "seeds/store_regions.csv"}),
    ("dbt-macro", {"name": "m1", "parameters": "a,b", "description": "plainvalue"}),
    (
        "dbt-source",
        {"database": "jaffle_shop", "schema": "raw", "table": "orders", "loaded-at-field": "updated_at",
         "source-name": "rawsrc", "freshness": "warn_after: {count: 12, period: hour}"},
    ),
    ("data-quality-test", {"model": "stg_customers", "tests": "not_null,unique"}),
    (
        "exposure-define",
        {"name": "e1", "type": "dashboard", "depends-on": "stg_customers", "owner-name": "plainowner",
         "owner-email": "a@b.c", "url": "http://x", "description": "plainvalue"},
    ),
    ("dbt-package", {"name": "my_utils", "local": "packages/my_utils", "version": "1.0.0"}),
    ("dbt-run", {"select": "stg_orders", "vars": '{"x": "plainvalue"}'}),
    ("dbt-debug", {"profile": "jaffle_shop"}),
    ("model-lineage", {"model": "stg_orders"}),
    ("model-lineage", {"model": "stg_orders", "column": "status"}),
    ("model-edit", {"name": "stg_orders", "rename-column": "status:order_status"}),
    ("model-edit", {"name": "stg_orders", "materialized": "incremental", "unique-key": "order_id"}),
    ("model-edit", {"name": "order_statuses", "add-column": "stg_orders.ordered_at", "as": "placed_at"}),
    ("model-edit", {"name": "order_statuses", "extract": "orders", "as": "int_order_statuses"}),
)  # fmt: skip


ORDER_STATUSES_SQL = """\
with orders as (
    select order_id, status from {{ ref('stg_orders') }}
)

select order_id, status from orders
"""


def line_of(command: str, options: dict[str, str]) -> str:
    # --flag=value: a value that starts with "-" (the YAML payload "- x") is a value, not a flag
    return " ".join([f"/{command}", *(f"--{flag}={shlex.quote(value)}" for flag, value in options.items())])


def fuzzed_value(kind: str, payload: str) -> str:
    return json.dumps({"x": payload}) if kind == "mapping" else payload


def expected_leaf(kind: str, value: str) -> Any:
    """What the command should write for ``value``: one list item, or the text itself."""
    return [value.strip()] if kind == "list" else value


class ParsedOnce(DbtEngine):
    """The fuzz never applies a plan, so the project parses the same every time: one real
    ``dbt parse`` (its manifest stays in target/), the rest answered from it. Other calls run."""

    parsed: DbtResult | None = None

    def invoke(self, call: DbtCall, *, timeout_s: float | None = None) -> DbtResult:
        if call.command != "parse" or call.read_only:
            return super().invoke(call, timeout_s=timeout_s)
        if self.parsed is None:
            self.parsed = super().invoke(call, timeout_s=timeout_s)
        return self.parsed


@dataclass
class Project:
    root: Path
    engine: DbtEngine
    baselines: dict[str, PlanSpec] = field(default_factory=dict)

    def plan(self, line: str) -> PlanSpec:
        tools = ToolContext(paths=ProjectPaths.for_project(self.root), target="dev", engine=self.engine)
        return CommandPlanner().plan(PlanRequest(request=line), tools)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = create_example_project(tmp_path_factory.mktemp("fuzz") / "shop")
    (root / "seeds" / "store_regions.csv").write_text("store_id,region\n1,east\n2,east\n3,central\n")
    package = root / "packages" / "my_utils"
    package.mkdir(parents=True)
    (package / "dbt_project.yml").write_text("name: my_utils\nversion: '1.0.0'\nconfig-version: 2\n")
    with DbtEngine(root) as engine:
        state = Project(root, engine)
        for name in ("stg_customers", "stg_orders"):
            state.plan(f"/dbt-model --name {name} --type staging").changeset.apply(
                ProjectPaths.for_project(root)
            )
        # a mart of the user's for /model-edit to change in place
        (root / "models" / "marts").mkdir(parents=True, exist_ok=True)
        (root / "models" / "marts" / "order_statuses.sql").write_text(ORDER_STATUSES_SQL)
        assert engine.run("build").success
    with ParsedOnce(root) as engine:
        yield Project(root, engine)


# --- what a changeset says ----------------------------------------------------------------------------


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, (*path, index))


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        if (isinstance(data, dict) and key in data) or (
            isinstance(data, list) and isinstance(key, int) and key < len(data)
        ):
            data = data[key]
        else:
            return KeyError(path)
    return data


def _shape(node: nodes.Node) -> Iterator[str]:
    """The Jinja syntax tree without constants and plain text: the tags and what they call."""
    if isinstance(node, nodes.TemplateData | nodes.Const):
        return
    label = type(node).__name__
    if isinstance(node, nodes.Name | nodes.Filter | nodes.Test):
        label += f":{node.name}"
    elif isinstance(node, nodes.Getattr):
        label += f":{node.attr}"
    yield f"<{label}"
    for child in node.iter_child_nodes():
        yield from _shape(child)
    yield ">"


def jinja_shape(text: str) -> str:
    return "".join(_shape(parse_jinja(text)))


def files(spec: PlanSpec) -> list[tuple[str, str]]:
    return [(c.path, c.content) for c in spec.changeset.changes if c.content is not None]


# --- the fuzz -------------------------------------------------------------------------------------------


def test_every_fuzzable_option_of_every_command_is_in_a_baseline() -> None:
    covered = {(command, flag) for command, options in BASELINES for flag in options}
    fuzzable = {
        (spec.name, option.flag)
        for spec in COMMANDS.values()
        for option in spec.options
        if option.kind in FUZZED_KINDS and option.flag != "target"
    }
    assert fuzzable <= covered, sorted(fuzzable - covered)


@dataclass
class Outcome:
    refused: bool = False
    #: YAML values (and --vars values) the payload was compared at
    compared: int = 0
    problems: list[str] = field(default_factory=list)


def check_case(project: Project, command: str, options: dict[str, str], flag: str, payload: str) -> Outcome:
    """Whether the command refused cleanly, and what went wrong when it did not."""
    spec = COMMANDS[command]
    option = spec.option(flag)
    assert option is not None
    baseline_line = line_of(command, options)
    baseline = project.baselines.get(baseline_line)
    if baseline is None:
        baseline = project.baselines[baseline_line] = project.plan(baseline_line)
    hostile_line = line_of(command, {**options, flag: fuzzed_value(option.kind, payload)})
    try:
        hostile = project.plan(hostile_line)
    except (InvalidArguments, UnknownNode, PathRefused):
        return Outcome(refused=True)
    except Exception as exc:
        return Outcome(problems=[f"raised {type(exc).__name__}: {exc}"])
    outcome = Outcome()
    problems = outcome.problems
    if option.kind == "mapping":
        carried = [op.vars for op in hostile.operations or [] if op.vars]
        outcome.compared += len(carried)
        if carried != [{"x": payload}]:
            problems.append(f"--vars carried {carried!r}")
    before, after = files(baseline), files(hostile)
    if len(before) != len(after):
        problems.append(f"wrote {len(after)} files, the plain value {len(before)}")
        return outcome
    plain = expected_leaf(option.kind, options[flag])
    want = expected_leaf(option.kind, payload)
    for (_old_path, old_text), (new_path, new_text) in zip(before, after, strict=True):
        if new_path.endswith((".yml", ".yaml")):
            try:
                new_data = yaml.safe_load(new_text)
            except yaml.YAMLError as exc:
                problems.append(f"{new_path} is not YAML: {exc}")
                continue
            old_data = yaml.safe_load(old_text)
            for path, leaf in _leaves(old_data):
                if leaf == plain:
                    outcome.compared += 1
                    if _at(new_data, path) != want:
                        problems.append(f"{new_path}{list(path)} loads as {_at(new_data, path)!r}")
        elif new_path.endswith(".sql"):
            try:
                shape = jinja_shape(new_text)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(f"{new_path} is not valid Jinja: {exc}")
                continue
            if shape != jinja_shape(old_text):
                problems.append(f"{new_path} holds Jinja that ae did not write:\n{new_text}")
    return outcome


def test_every_text_argument_is_refused_or_lands_escaped(project: Project) -> None:
    failures: dict[str, str] = {}
    written: dict[str, int] = {}
    for command, options in BASELINES:
        for flag in options:
            option = COMMANDS[command].option(flag)
            assert option is not None, (command, flag)
            if option.kind not in FUZZED_KINDS:
                continue
            for payload in PAYLOADS:
                outcome = check_case(project, command, options, flag, payload)
                if outcome.problems:
                    failures[f"/{command} --{flag} {payload!r}"] = "; ".join(outcome.problems)
                elif not outcome.refused:
                    written[f"/{command} --{flag}"] = (
                        written.get(f"/{command} --{flag}", 0) + outcome.compared
                    )
    assert failures == {}, "\n".join(f"{case}: {problem}" for case, problem in failures.items())
    # the fuzz has teeth: free text is accepted and checked where it lands, not all refused
    for case in WRITTEN_AS_VALUES:
        assert written.get(case, 0) >= len(YAML) + len(SQL), (case, written)


def test_the_baselines_really_plan(project: Project) -> None:
    """A refusal of the fuzzed line proves nothing if the plain line is refused too."""
    for command, options in BASELINES:
        project.plan(line_of(command, options))
