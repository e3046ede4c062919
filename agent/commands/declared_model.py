"""A model declared in YAML (description, columns, tests) with no SQL yet, built to its declaration.

Only the SQL is written, beside the YAML that declares it: each declared column selected by name
from the model's parent(s) (``--from``, else the declaration's ``refs``, as Spider2-DBT's projects
write them). The declaration stays exactly as written, so there is one declaration and its tests are
the tests that run. A column no parent has, or that two parents have, is refused by name; a second
parent is joined only on a column both share that the data proves is a key of the second and a
foreign key in the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from agent.commands.existing import Existing
from agent.commands.model_files import ModelFiles, configured_materialization
from agent.commands.naming import is_identifier, quote_if_needed
from agent.commands.project import ProjectView
from graph.plan_spec import PlanSpec
from tools.codegen import DeclaredJoin, ModelConfig, RawInput, SelectColumn, declared_model_sql
from tools.errors import InvalidArguments
from tools.layers import Materialization
from tools.manifest import Node


@dataclass(frozen=True)
class _Parent:
    node: Node
    reads: RawInput
    relation: str
    #: lower-cased name -> the warehouse's spelling
    columns: Mapping[str, str]

    @property
    def name(self) -> str:
        return self.node.label


def _declared_columns(existing: Existing) -> list[str]:
    entry = existing.entry or {}
    columns = entry.get("columns") or []
    names = [str(c.get("name")) for c in columns if isinstance(c, dict) and c.get("name") is not None]
    if not names:
        raise InvalidArguments(
            f"{existing.name}'s declaration in {existing.path} lists no columns, so there is nothing to "
            "build it to",
            hint="declare its columns, or remove the declaration and create the model with /dbt-model",
        )
    bad = [n for n in names if not is_identifier(n.lower())]
    if bad:
        raise InvalidArguments(
            f"{existing.name}'s declaration in {existing.path} names column(s) that are not plain names: "
            f"{', '.join(repr(n) for n in bad)}",
            hint="name columns with letters, digits and _",
        )
    return names


def _parent_names(existing: Existing, given: str | None) -> list[str]:
    """``given`` (--from or --source: comma-separated), else the declaration's ``refs``."""
    if given is not None:
        names = [n.strip() for n in given.split(",") if n.strip()]
    else:
        refs = (existing.entry or {}).get("refs") or []
        names = [str(r.get("name") if isinstance(r, dict) else r) for r in refs]
    if not names:
        raise InvalidArguments(
            f"{existing.name} is declared in {existing.path} with no SQL; which model(s) its columns come "
            "from is not said",
            hint=f"name its parent: /dbt-model --name {existing.name} --type <type> --from PARENT",
        )
    return names


def _parent(view: ProjectView, name: str, model: str) -> tuple[Node, RawInput]:
    """A model (a package's too), a seed, or a source table (``source_name.table``), built."""
    source_name, dot, table = name.partition(".")
    if dot:
        node = view.source_table(source_name, table)
        if node is None:
            raise InvalidArguments(
                f"{name} is not a declared source table", hint="declare it with /dbt-source first"
            )
        reads = RawInput(table, source_name)
    elif name in view.seeds:
        node, reads = view.seeds[name], RawInput(name)
    else:
        node = view.built_model(name, purpose=f"{model} is built on it", read_only=True)
        reads = RawInput(name)
    if not view.is_built(node):
        raise InvalidArguments(
            f"{name} is not in the warehouse, and {model}'s columns are read from it",
            hint=f"build it first: /dbt-run --select {node.name}",
        )
    return node, reads


def _parents(view: ProjectView, existing: Existing, names: Sequence[str]) -> list[_Parent]:
    found = [_parent(view, name, existing.name) for name in names]
    relations = [view.relation_of(node) for node, _ in found]
    columns = view.columns_of(relations)
    return [
        _Parent(node, reads, relation, {c.lower(): c for c in columns.get(relation, [])})
        for (node, reads), relation in zip(found, relations, strict=True)
    ]


