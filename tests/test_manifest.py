"""The manifest facade (tools/manifest.py) on a real parsed project with an installed local package,
and a package's model as the parent of a new model (/dbt-model --from) and in /model-lineage.

The project is a copy of the bundled example plus a small local package written here (the hub is
unreachable): ``packages.yml`` names it with ``local:``, ``dbt deps`` installs it. The engine writes
to a custom ``--target-path``, so every reader must find dbt's output where the engine put it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.commands import CommandPlanner
from graph.nodes import touched_nodes, upstream_tables
from graph.plan_spec import PlanRequest, PlanSpec
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.errors import ConfigurationError, InvalidArguments, UnknownNode
from tools.example_project import create_example_project
from tools.manifest import Manifest, Node, manifest_file, target_dir
from tools.paths import ProjectPaths

PACKAGE = "shopify_source"
PACKAGE_MODEL = "stg_shopify__product"
TARGET_PATH = "build_out"
PACKAGE_FILES = {
    "dbt_project.yml": f"name: {PACKAGE}\nversion: '1.0.0'\nconfig-version: 2\n",
    "models/_shopify__models.yml": f"""\
version: 2
sources:
  - name: shopify
    schema: raw
    tables:
      - name: product
        identifier: products
models:
  - name: {PACKAGE_MODEL}
    description: One row per product the shop sells.
    columns:
      - name: sku
        description: The product's stock keeping unit.
        data_tests: [unique, not_null]
      - name: name
