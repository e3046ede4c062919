"""Validate: apply the changeset (undoably), dbt parse, compile the selection, run the guardrail lint.

Any failure rolls the changeset back and sends structured feedback to Plan while repair visits
remain; at the bound the run ends failed with the project as it was.

The lint judges the change, not the project (graph.lint_scope): findings block only on models the
change creates, and on models it modifies when they are new. Everything else is reported as debt
under ``lint_debt``, never blocking, and so is any finding accepted in the project's
``.ae-lint-baseline.json`` (read as it was before the change, so a plan cannot accept its own).

To know what is new, the project is parsed once more before the changeset is applied (a warm
partial parse, ~0.1-0.3 s), the models the change may modify are compiled as they were (~0.1 s a
model, so old and new findings both come from compiled SQL), and those models are linted with the
files as they were. Both steps are skipped when the change only adds models. Judging by the
baseline alone would need no dbt call, but a project without one would then block on all the old
debt of any model it touches.

Every parse and compile here opens the warehouse read-only with no file access (``read_only``
calls, tools/engine/child.py): behind Approve, a second wall, so code in a model cannot write while
it is only being checked. Any failure counts — an exception, ``success=False`` or a node that failed
— whatever kind of error dbt reports.

A change that writes the SQL of a model declared in a YAML file it leaves unchanged is parsed in
full, by any planner: dbt's partial parse would leave the declaration (description, columns,
tests) off the model.

Once it compiles, the gate looks again, at what dbt resolved the change to (graph/trust_gate.py):
code beside the models' own statements, and nodes the run builds onto a protected location. What
needs a yes that was not given is asked after the change is undone (graph/phases/approve.py); the
lint runs once all is approved. A model's ``ae_lint_disable`` counts as the project had it before
the change (graph/lint_scope.py): what a plan adds is reported and ignored.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from langgraph.runtime import Runtime

from graph.context import RunContext
from graph.lint_scope import ChangeScope, added_disables, models_it_may_modify, prior_texts
from graph.nodes import names, new_tests, redefined, touched_nodes
from graph.phases.approve import judge_resolved
from graph.phases.outcome import fail_or_repair
from graph.plan_spec import Feedback, PlanSpec
from graph.read_only import is_read_only
from graph.state import RunState
from graph.transaction import apply_journaled, journaled_deps, rollback_journaled
from graph.trust_gate import Reach, review_change
from tools.changeset import AppliedChangeset, Changeset, PriorFile
from tools.engine import DbtCall, DbtResult
from tools.errors import DbtCompilationError, ModelFixableError
from tools.lint import LintFinding, lint_project
from tools.lint_baseline import BASELINE_FILE, parse_baseline, read_baseline
from tools.manifest import Manifest, target_dir
from tools.properties_files import declarations, disk_reader, properties_files
from tools.protection import Protection

PACKAGE_FILES = frozenset({"packages.yml", "dependencies.yml"})
#: dbt's partial-parse cache in its target folder
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
COMPILED_BY = frozenset({"run", "build", "test", "compile", "seed", "snapshot"})


def _selection_to_compile(spec: PlanSpec, changed_names: list[str]) -> list[str]:
    selection = list(changed_names)
    for op in spec.operations or []:
        if op.command in COMPILED_BY:
            selection += op.select
    return sorted(set(selection))


def _check(ctx: RunContext, call: DbtCall) -> DbtResult:
    """One of Validate's dbt calls, read-only; a failure of any kind raises (a compile's failed
    nodes are left to the caller, which reports each)."""
    result = ctx.dbt("validate", call.model_copy(update={"read_only": True}))
    if not result.success and (result.error is not None or not result.failed_nodes):
        raise DbtCompilationError(result.summary())
    return result


def _with_compiled(manifest: Manifest, compiled: DbtResult) -> Manifest:
    # the lint and the gate read compiled SQL from the manifest, which `dbt parse` leaves without it
    return manifest.with_compiled({n.unique_id: n.compiled_sql or "" for n in compiled.nodes})


def _project_before(ctx: RunContext, changeset: Changeset) -> Manifest | None:
    """The manifest of the project before the change, with the models the change may modify
    compiled; None when it only adds models, or when the project as it was does not parse."""
    paths = ctx.tools.paths
    if changeset.is_empty or changeset.is_applied(paths):  # resumed after apply: the old project is gone
        return None
    on_disk = prior_texts(
        PriorFile.capture(c.path, paths.resolve(c.path, must_exist=False)) for c in changeset.changes
    )
    candidates = models_it_may_modify(changeset, on_disk)
    if not candidates:
        return None
    try:
        _check(ctx, DbtCall(command="parse"))
    except ModelFixableError as exc:
        ctx.progress("validate", f"the project did not parse before this change: {exc}", ok=False)
        return None
    manifest = Manifest.for_engine(ctx.engine)
    models = candidates & {node.name for node in manifest.root("model").values()}
    if models:
        try:
            manifest = _with_compiled(
                manifest, _check(ctx, DbtCall(command="compile", select=sorted(models)))
            )
        except ModelFixableError as exc:  # lint them from raw SQL, as a parse leaves them
            ctx.progress("validate", f"the models did not compile before this change: {exc}", ok=False)
    return manifest


def _baseline(root: Path, before: Mapping[str, str | None]) -> frozenset[str]:
    if BASELINE_FILE not in before:
        return read_baseline(root)
    text = before[BASELINE_FILE]
    return frozenset() if text is None else parse_baseline(text)


@dataclass(frozen=True)
class _ChangeLint:
    #: findings the change answers for: errors block, warnings are shown
    answered: list[LintFinding] = field(default_factory=list)
    #: everything else linted: reported, never blocking
    debt: list[LintFinding] = field(default_factory=list)
    scope: ChangeScope = field(default_factory=lambda: ChangeScope(frozenset(), frozenset()))
    #: rule ids the change's own ``ae_lint_disable`` tried to switch off, by model: ignored
    ignored_disables: dict[str, list[str]] = field(default_factory=dict)

    def errors(self) -> list[str]:
        return [f"{f.path}:{f.line}: {f.rule_id} {f.message}" for f in self.answered if f.severity == "error"]

    def show(self, ctx: RunContext) -> None:
        for uid, rules in self.ignored_disables.items():
            ctx.progress(
                "validate",
                f"{uid}: ae_lint_disable {', '.join(rules)} ignored: this change added it, and a plan "
                "cannot switch a lint rule off for itself (the project's own list, or its lint baseline, "
                "can)",
                ok=False,
            )
        for finding in self.answered:
            if finding.severity == "warning":
                ctx.progress("validate", f"lint warning {finding.rule_id} {finding.path}:{finding.line}")
        if self.debt:
            ctx.progress(
                "validate",
                f"{len(self.debt)} existing lint finding(s) on models this change did not create or "
                "modify, or accepted in the baseline: reported, not blocking",
            )

    def as_validation(self) -> dict[str, Any]:
        return {
            "lint": [f.model_dump() for f in self.answered],
            "lint_debt": [f.model_dump() for f in self.debt],
            "lint_scope": {"created": sorted(self.scope.created), "modified": sorted(self.scope.modified)},
            "lint_disable_ignored": self.ignored_disables,
        }


def _lint_change(
    ctx: RunContext,
    manifest: Manifest,
    changeset: Changeset,
    before: Mapping[str, str | None],
    before_manifest: Manifest | None,
) -> _ChangeLint:
    """Lint the models in the touched files and sort the findings into the change's own and debt."""
    scope = ChangeScope.of(manifest, changeset, before, before_manifest)
    allowed = scope.disables(manifest, before_manifest)
    report = lint_project(
        manifest,
        ctx.project_dir,
        config=ctx.lint,
        only_paths=set(changeset.touched_paths()),
        disable_allowed=allowed,
    )
    found_before: set[str] | None = None
    if before_manifest is not None:
        old = lint_project(
            before_manifest, ctx.project_dir, config=ctx.lint, only_nodes=scope.modified, texts=before
        )
        found_before = scope.found_before(old.findings)
    elif scope.modified:
        ctx.progress(
            "validate",
            "the modified models could not be linted as they were, so all their findings count",
            ok=False,
        )
    answered, debt = scope.split(
        report.findings, before=found_before, baseline=_baseline(ctx.project_dir, before)
    )
    return _ChangeLint(answered, debt, scope, added_disables(manifest, allowed))


