"""Facts, dimensions and intermediate models, designed from the data of the models they read.

A mart is its base model (one row per base key), plus attributes of the models the base references
(foreign keys proven on the data, joined many-to-one on the parent's key, so no row is duplicated;
a fact joins only the events it belongs to and keeps the keys of the entities it names, whose
attributes are their dimensions'), plus summaries of the models that reference the base (counts,
first/last event times, sums, aggregated to one row per key before the join). It reads ``ref()``s
only and lists every column.

Of several models at one grain it reads the most refined one: for a parent a built fact (fct_orders)
over an intermediate over staging, for children an intermediate over staging. So a staging model
feeds one mart and the next reads through it (order items take the order's attributes from
fct_orders), instead of fanning out to every mart (dbt-project-evaluator's fct_model_fanout).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.commands.column_facts import (
    ColumnFacts,
    ForeignKey,
    facts_from_profile,
    is_numeric_type,
    is_timestamp_type,
)
from agent.commands.model_files import (
    ModelRequest,
    choose_key,
    incremental_filter,
    partition_choice,
    write_model,
)
from agent.commands.naming import is_id_like, plural
from agent.commands.project import ProjectView
from tools.codegen import (
    Aggregate,
    ChildSummary,
    IncrementalFilter,
    MartSpec,
    ModelConfig,
    ParentJoin,
    SelectColumn,
    mart_output_columns,
    mart_sql,
)
from tools.errors import InvalidArguments, QueryError
from tools.layers import bare_name, entity_of, model_type_of, singular
from tools.manifest import Node
from tools.profiling import ColumnProfile, ForeignKeyMatch, RelationProfile

#: dbt-project-evaluator's models_fanout_threshold: a model read directly by this many leaf models
_FANOUT_THRESHOLD = 3
_KIND_PHRASE = {"fact": "Fact table of", "dimension": "Dimension of", "intermediate": "Intermediate model of"}


@dataclass(frozen=True)
class _Input:
    """A model the mart reads, with its relation's profile."""

    node: Node
    relation: str
    profile: RelationProfile

    @property
    def name(self) -> str:
        return self.node.name

    def described(self, column: str) -> str | None:
        documented = self.node.columns.get(column)
        return (documented.description or None) if documented else None


def _read(view: ProjectView, node: Node) -> _Input:
    relation = view.relation_of(node)
    return _Input(node=node, relation=relation, profile=view.profile(relation))


# --- choosing the base ----------------------------------------------------------------------------


def _match_rank(candidate: str, wanted: str) -> int | None:
    """0: same entity (orders/orders); 1: the wanted name ends with it (order_items/items); 2: starts."""
    have = singular(bare_name(candidate))
    tokens = wanted.split("_")
    if have == singular(wanted):
        return 0
    if have in {singular("_".join(tokens[i:])) for i in range(1, len(tokens))}:
        return 1
    if have in {singular("_".join(tokens[:i])) for i in range(1, len(tokens))}:
        return 2
    return None


def _base_node(view: ProjectView, request: ModelRequest) -> Node:
    purpose = f"{request.name} is built on it"
    if request.base is not None:
        # only read: a model of an installed package is a base like the project's own
        return view.built_model(request.base, purpose=purpose, read_only=True)
    wanted = bare_name(request.name)
    ranked = sorted(
        (rank, node.layer != "intermediate", name)
        for name, node in view.models.items()
        if name != request.name
        and node.layer in {"staging", "intermediate"}
        and (rank := _match_rank(name, wanted)) is not None
    )
    if not ranked:
        guess = f"stg_{plural(singular(wanted.split('_')[-1]))}"
        raise InvalidArguments(
            f"{request.name} needs a staging model to build on and none matches {wanted!r}",
            hint=f"create it first (/dbt-model --name {guess} --type staging) or pass --from MODEL",
        )
    best = [entry for entry in ranked if entry[:2] == ranked[0][:2]]
    if len(best) > 1:
        names = ", ".join(entry[2] for entry in best)
        raise InvalidArguments(
            f"{request.name} could be built on {names}", hint="choose one with --from MODEL"
        )
    return view.built_model(ranked[0][2], purpose=purpose)


# --- references ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Owner:
    """The model being designed: never a reference target of its own; a mart's tests point at marts."""

    name: str
    is_mart: bool


