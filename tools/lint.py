"""Guardrail lint over a parsed dbt project: the checks Validate and ``ae lint`` run on models.

Input is the project's ``Manifest`` (tools/manifest.py, from ``dbt parse`` or ``dbt compile``) and
the project root.
Each rule is a small function registered with its ``RuleInfo``; ``lint_project`` runs every enabled
rule on every model of the root project (or only on some models) and returns a typed report.
dbt-project-evaluator's modeling, testing, documentation and structure rules are the public
reference; ids and severities here are ours and stable (AE001...). Each finding has a fingerprint
without line numbers (rule, node, detail), so "the same finding" survives edits elsewhere in a file:
Validate uses it to tell a change's new findings from existing debt, the baseline file to list debt.

SQL is analysed with sqlglot in the dialect of the adapter dbt compiled for (the manifest's
``adapter_type``, tools/warehouse_port/dialects.py). The raw SQL with its Jinja stripped is tried first,
because its line numbers are exactly the file's and ``var()`` calls stay visible as placeholders
instead of being rendered into literals; the compiled SQL is the fallback when Jinja control flow
leaves the stripped text unparseable. Jinja is found with Jinja's own lexer
(tools/sql_edit/jinja_text.py). Literal rules (AE011/AE012) on compiled SQL only report
literals written in the file itself, never values rendered from ``var()``.

Layers and entities come from tools/layers.py (folder or name prefix, as dbt's style guide names them;
base models are part of staging), the definition the planners use too; seeds, like sources, are raw
inputs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast, get_args

import sqlglot
import yaml
from pydantic import BaseModel, ConfigDict
from sqlglot import exp

from tools.errors import ConfigurationError
from tools.layers import entity_of, singular
from tools.logs import get_logger
from tools.manifest import Column, Manifest, ManifestLike, Node, as_manifest
from tools.sql_edit.jinja_text import jinja_spans
from tools.sql_edit.text import EditRefused
from tools.warehouse_port.dialects import sqlglot_dialect

log = get_logger("ae.lint")

Severity = Literal["error", "warning"]
SeverityOverride = Literal["error", "warning", "off"]

#: the meta key (model config or YAML meta) listing rule ids not to run on that model
META_DISABLE_KEY = "ae_lint_disable"

# Jinja becomes an identifier so `from {{ ref('x') }}` and `{{ var('d') }}` still parse as SQL.
_JINJA_PLACEHOLDER = "__ae_jinja__"
_INJECTED_CTE_PREFIX = "__dbt__cte__"  # ephemeral models dbt compiles into the caller
_IS_INCREMENTAL = re.compile(r"\bis_incremental\b")
_DATE_LITERAL = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
_STATUS_COLUMN = re.compile(r"(?:^|_)(?:status|state|type)(?:$|_)", re.IGNORECASE)
# model-level tests that prove a (compound) primary key, from dbt_utils, dbt_expectations, dbt_constraints
_MODEL_KEY_TESTS = frozenset(
    {"unique_combination_of_columns", "expect_compound_columns_to_be_unique", "primary_key"}
)
_RELATIONSHIP_TESTS = frozenset({"relationships", "relationships_where"})
# unique-id prefixes of raw data: sources, and seeds (which real projects load raw data with)
_RAW_INPUTS = ("source.", "seed.")
# strategies where a unique key or an is_incremental() filter has no meaning
_APPEND_ONLY_STRATEGIES = frozenset({"append", "microbatch"})


# every rule, in id order; filled by the @_rule decorators below
_REGISTRY: dict[str, _Rule] = {}


def _require_known_rules(rule_ids: Iterable[str], where: str) -> None:
    unknown = sorted(set(rule_ids) - set(_REGISTRY))
    if unknown:
        raise ConfigurationError(
            f"unknown lint rule ids {unknown} in {where}", hint=f"known rules: {', '.join(_REGISTRY)}"
        )


# --- public types -----------------------------------------------------------------------------------


class RuleInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    severity: Severity
    description: str


class LintFinding(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule_id: str
    severity: Severity
    message: str
    #: file relative to the project root (the model's SQL or the YAML that declares it)
    path: str
    #: 1-based; best effort, 1 when the offending token could not be located
    line: int
    #: dbt unique id of the model, e.g. model.shop.fct_orders
    node: str
    #: what tells this finding from others of its rule on the same node (a column, a literal); no line
    detail: str = ""

    @property
    def fingerprint(self) -> str:
        """``AE007 model.shop.fct_orders order_id``: stable across edits that only move lines."""
        return " ".join(part for part in (self.rule_id, self.node, self.detail) if part)


class LintReport(BaseModel):
    findings: list[LintFinding]

    @property
    def errors(self) -> list[LintFinding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[LintFinding]:
        return [f for f in self.findings if f.severity == "warning"]

    def render_text(self) -> str:
        """One line per finding, ``path:line: AE00x severity message`` (the compiler convention)."""
        return "\n".join(f"{f.path}:{f.line}: {f.rule_id} {f.severity} {f.message}" for f in self.findings)


@dataclass(frozen=True)
class LintConfig:
    disabled: frozenset[str] = frozenset()
    severity_overrides: Mapping[str, SeverityOverride] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_known_rules([*self.disabled, *self.severity_overrides], "lint configuration")
        bad = {k: v for k, v in self.severity_overrides.items() if v not in get_args(SeverityOverride)}
        if bad:
            raise ConfigurationError(
                f"lint severity overrides {bad} are not valid",
                hint="use one of: error, warning, off",
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> LintConfig:
        """Read the ``lint:`` section of ae.yml: ``{disable: [AE011], severity: {AE005: error}}``."""
        if not data:
            return cls()
        unknown_keys = set(data) - {"disable", "severity"}
        if unknown_keys:
            raise ConfigurationError(
                f"unknown keys {sorted(unknown_keys)} in the lint section of ae.yml",
                hint="the lint section accepts 'disable' (a list of rule ids) and 'severity' (id: level)",
            )
        disable = data.get("disable") or []
        severity = data.get("severity") or {}
        if isinstance(disable, str) or not isinstance(disable, list):
            raise ConfigurationError(
                "lint.disable in ae.yml must be a list of rule ids", hint="e.g. disable: [AE011, AE012]"
            )
        if not isinstance(severity, Mapping):
            raise ConfigurationError(
                "lint.severity in ae.yml must map rule ids to levels", hint="e.g. severity: {AE005: error}"
            )
        return cls(
            disabled=frozenset(str(rule_id).upper() for rule_id in disable),
            # values are checked in __post_init__; the cast only tells mypy what that check guarantees
            severity_overrides=cast(
                dict[str, SeverityOverride], {str(k).upper(): str(v).lower() for k, v in severity.items()}
            ),
        )

    def severity_for(self, rule_id: str, default: Severity) -> Severity | None:
        """The severity to report with, or None when the rule is switched off."""
        if rule_id in self.disabled:
            return None
        override = self.severity_overrides.get(rule_id)
        if override is None:
            return default
        return None if override == "off" else override


def lint_project(
    manifest: ManifestLike,
    root: Path,
    *,
    config: LintConfig = LintConfig(),
    only_paths: set[str] | None = None,
    only_nodes: Collection[str] | None = None,
    texts: Mapping[str, str | None] | None = None,
    disable_allowed: Mapping[str, frozenset[str]] | None = None,
) -> LintReport:
    """Lint the root project's models.

    ``only_paths`` keeps models whose SQL or YAML is listed, ``only_nodes`` models with those unique
    ids. ``texts`` (relative path -> text, None for absent) stands in for files on disk: Validate
    lints the project as it was before a change with the files the change replaced.
    ``disable_allowed`` (unique id -> rule ids) caps what a model's ``ae_lint_disable`` switches off:
    Validate passes what the project had before a change, so a plan cannot switch a rule off for
    itself; a model not in it switches nothing off. None: each model's own list counts.

    ``manifest`` is the project's ``Manifest``; dbt's JSON is wrapped (``ae lint``, the demo and the
    eval checks still pass it).
    """
    project = _Project(as_manifest(manifest), root, texts or {}, disable_allowed)
    wanted = None if only_paths is None else {project.relative(p) for p in only_paths}
    findings: list[LintFinding] = []
    for model in project.models():
        if wanted is not None and not wanted & model.defining_files:
            continue
        if only_nodes is not None and model.uid not in only_nodes:
            continue
        for rule_id, rule in _REGISTRY.items():
            if rule_id in model.disabled_rules:
                continue
            for issue in rule.check(model):
                severity = config.severity_for(rule_id, issue.severity or rule.info.severity)
                if severity is None:
                    continue
                findings.append(
                    LintFinding(
                        rule_id=rule_id,
                        severity=severity,
                        message=issue.message,
                        path=issue.where.path,
                        line=issue.where.line,
                        node=model.uid,
                        detail=issue.detail,
                    )
                )
    findings.sort(key=lambda f: (f.path, f.line, f.rule_id, f.message))
    report = LintReport(findings=findings)
    log.debug("lint.done", errors=len(report.errors), warnings=len(report.warnings))
    return report


def disabled_rules(node: Node) -> frozenset[str]:
    """The rule ids a model's ``ae_lint_disable`` (its meta, or meta in its config) switches off."""
    listed: list[Any] = []
    for meta in node.meta:
        value = meta.get(META_DISABLE_KEY)
        listed.extend([value] if isinstance(value, str) else value if isinstance(value, list) else [])
    return frozenset(str(rule_id).upper() for rule_id in listed)


