"""Lineage from the manifest of a real ``dbt parse`` of a tiny dbt-duckdb project."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tools.errors import ConfigurationError, InvalidArguments, UnknownNode
from tools.lineage import MAX_DEPTH, MAX_RENDERED_CHARS, Lineage, lineage, load_manifest

PROJECT_FILES = {
    "dbt_project.yml": "name: tiny\nversion: '1.0.0'\nprofile: tiny\nmodel-paths: ['models']\n",
    "profiles.yml": (
        "tiny:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: tiny.duckdb\n"
    ),
    "models/sources.yml": """
version: 2
sources:
  - name: raw
    tables:
      - name: orders
      - name: customers
""",
    "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }}\n",
    "models/stg_customers.sql": "select * from {{ source('raw', 'customers') }}\n",
    "models/orders.sql": (
        "select o.*, c.name from {{ ref('stg_orders') }} o\n"
        "join {{ ref('stg_customers') }} c using (customer_id)\n"
    ),
    "models/schema.yml": """
version: 2
models:
  - name: stg_orders
    columns:
      - name: order_id
        data_tests: [unique]
exposures:
  - name: orders_dashboard
    type: dashboard
    owner: {name: Analytics, email: analytics@example.com}
    depends_on: [ref('orders')]
""",
}


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dbt.cli.main import dbtRunner

    project = tmp_path_factory.mktemp("tiny_project")
    for name, text in PROJECT_FILES.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        env.setenv("DO_NOT_TRACK", "1")
        result = dbtRunner().invoke(
            [
                "parse",
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
                "--no-send-anonymous-usage-stats",
                "--quiet",
            ]
        )
    assert result.success, result.exception
    return project / "target" / "manifest.json"


@pytest.fixture(scope="module")
def manifest(manifest_path: Path) -> dict[str, Any]:
    return load_manifest(manifest_path)


def names(nodes: Lineage, direction: str) -> list[tuple[str, int]]:
    return [(n.name, n.distance) for n in getattr(nodes, direction)]


def test_one_hop_each_way_by_name(manifest: dict[str, Any]) -> None:
    result = lineage(manifest, "orders")
    assert result.node.unique_id == "model.tiny.orders"
    assert names(result, "upstream") == [("stg_customers", 1), ("stg_orders", 1)]
    assert names(result, "downstream") == [("orders_dashboard", 1)]
    assert result.downstream[0].resource_type == "exposure"


def test_depth_limits_how_far_the_walk_goes(manifest: dict[str, Any]) -> None:
    deep = lineage(manifest, "orders", upstream=2, downstream=0)
    assert names(deep, "upstream") == [
        ("stg_customers", 1),
        ("stg_orders", 1),
        ("raw.customers", 2),
        ("raw.orders", 2),
    ]
    assert deep.downstream == []
    assert {(e.parent, e.child) for e in deep.edges} == {
        ("model.tiny.stg_orders", "model.tiny.orders"),
        ("model.tiny.stg_customers", "model.tiny.orders"),
        ("source.tiny.raw.orders", "model.tiny.stg_orders"),
        ("source.tiny.raw.customers", "model.tiny.stg_customers"),
    }
    assert lineage(manifest, "orders", upstream=0, downstream=0).edges == []


def test_sources_resolve_by_source_name_and_table(manifest: dict[str, Any]) -> None:
    result = lineage(manifest, "raw.orders", upstream=3, downstream=3)
    assert result.node.unique_id == "source.tiny.raw.orders"
    assert result.upstream == []
    # tests hang off stg_orders but are left out by default
    assert names(result, "downstream") == [("stg_orders", 1), ("orders", 2), ("orders_dashboard", 3)]


def test_bare_table_name_finds_a_source_when_nothing_else_has_it(manifest: dict[str, Any]) -> None:
    assert lineage(manifest, "customers").node.unique_id == "source.tiny.raw.customers"


def test_unique_id_and_tests_on_request(manifest: dict[str, Any]) -> None:
    result = lineage(manifest, "model.tiny.stg_orders", include_tests=True)
    assert {n.resource_type for n in result.downstream} == {"model", "test"}


def test_unknown_node_suggests_close_matches(manifest: dict[str, Any]) -> None:
    with pytest.raises(UnknownNode) as raised:
        lineage(manifest, "stg_ordrs")
    assert "stg_orders" in raised.value.message


def test_ambiguous_name_lists_the_candidates(manifest: dict[str, Any]) -> None:
    # an installed package may ship a model with the same name as one of ours
    with_package = copy.deepcopy(manifest)
    twin = copy.deepcopy(manifest["nodes"]["model.tiny.orders"])
    twin.update(unique_id="model.other_pkg.orders", package_name="other_pkg")
    with_package["nodes"]["model.other_pkg.orders"] = twin
    with pytest.raises(UnknownNode, match="ambiguous") as raised:
        lineage(with_package, "orders")
    assert "model.other_pkg.orders" in raised.value.message
    assert "model.tiny.orders" in raised.value.message


def test_negative_depth_is_refused(manifest: dict[str, Any]) -> None:
    with pytest.raises(InvalidArguments):
        lineage(manifest, "orders", upstream=-1)


def test_render_text_shows_a_tree(manifest_path: Path) -> None:
    text = lineage(manifest_path, "stg_orders", upstream=1, downstream=2).render_text()
    assert text.splitlines() == [
        "stg_orders  [model: model.tiny.stg_orders]",
        "upstream (depth 1):",
        "  <- raw.orders  [source]",
        "downstream (depth 2):",
        "  -> orders  [model]",
        "    -> orders_dashboard  [exposure]",
    ]


def test_missing_manifest_says_to_parse_first(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="dbt parse"):
        load_manifest(tmp_path / "target" / "manifest.json")


def _chain_manifest(length: int) -> dict[str, Any]:
    """model m0 <- m1 <- ... <- m{length-1}: each model reads the one before it."""
    ids = [f"model.chain.m{i}" for i in range(length)]
    return {
        "nodes": {uid: {"name": uid.rsplit(".", 1)[1], "resource_type": "model"} for uid in ids},
        "parent_map": {uid: ids[i - 1 : i] for i, uid in enumerate(ids)},
        "child_map": {uid: ids[i + 1 : i + 2] for i, uid in enumerate(ids)},
    }


def test_a_deep_chain_is_capped_and_its_text_stays_small() -> None:
    # it was: RecursionError at --upstream 2000 on a 1500-model chain, 827 KB of text at depth 900
    found = lineage(_chain_manifest(1500), "m1499", upstream=2000)
    assert (found.upstream_depth, found.depth_asked) == (MAX_DEPTH, 2000)
    assert len(found.upstream) == MAX_DEPTH and found.upstream[-1].name == "m1399"
    text = found.render_text()
    assert "upstream (depth 100; capped at 100, 2000 was asked for):" in text
    assert len(text) < 10_000
    lines = text.splitlines()
    assert lines[2] == "  <- m1498  [model]"
    assert lines[101] == "                [100] <- m1399  [model]"  # numbered, not indented further


def test_a_wide_lineage_is_cut_at_the_size_cap() -> None:
    manifest = _chain_manifest(1)
    fan = [f"model.chain.wide_model_with_a_long_name_{i}" for i in range(5000)]
    manifest["nodes"] |= {uid: {"name": uid.rsplit(".", 1)[1], "resource_type": "model"} for uid in fan}
    manifest["child_map"]["model.chain.m0"] = fan
    text = lineage(manifest, "m0", downstream=1).render_text()
    assert len(text) <= MAX_RENDERED_CHARS + 200
    assert text.endswith("characters; ask for a smaller depth")