def _reference(
    view: ProjectView, child: _Input, match: ForeignKeyMatch, parent: _Input, owner: _Owner
) -> ForeignKey:
    """Where a relationships test should point: for a mart, a built mart of the parent's entity when
    the data matches it too (dim_customers before stg_customers); else the parent model itself."""
    marts = view.marts_for_entity(entity_of(parent.name)) if owner.is_mart else []
    for mart in marts:
        if mart.name == owner.name:
            continue
        try:
            found = view.foreign_key(
                child.relation, match.child_column, view.relation_of(mart), match.parent_column
            )
        except (InvalidArguments, QueryError):
            continue  # the mart has no such column or an incomparable type: not a target
        if found.is_foreign_key:
            return ForeignKey(mart.name, match.parent_column)
    return ForeignKey(parent.name, match.parent_column)


def _references(
    view: ProjectView, child: _Input, pool: dict[str, _Input], owner: _Owner
) -> tuple[dict[str, tuple[ForeignKeyMatch, _Input]], dict[str, ForeignKey]]:
    """The child's id-like columns that reference pool models (proven on the data): match and target.

    Only identifier columns count: a timestamp can be unique and match another table's by accident.
    """
    by_qualified = {view.qualified_name(i.node): i for i in pool.values() if i.name != child.name}
    matches = view.suggest_foreign_keys(child.relation, [i.relation for i in by_qualified.values()])
    chosen: dict[str, tuple[ForeignKeyMatch, _Input]] = {}
    for match in sorted(matches, key=lambda m: (m.child_column, m.parent_relation)):
        parent = by_qualified.get(match.parent_relation.lower())
        if parent is not None and is_id_like(match.child_column) and match.child_column not in chosen:
            chosen[match.child_column] = (match, parent)
    targets = {
        column: _reference(view, child, match, parent, owner) for column, (match, parent) in chosen.items()
    }
    return chosen, targets


# --- the design -----------------------------------------------------------------------------------------


