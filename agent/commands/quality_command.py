"""/data-quality-test: add to a built model the requested tests its data passes, and say why others not."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from agent.commands.catalog import COMMANDS, QUALITY_TESTS
from agent.commands.column_facts import ColumnFacts, ForeignKey, facts_from_profile
from agent.commands.descriptions import column_description, model_description
from agent.commands.naming import grain_entity, is_id_like
from agent.commands.parser import ParsedCommand, usage_error
from agent.commands.project import ProjectView
from agent.commands.unit_tests import add_unit_test
from graph.plan_spec import PlanSpec
from tools.codegen import TestSpec, accepted_values_test, relationships_test, test_kind
from tools.manifest import Node
from tools.profiling import ColumnProfile, ForeignKeyMatch, RelationProfile


@dataclass(frozen=True)
class _Choice:
    column: str
    test: TestSpec


def _target_rank(model: Node, target: Node) -> tuple[int, str]:
    """Point staging at staging and marts at marts (dim_ first), so tests follow the layering."""
    same_layer = (target.layer == "marts") == (model.layer == "marts")
    return (0 if same_layer else 1, target.name)


def _foreign_keys(view: ProjectView, model: Node, relation: str) -> dict[str, ForeignKey]:
    # a relationships test points upstream (or across): never at a model built from this one, whose
    # rows come from it (stg_orders.customer_id -> customers would test the data against itself)
    downstream = view.descendants(model)
    others = {
        view.qualified_name(node): node
        for name, node in view.models.items()
        if name != model.name and name not in downstream and view.is_built(node)
    }
    matches: dict[str, list[tuple[ForeignKeyMatch, Node]]] = defaultdict(list)
    for match in view.suggest_foreign_keys(relation, [view.relation_of(n) for n in others.values()]):
        target = others.get(match.parent_relation.lower())
        # identifiers only: a unique timestamp can match another table's by accident
        if target is not None and is_id_like(match.child_column):
            matches[match.child_column].append((match, target))
    chosen: dict[str, ForeignKey] = {}
    for column, found in matches.items():
        match, target = min(found, key=lambda pair: _target_rank(model, pair[1]))
        chosen[column] = ForeignKey(target.name, match.parent_column)
    return chosen


def _decide(
    column: ColumnProfile, facts: ColumnFacts, kind: str, key: str | None
) -> tuple[TestSpec | None, str | None]:
    """(test to add, or None with the reason it is not supported; None, None when not worth a word)."""
    if kind == "not_null":
        if facts.never_null:
            return "not_null", None
        return None, f"{column.nulls} of {column.rows} rows are null" if column.rows else "the model is empty"
    if kind == "unique":
        if column.is_unique and (column.name == key or is_id_like(column.name)):
            return "unique", None
        if column.is_unique:
            return None, "unique today but not named like a key; add it by hand if it is a business key"
        return (
            (None, f"{column.distinct} distinct values in {column.rows} rows")
            if is_id_like(column.name)
            else (None, None)
        )
    if kind == "accepted_values":
        if facts.category_values is not None:
            return accepted_values_test(list(facts.category_values)), None
        if column.low_cardinality:
            return None, (
                "few values, but not an enum-like code (free text such as a name, description or "
                "email, a number, a flag or an identifier)"
            )
        return None, None
    if column.name == key:
        return None, None  # the model's own key matching another model is the same entity, 1:1
    if facts.foreign_key is not None:
        return relationships_test(facts.foreign_key.model, facts.foreign_key.column), None
    if is_id_like(column.name):
        return None, "no other built model holds every one of its values"
    return None, None


def _choose(
    profile: RelationProfile,
    facts: dict[str, ColumnFacts],
    requested: list[str],
    existing: dict[str, list[TestSpec]],
) -> tuple[list[_Choice], list[str], list[str]]:
    """(tests to add, why others are not added, tests that are there already)."""
    key = profile.key_candidates[0] if profile.key_candidates else None
    added: list[_Choice] = []
    skipped: list[str] = []
    present: list[str] = []
    for column in profile.columns:
        have = {test_kind(t) for t in existing.get(column.name, [])}
        for kind in requested:
            test, reason = _decide(column, facts[column.name], kind, key)
            if test is not None and kind in have:
                present.append(f"{kind} on {column.name}")
            elif test is not None:
                added.append(_Choice(column.name, test))
            elif reason is not None:
                skipped.append(f"{kind} on {column.name}: {reason}")
    return added, skipped, present


def _describe_test(choice: _Choice) -> str:
    test = choice.test
    if isinstance(test, str):
        return f"{test} on {choice.column}"
    args = test[test_kind(test)]["arguments"]
    detail = f"values {args['values']}" if "values" in args else f"to {args['to']}.{args['field']}"
    return f"{test_kind(test)} on {choice.column} ({detail})"


def _tests_entry(
    node: Node,
    existing: dict[str, Any],
    added: list[_Choice],
    facts: dict[str, ColumnFacts],
    *,
    entity: str,
    key: str | None,
) -> dict[str, Any]:
    """Only what the request asked for: the added tests, on their columns. A column the YAML did not
    declare yet gets a description with its entry, and so does an entry that did not exist; what the
    person already wrote (other columns, descriptions) is not touched."""
    name = node.name
    documented = {str(c.get("name")) for c in existing.get("columns") or [] if isinstance(c, dict)}
    columns: list[dict[str, Any]] = []
    for column in dict.fromkeys(choice.column for choice in added):
        entry: dict[str, Any] = {"name": column}
        if column not in documented:
            entry["description"] = column_description(facts[column], entity)
        entry["data_tests"] = [choice.test for choice in added if choice.column == column]
        columns.append(entry)
    model: dict[str, Any] = {"name": name}
    if not existing:
        upstream = [uid.rsplit(".", 1)[-1] for uid in node.depends_on]
        model["description"] = model_description(name, node.layer, entity, key, upstream)
    return {**model, "columns": columns} if columns else model


def data_quality_test(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    requested = cmd.items("tests")
    unknown = [t for t in requested if t not in QUALITY_TESTS]
    if unknown:
        raise usage_error(
            COMMANDS["data-quality-test"],
            f"--tests names unknown kinds {', '.join(unknown)}; choose from {', '.join(QUALITY_TESTS)}",
        )
    name = cmd.required_text("model")
    node = view.built_model(name, purpose="/data-quality-test reads its data")
    relation = view.relation_of(node)
    profile = view.profile(relation)
    key = profile.key_candidates[0] if profile.key_candidates else None
    references = _foreign_keys(view, node, relation) if "relationships" in requested else {}
    facts = {
        c.name: facts_from_profile(c, is_key=c.name == key, foreign_key=references.get(c.name))
        for c in profile.columns
    }
    changeset = view.tools.changeset
    path = view.properties_file(node)
    existing = view.existing_entry(changeset, path, "models", name) or {}
    existing_tests = {
        str(c.get("name")): list(c.get("data_tests") or c.get("tests") or [])
        for c in existing.get("columns") or []
        if isinstance(c, dict)
    }
    added, skipped, present = _choose(profile, facts, requested, existing_tests)
    entity = grain_entity(name, key)
    if added or not existing:
        view.write_entry(
            changeset, path, "models", _tests_entry(node, existing, added, facts, entity=entity, key=key)
        )
    # logic (CASE, aggregation, incremental filter) is pinned by a unit test whatever --tests asks:
    # data tests check the rows, not the logic that made them
    unit_test = add_unit_test(view, node, path)
    answer = [f"{name}: {profile.row_count} rows profiled; {len(added)} test(s) added in {path}"]
    answer += [f"  + {_describe_test(c)}" for c in added]
    if unit_test is not None:
        answer.append(f"  {'+' if unit_test.written else '-'} {unit_test.text}")
    if skipped:
        answer.append("not added:")
        answer += [f"  - {reason}" for reason in skipped]
    if present:
        answer.append(f"already there: {', '.join(present)}")
    return PlanSpec(
        summary=f"add {len(added)} data test(s) to {name}",
        operations=[],
        # Verify runs the tests this adds, not the model's others (graph.nodes.new_tests), which knows
        # data tests only: with a unit test, the model's tests (dbt test --select runs unit tests too)
        verify_select=[name] if unit_test is not None and unit_test.written else None,
        answer="\n".join(answer),
    )
