"""What a change resolves to in dbt's manifest: code that runs beside a model, and where nodes land.

Approve (graph/phases/approve.py) reads a plan's files on Jinja's syntax tree, before dbt sees them.
Spelling can hide what dbt makes of them: a ``sql_header``, a body that closes dbt's ``create ... as
(`` and starts a statement of its own, a macro that replaces one of dbt's, a snapshot's
``target_schema``. So once Validate has parsed and compiled the change read-only, these checks read
dbt's own resolved manifest (configs merged, ``generate_*`` macros applied, Jinja rendered):

- code that runs beside a node's own statement, in the nodes a change defines or changes: a
  ``sql_header``, hooks, a compiled body with more than one statement or one that escapes its
  wrapper, a materialization that is not dbt's or the adapter's own, or one that writes files;
- macros a change defines that override dbt's or the adapter's (dispatch implementations,
  materializations, ``create_*_as``, ``get_*_sql``, ``generate_*_name``, ``ref``/``source``);
- where the nodes a run builds land, against the protected locations (tools/protection.py).

Everything here is pure: a ``Manifest`` (tools/manifest.py) in, findings out, in Approve's shape
(tools/jinja_inspect.CodeFinding).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from sqlglot import TokenType
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from tools.jinja_inspect import CodeFinding, FindingKind
from tools.manifest import Manifest, Node
from tools.protection import ProtectedPlaces, lands_in

#: materializations that write files outside the warehouse (dbt-duckdb's ``external``)
FILE_WRITING = frozenset({"external"})
#: dbt inlines ephemeral models into their callers: no materialization macro, nothing of its own runs
INLINED = frozenset({"ephemeral"})
#: adapter types whose sqlglot dialect has another name
_DIALECTS = {"sqlserver": "tsql", "fabric": "tsql", "synapse": "tsql"}
#: dbt's context functions a root-project macro of the same name replaces
_BUILTIN_OVERRIDES = frozenset({"ref", "source"})
_OVERRIDE_PATTERNS = ("default__*", "materialization_*", "create_*_as", "get_*_sql", "generate_*_name")
_HOOK_KEYS = ("pre-hook", "post-hook")
#: configs that place a relation (where a location finding points in the file)
_PLACING = re.compile(r"schema|database|alias")
_SNIPPET = 300


def sql_dialect(adapter: str) -> Dialect:
    """sqlglot's dialect for a dbt adapter type; sqlglot's generic one when it has none by that name."""
    try:
        return Dialect.get_or_raise(_DIALECTS.get(adapter, adapter))
    except ValueError:
        return Dialect.get_or_raise(None)


@dataclass(frozen=True)
class Escape:
    """Why a compiled body runs more than the one statement dbt wraps it in."""

    line: int
    why: str
    snippet: str


def statement_escape(sql: str, dialect: Dialect) -> Escape | None:
    """Whether ``sql`` holds more than one statement, or closes a parenthesis it never opened.

    dbt sends a model's body inside its own statement (``create table x as (<body>)``): a ``;``
    followed by more SQL, or a ``)`` below depth 0, ends that statement early and whatever follows
    runs on its own. Counted on the dialect's tokens, so strings, quoted names and comments do not
    count; a full parse is not needed (and fails on exactly these bodies). A trailing ``;`` alone is
    one statement. Text the tokenizer cannot read is an escape too: its statements cannot be told.
    """
    lines = sql.splitlines()

    def at(line: int, why: str) -> Escape:
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        return Escape(line, why, text[:_SNIPPET])

    try:
        tokens = dialect.tokenize(sql)
    except SqlglotError as exc:
        return at(1, f"its compiled SQL cannot be split into tokens ({str(exc).splitlines()[0][:120]})")
    depth, statements, open_statement, first_end = 0, 0, False, 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if open_statement:
                statements += 1
                first_end = first_end or token.line
            open_statement = False
            continue
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
            if depth < 0:
                return at(
                    token.line,
                    f"its compiled SQL closes a parenthesis it never opened (compiled line {token.line}): "
                    "what follows runs outside dbt's statement",
                )
        open_statement = True
    statements += open_statement
    if statements > 1:
        return at(
            first_end,
            f"its compiled SQL holds {statements} statements (the first ends on compiled line {first_end}): "
            "the others run beside the model",
        )
    return None


def internal_packages(manifest: Manifest) -> frozenset[str]:
    """dbt's own package and the adapter's (``dbt``, ``dbt_duckdb``)."""
    adapter = manifest.adapter_type
    return frozenset({"dbt", f"dbt_{adapter}"} if adapter else {"dbt"})


def builtin_materializations(manifest: Manifest) -> frozenset[str]:
    """Materializations dbt or the adapter define (their ``materialization_<name>_<adapter>`` macros),
    and ephemeral."""
    internal = internal_packages(manifest)
    names: set[str] = set(INLINED)
    for macro in manifest.macros.values():
        if macro.package_name in internal and macro.name.startswith("materialization_"):
            names.add(macro.name.removeprefix("materialization_").rsplit("_", 1)[0])
    return frozenset(names)


def overridden(name: str, dbt_macros: Collection[str], adapter: str) -> str | None:
    """What a root-project macro called ``name`` takes over from dbt or the adapter; None: nothing."""
    if name in _BUILTIN_OVERRIDES:
        return f"dbt's {name}()"
    if name in dbt_macros:
        return f"dbt's or the adapter's macro {name}"
    patterns = (*_OVERRIDE_PATTERNS, f"{adapter}__*") if adapter else _OVERRIDE_PATTERNS
    for pattern in patterns:
        if fnmatchcase(name, pattern):
            return f"the {pattern} macros dbt dispatches to or builds with"
    return None


def _line(text: str, pattern: re.Pattern[str]) -> tuple[int, str]:
    """The first line of ``text`` matching ``pattern`` and that line; (1, "") when none does."""
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            return number, line.strip()[:_SNIPPET]
    return 1, ""


def _one_line(value: str) -> str:
    return " ".join(value.split())[:_SNIPPET]


def _hooks(node: Node) -> list[tuple[str, str]]:
    """(key, sql) of every pre- and post-hook resolved on a node."""
    found: list[tuple[str, str]] = []
    for key in _HOOK_KEYS:
        for hook in node.config.raw.get(key) or []:
            sql = hook.get("sql") if isinstance(hook, Mapping) else hook
            if sql:
                found.append((key, str(sql)))
    return found


class _NodeReview:
    """The findings on one node a change defines or changes."""

    def __init__(self, node: Node, old: Node | None, text: str) -> None:
        self.node, self.old, self.text = node, old, text
        self.path = node.original_file_path or node.unique_id
        self.name = node.name

    def finding(self, kind: FindingKind, where: str, why: str, snippet: str = "") -> CodeFinding:
        line, shown = _line(self.text, re.compile(where)) if where else (1, "")
        return CodeFinding(kind, self.path, line, snippet or shown, why)

    def changed(self, read: Callable[[Node], object]) -> bool:
        """Whether ``read(node)`` differs from the project before the change (unknown: it does)."""
        return self.old is None or read(self.old) != read(self.node)

    def sql_header(self) -> Iterator[CodeFinding]:
        header = self.node.config.raw.get("sql_header")
        if header and self.changed(lambda n: n.config.raw.get("sql_header")):
            yield self.finding(
                "sql_header",
                r"sql_header",
                f"{self.name}'s sql_header runs this SQL before the model's own statement",
                _one_line(str(header)),
            )

    def hooks(self) -> Iterator[CodeFinding]:
        if self.changed(_hooks):
            for key, sql in _hooks(self.node):
                yield self.finding(
                    "hook", r"hook", f"{self.name}'s {key} runs SQL when it is built", _one_line(sql)
                )

    def materialization(self, builtin: Collection[str]) -> Iterator[CodeFinding]:
        materialized = self.node.config.materialized
        if not materialized or not self.changed(lambda n: n.config.materialized):
            return
        if materialized in FILE_WRITING:
            location = self.node.config.raw.get("location")
            where = f" to {location}" if location else ""
            yield self.finding(
                "file_write",
                r"materiali[sz]ed",
                f"{self.name} is materialized {materialized!r}: it writes a file{where}, not the warehouse",
            )
        elif materialized not in builtin:
            yield self.finding(
                "materialization",
                r"materiali[sz]ed",
                f"{self.name} is materialized {materialized!r}, not one of dbt's or the adapter's own "
                "materializations: that macro decides what runs",
            )

    def statements(self, dialect: Dialect) -> Iterator[CodeFinding]:
        compiled = self.node.compiled_code
        if self.node.language != "sql" or compiled is None:
            return
        escape = statement_escape(compiled, dialect)
        if escape is not None:
            yield CodeFinding("statements", self.path, 1, escape.snippet, f"{self.name}: {escape.why}")


def code_findings(
    manifest: Manifest, changed: Iterable[str], before: Manifest | None, files: Mapping[str, str | None]
) -> list[CodeFinding]:
    """Code that runs beside the own statement of the nodes (unique ids) a change defines or changes.

    ``before`` is the manifest before the change (None: unknown); a setting the node had then is the
    user's and not reported again. ``files`` holds the change's file texts, for line numbers.
    """
    old_nodes = before.nodes if before is not None else {}
    dialect = sql_dialect(manifest.adapter_type)
    builtin = builtin_materializations(manifest)
    found: list[CodeFinding] = []
    for uid in sorted(set(changed)):
        node = manifest.nodes.get(uid)
        if node is None:
            continue
        text = files.get(node.original_file_path) or node.raw_code
        review = _NodeReview(node, old_nodes.get(uid), text)
        found += [*review.sql_header(), *review.hooks(), *review.materialization(builtin)]
        found += list(review.statements(dialect))
    return found


def macro_findings(
    manifest: Manifest, macros: Iterable[str], files: Mapping[str, str | None]
) -> list[CodeFinding]:
    """The macros (unique ids) a change defines that override one of dbt's or the adapter's."""
    internal = internal_packages(manifest)
    dbt_names = {m.name for m in manifest.macros.values() if m.package_name in internal}
    found: list[CodeFinding] = []
    for uid in sorted(set(macros)):
        macro = manifest.macros.get(uid)
        if macro is None or macro.package_name in internal:
            continue
        name = macro.name
        takes_over = overridden(name, dbt_names, manifest.adapter_type)
        if takes_over is None:
            continue
        path = macro.original_file_path
        tag = "materialization" if name.startswith("materialization_") else r"macro\s+" + re.escape(name)
        line, snippet = _line(files.get(path) or macro.macro_sql, re.compile(tag))
        why = f"defines {name}, which takes over {takes_over}: it runs wherever dbt calls it, in every build"
        found.append(CodeFinding("macro_override", path, line, snippet, why))
    return found


def location_findings(
    manifest: Manifest, built: Iterable[str], places: ProtectedPlaces, *, target_protected: bool
) -> list[CodeFinding]:
    """The nodes (unique ids) a run builds whose resolved relation lies on a protected location.

    When the run's target is itself protected, relations in the target's own location are its
    question (Execute asks before building there) and are left out here.
    """
    found: list[CodeFinding] = []
    for uid in sorted(set(built)):
        node = manifest.nodes.get(uid)
        if node is None or node.config.materialized in INLINED:  # nothing of its own is built
            continue
        database, schema = node.database or "", node.schema or ""
        why = places.protecting(database, schema)
        if why is None:
            continue
        if target_protected and lands_in(places.place(database, schema), places.target):
            continue
        relation = node.relation_name or f"{database}.{schema}.{node.alias or node.name}"
        line, _ = _line(node.raw_code, _PLACING)
        path = node.original_file_path or uid
        why = f"{node.resource_type} {node.name} builds {relation}, which lies in {why}"
        found.append(CodeFinding("protected_location", path, line, relation, why))
    return found
