"""The task checks, evaluated on the agent's copy (and the reference's) after the run.

Each check yields ``CheckResult``s; graders.py turns them into pass/fail and figures. Checks read
the warehouse through the port (tools/warehouse_port: the DuckDB file, or PostgreSQL through the
copy's dbt adapter) and the manifest of a fresh ``dbt parse``; only the incremental check builds
(a --full-refresh of the model, after everything else has read the table).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.graders import CheckResult, compare_multisets
from evals.task import GoldCheck, NodeCheck, Task
from evals.workspace import changed_files
from tools.engine import DbtCall, DbtEngine, DbtResult
from tools.errors import AeError, EmptySelection
from tools.lint import lint_project
from tools.manifest import Manifest, Node
from tools.warehouse_port import RelationName, Warehouse, warehouse_for


@dataclass
class RunFacts:
    """What the harness saw of one agent run, for the checks."""

    status: str
    answer: str
    files_before: dict[str, str]
    files_after: dict[str, str]
    raw_before: dict[str, tuple[int, str]]
    raw_after: dict[str, tuple[int, str]]
    after_error: str | None = None


@dataclass
class Copy:
    """One isolated project copy with its grading engine and a fresh manifest."""

    project_dir: Path
    engine: DbtEngine
    #: empty until parsed, and when the project does not parse
    manifest: Manifest = field(default_factory=lambda: Manifest({}))

    @functools.cached_property
    def warehouse(self) -> Warehouse:
        """The grading engine's target: the copy's DuckDB file, or its PostgreSQL database."""
        return warehouse_for(self.engine)

    def load_manifest(self) -> None:
        self.manifest = Manifest.for_engine(self.engine, missing_ok=True)

    def reparse(self) -> None:
        try:
            self.engine.invoke(DbtCall(command="parse"))
            self.manifest = Manifest.for_engine(self.engine)
        except AeError:
            self.manifest = Manifest({})


def relation_parts(name: str) -> tuple[str, str]:
    schema, dot, table = name.rpartition(".")
    return (schema if dot else "main"), table


def quoted(warehouse: Warehouse, name: str) -> str:
    schema, table = relation_parts(name)
    return warehouse.sql_of(RelationName(schema_name=schema, name=table))


def _columns(warehouse: Warehouse, name: str) -> list[str] | None:
    schema, table = relation_parts(name)
    found = [ref for ref in warehouse.list_relations(schema) if ref.name == table]
    return [column.name for column in warehouse.columns(found[0])] if found else None


def _query(warehouse: Warehouse, sql: str) -> tuple[list[str], list[list[Any]]]:
    """The task's own SQL (gold checks) or the harness's: all rows, as the port gives them."""
    [result] = warehouse.read([sql])
    return result.columns, result.rows


def _node(manifest: Manifest, resource_type: str, name: str) -> Node | None:
    """The node of that type named ``name`` (``source.table`` for a source); a macro must be the
    project's own (dbt and packages ship hundreds), other kinds may come from packages."""
    candidates = manifest.of_type(resource_type, packages=resource_type != "macro")
    return next((node for node in candidates if node.label == name), None)


# --- individual checks ------------------------------------------------------------------------------


def check_status(task: Task, status: str) -> CheckResult:
    ok = status in task.checks.expect_status
    return CheckResult(
        kind="status",
        name="status",
        passed=ok,
        detail=f"{status} (expected {'/'.join(task.checks.expect_status)})",
    )


def check_relations(task: Task, agent: Copy) -> Iterator[CheckResult]:
    for rel in task.checks.relations:
        have = _columns(agent.warehouse, rel.name)
        if rel.absent:
            yield CheckResult(
                kind="relation",
                name=f"{rel.name} absent",
                passed=have is None,
                detail="exists" if have else "absent",
            )
            continue
        missing = [c for c in rel.columns if have is None or c not in have]
        detail = "missing relation" if have is None else (f"missing columns {missing}" if missing else "ok")
        yield CheckResult(
            kind="relation", name=rel.name, passed=have is not None and not missing, detail=detail
        )


def _gold_rows(gold: GoldCheck, agent: Copy, reference: Copy | None) -> tuple[list[str], list[list[Any]]]:
    if gold.sql is not None:
        return _query(agent.warehouse, gold.sql)
    if reference is None:
        raise AeError(f"gold for {gold.relation} needs the reference copy, which was not built")
    return _query(reference.warehouse, f"select * from {quoted(reference.warehouse, gold.relation)}")