def _judge(
    ctx: RunContext,
    state: RunState,
    manifest: Manifest,
    reach: Reach,
    *,
    build_nodes: list[str],
    before_manifest: Manifest | None,
    protected_before: Protection | None,
) -> dict[str, Any]:
    """The gate's verdict on what dbt resolved the change to (graph/phases/approve.judge_resolved)."""
    protection = ctx.protection()  # after the change (a profile it edited), and as it was before
    if protection is not None:
        protection = protection.widened(protected_before)
    review = review_change(
        lambda call: _check(ctx, call),
        manifest,
        PlanSpec.model_validate(state["plan"]),
        reach,
        build_nodes=build_nodes,
        before=before_manifest,
        protection=protection,
    )
    return judge_resolved(ctx, state, review)


def _parse_declared_models_in_full(ctx: RunContext, changeset: Changeset) -> None:
    """Make this parse a full one when the change creates the SQL of a model declared in a YAML file
    it leaves alone. dbt's partial parse reads again only the files that changed, so the
    declaration's patch is not applied to the model that now exists: it would parse with no
    description, columns or tests, and the lint would fail it (AE007). Removing dbt's partial-parse
    cache (dbt writes it again) is how the parse is made full; a change without such a model keeps
    the warm partial parse."""
    created = {
        PurePosixPath(c.path).stem for c in changeset.changes if c.op == "create" and c.path.endswith(".sql")
    }
    if not created:
        return
    root, touched = ctx.project_dir, set(changeset.touched_paths())
    read = disk_reader(root)
    unchanged = [path for path in properties_files(root, read) if path not in touched]
    declared = sorted(name for name in created if declarations(unchanged, read, name))
    if not declared:
        return
    cache = target_dir(root, ctx.engine.target_path) / PARTIAL_PARSE_FILE
    if cache.is_file() and not cache.is_symlink():
        cache.unlink()
    ctx.progress("validate", f"{', '.join(declared)}: declared in YAML before its SQL, so dbt parses in full")


