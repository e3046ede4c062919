"""What a new user hit with the /commands on projects ae did not write (issue 25, items 5, 6, 8, 10).

A project shaped like public ones (tests/real_project.py: staging over seeds in one folder, marts at
the models/ root in one schema.yml, ``tests:``), built once for the module; each test plans a command
against it and reads the changeset without applying it, unless it says otherwise (and then restores).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from agent.commands import CommandPlanner
from agent.commands.catalog import COMMANDS
from agent.commands.conventions import Conventions
from agent.commands.help import command_help
from graph.plan_spec import PlanRequest, PlanSpec
from tests.real_project import write_real_project
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.errors import ConfigurationError, InvalidArguments
from tools.manifest import Node
from tools.paths import ProjectPaths

ORDERS_SQL = "models/orders.sql"


@dataclass
class Project:
    root: Path
    engine: DbtEngine

    def tools(self) -> ToolContext:
        return ToolContext(paths=ProjectPaths.for_project(self.root), target="dev", engine=self.engine)

    def plan(self, line: str) -> PlanSpec:
        return CommandPlanner().plan(PlanRequest(request=line), self.tools())

    def written(self, spec: PlanSpec, path: str) -> str:
        text = spec.changeset.view(ProjectPaths.for_project(self.root), path)
        assert text is not None, f"{path} not written: {spec.changeset.touched_paths()}"
        return text


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    base = tmp_path_factory.mktemp("new_user")
    root = write_real_project(base / "jaffle_shop", base / "home")
    # a second marts folder documented in a shared schema.yml that holds one model so far
    (root / "models" / "geo").mkdir()
    (root / "models" / "geo" / "geo_orders.sql").write_text(
        "select order_id, status from {{ ref('stg_orders') }}\n"
    )
    (root / "models" / "geo" / "schema.yml").write_text(
        "version: 2\n\nmodels:\n  # the only documented model here so far\n  - name: geo_orders\n"
        "    description: Orders by place.\n"
    )
    (root / "models" / "geo" / "geo_unlisted.sql").write_text("select 1 as geo_id\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(base / "home"))
        patch.delenv("DBT_PROFILES_DIR", raising=False)
        with DbtEngine(root) as engine:
            assert engine.run("seed").success and engine.run("run").success
            yield Project(root, engine)


# --- item 5: /exposure-define writes the exposure only, unless --publish ----------------------------------


def test_an_exposure_changes_no_model_unless_asked_to_publish(project: Project) -> None:
    line = '/exposure-define --name weekly_kpis --type dashboard --depends-on "orders,customers"'
    spec = project.plan(line)
    assert spec.changeset.touched_paths() == ["models/exposures/weekly_kpis.yml"]
    assert spec.operations == []  # nothing is rebuilt
    answer = spec.answer or ""
    assert "orders, customers are not public (access: protected)" in answer
    published = (
        "`/exposure-define --name weekly_kpis --type dashboard --depends-on orders,customers --publish`"
    )
    assert published in answer
    # the command the answer names publishes them, with the contract, in the same run
    spec = project.plan(published.strip("`"))
    assert sorted(spec.changeset.touched_paths()) == ["models/exposures/weekly_kpis.yml", "models/schema.yml"]
    schema = yaml.safe_load(project.written(spec, "models/schema.yml"))
    orders = next(m for m in schema["models"] if m["name"] == "orders")
    assert orders["config"]["access"] == "public"
    assert [(o.command, o.select) for o in spec.operations or []] == [("run", ["orders", "customers"])]
    assert "orders, customers now public" in (spec.answer or "")


def test_the_publish_flag_is_in_the_help() -> None:
    text = command_help("exposure-define")
    assert "--publish" in text and "Without --publish only the exposure's YAML is written" in text


# --- item 6: YAML placement, staging folder and test keyword follow the project ----------------------------


def _model(path: str, patch: str | None = None, source: str | None = None) -> Node:
    name = path.rsplit("/", 1)[-1].removesuffix(".sql")
    raw = {
        "name": name,
        "original_file_path": path,
        "patch_path": f"p://{patch}" if patch else None,
        "depends_on": {"nodes": [f"source.p.{source}.t"] if source else ["seed.p.raw_x"]},
    }
    return Node.of(f"model.p.{name}", raw, "p")


def test_a_shared_schema_yml_with_one_entry_gets_the_new_model() -> None:
    conventions = Conventions.read([_model("models/marts/dim_geo.sql", "models/marts/schema.yml")], {}, "p")
    assert conventions.properties_file_for("models/marts", "fct_x") == "models/marts/schema.yml"
    # a file named after its one model is that model's own: one file per model
    own = Conventions.read([_model("models/marts/dim_geo.sql", "models/marts/dim_geo.yml")], {}, "p")
    assert own.properties_file_for("models/marts", "fct_x") == "models/marts/fct_x.yml"


def test_a_folder_with_no_documented_model_gets_a_shared_file_named_after_it() -> None:
    staged = [_model(f"models/staging/stg_{t}.sql", "models/staging/_staging.yml") for t in ("a", "b", "c")]
    conventions = Conventions.read(staged, {}, "p")
    # before: models/marts/_staging.yml (the eval's fact_orders wrote fct_orders there)
    assert conventions.properties_file_for("models/marts", "fct_a") == "models/marts/_marts.yml"
    schema = [_model(f"models/staging/stg_{t}.sql", "models/staging/schema.yml") for t in ("a", "b")]
    assert (
        Conventions.read(schema, {}, "p").properties_file_for("models/marts", "x")
        == "models/marts/schema.yml"
    )


def test_a_project_with_staging_in_one_folder_keeps_a_sources_staging_model_there() -> None:
    flat_over_seeds = Conventions.read(
        [_model("models/staging/stg_orders.sql"), _model("models/staging/stg_customers.sql")], {}, "p"
    )
    # before: models/staging/raw (a folder per source in a project that has none)
    assert flat_over_seeds.staging_folder_for("raw") == "models/staging"
    per_source = Conventions.read([_model("models/staging/shop/stg_orders.sql", source="shop")], {}, "p")
    assert per_source.staging_folder_for("crm") == "models/staging/crm"


def test_data_quality_tests_on_an_undocumented_model_go_to_its_folders_schema_yml(project: Project) -> None:
    spec = project.plan("/data-quality-test --model order_status_counts --tests not_null")
    # before: models/order_status_counts.yml beside models/schema.yml
    assert spec.changeset.touched_paths() == ["models/schema.yml"]
    text = project.written(spec, "models/schema.yml")
    assert "  - name: order_status_counts" in text
    assert "data_tests:" not in text  # the project's `tests:`
    before = (project.root / "models" / "schema.yml").read_text()
    assert text.startswith(before.rstrip("\n"))  # the file's own text is kept byte for byte


def test_a_new_model_joins_a_shared_schema_yml_that_documents_one_model(project: Project) -> None:
    spec = project.plan("/data-quality-test --model geo_unlisted --tests not_null")
    assert spec.changeset.touched_paths() == ["models/geo/schema.yml"]
    text = project.written(spec, "models/geo/schema.yml")
    assert text.startswith((project.root / "models/geo/schema.yml").read_text())
    assert "- name: geo_unlisted" in text


def test_a_snapshot_writes_the_projects_test_keyword(project: Project) -> None:
    spec = project.plan("/dbt-snapshot --source-table stg_customers --strategy check")
    (path,) = spec.changeset.touched_paths()
    text = project.written(spec, path)
    assert "tests:" in text and "data_tests:" not in text


# --- item 10: help and behaviour of /dbt-snapshot agree; text that reads --------------------------------


def test_a_snapshot_reads_a_seed_by_name_or_schema_table(project: Project) -> None:
    by_name = project.plan("/dbt-snapshot --source-table raw_customers --strategy check")
    by_relation = project.plan("/dbt-snapshot --source-table main.raw_customers --strategy check")
    for spec in (by_name, by_relation):
        (path,) = spec.changeset.touched_paths()
        entry = yaml.safe_load(project.written(spec, path))["snapshots"][0]
        assert entry["relation"] == "ref('raw_customers')"
        assert path == "snapshots/customers_snapshot.yml"
    model = project.plan("/dbt-snapshot --source-table main.stg_customers --strategy check")
    assert "ref('stg_customers')" in project.written(model, "snapshots/customers_snapshot.yml")


def test_a_table_the_project_does_not_declare_is_refused_as_the_help_says(project: Project) -> None:
    help_text = command_help("dbt-snapshot")
    assert "a declared source table" in help_text and "or a seed or model" in help_text
    assert "A warehouse table the project does not declare is refused" in help_text
    with pytest.raises(InvalidArguments) as caught:
        project.plan("/dbt-snapshot --source-table main.no_such_table")
    assert "declare it first: /dbt-source --schema main --table no_such_table" in str(caught.value)


def test_a_snapshot_name_is_not_typed_as_staging_and_never_takes_another_inputs_name(
    project: Project,
) -> None:
    spec = project.plan("/dbt-snapshot --source-table stg_orders --strategy check")
    assert spec.changeset.touched_paths() == ["snapshots/orders_snapshot.yml"]  # not stg_orders_snapshot
    paths = ProjectPaths.for_project(project.root)
    applied = spec.changeset.apply(paths)
    try:
        with pytest.raises(InvalidArguments, match="already records another relation"):
            project.plan("/dbt-snapshot --source-table raw_orders --strategy check")
    finally:
        applied.rollback(paths)


def test_a_mart_on_an_unbuilt_model_says_so_in_plain_english(project: Project) -> None:
    paths = ProjectPaths.for_project(project.root)
    staged = project.plan("/dbt-model --name stg_orders_copy --type staging --source raw_orders")
    applied = staged.changeset.apply(paths)
    try:
        with pytest.raises(InvalidArguments) as caught:
            project.plan("/dbt-model --name fct_order_copies --type fact --from stg_orders_copy")
        # before: "... and fct_order_copies is built on it reads its data"
        assert "model stg_orders_copy is not built yet, and fct_order_copies is built on it" in str(
            caught.value
        )
        assert "reads its data" not in str(caught.value)
    finally:
        applied.rollback(paths)


def test_incremental_model_suggests_only_commands_that_exist(project: Project) -> None:
    assert COMMANDS["incremental-model"].option("materialization") is None
    with pytest.raises(InvalidArguments) as caught:
        project.plan("/incremental-model --name stg_payment_log --unique-key payment_id --from raw_payments")
    hint = str(caught.value)
    assert "no timestamp column" in hint
    assert "/dbt-model --name stg_payment_log --type staging --materialization table" in hint


# --- item 8: offline packages ------------------------------------------------------------------------------

PACKAGES = """\
# the packages this project uses
packages:
  - package: dbt-labs/dbt_utils   # pinned for the fivetran models
    version: [">=1.1.0", "<1.3.0"]

  - package: calogica/dbt_date
    version: 0.10.0