def check_gold(task: Task, agent: Copy, reference: Copy | None) -> Iterator[CheckResult]:
    for gold in task.checks.gold:
        name = f"{gold.relation} = {'reference' if gold.reference else 'gold sql'}"
        try:
            columns, expected = _gold_rows(gold, agent, reference)
            listed = ", ".join(agent.warehouse.dialect.ident(c) for c in columns)
            relation = quoted(agent.warehouse, gold.relation)
            _, actual = _query(agent.warehouse, f"select {listed} from {relation}")
        except Exception as exc:
            yield CheckResult(kind="gold", name=name, passed=False, detail=str(exc).splitlines()[0][:300])
            continue
        equal, detail = compare_multisets(expected, actual, gold.tolerance)
        yield CheckResult(kind="gold", name=name, passed=equal, detail=detail)


def run_tests(task: Task, agent: Copy) -> tuple[DbtResult | None, list[CheckResult]]:
    """dbt test on the task's models: one check per test node (a dbt error is one failed check)."""
    selection = sorted({*task.models, *(t.model for t in task.checks.tests_pass)})
    if not selection or agent.manifest.is_empty:
        return None, []
    try:
        tested = agent.engine.invoke(DbtCall(command="test", select=selection))
    except EmptySelection:
        return None, []
    except AeError as exc:
        return None, [CheckResult(kind="dbt_test", name="dbt test", passed=False, detail=str(exc)[:300])]
    checks = [CheckResult(kind="dbt_test", name=n.name, passed=n.ok, detail=n.status) for n in tested.nodes]
    if tested.error is not None:
        checks.append(
            CheckResult(kind="dbt_test", name="dbt test", passed=False, detail=tested.error.message[:300])
        )
    return tested, checks


def check_required_tests(task: Task, agent: Copy, tested: DbtResult | None) -> Iterator[CheckResult]:
    statuses = {n.unique_id: n.ok for n in (tested.nodes if tested else [])}
    tests = agent.manifest.of_type("test")
    for required in task.checks.tests_pass:
        name = f"{required.test}({required.model}.{required.column})"
        found = [
            test.unique_id
            for test in tests
            if test.generic_test == required.test
            and (test.attached_node or "").split(".")[-1] == required.model
            and test.column_name == required.column
        ]
        if not found:
            yield CheckResult(kind="required_test", name=name, passed=False, detail="no such test")
            continue
        ok = all(statuses.get(uid, False) for uid in found)
        yield CheckResult(
            kind="required_test", name=name, passed=ok, detail="passes" if ok else "fails or did not run"
        )


def check_lint(task: Task, agent: Copy) -> Iterator[CheckResult]:
    if not task.checks.lint:
        return
    wanted = set(task.models)
    missing = sorted(m for m in wanted if _node(agent.manifest, "model", m) is None)
    if agent.manifest.is_empty or missing:
        # a rule cannot hold on a model that is not there
        detail = "the project does not parse" if agent.manifest.is_empty else f"missing models {missing}"
        for rule in task.checks.lint:
            yield CheckResult(kind="lint", name=rule, passed=False, detail=detail)
        return
    # the lint reads dbt's own shape of the nodes (code, configs, columns)
    findings = lint_project(agent.manifest.raw, agent.project_dir).findings
    for rule in task.checks.lint:
        hits = [f for f in findings if f.rule_id == rule and (not wanted or f.node.split(".")[-1] in wanted)]
        detail = "; ".join(f"{f.path}:{f.line} {f.message}" for f in hits)[:300] or "clean"
        yield CheckResult(kind="lint", name=rule, passed=not hits, detail=detail)


def check_unchanged(task: Task, facts: RunFacts) -> Iterator[CheckResult]:
    changed = set(changed_files(facts.files_before, facts.files_after))
    for path in task.checks.unchanged:
        yield CheckResult(
            kind="unchanged",
            name=path,
            passed=path not in changed,
            detail="changed" if path in changed else "identical",
        )
    if task.expects_refusal:
        yield CheckResult(
            kind="unchanged",
            name="every project file",
            passed=not changed,
            detail=", ".join(sorted(changed))[:300] or "identical",
        )
    intact = facts.raw_before == facts.raw_after
    differs = [
        t
        for t in facts.raw_before.keys() | facts.raw_after.keys()
        if facts.raw_before.get(t) != facts.raw_after.get(t)
    ]
    yield CheckResult(
        kind="raw_intact",
        name="raw tables",
        passed=intact,
        detail=f"changed: {sorted(differs)}" if differs else "intact",
    )


def _check_node(agent: Copy, spec: NodeCheck) -> CheckResult:
    node = _node(agent.manifest, spec.resource_type, spec.name)
    name = f"{spec.resource_type} {spec.name}"
    if node is None:
        return CheckResult(kind="node", name=name, passed=False, detail="not in the manifest")
    depends = {uid.split(".")[-1] for uid in node.depends_on}
    missing = [d for d in spec.depends_on if d not in depends]
    return CheckResult(
        kind="node",
        name=name,
        passed=not missing,
        detail=f"missing dependencies {missing}" if missing else "ok",
    )