def _install_packages(ctx: RunContext, touched: list[str]) -> None:
    """``dbt deps`` when the change declares packages: dbt refuses to parse until they are installed
    (offline: local ones). What it installs is journaled, so a rollback or undo removes it."""
    if PACKAGE_FILES & set(touched):
        with journaled_deps(ctx.tools.paths.root, ctx.run_dir):
            _check(ctx, DbtCall(command="deps"))


@dataclass
class _Examined:
    """What Validate found on the applied change: its problems, lint, nodes and the gate's verdict."""

    errors: list[str] = field(default_factory=list)
    lint: _ChangeLint = field(default_factory=_ChangeLint)
    changed: list[str] = field(default_factory=list)
    build: list[str] = field(default_factory=list)
    new_tests: list[str] = field(default_factory=list)
    verdict: dict[str, Any] = field(default_factory=dict)


def _examine(
    ctx: RunContext,
    state: RunState,
    spec: PlanSpec,
    applied: AppliedChangeset | None,
    *,
    before_manifest: Manifest | None,
    protected_before: Protection | None,
) -> _Examined:
    """Parse and compile the applied change read-only, let the gate judge it, then lint it; a problem
    the model can fix is one of the errors, not an exception."""
    found = _Examined()
    touched = spec.changeset.touched_paths()
    try:
        _install_packages(ctx, touched)
        _parse_declared_models_in_full(ctx, spec.changeset)
        _check(ctx, DbtCall(command="parse"))
        manifest = Manifest.for_engine(ctx.engine)
        found.changed = touched_nodes(manifest, touched)
        found.build = redefined(manifest, found.changed, touched, before_manifest)
        reach = Reach.of(manifest, touched, before_manifest)
        selection = _selection_to_compile(spec, names(manifest, [*found.changed, *reach.nodes]))
        if selection:
            compiled = _check(ctx, DbtCall(command="compile", select=selection))
            found.errors += [f"{n.name}: {n.message}" for n in compiled.failed_nodes]
            manifest = _with_compiled(manifest, compiled)
        found.new_tests = new_tests(manifest, before_manifest, touched, found.build)
        if not found.errors:
            found.verdict = _judge(
                ctx,
                state,
                manifest,
                reach,
                build_nodes=found.build,
                before_manifest=before_manifest,
                protected_before=protected_before,
            )
        if applied is not None and not found.verdict.get("gate"):
            found.lint = _lint_change(
                ctx, manifest, spec.changeset, prior_texts(applied.priors), before_manifest
            )
            found.errors += found.lint.errors()
            found.lint.show(ctx)
    except ModelFixableError as exc:
        found.errors.append(str(exc))
    return found