"""


@pytest.fixture
def offline(project: Project) -> Iterator[Project]:
    """The project with a hub packages.yml and a local copy of dbt_utils; removed afterwards."""
    local = project.root / "vendor" / "dbt_utils"
    (local / "macros").mkdir(parents=True)
    (local / "dbt_project.yml").write_text("name: dbt_utils\nversion: '1.1.1'\nconfig-version: 2\n")
    (project.root / "packages.yml").write_text(PACKAGES)
    try:
        yield project
    finally:
        (project.root / "packages.yml").unlink()
        (local / "dbt_project.yml").unlink()
        (local / "macros").rmdir()


def test_a_local_package_replaces_the_hub_entry_of_the_same_package(offline: Project) -> None:
    from agent.commands.package_command import dbt_package
    from agent.commands.parser import parse_command
    from agent.commands.project import ProjectView

    tools = offline.tools()
    cmd = parse_command("/dbt-package --name dbt_utils --local vendor/dbt_utils")
    with pytest.raises(InvalidArguments) as caught:
        # dbt_date stays a hub package: dbt deps would need the network for it
        dbt_package(cmd, ProjectView(tools))
    message = str(caught.value)
    assert "dbt_date (calogica/dbt_date in packages.yml) must be downloaded" in message
    # one command installs both: the one asked for and the one still on the Hub
    assert "/dbt-package --name dbt_utils,dbt_date --local vendor/dbt_utils,path/to/dbt_date" in message
    assert tools.changeset.is_empty
    (offline.root / "packages.yml").write_text(
        PACKAGES.split("\n\n  - package: calogica", maxsplit=1)[0] + "\n"
    )
    tools = offline.tools()
    spec = dbt_package(cmd, ProjectView(tools))
    text = tools.changeset.view(tools.paths, "packages.yml")
    assert text == (
        "# the packages this project uses\npackages:\n"
        "  - local: vendor/dbt_utils   # pinned for the fivetran models\n"
    )
    assert "replaced the hub entry dbt-labs/dbt_utils" in (spec.answer or "")


def test_a_local_package_replaces_a_hub_entry_in_dependencies_yml(offline: Project) -> None:
    from agent.commands.package_command import dbt_package
    from agent.commands.parser import parse_command
    from agent.commands.project import ProjectView

    (offline.root / "packages.yml").unlink()
    (offline.root / "dependencies.yml").write_text(
        "projects:\n  - name: finance\npackages:\n  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n"
    )
    try:
        tools = offline.tools()
        dbt_package(
            parse_command("/dbt-package --name dbt_utils --local vendor/dbt_utils"), ProjectView(tools)
        )
        assert tools.changeset.touched_paths() == ["dependencies.yml"]
        assert tools.changeset.view(tools.paths, "dependencies.yml") == (
            "projects:\n  - name: finance\npackages:\n  - local: vendor/dbt_utils\n"
        )
    finally:
        (offline.root / "dependencies.yml").unlink()
        (offline.root / "packages.yml").write_text(PACKAGES)


def test_deps_is_refused_when_it_would_delete_a_hub_package_installed_now(offline: Project) -> None:
    from agent.commands.package_command import dbt_package
    from agent.commands.parser import parse_command
    from agent.commands.project import ProjectView

    installed = offline.root / "dbt_packages" / "dbt_date"
    installed.mkdir(parents=True)
    (installed / "dbt_project.yml").write_text("name: dbt_date\nversion: '0.10.0'\nconfig-version: 2\n")
    try:
        with pytest.raises(InvalidArguments) as caught:
            dbt_package(
                parse_command("/dbt-package --name dbt_utils --local vendor/dbt_utils"),
                ProjectView(offline.tools()),
            )
        message = str(caught.value)
        assert "dbt deps deletes dbt_packages/ before it installs" in message
        assert "dbt_date (installed now, from calogica/dbt_date) would be lost" in message
    finally:
        (installed / "dbt_project.yml").unlink()
        installed.rmdir()
        installed.parent.rmdir()


def test_a_project_needing_a_hub_package_gets_one_message_naming_it(offline: Project) -> None:
    with pytest.raises(ConfigurationError) as caught:
        offline.plan("/dbt-compile --select orders")
    message = str(caught.value)
    assert message.count("\n") == 0 and "Traceback" not in message
    assert "dbt-labs/dbt_utils" in message and "calogica/dbt_date" in message
    assert "/dbt-package --name dbt_utils,dbt_date --local path/to/dbt_utils,path/to/dbt_date" in message