class _Design:
    """Collects the mart's columns, keeping names unique, and what the data and the SQL disagree on."""

    def __init__(self, entity: str) -> None:
        self.entity = entity
        self.facts: list[ColumnFacts] = []
        self.ctes: set[str] = set()
        #: where today's data would pass a test that the model's meaning does not promise
        self.disagreements: list[str] = []

    @property
    def names(self) -> set[str]:
        return {f.name for f in self.facts}

    def alias(self, column: str, owner_entity: str) -> str | None:
        """``column``, or ``<owner>_<column>`` when taken; None when both are."""
        for candidate in (column, f"{owner_entity}_{column}"):
            if candidate not in self.names:
                return candidate
        return None

    def cte(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.ctes or name == "final":
            name, n = f"{wanted}_{n}", n + 1
        self.ctes.add(name)
        return name


def _parent_join(
    view: ProjectView,
    design: _Design,
    base: _Input,
    *,
    match: ForeignKeyMatch,
    parent: _Input,
    pool: dict[str, _Input],
    owner: _Owner,
) -> ParentJoin:
    parent_entity = entity_of(parent.name)
    parent_columns = parent.profile.columns
    # a parent that is an event (orders): its measures would repeat per base row and be summed wrongly,
    # so only descriptive columns come along; a pure lookup (products) gives all.
    event_like = _is_event(parent, match)
    skipped = {match.parent_column, *parent.profile.updated_at_candidates}
    _, targets = _references(view, parent, pool, owner)
    fk_nulls = next(c.nulls for c in base.profile.columns if c.name == match.child_column)
    selected: list[SelectColumn] = []
    for column in parent_columns:
        if column.name in skipped or (
            event_like and is_numeric_type(column.type) and not is_id_like(column.name)
        ):
            continue
        # created_at of a customer becomes customer_created_at; customer_name and ids keep their names
        own = is_id_like(column.name) or parent_entity in column.name
        alias = design.alias(column.name if own else f"{parent_entity}_{column.name}", parent_entity)
        if alias is None:
            continue
        selected.append(SelectColumn(column.name, alias))
        design.facts.append(
            facts_from_profile(
                column,
                name=alias,
                may_gain_nulls=fk_nulls > 0,
                foreign_key=targets.get(column.name),
                description=parent.described(column.name),
            )
        )
    return ParentJoin(
        cte=design.cte(plural(parent_entity)),
        model=parent.name,
        key=match.parent_column,
        foreign_key=match.child_column,
        columns=tuple(selected),
    )


def _is_event(parent: _Input, match: ForeignKeyMatch) -> bool:
    """Whether a parent is an event the base belongs to (an order, for its items): it references
    others itself. A parent that references nothing is an entity looked up (a customer, a store)."""
    return any(is_id_like(c.name) and c.name != match.parent_column for c in parent.profile.columns)


# Over 60 lines on purpose: the summary's columns, tests and words all follow from one profile of the
# child and its key match; split, each part would need all of them passed along.
def _child_summary(
    view: ProjectView, design: _Design, base: _Input, *, key: str, child: _Input, match: ForeignKeyMatch
) -> ChildSummary:
    child_entity = entity_of(child.name)
    children = plural(child_entity)
    # every base row has a child today; a new one without any still gets nulls from the left join
    covered = view.foreign_key(base.relation, key, child.relation, match.child_column).is_foreign_key
    aggregates: list[Aggregate] = []

    def add(aggregate: Aggregate, column_type: str, never_null: bool, description: str) -> None:
        alias = design.alias(aggregate.alias, child_entity)
        if alias is None:
            return
        aggregates.append(Aggregate(aggregate.expression, alias, aggregate.default))
        design.facts.append(
            ColumnFacts(
                name=alias,
                type=column_type,
                never_null=never_null,
                is_measure_aggregate=aggregate.default is not None,
                description=description,
            )
        )

    add(
        Aggregate("count(*)", f"{child_entity}_count", "0"),
        "BIGINT",
        True,
        f"Number of {children} of the {design.entity} (rows of {child.name}); 0 when it has none.",
    )
    skipped = {match.child_column, *child.profile.updated_at_candidates}
    for column in child.profile.columns:
        if column.name in skipped or is_id_like(column.name):
            continue
        if is_timestamp_type(column.type):
            if covered and column.nulls == 0:
                design.disagreements.append(
                    f"first_/last_{column.name}: every {design.entity} has {children} today, but one "
                    f"without any gets null from the left join, so they are not tested not_null"
                )
            for fn, word in (("min", "Earliest"), ("max", "Latest")):
                add(
                    Aggregate(f"{fn}({column.name})", f"{'first' if fn == 'min' else 'last'}_{column.name}"),
                    column.type,
                    False,
                    f"{word} {column.name} of the {design.entity}'s {children} ({child.name}); "
                    f"null for a {design.entity} with no {children}.",
                )
        elif is_numeric_type(column.type):
            add(
                Aggregate(f"sum({column.name})", f"total_{column.name}", "0"),
                column.type,
                True,
                f"Sum of {column.name} over the {design.entity}'s {children} ({child.name}); "
                "0 when it has none.",
            )
    return ChildSummary(
        cte=design.cte(f"{children}_per_{design.entity}"),
        model=child.name,
        foreign_key=match.child_column,
        aggregates=tuple(aggregates),
    )


_REFINEMENT = {"fact": 0, "intermediate": 1, "staging": 2}


def _refinement(model: _Input) -> int:
    """0 for a built fact, 1 for an intermediate, 2 for staging: which of one grain's models to read."""
    layer = model.node.layer
    return _REFINEMENT.get(model_type_of(model.name) if layer == "marts" else layer, len(_REFINEMENT))


def _distinct_grains(inputs: list[_Input], base_key: str) -> dict[str, _Input]:
    """One model per grain (its key column), the most refined first: fct_orders, int_orders_enriched
    and stg_orders are all orders, and joining or summarising two would count orders twice. The base's
    grain is excluded."""
    seen = {base_key}
    kept: dict[str, _Input] = {}
    for model in sorted(inputs, key=lambda i: (_refinement(i), i.name)):
        grain = model.profile.key_candidates[0] if model.profile.key_candidates else None
        if grain is None or grain not in seen:
            kept[model.name] = model
        if grain is not None:
            seen.add(grain)
    return kept


def _event_time(profile: RelationProfile) -> str | None:
    events = [c for c in profile.timestamp_columns if c not in profile.updated_at_candidates]
    ranked = events or profile.timestamp_columns
    return ranked[0] if ranked else None


def _column(profile: RelationProfile, name: str) -> ColumnProfile:
    return next(c for c in profile.columns if c.name == name)


def _refuse_duplicate(view: ProjectView, request: ModelRequest, entity: str, key: str) -> None:
    """A fact or dimension at the grain of a model the project already has (customers for
    dim_customers: one row per customer_id) would be a second copy of it: say so instead."""
    if request.model_type not in {"fact", "dimension"}:
        return
    for name, node in sorted(view.models.items()):
        if name == request.name or node.layer in {"staging", "intermediate"} or entity_of(name) != entity:
            continue
        keyed = key in view.unique_columns(node) or (
            view.is_built(node) and key in _read(view, node).profile.key_candidates
        )
        if keyed:
            path = node.original_file_path
            raise InvalidArguments(
                f"{name} ({path}) already has one row per {entity} (key {key}); {request.name} would "
                "duplicate it",
                hint=f"extend {name} instead, or build {request.name} at another grain (--from MODEL)",
            )


def _inputs(view: ProjectView, owner: str) -> list[_Input]:
    """What a mart may join or summarise: built staging and intermediate models, and built facts that
    are not built from ``owner`` (dimensions are left out: their aggregates would repeat per row)."""
    nodes = dict(view.upstream_candidates(exclude=owner))
    existing = view.models.get(owner)
    downstream = view.descendants(existing) if existing is not None else set()
    for name, node in view.models.items():
        if (
            name != owner
            and name not in downstream
            and node.layer == "marts"
            and model_type_of(name) == "fact"
            and view.is_built(node)
        ):
            nodes[name] = node
    return [_read(view, node) for _, node in sorted(nodes.items())]


def _pools(
    view: ProjectView, owner: str, base: _Input, key: str
) -> tuple[dict[str, _Input], dict[str, _Input]]:
    """(models the mart may join as parents, models it may summarise as children), one per grain."""
    candidates = [c for c in _inputs(view, owner) if c.name != base.name]
    # facts stand in for their staging model as parents only: summarised as children they would bring
    # the keys they joined (a store_id on order items) and count one event at two grains
    children = _distinct_grains([c for c in candidates if c.node.layer != "marts"], key)
    return _distinct_grains(candidates, key), children


def _fanout_note(view: ProjectView, owner: str, reads: set[str]) -> list[str]:
    """A model this mart reads that already feeds two other models nothing reads: with this mart it
    feeds three, which dbt-project-evaluator's fct_model_fanout flags (leaf children, whatever their
    layer); say which intermediate helps. The mart reads it because it was asked to (--from) or
    because it is the most refined model of its grain, so it is said, not avoided."""
    notes = []
    for name in sorted(reads):
        node = view.models.get(name)
        if node is None:
            continue
        leaves = sorted(
            other
            for other, child in view.models.items()
            if other != owner and node.unique_id in child.depends_on and not view.descendants(child)
        )
        if len(leaves) >= _FANOUT_THRESHOLD - 1:
            entity = entity_of(name)
            notes.append(
                f"fan-out: {name} also feeds {', '.join(leaves)}, which nothing reads "
                f"(dbt-project-evaluator's fct_model_fanout flags {_FANOUT_THRESHOLD}); build an "
                f"intermediate (/dbt-model --name int_{plural(entity)}_joined --type intermediate "
                f"--from {name}) and have the marts read it"
            )
    return notes


def _in_output_order(spec: MartSpec, design: _Design) -> list[ColumnFacts]:
    """The columns' facts in the order the SQL outputs them, so the YAML lists them that way too."""
    by_name = {f.name: f for f in design.facts}
    return [by_name[name] for name in mart_output_columns(spec)]


def _review_notes(view: ProjectView, owner: str, spec: MartSpec, design: _Design) -> list[str]:
    """What a reviewer should hear about the design: a mart that adds nothing, tests today's data would
    pass but the SQL does not promise, and staging models fanning out to marts."""
    notes = []
    if not spec.parents and not spec.children and not spec.derived:
        notes.append(
            f"adds no joins or aggregates to {spec.base_model}: its columns are selected once and kept "
            "as an incremental table"
            if spec.incremental
            else f"adds no joins or aggregates to {spec.base_model}: its columns are selected once; give it "
            "a reason to exist (a join, a filter, another grain) or read the upstream model directly"
        )
    notes += [f"not tested: {note}" for note in design.disagreements]
    reads = {spec.base_model, *(p.model for p in spec.parents), *(c.model for c in spec.children)}
    return notes + _fanout_note(view, owner, reads)


@dataclass(frozen=True)
class _Mart:
    """What each step of one mart's design reads, and ``answer``: what it decided, one line each."""

    view: ProjectView
    request: ModelRequest
    base: _Input
    key: str
    design: _Design
    owner: _Owner
    answer: list[str]

    @property
    def identity(self) -> dict[str, str]:
        return _identity(self.base)


def _identity(base: _Input) -> dict[str, str]:
    """The base's columns by the names the mart gives them (the same: a mart renames none)."""
    return {c.name: c.name for c in base.profile.columns}


def plan_mart(view: ProjectView, request: ModelRequest) -> list[str]:
    """Design and write the mart ``request`` asks for; what it decided, one line each."""
    base = _read(view, _base_node(view, request))
    key = choose_key(base.profile, request.unique_key, _identity(base))
    entity = entity_of(base.name)
    _refuse_duplicate(view, request, entity, key)
    design = _Design(entity)
    base_cte = design.cte(plural(entity))
    pool, child_pool = _pools(view, request.name, base, key)
    owner = _Owner(request.name, is_mart=request.model_type in {"fact", "dimension"})
    summary = (
        f"{request.name}: one row per {entity} of {base.name} ({base.profile.row_count} rows), key {key} "
        "(unique and not null in the data)."
    )
    mart = _Mart(view, request, base, key, design, owner, answer=[summary])
    parent_matches = _base_facts(mart, pool)
    # partition/derived columns are decided now so their names are taken before joined columns
    partition, derived_columns = _derived_partition(mart)
    # An incremental model re-reads only rows whose own timestamp moved, so attributes joined from
    # parents (a customer's email) or aggregates of children would go stale in rows it does not
    # re-read, and the table would drift from a full refresh: it keeps the foreign keys instead.
    parents: list[ParentJoin] = []
    children: list[ChildSummary] = []
    if request.materialization != "incremental":
        parents = _parent_joins(mart, parent_matches, pool)
        children = _child_summaries(mart, child_pool, joined={p.model for p in parents})
    elif parent_matches or pool:
        mart.answer.append(
            "incremental: parent attributes and child aggregates are left to the dimensions (joined "
            "values would go stale in rows the incremental filter does not re-read)"
        )
    config, incremental = _materialization(mart, partition)
    spec = MartSpec(
        base_model=base.name,
        base_cte=base_cte,
        base_columns=tuple(mart.identity),
        key=key,
        config=config,
        parents=tuple(parents),
        children=tuple(children),
        derived=derived_columns,
        incremental=incremental,
    )
    mart.answer.extend(_review_notes(view, request.name, spec, design))
    files = write_model(
        view,
        request,
        mart_sql(spec),
        description=_description(request, spec, entity),
        facts=_in_output_order(spec, design),
        entity=entity,
    )
    return [*mart.answer, f"files: {files.sql}, {files.yml}"]


def _base_facts(mart: _Mart, pool: dict[str, _Input]) -> dict[str, tuple[ForeignKeyMatch, _Input]]:
    """The base's columns into the design (its key, the foreign keys its data proves); the parents
    its id-like columns reference."""
    parent_matches, base_targets = _references(mart.view, mart.base, pool, mart.owner)
    for base_column in mart.base.profile.columns:
        mart.design.facts.append(
            facts_from_profile(
                base_column,
                is_key=base_column.name == mart.key,
                foreign_key=base_targets.get(base_column.name),
                description=mart.base.described(base_column.name),
            )
        )
    return parent_matches


def _derived_partition(mart: _Mart) -> tuple[str | None, tuple[SelectColumn, ...]]:
    """The column to partition by, and the column derived for it when it is a grain of the base's
    event time (``order_date`` from ``ordered_at``)."""
    profile = mart.base.profile
    event_time = _event_time(profile)
    partition, derived = partition_choice(mart.request.partition, list(mart.identity), event_time)
    if derived is None or event_time is None:
        return partition, ()
    expression, alias, grain = derived
    mart.design.facts.append(
        ColumnFacts(
            name=alias,
            type="DATE",
            never_null=_column(profile, event_time).nulls == 0,
            description=f"The {grain} of {event_time} (the {mart.design.entity}'s partition).",
        )
    )
    return partition, (SelectColumn(expression, alias),)


def _parent_joins(
    mart: _Mart, matches: dict[str, tuple[ForeignKeyMatch, _Input]], pool: dict[str, _Input]
) -> list[ParentJoin]:
    """A join for each parent the base references (its own key aside). A fact joins only the events
    it belongs to (order items take their order's customer and time): an entity's attributes (a
    customer's name, a store's city) are its dimension's, so the fact keeps just the key, tested
    against it. Joining them anyway made fct_orders two joins wider and ~10% slower to build than
    the same fact without them (eval task fact_orders), and copies that go stale when they change."""
    parents: list[ParentJoin] = []
    looked_up: list[str] = []
    for column, (match, parent) in matches.items():
        if column == mart.key:
            continue
        if mart.request.model_type == "fact" and not _is_event(parent, match):
            looked_up.append(f"{column} ({parent.name})")
            continue
        parents.append(
            _parent_join(
                mart.view, mart.design, mart.base, match=match, parent=parent, pool=pool, owner=mart.owner
            )
        )
        mart.answer.append(
            f"joins {match.parent_relation.rsplit('.', 1)[-1]} on {column} = {match.parent_column} "
            f"(all {match.child_values} non-null values match)"
        )
    if looked_up:
        mart.answer.append(
            f"keeps the keys {', '.join(looked_up)}: a fact leaves an entity's attributes to its "
            "dimension (join it there when you report)"
        )
    return parents


def _child_summaries(mart: _Mart, child_pool: dict[str, _Input], *, joined: set[str]) -> list[ChildSummary]:
    """A summary per key of each model that references the base, unless it is ``joined`` as a parent."""
    key, base = mart.key, mart.base
    children: list[ChildSummary] = []
    for name, child in child_pool.items():
        if name in joined:
            continue
        links = [
            m
            for m in mart.view.suggest_foreign_keys(child.relation, [base.relation])
            if m.parent_column == key and is_id_like(m.child_column)
        ]
        # a child keyed by the same column is the same entity again (1:1), not a set of children
        if links and links[0].child_column not in child.profile.key_candidates:
            summary = _child_summary(mart.view, mart.design, base, key=key, child=child, match=links[0])
            children.append(summary)
            mart.answer.append(
                f"summarises {name} per {key}: {', '.join(a.alias for a in summary.aggregates)}"
            )
    return children


def _materialization(mart: _Mart, partition: str | None) -> tuple[ModelConfig, IncrementalFilter | None]:
    """The model's config and, for an incremental one, its new-rows filter."""
    request, key = mart.request, mart.key
    partition_by = (partition,) if partition else ()
    config = request.config(partition_by=partition_by)
    incremental = None
    if request.materialization == "incremental":
        incremental = incremental_filter(
            mart.base.profile,
            mart.identity,
            request,
            unique_key=key,
            documentation=mart.base.node.description,
        )
        config = request.config(
            unique_key=key, incremental_strategy=request.strategy, partition_by=partition_by
        )
        mart.answer.append(
            f"incremental: unique_key {key}, strategy {request.strategy}, new rows by {incremental.column}"
        )
    if partition:
        mart.answer.append(
            f"partition_by {partition}: used by adapters that partition tables (BigQuery, Spark, "
            "Databricks, DuckLake); DuckDB ignores it for ordinary tables"
        )
    return config, incremental


def _description(request: ModelRequest, spec: MartSpec, entity: str) -> str:
    """The model's description: its grain, what it joins and summarises, how it stays incremental."""
    parents, children = spec.parents, spec.children
    return (
        f"{_KIND_PHRASE[request.model_type]} {plural(entity)}: "
        f"one row per {entity} of {spec.base_model} (key {spec.key})"
        + (f", with attributes of {', '.join(p.model for p in parents)}" if parents else "")
        + (f", summarising {', '.join(c.model for c in children)}" if children else "")
        + "."
        + (
            f" Incremental ({request.strategy} on {spec.key}); new rows found by {spec.incremental.column}."
            if spec.incremental
            else ""
        )
    )