def _conclude(
    ctx: RunContext, state: RunState, found: _Examined, applied: AppliedChangeset | None, took: float
) -> dict[str, Any]:
    """The state update: a question for a person (nothing left applied), a repair or a failure, or
    the change validated and left applied for Execute."""
    validation = {
        "ok": not found.errors,
        "errors": found.errors,
        **found.lint.as_validation(),
        "changed_nodes": found.changed,
    }
    applied_record = applied.model_dump(mode="json") if applied is not None else None
    if found.verdict.get("gate") and not found.errors:  # a person answers first, with nothing left applied
        if undone := rollback_journaled(applied_record, ctx.run_dir, warehouse=ctx.warehouse_now()):
            ctx.progress("validate", undone.describe())
        return {"validation": validation, **found.verdict, "applied": None, "needs_repair": False}
    if found.errors:
        ctx.progress(
            "validate", f"{len(found.errors)} problem(s): {found.errors[0]}", ok=False, duration_s=took
        )
        feedback = Feedback(phase="validate", errors=found.errors)
        return {"validation": validation, **fail_or_repair(ctx, state, applied_record, feedback)}
    ctx.progress(
        "validate", f"{len(found.changed)} changed node(s) compile and pass lint", ok=True, duration_s=took
    )
    return {
        **found.verdict,
        "validation": validation,
        "applied": applied_record,
        "changed_nodes": found.changed,
        "build_nodes": found.build,
        "created_nodes": sorted(found.lint.scope.created),
        "new_tests": found.new_tests,
        "needs_repair": False,
    }


def validate(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    spec = PlanSpec.model_validate(state["plan"])
    if is_read_only(spec):  # no change to check: its own dbt call reports what is wrong with the project
        ctx.progress(
            "validate", "nothing to validate: the plan changes no file and builds nothing", kind="phase"
        )
        return {"validation": {"ok": True, "errors": [], "read_only": True}, "needs_repair": False}
    changeset = spec.changeset
    ctx.progress("validate", "applying the changeset, parsing, compiling, linting", kind="phase")
    started = time.perf_counter()
    protected_before = ctx.protection()  # the profile as it was: moving prod does not unprotect it
    before_manifest = _project_before(ctx, changeset)
    applied = None
    if not changeset.is_empty:
        applied = apply_journaled(changeset, ctx.tools.paths, ctx.run_dir)
        ctx.progress("validate", f"applied {len(changeset.changes)} file change(s)", ok=True)
    found = _examine(
        ctx, state, spec, applied, before_manifest=before_manifest, protected_before=protected_before
    )
    return _conclude(ctx, state, found, applied, time.perf_counter() - started)