def check_nodes(task: Task, agent: Copy) -> Iterator[CheckResult]:
    for spec in task.checks.nodes:
        yield _check_node(agent, spec)


def _relation_of(agent: Copy, resource_type: str, name: str) -> str | None:
    node = _node(agent.manifest, resource_type, name)
    return node.relation_name if node else None


def _fingerprint(warehouse: Warehouse, relation: str) -> tuple[int, str]:
    found = warehouse.fingerprint(relation)
    return found.rows, found.hash


def check_snapshots(task: Task, agent: Copy) -> Iterator[CheckResult]:
    for spec in task.checks.snapshot_history:
        relation = _relation_of(agent, "snapshot", spec.name)
        try:
            if relation is None:
                raise AeError(f"no snapshot {spec.name} in the manifest")
            sql = f"select count(*) from {relation} where dbt_valid_to is not null"
            _, rows = _query(agent.warehouse, sql)
            closed = int(rows[0][0])
        except Exception as exc:
            yield CheckResult(kind="snapshot_history", name=spec.name, passed=False, detail=str(exc)[:300])
            continue
        yield CheckResult(
            kind="snapshot_history",
            name=spec.name,
            passed=closed >= spec.min_closed,
            detail=f"{closed} closed version(s)",
        )


def check_incrementals(task: Task, agent: Copy) -> Iterator[CheckResult]:
    for model in task.checks.incremental:
        relation = _relation_of(agent, "model", model)
        node = _node(agent.manifest, "model", model)
        if relation is None or node is None or node.config.materialized != "incremental":
            yield CheckResult(kind="incremental", name=model, passed=False, detail="not an incremental model")
            continue
        try:
            before = _fingerprint(agent.warehouse, relation)
            rebuilt = agent.engine.invoke(DbtCall(command="run", select=[model], full_refresh=True))
            after = _fingerprint(agent.warehouse, relation)
        except Exception as exc:
            yield CheckResult(kind="incremental", name=model, passed=False, detail=str(exc)[:300])
            continue
        ok = rebuilt.success and before == after
        yield CheckResult(
            kind="incremental",
            name=model,
            passed=ok,
            detail=f"incremental {before[0]} rows, full refresh {after[0]} rows"
            + ("" if before == after else " (different)"),
        )


def check_freshness(task: Task, agent: Copy) -> Iterator[CheckResult]:
    for name in task.checks.source_freshness:
        node = _node(agent.manifest, "source", name)
        ok = node is not None and bool(node.loaded_at_field) and node.declares_freshness
        yield CheckResult(
            kind="source_freshness",
            name=name,
            passed=ok,
            detail="freshness declared" if ok else "no freshness rule or loaded_at_field",
        )


def check_described(task: Task, agent: Copy) -> Iterator[CheckResult]:
    for name in task.checks.described:
        node = _node(agent.manifest, "model", name)
        ok = node is not None and node.is_documented
        detail = (
            "described"
            if ok
            else f"description: {bool(node and node.description)}, "
            f"{len(node.columns) if node else 0} columns, "
            f"undescribed: {node.undocumented_columns if node else []}"
        )
        yield CheckResult(kind="described", name=name, passed=ok, detail=detail[:300])


def check_files(task: Task, agent: Copy) -> Iterator[CheckResult]:
    for rel in task.checks.files_exist:
        ok = (agent.project_dir / rel).is_file()
        yield CheckResult(kind="file", name=rel, passed=ok, detail="exists" if ok else "missing")


def check_answer(task: Task, facts: RunFacts) -> Iterator[CheckResult]:
    for text in task.checks.answer_contains:
        ok = text in facts.answer
        yield CheckResult(
            kind="answer",
            name=f"answer mentions {text}",
            passed=ok,
            detail="found" if ok else "not in the answer",
        )


def run_checks(task: Task, facts: RunFacts, agent: Copy, reference: Copy | None) -> list[CheckResult]:
    """Every check of the task, the builds-changing one (incremental) last."""
    results = [check_status(task, facts.status)]
    if facts.after_error is not None:
        results.append(
            CheckResult(kind="after", name="after steps", passed=False, detail=facts.after_error[:300])
        )
    results += check_unchanged(task, facts)
    results += check_answer(task, facts)
    results += check_relations(task, agent)
    results += check_gold(task, agent, reference)
    tested, test_checks = run_tests(task, agent)
    results += test_checks
    results += check_required_tests(task, agent, tested)
    results += check_lint(task, agent)
    results += check_nodes(task, agent)
    results += check_freshness(task, agent)
    results += check_described(task, agent)
    results += check_files(task, agent)
    results += check_snapshots(task, agent)
    results += check_incrementals(task, agent)
    return results
