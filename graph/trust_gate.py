"""The gate's second look, in Validate: what the change resolves to in dbt's manifest.

Approve judged the plan's files as written; this judges what dbt made of them, after Validate's
read-only parse and compile (the checks themselves are tools/resolved_gate.py):

- code beside a node's own statement, in the nodes the change defines or changes — redefined
  models, seeds and snapshots, tests in the files it touches, and every node that uses (through any
  chain of macros) a macro it defines or changes — and macros of its own that override dbt's;
- where every node the run will build lands: Execute's operations (the plan's, or the default build
  of what changed and what depends on it) selected by dbt itself (``dbt ls``, read-only), plus the
  redefined nodes. The user's own code is theirs, but a write to prod is a write to prod whoever
  wrote the model, so locations count for everything built.

An operation with ``--vars`` is compiled with them (read-only): vars change configs (a schema from
``var()``) and bodies (a value pasted into SQL), so its nodes are judged as that build would see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from graph.nodes import BUILDABLE, build_kinds, listed_ids, redefined
from graph.phases.execute import default_operations
from graph.plan_spec import Operation, PlanSpec
from tools.engine import BUILDING, DbtCall, DbtResult
from tools.errors import EmptySelection
from tools.jinja_inspect import CodeFinding
from tools.manifest import Manifest
from tools.protection import Protection
from tools.resolved_gate import code_findings, location_findings, macro_findings

#: what each building command builds, when the plan names it (Execute builds all of them for ``build``)
_KINDS: dict[str, list[str]] = {
    "build": list(BUILDABLE),
    "run": ["model"],
    "seed": ["seed"],
    "snapshot": ["snapshot"],
}

Check = Callable[[DbtCall], DbtResult]


@dataclass(frozen=True)
class Reach:
    """What a change defines or changes: nodes (unique ids) whose code to judge, and its macros."""

    nodes: frozenset[str]
    macros: frozenset[str]

    @classmethod
    def of(cls, manifest: Manifest, touched: Iterable[str], before: Manifest | None) -> Reach:
        paths = set(touched)
        old_macros = before.macros if before is not None else {}
        macros = frozenset(
            uid
            for uid, macro in manifest.root("macro").items()
            if macro.original_file_path in paths
            and (uid not in old_macros or old_macros[uid].macro_sql != macro.macro_sql)
        )
        nodes = set(redefined(manifest, manifest.root(*BUILDABLE), paths, before))
        for uid, node in manifest.nodes.items():
            a_test_here = node.resource_type == "test" and node.original_file_path in paths
            # with the project before unknown, a config set in a touched YAML file may be new
            if a_test_here or (before is None and node.patch_path in paths):
                nodes.add(uid)
        return cls(frozenset(nodes | _users(manifest, macros)), macros)


def _users(manifest: Manifest, macros: frozenset[str]) -> set[str]:
    """Nodes that call any of ``macros``, directly or through other macros."""
    reached, grew = set(macros), True
    while grew:
        more = {uid for uid, m in manifest.macros.items() if reached.intersection(m.depends_on_macros)}
        grew = not more <= reached
        reached |= more
    return {uid for uid, node in manifest.nodes.items() if reached.intersection(node.depends_on_macros)}


@dataclass(frozen=True)
class Review:
    """The resolved findings of a change: code (``--allow-code``) and protected locations (``--yes``)."""

    code: list[CodeFinding]
    locations: list[CodeFinding]


def _operations(spec: PlanSpec, build_nodes: list[str]) -> list[tuple[Operation, list[str]]]:
    """Execute's building operations with the resource types each builds."""
    if spec.operations is None:
        return [(op, build_kinds(build_nodes)) for op in default_operations(build_nodes)]
    return [(op, _KINDS[op.command]) for op in spec.operations if op.command in BUILDING]


def review_change(
    check: Check,
    manifest: Manifest,
    spec: PlanSpec,
    reach: Reach,
    *,
    build_nodes: list[str],
    before: Manifest | None,
    protection: Protection | None,
) -> Review:
    """Judge a change on dbt's manifest (compiled where Validate compiled it). ``check`` runs a
    read-only dbt call; ``protection`` carries the protected places (None: nothing is protected)."""
    files = {c.path: c.content for c in spec.changeset.changes}
    code = macro_findings(manifest, reach.macros, files) + code_findings(manifest, reach.nodes, before, files)
    built: list[tuple[Manifest, set[str]]] = [(manifest, set(build_nodes))]
    for op, kinds in _operations(spec, build_nodes):
        if op.vars:  # judged as built with them: configs and bodies may come from vars
            result = check(DbtCall(command="compile", select=op.select, vars=op.vars))
            # the compile parsed the project with the vars and rewrote the manifest: configs from var()
            seen = manifest.reread().with_compiled({n.unique_id: n.compiled_sql or "" for n in result.nodes})
            selected = {node.unique_id for node in result.nodes}
            code += code_findings(seen, selected, manifest, files)
            built.append((seen, {uid for uid in selected if uid.split(".")[0] in kinds}))
            continue
        try:
            listed = check(DbtCall(command="ls", select=op.select, resource_types=kinds)).listed
        except EmptySelection:  # Execute reports a selection that matches nothing
            listed = []
        built.append((manifest, listed_ids(manifest, listed, kinds)))
    locations: list[CodeFinding] = []
    if protection is not None and protection.places is not None:
        for resolved, uids in built:
            locations += location_findings(
                resolved, uids, protection.places, target_protected=protection.protected
            )
    return Review(list(dict.fromkeys(code)), list(dict.fromkeys(locations)))