""",
    f"models/{PACKAGE_MODEL}.sql": "select * from {{ source('shopify', 'product') }}\n",
}
# the project's own model, reading the package's, so the graph crosses the package boundary
OWN_MODEL = "int_products_priced"
OWN_SQL = f"select sku, price from {{{{ ref('{PACKAGE_MODEL}') }}}} where price > 0\n"


@dataclass
class Shop:
    project: Path
    engine: DbtEngine

    def tools(self) -> ToolContext:
        return ToolContext(paths=ProjectPaths.for_project(self.project), target="dev", engine=self.engine)

    def plan(self, line: str) -> PlanSpec:
        return CommandPlanner().plan(PlanRequest(request=line), self.tools())

    def manifest(self) -> Manifest:
        return Manifest.for_engine(self.engine)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    project = create_example_project(tmp_path_factory.mktemp("manifest") / "shop")
    for name, text in PACKAGE_FILES.items():
        path = project / "packages" / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (project / "packages.yml").write_text(f"packages:\n  - local: packages/{PACKAGE}\n", encoding="utf-8")
    (project / "models" / "intermediate").mkdir()
    (project / "models" / "intermediate" / f"{OWN_MODEL}.sql").write_text(OWN_SQL, encoding="utf-8")
    with DbtEngine(project, target_path=TARGET_PATH) as engine:
        # through the engine: it leaves its --target-path off dbt deps, which refuses the flag
        installed = engine.run("deps")
        assert installed.success, installed.summary()
        assert (project / "dbt_packages" / PACKAGE / "dbt_project.yml").is_file()
        built = engine.run("run", select=[PACKAGE_MODEL])
        assert built.success, built.summary()
        yield Shop(project, engine)


# --- the facade ---------------------------------------------------------------------------------------


def test_the_manifest_is_found_where_the_engine_writes_it(shop: Shop) -> None:
    assert manifest_file(shop.project, TARGET_PATH) == shop.project / TARGET_PATH / "manifest.json"
    manifest = shop.manifest()
    assert manifest.path == shop.project / TARGET_PATH / "manifest.json"
    assert manifest.project_name == "jaffle_shop"
    # dbt_project.yml says target-path: target, the engine's --target-path wins: nothing went there
    assert not (shop.project / "target").exists()
    with pytest.raises(ConfigurationError, match="dbt parse"):
        Manifest.load(shop.project)
    assert Manifest.load(shop.project, missing_ok=True).is_empty


def test_package_nodes_are_nodes_marked_read_only(shop: Shop) -> None:
    manifest = shop.manifest()
    package_model = manifest.find_model(PACKAGE_MODEL)
    assert package_model.unique_id == f"model.{PACKAGE}.{PACKAGE_MODEL}"
    assert package_model.is_package and package_model.package_name == PACKAGE
    # paths are relative to the package, not the project
    assert package_model.original_file_path == f"models/{PACKAGE_MODEL}.sql"
    assert package_model.patch_path == "models/_shopify__models.yml"
    assert package_model.layer == "staging"
    assert package_model.description == "One row per product the shop sells."
    assert {name: c.description for name, c in package_model.columns.items()} == {
        "sku": "The product's stock keeping unit.",
        "name": "",
    }
    assert package_model.undocumented_columns == ["name"] and not package_model.is_documented
    assert package_model.relation_name is not None and PACKAGE_MODEL in package_model.relation_name
    source = manifest.get(f"source.{PACKAGE}.shopify.product")
    assert source is not None and source.is_package and source.label == "shopify.product"
    own = manifest.find_model(OWN_MODEL)
    assert not own.is_package and own.layer == "intermediate" and own.config.materialized == "view"
    # the project's own nodes, by id and by name: what ae may edit
    assert set(manifest.root("model")) == {f"model.jaffle_shop.{OWN_MODEL}"}
    assert set(manifest.named("model")) == {OWN_MODEL}


def test_parents_children_and_tests_of_a_node(shop: Shop) -> None:
    manifest = shop.manifest()
    package_uid = f"model.{PACKAGE}.{PACKAGE_MODEL}"
    own_uid = f"model.jaffle_shop.{OWN_MODEL}"
    assert manifest.parents(package_uid) == [f"source.{PACKAGE}.shopify.product"]
    assert own_uid in manifest.children(package_uid)
    assert manifest.get(own_uid) is not None
    assert manifest.parents(own_uid) == [package_uid]
    assert own_uid in manifest.descendants(f"source.{PACKAGE}.shopify.product")
    tests = manifest.tests_of(package_uid)
    assert sorted((t.generic_test, t.column_name) for t in tests) == [("not_null", "sku"), ("unique", "sku")]
    assert all(t.attached_node == package_uid and t.is_package for t in tests)
    assert manifest.tests_of(own_uid) == []
    # the source's table is what the project's model reads, through the package's model
    assert upstream_tables(manifest, own_uid) == [
        manifest.sources[f"source.{PACKAGE}.shopify.product"].relation_name
    ]
    assert touched_nodes(manifest, [f"models/intermediate/{OWN_MODEL}.sql"]) == [own_uid]


def test_a_model_is_found_by_name_across_the_project_and_its_packages(shop: Shop) -> None:
    manifest = shop.manifest()
    with pytest.raises(UnknownNode) as missing:
        manifest.find_model("stg_shopify__products", hint="create it first")
    assert f"did you mean {PACKAGE_MODEL}" in missing.value.message
    assert missing.value.hint == "create it first"
    # the project's own model wins over a package's of the same name, as dbt's ref does
    raw = json.loads(json.dumps(manifest.raw))
    twin = dict(raw["nodes"][f"model.{PACKAGE}.{PACKAGE_MODEL}"], package_name="jaffle_shop")
    raw["nodes"][f"model.jaffle_shop.{PACKAGE_MODEL}"] = twin
    assert Manifest(raw).find_model(PACKAGE_MODEL).unique_id == f"model.jaffle_shop.{PACKAGE_MODEL}"
    # two packages shipping one name: dbt refuses the ref, so does ae
    raw["nodes"].pop(f"model.jaffle_shop.{PACKAGE_MODEL}")
    raw["nodes"][f"model.other.{PACKAGE_MODEL}"] = dict(twin, package_name="other")
    with pytest.raises(UnknownNode, match="ambiguous"):
        Manifest(raw).find_model(PACKAGE_MODEL)


def test_a_versioned_model_is_its_latest_version() -> None:
    def version(number: int) -> dict[str, object]:
        model = {"name": "dim_x", "resource_type": "model", "package_name": "p"}
        return {**model, "version": number, "latest_version": 2}

    manifest = Manifest(
        {
            "metadata": {"project_name": "p"},
            "nodes": {"model.p.dim_x.v1": version(1), "model.p.dim_x.v2": version(2)},
            "parent_map": {},
        }
    )
    assert manifest.find_model("dim_x").unique_id == "model.p.dim_x.v2"
    assert manifest.named("model")["dim_x"].unique_id == "model.p.dim_x.v2"


def test_compiled_code_makes_a_new_manifest(shop: Shop) -> None:
    manifest = shop.manifest()
    uid = f"model.jaffle_shop.{OWN_MODEL}"
    compiled = manifest.with_compiled({uid: "select 1", "model.nowhere.x": "select 2"})
    assert compiled.nodes[uid].compiled_code == "select 1"
    assert manifest.nodes[uid].compiled_code is None  # the one it came from is unchanged
    assert "model.nowhere.x" not in compiled.nodes


# --- a package's model as a parent --------------------------------------------------------------------


def test_a_package_model_is_the_parent_of_a_new_model_and_shows_in_lineage(shop: Shop) -> None:
    spec = shop.plan(f"/dbt-model --name dim_shop_products --type dimension --from {PACKAGE_MODEL}")
    assert spec.answer is not None and f"of {PACKAGE_MODEL}" in spec.answer
    written = {c.path: c.content for c in spec.changeset.changes}
    assert set(written) == {"models/marts/dim_shop_products.sql", "models/marts/dim_shop_products.yml"}
    assert f"ref('{PACKAGE_MODEL}')" in written["models/marts/dim_shop_products.sql"]
    # read-only: nothing of the package is written
    assert not any(path.startswith(("dbt_packages", "packages")) for path in written)
    applied = spec.changeset.apply(ProjectPaths.for_project(shop.project))
    try:
        built = shop.engine.run("build", select=["dim_shop_products"])
        assert built.success, built.summary()
        lineage_spec = shop.plan(f"/model-lineage --model {PACKAGE_MODEL} --upstream 1 --downstream 1")
        assert lineage_spec.answer is not None
        lines = lineage_spec.answer.splitlines()
        assert lines[0] == f"{PACKAGE_MODEL}  [model: model.{PACKAGE}.{PACKAGE_MODEL}]"
        assert "  <- shopify.product  [source]" in lines
        assert "  -> dim_shop_products  [model]" in lines
        assert f"  -> {OWN_MODEL}  [model]" in lines
    finally:
        applied.rollback(ProjectPaths.for_project(shop.project))
        shop.engine.run("parse")


def test_a_package_model_is_never_edited(shop: Shop) -> None:
    with pytest.raises(InvalidArguments, match="never edits"):
        shop.plan(f"/data-quality-test --model {PACKAGE_MODEL} --tests not_null")
    # a misspelt parent names the package's model among the close ones
    with pytest.raises(UnknownNode, match=f"did you mean {PACKAGE_MODEL}"):
        shop.plan("/dbt-model --name dim_x --type dimension --from stg_shopify__prodcut")


# --- what a project's files may hold ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b'{"nodes": ', b"[1, 2]", b"\xff\xfe not json", b'{"nodes": {}}'],
    ids=["truncated", "not an object", "not utf-8", "no parent_map"],
)
def test_a_damaged_manifest_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_bytes(content)
    with pytest.raises(ConfigurationError) as raised:
        Manifest.load(tmp_path, missing_ok=True)
    assert "manifest" in raised.value.message and "dbt parse" in raised.value.hint


def test_entries_of_the_wrong_shape_are_read_as_empty() -> None:
    node = Node.of(
        "model.p.odd",
        {
            "name": 5,
            "columns": ["a", "b"],
            "depends_on": "model.p.other",
            "config": None,
            "fqn": "p.odd",
            "patch_path": "no-scheme.yml",
            "test_metadata": [],
        },
        "p",
    )
    assert (node.name, node.resource_type, node.is_package) == ("odd", "model", False)
    assert node.columns == {} and node.depends_on == () and node.fqn == () and node.patch_path is None
    assert node.config.materialized is None and node.generic_test is None
    manifest = Manifest({"nodes": {"model.p.odd": node.raw, "junk": "text"}, "parent_map": {"x.p.y": None}})
    assert list(manifest.nodes) == ["model.p.odd"]
    assert manifest.parents("x.p.y") == [] and manifest.children("model.p.odd") == []
    assert manifest.get("x.p.y") is not None  # a type newer than this code, named from its id


def test_what_the_lint_and_the_gate_read_is_typed_and_wrong_shapes_read_as_empty() -> None:
    raw = {
        "name": "base_orders",
        "original_file_path": "models/staging/base/base_orders.sql",
        "language": "sql",
        "meta": {"owner": "a"},
        "config": {"meta": {"ae_lint_disable": ["AE006"]}},
        "columns": {"id": {"constraints": [{"type": "not_null"}, {"type": "primary_key"}, "junk"]}},
        "constraints": [{"type": "primary_key", "columns": ["id", "day"]}, 7],
        "macro_sql": "{% macro m() %}{% endmacro %}",
    }
    node = Node.of("model.p.base_orders", raw, "p")
    assert node.is_base_model and node.layer == "staging" and node.language == "sql"
    assert node.columns["id"].constraints == ("not_null", "primary_key")
    assert [(c.type, c.columns) for c in node.constraints] == [("primary_key", ("id", "day"))]
    assert node.meta == [{"owner": "a"}, {"ae_lint_disable": ["AE006"]}]
    assert node.macro_sql.startswith("{% macro m()")
    test = Node.of("test.p.t", {"test_metadata": {"name": "unique", "kwargs": {"column_name": "id"}}}, "p")
    assert test.generic_test == "unique" and test.test_kwargs == {"column_name": "id"}
    odd = Node.of(
        "model.p.odd",
        {"language": 3, "meta": "x", "constraints": "pk", "columns": {"c": {"constraints": {"type": "x"}}}},
        "p",
    )
    assert odd.language == "" and odd.meta == [{}, {}] and odd.constraints == []
    assert odd.columns["c"].constraints == () and odd.macro_sql == "" and odd.test_kwargs == {}
    assert not Node.of("seed.p.base_x", {"name": "base_x"}, "p").is_base_model  # a seed is no model
    assert Manifest({"metadata": {"adapter_type": "duckdb"}}).adapter_type == "duckdb"
    assert Manifest({"metadata": {"adapter_type": ["duckdb"]}}).adapter_type == ""


def test_a_manifest_read_again_is_what_dbt_wrote_since(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"parent_map": {}, "nodes": {"model.p.a": {"config": {"schema": "dev"}}}}))
    first = Manifest.read(path).with_compiled({"model.p.a": "select 1"})
    path.write_text(json.dumps({"parent_map": {}, "nodes": {"model.p.a": {"config": {"schema": "prod"}}}}))
    again = first.reread()
    assert first.nodes["model.p.a"].config.schema == "dev" and first.nodes["model.p.a"].compiled_code
    assert again.nodes["model.p.a"].config.schema == "prod" and again.nodes["model.p.a"].compiled_code is None
    with pytest.raises(ValueError, match="in memory"):
        Manifest({}).reread()


def test_the_target_folder_follows_the_engine_then_dbt_s_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    assert target_dir(tmp_path) == tmp_path / "target"
    monkeypatch.setenv("DBT_TARGET_PATH", "elsewhere")
    assert target_dir(tmp_path) == tmp_path / "elsewhere"
    assert target_dir(tmp_path, "given") == tmp_path / "given"
    assert target_dir(tmp_path, str(tmp_path / "abs")) == tmp_path / "abs"