def _sources(existing: Existing, declared: list[str], parents: list[_Parent]) -> dict[str, _Parent]:
    """Which parent each declared column comes from (the first parent wins a tie with the others:
    it is the model's grain); refused naming every column that cannot be derived."""
    chosen: dict[str, _Parent] = {}
    missing: list[str] = []
    ambiguous: list[str] = []
    for column in declared:
        having = [p for p in parents if column.lower() in p.columns]
        if not having:
            missing.append(column)
        elif having[0] is parents[0] or len(having) == 1:
            chosen[column] = having[0]
        else:
            ambiguous.append(f"{column} ({', '.join(p.name for p in having)})")
    problems = []
    if missing:
        problems.append(f"no parent has {', '.join(missing)}")
    if ambiguous:
        problems.append(f"several parents have {', '.join(ambiguous)}")
    if problems:
        offered = "; ".join(f"{p.name}: {', '.join(p.columns.values())}" for p in parents)
        raise InvalidArguments(
            f"{existing.name}'s declared columns cannot all be derived by name: {'; '.join(problems)}; "
            "nothing was written",
            hint=f"the parents' columns: {offered}. Pass --from with the model(s) that have them",
        )
    return chosen


def _join(view: ProjectView, base: _Parent, other: _Parent) -> DeclaredJoin:
    """How ``other`` joins ``base``: on a shared column that is a key of ``other`` and whose every
    value in ``base`` exists there (checked on the data)."""
    keys = view.profile(other.relation).key_candidates
    for key in keys:
        if key.lower() in base.columns:
            shared = base.columns[key.lower()]
            if view.foreign_key(base.relation, shared, other.relation, key).is_foreign_key:
                return DeclaredJoin(other.reads, shared, key)
    raise InvalidArguments(
        f"{other.name} shares no key column with {base.name} that the data proves (keys of "
        f"{other.name}: {', '.join(keys) or 'none'}), so the declared columns it has cannot be joined",
        hint="build an intermediate model that joins them, and pass it as --from",
    )


def plan_declared(
    view: ProjectView, existing: Existing, *, parents: str | None, materialization: Materialization | None
) -> PlanSpec:
    """Write only the SQL of the YAML-only model ``existing``, to its declaration, reading ``parents``
    (comma-separated models, seeds or source tables; None: the declaration's refs)."""
    declared = _declared_columns(existing)
    found = _parents(view, existing, _parent_names(existing, parents))
    chosen = _sources(existing, declared, found)
    used = [p for p in found if any(c is p for c in chosen.values())]
    joins = [_join(view, found[0], p) for p in used if p is not found[0]]
    qualify = bool(joins)
    select = []
    for column in declared:
        parent = chosen[column]
        spelled = parent.columns[column.lower()]
        expression = quote_if_needed(spelled)
        select.append(SelectColumn(f"{parent.reads.name}.{expression}" if qualify else expression, column))
    path = str(PurePosixPath(existing.path).parent / f"{existing.name}.sql")
    # what dbt_project.yml gives the folder is not repeated in the model
    inherited = configured_materialization(view, ModelFiles(sql=path, yml=existing.path))
    config = ModelConfig(materialized=materialization, inherited=inherited) if materialization else None
    sql = declared_model_sql(found[0].reads, select, joins, config)
    view.tools.changeset.write_file(view.paths, path, sql)
    reads = ", ".join(p.name for p in [found[0], *(p for p in used if p is not found[0])])
    answer = [
        f"{existing.name} is declared in {existing.path} with no SQL: built to that declaration, which is "
        "kept as written (its description and tests are the model's; no second declaration).",
        f"{path}: its {len(declared)} declared columns selected by name from {reads}"
        + "".join(f"; joins {j.reads.name} on {j.base_column} = {j.reads.name}.{j.column}" for j in joins),
        f"files: {path}",
    ]
    return PlanSpec(summary=f"build {existing.name} to its YAML declaration", answer="\n".join(answer))
