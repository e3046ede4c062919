"""The bundled example project: a copy parses, lists its sources and reads its warehouse with real dbt."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tools.errors import ConfigurationError
from tools.example_project import TEMPLATE_DIR, create_example_project, warehouse_path

_SOURCES = {"customers", "stores", "products", "supplies", "orders", "items"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_example_project(tmp_path_factory.mktemp("example") / "jaffle_shop")


def _dbt(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """Run dbt in-process the way ae does: cwd and --profiles-dir/--project-dir all at the project."""
    from dbt.cli.main import dbtRunner

    monkeypatch.chdir(project)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    result = dbtRunner().invoke(
        [
            *args,
            "--profiles-dir",
            str(project),
            "--project-dir",
            str(project),
            "--no-send-anonymous-usage-stats",
        ]
    )
    assert result.success, result.exception
    return result.result


def test_copy_has_the_template_files_and_a_generated_warehouse(project: Path) -> None:
    copied = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    # the sources' YAML is in the folder of source raw, where its staging models go
    # (dbt-project-evaluator's fct_source_directories)
    sources = "models/staging/raw/_raw__sources.yml"
    assert {"dbt_project.yml", "profiles.yml", sources, ".gitignore"} <= copied
    assert not any(name.endswith(".sql") for name in copied)  # sources only: the agent builds models
    with duckdb.connect(str(warehouse_path(project)), read_only=True) as con:
        tables = {
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'"
            ).fetchall()
        }
    assert tables == _SOURCES


def test_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ConfigurationError, match="not an empty folder"):
        create_example_project(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_profile_targets_and_retry_keys_are_what_dbt_duckdb_reads() -> None:
    from dbt.adapters.duckdb.credentials import Retries

    outputs = yaml.safe_load((TEMPLATE_DIR / "profiles.yml").read_text())["jaffle_shop"]["outputs"]
    assert {name: out["schema"] for name, out in outputs.items()} == {"dev": "main", "prod": "prod"}
    retry_keys = {field.name for field in dataclasses.fields(Retries)}
    for out in outputs.values():
        assert out["path"] == "jaffle_shop.duckdb" and out["keep_open"] is False
        assert set(out["retries"]) <= retry_keys


def test_dbt_parses_and_lists_the_six_sources(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _dbt(project, monkeypatch, "parse")
    listed = _dbt(project, monkeypatch, "ls", "--resource-type", "source")
    assert set(listed) == {f"source:jaffle_shop.raw.{table}" for table in _SOURCES}


def test_source_freshness_reads_the_loaded_at_fields(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What `/dbt-source --freshness` will add: a freshness block on the tables with a loaded_at_field.
    sources_file = project / "models" / "staging" / "raw" / "_raw__sources.yml"
    original = sources_file.read_text()
    spec = yaml.safe_load(original)
    timed = [t for t in spec["sources"][0]["tables"] if "loaded_at_field" in t.get("config", {})]
    for table in timed:
        table["config"]["freshness"] = {"warn_after": {"count": 12, "period": "hour"}}
    sources_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    try:
        results = _dbt(project, monkeypatch, "source", "freshness")
    finally:
        sources_file.write_text(original)
    assert {t["name"] for t in timed} == {"customers", "orders"}
    # Computed from the project's own warehouse (an empty one would fail with a missing table); the
    # data is anchored in 2024, so against the wall clock it is always stale.
    assert {(r.node.name, str(r.status)) for r in results.results} == {
        ("customers", "warn"),
        ("orders", "warn"),
    }
