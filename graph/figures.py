"""The figures a run reports: build, tests, schema compliance, documentation, incrementals, source
freshness, compiled SQL size, failure impact, and the time the repair loop took to turn failing tests
into passing ones."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from graph.nodes import upstream_tables
from tools.engine import DbtResult
from tools.errors import AeError
from tools.lint import documents_its_output, lint_dialect
from tools.manifest import Manifest
from tools.warehouse_port import Warehouse


class Figures(BaseModel):
    models_built: int = 0
    models_failed: int = 0
    build_seconds_mean: float | None = None
    build_seconds_p95: float | None = None
    tests_passed: int = 0
    tests_failed: int = 0
    tests_warned: int = 0
    #: passed (warn counts as passed) / tests run; None when no test ran
    test_pass_rate: float | None = None
    rows_per_model: dict[str, int] = Field(default_factory=dict)
    #: project models whose YAML documents exactly the columns their SQL outputs (AE014) / project models
    schema_compliance: float | None = None
    #: project models described, with every declared column described / project models
    documentation_coverage: float | None = None
    incremental_models_ratio: float | None = None
    #: of the sources with a freshness rule that the run was asked to check or built models from,
    #: those whose check passed; None when there were none (a run that only reads checks none)
    data_freshness_sla: float | None = None
    #: average lines of compiled SQL per model built
    query_efficiency: float | None = None
    #: models a failure affected: those that failed plus those skipped because an upstream failed
    downstream_impact: int = 0
    #: seconds from the first failing test of the run to the verify that passed after repair
    mttr_test_failures: float | None = None


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def build_figures(results: list[DbtResult]) -> dict[str, Any]:
    models = [n for r in results for n in r.nodes if n.resource_type == "model"]
    times = [n.execution_time for n in models if n.ok]
    return {
        "models_built": sum(1 for n in models if n.ok),
        "models_failed": sum(1 for n in models if not n.ok and n.status != "skipped"),
        "build_seconds_mean": round(statistics.fmean(times), 4) if times else None,
        "build_seconds_p95": round(_p95(times), 4) if times else None,
    }


def impact_and_size(results: list[DbtResult]) -> dict[str, Any]:
    """downstream_impact and query_efficiency over the models this run built."""
    models = [n for r in results for n in r.nodes if n.resource_type == "model"]
    affected = sum(1 for n in models if not n.ok)
    lines = [len(n.compiled_sql.strip().splitlines()) for n in models if n.ok and n.compiled_sql]
    return {
        "downstream_impact": affected,
        "query_efficiency": round(statistics.fmean(lines), 2) if lines else None,
    }


def sources_read_with_freshness(manifest: Manifest, unique_ids: Iterable[str]) -> dict[str, str]:
    """The sources with a warn_after or error_after count that the nodes ``unique_ids`` read,
    directly or through other models: unique id -> ``source:name.table`` selector."""
    read = {table for uid in unique_ids for table in upstream_tables(manifest, uid)}
    return {
        uid: f"source:{source.label}"
        for uid, source in sorted(manifest.sources.items())
        if source.declares_freshness and source.relation_name in read
    }


def freshness_figure(results: Iterable[DbtResult | None], declared: int) -> float | None:
    """data_freshness_sla: checks that passed / sources with a rule checked (None when none was)."""
    if not declared:
        return None
    fresh = sum(1 for result in results if result for n in result.nodes if n.status == "pass")
    return _ratio(fresh, declared)


#: what dbt counts as a test it ran: data tests and unit tests (``dbt test`` runs both)
TEST_TYPES = frozenset({"test", "unit_test"})


def test_figures(result: DbtResult | None) -> dict[str, Any]:
    tests = [n for n in (result.nodes if result else []) if n.resource_type in TEST_TYPES]
    passed = sum(1 for n in tests if n.status == "pass")
    warned = sum(1 for n in tests if n.status == "warn")
    failed = sum(1 for n in tests if n.status in {"fail", "error"})
    return {
        "tests_passed": passed,
        "tests_failed": failed,
        "tests_warned": warned,
        "test_pass_rate": _ratio(passed + warned, passed + warned + failed),
    }


def project_figures(manifest: Manifest) -> dict[str, Any]:
    models = list(manifest.root("model").values())
    dialect = lint_dialect(manifest)
    compliant = [m for m in models if documents_its_output(m, dialect)]
    documented = [m for m in models if m.is_documented]
    incremental = [m for m in models if m.config.materialized == "incremental"]
    return {
        "schema_compliance": _ratio(len(compliant), len(models)),
        "documentation_coverage": _ratio(len(documented), len(models)),
        "incremental_models_ratio": _ratio(len(incremental), len(models)),
    }


def row_counts(
    warehouse: Warehouse, manifest: Manifest, unique_ids: list[str]
) -> tuple[dict[str, int], list[str]]:
    """Rows in each built model's relation on any warehouse behind the port, and for each relation
    that could not be counted, why (for the run to say: a figure left out is never silent)."""
    counts: dict[str, int] = {}
    uncounted: list[str] = []
    for uid in unique_ids:
        node = manifest.nodes.get(uid)
        if node is None or node.resource_type != "model" or node.config.materialized == "ephemeral":
            continue
        # quoted by the dialect: a relation name is the project's text, never SQL of its own
        parts = [part for part in (node.database, node.schema, node.alias or node.name) if part]
        relation = ".".join(warehouse.dialect.ident(part) for part in parts)
        try:
            counts[node.name] = warehouse.row_count(relation)
        except AeError as exc:
            uncounted.append(f"rows of {node.name} not counted on {warehouse.adapter}: {exc}")
    return counts, uncounted