def documents_its_output(node: Node, dialect: str) -> bool:
    """Schema compliance of one model node: it documents its columns in YAML, and exactly the columns
    its SQL outputs whenever the SQL says which (compiled SQL if present, else raw SQL; AE014).
    ``dialect``: sqlglot's, from ``lint_dialect``."""
    declared = [normalize_column(name) for name in node.columns]
    if not declared:
        return False
    outputs = _output_columns(node.compiled_code, _strip_jinja(node.raw_code), dialect)
    drift = _column_drift(declared, outputs)
    return drift is None or not (drift.missing or drift.undocumented)


# --- reading the project ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Location:
    path: str
    line: int


@dataclass(frozen=True)
class _Issue:
    message: str
    where: _Location
    #: None means the rule's default severity
    severity: Severity | None = None
    #: see LintFinding.detail
    detail: str = ""


@dataclass(frozen=True)
class _YamlModelEntry:
    line: int
    column_lines: dict[str, int]


@dataclass(frozen=True)
class _ColumnDrift:
    #: documented in YAML, not output by the SQL
    missing: list[str]
    #: output by the SQL, not documented in YAML
    undocumented: list[str]


@dataclass(frozen=True)
class _ParsedSql:
    statements: list[exp.Expression]
    from_compiled: bool


class _Project:
    """The manifest and file reads shared by every model's checks (files read once)."""

    def __init__(
        self,
        manifest: Manifest,
        root: Path,
        texts: Mapping[str, str | None],
        disable_allowed: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.disable_allowed = disable_allowed
        self.root = root
        self.manifest = manifest
        # the read cache, seeded with the texts that stand in for the disk
        self._texts: dict[str, str | None] = dict(texts)
        self._yaml_entries: dict[str, dict[str, _YamlModelEntry]] = {}
        self.model_nodes = manifest.root("model")
        self.dialect = lint_dialect(manifest)
        self.models_by_entity: dict[str, set[str]] = defaultdict(set)
        for node in self.model_nodes.values():
            self.models_by_entity[entity_of(node.name)].add(node.name)

    def is_base_model(self, uid: str) -> bool:
        node = self.manifest.nodes.get(uid)
        return node is not None and node.is_base_model

    def models(self) -> Iterator[_Model]:
        for uid in sorted(self.model_nodes):
            yield _Model(self.model_nodes[uid], self)

    def relative(self, path: str) -> str:
        candidate = Path(path)
        if candidate.is_absolute():
            try:
                candidate = candidate.resolve().relative_to(self.root.resolve())
            except ValueError:
                return candidate.as_posix()
        return PurePosixPath(candidate.as_posix()).as_posix().removeprefix("./")

    def read(self, relative_path: str) -> str | None:
        if relative_path not in self._texts:
            try:
                self._texts[relative_path] = (self.root / relative_path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                self._texts[relative_path] = None
        return self._texts[relative_path]

    def yaml_entries(self, relative_path: str) -> dict[str, _YamlModelEntry]:
        if relative_path not in self._yaml_entries:
            self._yaml_entries[relative_path] = _index_yaml_models(self.read(relative_path) or "")
        return self._yaml_entries[relative_path]


class _Model:
    """One model node with the derived facts rules ask about (computed once, on first use)."""

    def __init__(self, node: Node, project: _Project) -> None:
        self.uid = node.unique_id
        self.node = node
        self.project = project
        self.name = node.name
        self.config = node.config
        self.sql_path = node.original_file_path
        self.yaml_path = node.patch_path
        self.defining_files = {self.sql_path} | ({self.yaml_path} if self.yaml_path else set())
        self.is_base = node.is_base_model
        self.is_staging = node.layer == "staging"
        self.is_mart = node.layer == "marts"
        self.is_sql = node.language == "sql"

    @cached_property
    def disabled_rules(self) -> frozenset[str]:
        own = disabled_rules(self.node)
        allowed = self.project.disable_allowed
        return own if allowed is None else own & allowed.get(self.uid, frozenset())

    @property
    def is_incremental(self) -> bool:
        return self.config.materialized == "incremental"

    @property
    def is_append_only(self) -> bool:
        return self.config.incremental_strategy in _APPEND_ONLY_STRATEGIES

    @cached_property
    def raw_sql(self) -> str:
        return self.project.read(self.sql_path) or self.node.raw_code

    @cached_property
    def stripped_sql(self) -> str:
        return _strip_jinja(self.raw_sql)

    @cached_property
    def compiled_sql(self) -> str | None:
        return self.node.compiled_code

    @cached_property
    def parsed(self) -> _ParsedSql | None:
        """The SQL as sqlglot trees: stripped raw first (exact lines), compiled as the fallback."""
        if not self.is_sql:
            return None
        for sql, from_compiled in ((self.stripped_sql, False), (self.compiled_sql, True)):
            if sql:
                try:
                    return _ParsedSql(_parse(sql, self.project.dialect), from_compiled)
                except sqlglot.errors.SqlglotError:
                    continue
        return None

    def own_selects(self) -> Iterator[exp.Select]:
        """SELECTs the model's author wrote: not dbt's injected ephemeral CTEs, not EXISTS probes."""
        if self.parsed is None:
            return
        for statement in self.parsed.statements:
            for select in statement.find_all(exp.Select):
                if not _inside_injected_cte(select) and select.find_ancestor(exp.Exists) is None:
                    yield select

    def written_in_file(self, literal: exp.Literal) -> bool:
        """False for a literal that compiled SQL got from Jinja (a var() default), true if hard-coded."""
        if self.parsed is None or not self.parsed.from_compiled:
            return True
        quoted = "'" + literal.this.replace("'", "''") + "'"
        return quoted in self.stripped_sql

    # locations

    def line_count(self) -> int:
        return max(1, self.raw_sql.count("\n") + 1)

    def at_line(self, line: int | None) -> _Location:
        if line is None or not 1 <= line <= self.line_count():
            line = 1
        return _Location(self.sql_path, line)

    def at_node(self, node: exp.Expression) -> _Location:
        return self.at_line(_line_of(node))

    def at_text(self, pattern: re.Pattern[str], *, in_jinja: bool = False) -> _Location:
        """The first line matching ``pattern``: in Jinja (raw text) or in SQL (Jinja stripped)."""
        text = self.raw_sql if in_jinja else self.stripped_sql
        match = pattern.search(text)
        return self.at_line(text.count("\n", 0, match.start()) + 1 if match else None)

    def at_yaml(self, column: str | None = None) -> _Location:
        """The model's (or a column's) entry in its schema YAML, else the SQL file's first line."""
        entry = self.project.yaml_entries(self.yaml_path).get(self.name) if self.yaml_path else None
        if self.yaml_path is None or entry is None:
            return _Location(self.yaml_path or self.sql_path, 1)
        line = entry.column_lines.get(column.lower(), entry.line) if column else entry.line
        return _Location(self.yaml_path, line)

    # tests and keys

    @cached_property
    def tests(self) -> list[Node]:
        return self.project.manifest.tests_of(self.uid)

    def columns_tested_with(self, names: frozenset[str]) -> set[str]:
        found: set[str] = set()
        for test in self.tests:
            column = test.column_name or test.test_kwargs.get("column_name")
            if test.generic_test in names and column:
                found.add(normalize_column(str(column)))
        return found

    @cached_property
    def declared_columns(self) -> dict[str, Column]:
        return {normalize_column(name): column for name, column in self.node.columns.items()}

    def columns_constrained(self, kind: str) -> set[str]:
        # a primary_key constraint implies unique and not_null
        kinds = {kind, "primary_key"} if kind in ("unique", "not_null") else {kind}
        return {name for name, column in self.declared_columns.items() if kinds & set(column.constraints)}

    @cached_property
    def has_model_level_key(self) -> bool:
        tested = any(t.generic_test in _MODEL_KEY_TESTS for t in self.tests)
        constrained = any(c.type == "primary_key" for c in self.node.constraints)
        return tested or constrained

    @cached_property
    def unique_columns(self) -> set[str]:
        return self.columns_tested_with(frozenset({"unique"})) | self.columns_constrained("unique")

    @cached_property
    def primary_key_columns(self) -> set[str]:
        not_null = self.columns_tested_with(frozenset({"not_null"})) | self.columns_constrained("not_null")
        return self.unique_columns & not_null

    @property
    def has_tested_key(self) -> bool:
        return bool(self.primary_key_columns) or self.has_model_level_key

    @cached_property
    def key_columns(self) -> set[str]:
        """Columns that are (part of) the model's own key: tested unique, named by a compound-key test
        or primary_key constraint, or the incremental unique_key."""
        columns = set(self.unique_columns)
        for test in self.tests:
            if test.generic_test in _MODEL_KEY_TESTS:
                for value in test.test_kwargs.values():
                    if isinstance(value, list):
                        columns.update(normalize_column(str(v)) for v in value)
        for constraint in self.node.constraints:
            if constraint.type == "primary_key":
                columns.update(normalize_column(c) for c in constraint.columns)
        unique_key = self.config.unique_key or ()
        columns.update(
            normalize_column(c) for c in ((unique_key,) if isinstance(unique_key, str) else unique_key)
        )
        return columns

    @cached_property
    def sql_output_columns(self) -> list[str] | None:
        """What the SQL outputs (see ``_output_columns``); None when the SQL does not say."""
        if not self.is_sql:
            return None
        return _output_columns(self.compiled_sql, self.stripped_sql, self.project.dialect)

    @cached_property
    def output_columns(self) -> list[str]:
        """Declared YAML columns plus the columns the SQL outputs, in that order."""
        return list(dict.fromkeys([*self.declared_columns, *(self.sql_output_columns or [])]))


# --- helpers ----------------------------------------------------------------------------------------


def lint_dialect(manifest: Manifest) -> str:
    """sqlglot's dialect for the SQL of ``manifest``'s project: its adapter's. A manifest dbt wrote
    always names the adapter; one that does not (made by hand) gets sqlglot's generic SQL."""
    return sqlglot_dialect(manifest.adapter_type)


def model_output_columns(node: Node, dialect: str) -> list[str] | None:
    """The columns a SQL model outputs, named as findings name them (AE014's rule: compiled SQL
    first, else its source with the Jinja set aside); None when its SQL does not say. ``dialect``:
    sqlglot's, from ``lint_dialect``."""
    if node.language != "sql":
        return None
    return _output_columns(node.compiled_code, _strip_jinja(node.raw_code), dialect)


def _output_columns(compiled: str | None, stripped: str, dialect: str) -> list[str] | None:
    """The columns a model outputs, from the first of its compiled and Jinja-stripped SQL that parses;
    None when that SQL does not say (``select *`` from a ref, a name made by Jinja, several queries)."""
    for sql in (compiled, stripped):
        if not sql:
            continue
        try:
            statements = _parse(sql, dialect)
        except sqlglot.errors.SqlglotError:
            continue
        queries = [s for s in statements if isinstance(s, exp.Query)]
        if len(queries) != 1:
            return None
        ctes = {cte.alias: cte.this for cte in queries[0].find_all(exp.CTE) if cte.alias}
        return _query_columns(queries[0], ctes, frozenset())
    return None


def _query_columns(
    query: exp.Expr, ctes: Mapping[str, exp.Expr], expanding: frozenset[str]
) -> list[str] | None:
    """The outermost SELECT's projections, a ``*`` expanded through CTEs and subqueries that list
    their columns. ``expanding`` holds the CTEs being expanded, so a recursive CTE stops."""
    select = _first_select(query)
    if select is None:
        return None
    names: list[str] = []
    for projection in select.expressions:
        star = _star_qualifier(projection)
        if star is None:
            name = normalize_column(projection.output_name)
            if not name or _JINJA_PLACEHOLDER in name:
                return None
            names.append(name)
            continue
        expanded = _expand_star(select, star, ctes, expanding) if _plain_star(projection) else None
        if expanded is None:
            return None
        names.extend(expanded)
    return list(dict.fromkeys(names))


def _first_select(query: exp.Expr) -> exp.Select | None:
    if isinstance(query, exp.SetOperation):  # a UNION's columns are named by its first SELECT
        return _first_select(query.left)
    if isinstance(query, exp.Subquery):
        return _first_select(query.this)
    return query if isinstance(query, exp.Select) else None


def _star_qualifier(projection: exp.Expression) -> str | None:
    """ "" for a bare ``*``, the table for ``t.*``, None when the projection is not a star."""
    if isinstance(projection, exp.Star):
        return ""
    if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
        return projection.table
    return None


def _plain_star(projection: exp.Expression) -> bool:
    """False for ``* EXCLUDE (...)``, ``* REPLACE (...)`` and the like, whose columns we do not derive."""
    star = projection.find(exp.Star)
    return star is not None and not any(star.args.values())


def _expand_star(
    select: exp.Select, qualifier: str, ctes: Mapping[str, exp.Expr], expanding: frozenset[str]
) -> list[str] | None:
    from_ = select.args.get("from_")
    relations = [from_.this] if isinstance(from_, exp.From) else []
    relations += [join.this for join in select.args.get("joins") or []]
    if qualifier:
        relations = [r for r in relations if r.alias_or_name == qualifier]
    # a bare * over a join repeats or merges key columns depending on the join; do not guess
    if len(relations) != 1:
        return None
    relation = relations[0]
    if isinstance(relation, exp.Subquery):
        return _query_columns(relation.this, ctes, expanding)
    if isinstance(relation, exp.Table) and not relation.db and relation.name in ctes:
        if relation.name in expanding:
            return None
        return _query_columns(ctes[relation.name], ctes, expanding | {relation.name})
    return None


def _column_drift(declared: Collection[str], outputs: list[str] | None) -> _ColumnDrift | None:
    """How documented columns and output columns differ; None when either side is unknown or empty
    (no declared columns is AE007's finding, not this one's)."""
    if outputs is None or not declared:
        return None
    return _ColumnDrift(
        missing=[c for c in declared if c not in outputs],
        undocumented=[c for c in outputs if c not in declared],
    )


def _strip_jinja(raw: str) -> str:
    """Replace Jinja by a placeholder identifier (expressions) or nothing (tags, comments, the config
    call), keeping line numbers. Jinja that does not lex stays (the compiled SQL is parsed instead)."""
    try:
        spans = jinja_spans(raw)
    except EditRefused:
        return raw
    pieces: list[str] = []
    done = 0
    for span in spans:
        expression = span.kind == "expression" and not span.calls("config")
        pieces += [raw[done : span.start], _JINJA_PLACEHOLDER if expression else " "]
        pieces.append("\n" * raw.count("\n", span.start, span.end))
        done = span.end
    pieces.append(raw[done:])
    return "".join(pieces)


def _parse(sql: str, dialect: str) -> list[exp.Expression]:
    return [s for s in sqlglot.parse(sql, read=dialect) if isinstance(s, exp.Expression)]


def _inside_injected_cte(node: exp.Expression) -> bool:
    cte = node.find_ancestor(exp.CTE)
    while cte is not None:
        if cte.alias.startswith(_INJECTED_CTE_PREFIX):
            return True
        cte = cte.find_ancestor(exp.CTE)
    return False


def _line_of(node: exp.Expression) -> int | None:
    """The line of the first token under ``node`` that sqlglot recorded a position for."""
    for child in node.walk():
        line = child.meta.get("line") if child.meta else None
        if isinstance(line, int):
            return line
    return None


def normalize_column(name: str) -> str:
    """A column name as findings name it (``LintFinding.detail``): unquoted, lower case."""
    return name.strip().strip('"`[]').lower()


def _filter_clauses(select: exp.Select) -> Iterator[exp.Expression]:
    for key in ("where", "having", "qualify"):
        clause = select.args.get(key)
        if clause is not None:
            yield clause
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        if on is not None:
            yield on


def _filter_nodes(model: _Model, kinds: tuple[type[exp.Expression], ...]) -> Iterator[exp.Expression]:
    """Nodes of ``kinds`` in the model's WHERE/HAVING/QUALIFY/ON clauses, each once."""
    seen: set[int] = set()
    for select in model.own_selects():
        for clause in _filter_clauses(select):
            for node in clause.find_all(*kinds):
                if id(node) not in seen:
                    seen.add(id(node))
                    yield node


def _index_yaml_models(text: str) -> dict[str, _YamlModelEntry]:
    """Line numbers of each ``models:`` entry and its columns, read from the YAML node tree."""
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    entries: dict[str, _YamlModelEntry] = {}
    for model in _sequence(_mapping_get(document, "models")):
        name = _scalar(_mapping_get(model, "name"))
        if name is None:
            continue
        column_lines: dict[str, int] = {}
        for column in _sequence(_mapping_get(model, "columns")):
            column_name = _scalar(_mapping_get(column, "name"))
            if column_name is not None:
                column_lines.setdefault(normalize_column(column_name), column.start_mark.line + 1)
        entries[name] = _YamlModelEntry(model.start_mark.line + 1, column_lines)
    return entries


def _mapping_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if _scalar(key_node) == key:
                return value_node  # type: ignore[no-any-return]
    return None


def _sequence(node: yaml.Node | None) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _scalar(node: yaml.Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


# --- rules ------------------------------------------------------------------------------------------

_Check = Callable[[_Model], Iterable[_Issue]]


@dataclass(frozen=True)
class _Rule:
    info: RuleInfo
    check: _Check


def _rule(rule_id: str, title: str, severity: Severity, description: str) -> Callable[[_Check], _Check]:
    def register(check: _Check) -> _Check:
        info = RuleInfo(id=rule_id, title=title, severity=severity, description=description)
        _REGISTRY[rule_id] = _Rule(info, check)
        return check

    return register


@_rule(
    "AE001",
    "no SELECT * in marts",
    "error",
    "A mart (models/marts/, fct_, dim_) selects * in its final SELECT, a CTE or a subquery; its schema "
    "would change silently with upstream. count(*) and EXISTS (SELECT * ...) are fine.",
)
def _no_select_star_in_marts(model: _Model) -> Iterator[_Issue]:
    if not model.is_mart:
        return
    for select in model.own_selects():
        for projection in select.expressions:
            target = projection.this if isinstance(projection, exp.Alias) else projection
            star = target if isinstance(target, exp.Star) else None
            if isinstance(target, exp.Column) and isinstance(target.this, exp.Star):
                star = target.this
            if star is None:
                continue
            cte = select.find_ancestor(exp.CTE)
            place = f"CTE {cte.alias!r}" if cte is not None else "a subquery"
            if cte is None and select.find_ancestor(exp.Subquery) is None:
                place = "its final SELECT"
            yield _Issue(
                f"{model.name} uses SELECT * in {place}; list the columns explicitly so the mart's "
                "schema does not change when upstream models do",
                model.at_node(star),
                detail=place,
            )


@_rule(
    "AE002",
    "incremental models set unique_key",
    "error",
    "An incremental model must set unique_key so re-processed rows replace old ones instead of "
    "duplicating them. Not required for the append and microbatch strategies.",
)
def _incremental_has_unique_key(model: _Model) -> Iterator[_Issue]:
    if model.is_incremental and not model.is_append_only and not model.config.unique_key:
        yield _Issue(
            f"incremental model {model.name} has no unique_key; add config(unique_key='<primary key>') "
            "so reruns merge instead of duplicating rows",
            model.at_text(re.compile(r"materialized\s*=\s*['\"]incremental"), in_jinja=True),
        )


@_rule(
    "AE003",
    "incremental models filter with is_incremental()",
    "error",
    "An incremental model must contain an {% if is_incremental() %} block that limits the new rows; "
    "without it every run re-reads everything. Not required for microbatch (dbt filters by event_time).",
)
def _incremental_has_filter(model: _Model) -> Iterator[_Issue]:
    microbatch = model.config.incremental_strategy == "microbatch"
    if model.is_incremental and not microbatch and not _IS_INCREMENTAL.search(model.raw_sql):
        yield _Issue(
            f"incremental model {model.name} has no is_incremental() block; add "
            "{% if is_incremental() %} where <timestamp> > (select max(<timestamp>) from {{ this }}) "
            "{% endif %}",
            model.at_line(1),
        )


@_rule(
    "AE004",
    "primary key tested",
    "error",
    "Every model has a column tested both unique and not_null (or a model-level key test such as "
    "dbt_utils.unique_combination_of_columns, or a primary_key constraint). Error for staging and "
    "marts, where the grain is the contract; warning for other layers (intermediate).",
)
def _primary_key_tested(model: _Model) -> Iterator[_Issue]:
    if model.has_tested_key:
        return
    half_tested = sorted(model.unique_columns)
    hint = f" (column {half_tested[0]} is unique but not not_null)" if half_tested else ""
    yield _Issue(
        f"model {model.name} has no primary key test{hint}; add unique and not_null tests to its key "
        "column in the schema YAML",
        model.at_yaml(half_tested[0] if half_tested else None),
        severity=None if model.is_staging or model.is_mart else "warning",
    )


@_rule(
    "AE005",
    "foreign keys have relationships tests",
    "warning",
    "A mart column named <entity>_id that points at another model's entity (customer_id -> "
    "dim_customers) and is not part of the mart's own key has a relationships test, so orphaned keys "
    "are caught. Checked once the mart's key is tested (AE004).",
)
def _foreign_keys_tested(model: _Model) -> Iterator[_Issue]:
    # without a tested key we cannot tell the model's own key from a foreign one; AE004 reports that
    if not model.is_mart or not model.has_tested_key:
        return
    own_entity = entity_of(model.name)
    related = model.columns_tested_with(_RELATIONSHIP_TESTS) | model.columns_constrained("foreign_key")
    for column in model.output_columns:
        if not column.endswith("_id") or column in model.key_columns or column in related:
            continue
        entity = singular(column.removesuffix("_id"))
        targets = sorted(model.project.models_by_entity.get(entity, set()) - {model.name})
        if entity == own_entity or not targets:
            continue
        where = (
            model.at_yaml(column)
            if column in model.declared_columns
            else model.at_text(re.compile(rf"\b{re.escape(column)}\b", re.IGNORECASE))
        )
        yield _Issue(
            f"column {column} of {model.name} looks like a foreign key to {targets[0]} but has no "
            f"relationships test; add one (to: ref('{targets[0]}'), field: {column})",
            where,
            detail=column,
        )


@_rule(
    "AE006",
    "models are described",
    "error",
    "Every model has a non-empty description in its schema YAML.",
)
def _model_described(model: _Model) -> Iterator[_Issue]:
    if not model.node.description.strip():
        yield _Issue(
            f"model {model.name} has no description; add description: to its entry in the schema YAML",
            model.at_yaml(),
        )


@_rule(
    "AE007",
    "columns are declared and described",
    "error",
    "A model declares its columns in YAML (schema compliance) and each declared column has a description.",
)
def _columns_described(model: _Model) -> Iterator[_Issue]:
    columns = model.node.columns
    if not columns:
        yield _Issue(
            f"model {model.name} declares no columns; list every output column with a description "
            "under columns: in its schema YAML",
            model.at_yaml(),
        )
    for name, column in columns.items():
        if not column.description.strip():
            yield _Issue(
                f"column {name} of {model.name} has no description; add one in the schema YAML",
                model.at_yaml(name),
                detail=normalize_column(name),
            )


@_rule(
    "AE008",
    "staging reads sources only",
    "error",
    "A staging model (models/staging/, stg_) depends on raw data only: sources and seeds, or a base "
    "model (models/staging/base/, base_) that reads them first. A base model reads sources and seeds "
    "only. Logic that needs other models belongs in intermediate or marts.",
)
def _staging_reads_sources(model: _Model) -> Iterator[_Issue]:
    if not model.is_staging:
        return
    nodes = model.node.depends_on
    upstream = sorted(
        n
        for n in nodes
        if not n.startswith(_RAW_INPUTS) and (model.is_base or not model.project.is_base_model(n))
    )
    if upstream:
        names = ", ".join(n.rsplit(".", 1)[-1] for n in upstream)
        reads = "source(), seeds" if model.is_base else "source(), seeds and base models"
        yield _Issue(
            f"staging model {model.name} depends on {names}; staging reads {reads} only, so move "
            "this logic to an intermediate or mart model",
            model.at_text(re.compile(r"\bref\s*\("), in_jinja=True),
        )


@_rule(
    "AE009",
    "staging has no joins",
    "error",
    "A staging model cleans one source table; joins belong in intermediate or mart models.",
)
def _staging_has_no_joins(model: _Model) -> Iterator[_Issue]:
    if not model.is_staging:
        return
    for select in model.own_selects():
        for join in select.args.get("joins") or []:
            yield _Issue(
                f"staging model {model.name} joins tables; keep staging to one source and join in an "
                "intermediate or mart model",
                model.at_node(join),
            )


@_rule(
    "AE010",
    "marts read refs, not sources",
    "error",
    "A mart selects from staging/intermediate models through ref(), never straight from raw data: a "
    "source, or a seed used as a raw input.",
)
def _marts_read_refs(model: _Model) -> Iterator[_Issue]:
    if not model.is_mart:
        return
    nodes = model.node.depends_on
    raw = sorted(n for n in nodes if n.startswith(_RAW_INPUTS))
    if not raw:
        return
    # source.<project>.raw.orders -> source raw.orders; seed.<project>.raw_orders -> seed raw_orders
    shown = ", ".join(f"{n.split('.', 1)[0]} {n.split('.', 2)[-1]}" for n in raw)
    first = raw[0].split(".", 2)[-1]
    call = r"\bsource\s*\(" if raw[0].startswith("source.") else rf"\bref\s*\(\s*['\"]{re.escape(first)}['\"]"
    yield _Issue(
        f"mart {model.name} reads {shown} directly; add a staging model for it and ref() that instead",
        model.at_text(re.compile(call), in_jinja=True),
    )


@_rule(
    "AE011",
    "no hard-coded dates in filters",
    "warning",
    "A date or timestamp string literal in WHERE/HAVING/QUALIFY/ON makes the model stale; use var() "
    "or a relative expression.",
)
def _no_hard_coded_dates(model: _Model) -> Iterator[_Issue]:
    for literal in _filter_nodes(model, (exp.Literal,)):
        if (
            isinstance(literal, exp.Literal)
            and literal.is_string
            and _DATE_LITERAL.match(literal.this)
            and model.written_in_file(literal)
        ):
            yield _Issue(
                f"{model.name} filters on the hard-coded date '{literal.this}'; use "
                "{{ var('...') }} or a relative date expression instead",
                model.at_node(literal),
                detail=literal.this,
            )


@_rule(
    "AE012",
    "no hard-coded status lists",
    "warning",
    "A filter compares a status/state/type column with literal values (IN ('a','b') or = 'a'); keep "
    "such lists in a var() (or a seed) so they change in one place.",
)
def _no_hard_coded_statuses(model: _Model) -> Iterator[_Issue]:
    # A business rule and a data value can look alike (`status = 'R'`); where the literal sits tells
    # them apart. In a filter (WHERE/HAVING/QUALIFY/ON) it decides which rows count: "completed
    # orders" is a definition people change, so it belongs in one place (a var() or a seed). In a
    # projection, `case when status = 'R' then 'returned' end` maps a source system's codes to labels:
    # that is decoding data (what staging is for), the code is fixed by the data and a var() would
    # only hide it. So only filters are checked, in every layer.
    for predicate in _filter_nodes(model, (exp.In, exp.EQ, exp.NEQ)):
        if isinstance(predicate, exp.In):
            column, values = predicate.this, predicate.expressions
        else:
            left, right = predicate.this, predicate.expression
            column, values = (left, [right]) if isinstance(left, exp.Column) else (right, [left])
        literals = [v for v in values if isinstance(v, exp.Literal) and v.is_string]
        if (
            not isinstance(column, exp.Column)
            or not _STATUS_COLUMN.search(column.name)
            or not literals
            or len(literals) != len(values)
            or not all(model.written_in_file(v) for v in literals)
        ):
            continue
        shown = ", ".join(f"'{v.this}'" for v in literals)
        yield _Issue(
            f"{model.name} filters {column.name} on hard-coded values {shown}; put the list in a "
            "var() (e.g. {{ var('" + column.name + "_values') }}) or a seed",
            model.at_node(column),
            detail=f"{normalize_column(column.name)} {shown}",
        )


@_rule(
    "AE013",
    "compiled SQL parses",
    "error",
    "The compiled SQL parses with sqlglot in the adapter's dialect; catches syntax errors dbt compile "
    "lets through.",
)
def _compiled_sql_parses(model: _Model) -> Iterator[_Issue]:
    if not model.is_sql or model.compiled_sql is None:
        return
    try:
        _parse(model.compiled_sql, model.project.dialect)
    except sqlglot.errors.ParseError as error:
        first: Mapping[str, Any] = error.errors[0] if error.errors else {}
        line = first.get("line")
        detail = first.get("description") or str(error).splitlines()[0]
        near = f" near {first['highlight']!r}" if first.get("highlight") else ""
        yield _Issue(
            f"compiled SQL of {model.name} does not parse (compiled line {line}){near}: {detail}; "
            "fix the SQL syntax",
            model.at_line(line if isinstance(line, int) else None),
        )
    except sqlglot.errors.SqlglotError as error:
        yield _Issue(
            f"compiled SQL of {model.name} does not parse: {str(error).splitlines()[0]}; fix the SQL syntax",
            model.at_line(1),
        )


@_rule(
    "AE014",
    "documented columns match the output",
    "error",
    "Every column documented in the model's YAML is a column its SQL outputs (the outermost SELECT, "
    "with * expanded through CTEs that list their columns). An output column the YAML leaves out is a "
    "warning once the model documents any (a model that documents none is AE007's). Skipped when the "
    "SQL does not say what it outputs (select * from a ref, column names made by Jinja).",
)
def _documented_columns_match_output(model: _Model) -> Iterator[_Issue]:
    drift = _column_drift(list(model.declared_columns), model.sql_output_columns)
    if drift is None:
        return
    hint = f" (it outputs {', '.join(drift.undocumented)}, which the YAML does not list)"
    for column in drift.missing:
        yield _Issue(
            f"column {column} is documented for {model.name} but the model does not output it"
            f"{hint if drift.undocumented else ''}; rename or remove it in the schema YAML",
            model.at_yaml(column),
            detail=column,
        )
    for column in drift.undocumented:
        yield _Issue(
            f"{model.name} outputs column {column} that its schema YAML does not document; add it "
            "under columns: with a description",
            model.at_yaml(),
            severity="warning",
            detail=column,
        )


RULES: dict[str, RuleInfo] = {rule_id: rule.info for rule_id, rule in _REGISTRY.items()}
