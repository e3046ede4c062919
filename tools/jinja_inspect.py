"""What in a changeset runs as code when dbt parses, compiles or builds it: found on Jinja's syntax tree.

dbt renders every ``.sql`` file, every Jinja string in a YAML file and every ``--vars`` value; a
``run_query`` there runs at compile time, a hook at build time, a ``generate_schema_name`` override
decides where everything is built, and a Python model runs arbitrary Python. None of that may run
before a person has seen it (graph/phases/approve.py). The template is parsed by Jinja2's real
parser, never matched by regexes, so a call cannot hide behind whitespace, a ``{% set %}`` alias or
a string split over lines.

dbt's own environment (dbt_common.clients.jinja.get_environment) is not reused: importing it costs
~0.6 s in ae's process, which otherwise never imports dbt. Its extensions are only grammar, so the
few tags dbt adds (``materialization``, ``test``, ``docs``, ``snapshot``) are parsed here the same
way: as macros, whose bodies are inspected like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

import jinja2
import jinja2.ext
import yaml
from jinja2 import nodes
from jinja2.parser import Parser

FindingKind = Literal[
    "unparsable",
    "warehouse_call",
    "side_effect",
    "hook",
    "naming_override",
    "materialization",
    "python_model",
    "env_var",
    "vars_jinja",
    "config_file",
    # found on dbt's resolved manifest after Validate's compile (tools/resolved_gate.py)
    "sql_header",
    "statements",
    "macro_override",
    "file_write",
    "protected_location",
]

#: files that decide how dbt (and ae) connect, what packages run and which targets are protected
CONFIG_FILES = frozenset({"ae.yml", "profiles.yml", "dbt_project.yml", "packages.yml", "dependencies.yml"})
#: macros (dbt's or a project's) that send SQL to the warehouse, by name: calling, aliasing or
#: reaching them through ``dbt.``/``context.`` is all the same
WAREHOUSE_CALLS = frozenset(
    {"run_query", "statement", "run_hooks", "drop_relation", "drop_relation_if_exists", "drop_schema",
     "create_schema", "truncate_relation", "rename_relation", "create_table_as", "create_view_as",
     "load_csv_rows", "persist_docs", "alter_column_type", "alter_relation_add_remove_columns",
     "apply_grants", "create_indexes", "snapshot_merge_sql", "get_create_table_as_sql"}
)  # fmt: skip
#: adapter methods that only read or format; any other ``adapter.*`` may write
ADAPTER_READS = frozenset(
    {"dispatch", "quote", "quote_as_configured", "quote_seed_column", "get_relation",
     "get_columns_in_relation", "get_missing_columns", "check_schema_exists", "type", "convert_type",
     "already_exists", "get_incremental_strategy_macro", "valid_snapshot_target",
     "get_column_schema_from_query", "standardize_grants_dict", "should_identifier_be_quoted"}
)  # fmt: skip
#: calls a ``{% do %}`` may make for their value alone
PURE_DO = frozenset({"log", "print", "return", "append", "extend", "update", "insert", "pop", "remove"})
NAMING_MACROS = ("generate_schema_name", "generate_database_name", "generate_alias_name")
HOOK_KEYS = frozenset(
    {"pre_hook", "post_hook", "pre-hook", "post-hook", "+pre-hook", "+post-hook", "+pre_hook",
     "+post_hook", "on-run-start", "on-run-end", "on_run_start", "on_run_end"}
)  # fmt: skip
_JINJA_MARKERS = ("{{", "{%", "{#")
_SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "KEY", "CREDENTIAL")


@dataclass(frozen=True)
class CodeFinding:
    """One piece of code a person must approve before dbt sees it."""

    kind: FindingKind
    path: str
    line: int
    snippet: str
    why: str

    def render(self) -> str:
        return f"{self.path}:{self.line}: {self.why}\n    {self.snippet}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "line": self.line,
            "snippet": self.snippet,
            "why": self.why,
        }


class _DbtBlocks(jinja2.ext.Extension):
    """dbt's block tags as macros named ``<tag>:<name>``; their arguments are read and dropped."""

    tags = {"materialization", "test", "docs", "snapshot"}  # noqa: RUF012 (typed so by jinja2.ext.Extension)

    def parse(self, parser: Parser) -> nodes.Node:
        token = next(parser.stream)
        node = nodes.Macro(lineno=token.lineno)
        node.name = f"{token.value}:{parser.parse_assign_target(name_only=True).name}"
        node.args, node.defaults = [], []
        if token.value == "test":
            parser.parse_signature(node)
        while parser.stream.skip_if("comma"):  # {% materialization x, adapter='duckdb' %}
            parser.parse_assign_target(name_only=True)
            if parser.stream.skip_if("assign"):
                parser.parse_expression()
        node.body = parser.parse_statements((f"name:end{token.value}",), drop_needle=True)
        return node


_ENV = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols", _DbtBlocks])


def parse_jinja(text: str) -> nodes.Template:
    """The syntax tree dbt's renderer would see; raises ``jinja2.TemplateSyntaxError``."""
    return _ENV.parse(text)


def _callee(node: nodes.Expr) -> str | None:
    """``run_query`` for ``run_query(...)``, ``dbt.run_query(...)`` and ``context.run_query(...)``."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return node.attr
    return None


def _is_adapter(node: nodes.Expr) -> bool:
    return isinstance(node, nodes.Name) and node.name == "adapter"


def _const_str(node: nodes.Expr | None) -> str | None:
    return node.value if isinstance(node, nodes.Const) and isinstance(node.value, str) else None


def _secret_env(name: str | None) -> bool:
    if name is None or not name.startswith("DBT_") or name.startswith("DBT_ENV_SECRET"):
        return True
    return any(word in name.upper() for word in _SECRET_WORDS)


class _Walker:
    def __init__(self, path: str, text: str, line_offset: int) -> None:
        self.path, self.lines, self.offset = path, text.splitlines(), line_offset
        self.found: list[CodeFinding] = []

    def add(self, kind: FindingKind, lineno: int, why: str) -> None:
        snippet = self.lines[lineno - 1].strip() if 0 < lineno <= len(self.lines) else ""
        self.found.append(CodeFinding(kind, self.path, lineno + self.offset, snippet[:300], why))

    def walk(self, template: nodes.Template) -> list[CodeFinding]:
        for macro in template.find_all(nodes.Macro):
            self._macro(macro)
        for stmt in template.find_all(nodes.ExprStmt):  # {% do ... %}
            callee = _callee(stmt.node.node) if isinstance(stmt.node, nodes.Call) else None
            if isinstance(stmt.node, nodes.Call) and callee not in PURE_DO | WAREHOUSE_CALLS:
                self.add("side_effect", stmt.lineno, "`do` calls a macro for its side effects")
        for name in template.find_all(nodes.Name):
            self._name(name)
        for attr in template.find_all(nodes.Getattr):
            if _is_adapter(attr.node) and attr.attr not in ADAPTER_READS:
                self.add("warehouse_call", attr.lineno, f"adapter.{attr.attr} can write to the warehouse")
            elif attr.attr in WAREHOUSE_CALLS:
                self.add("warehouse_call", attr.lineno, f"{attr.attr} sends SQL to the warehouse")
        for item in template.find_all(nodes.Getitem):
            if isinstance(item.node, nodes.Name) and item.node.name in {"adapter", "context", "dbt"}:
                self.add("warehouse_call", item.lineno, f"{item.node.name}[...] reaches dbt's context by key")
        for flt in template.find_all(nodes.Filter):
            if flt.name == "attr":
                self.add("warehouse_call", flt.lineno, "the attr filter reaches attributes by computed name")
        for call in template.find_all(nodes.Call):
            self._call(call)
        return self.found

    def _macro(self, macro: nodes.Macro) -> None:
        tag, _, name = macro.name.rpartition(":")
        if tag == "materialization":
            self.add(
                "materialization", macro.lineno, f"defines the materialization {name!r}: how models are built"
            )
        elif any(name == n or name.endswith(f"__{n}") for n in NAMING_MACROS):
            self.add("naming_override", macro.lineno, f"overrides {name}: decides where every model is built")

    def _name(self, name: nodes.Name) -> None:
        if name.ctx != "load":
            return
        if name.name in WAREHOUSE_CALLS:
            self.add("warehouse_call", name.lineno, f"{name.name} sends SQL to the warehouse")

    def _call(self, call: nodes.Call) -> None:
        callee = _callee(call.node)
        if callee == "env_var" and isinstance(call.node, nodes.Name):
            variable = _const_str(call.args[0]) if call.args else None
            if _secret_env(variable):
                shown = variable or "a computed name"
                self.add(
                    "env_var",
                    call.lineno,
                    f"reads the environment variable {shown} (only non-secret DBT_* are read freely)",
                )
        elif callee == "config" and isinstance(call.node, nodes.Name):
            keys = [kw.key for kw in call.kwargs]
            for arg in [*call.args, *([call.dyn_kwargs] if call.dyn_kwargs is not None else [])]:
                if isinstance(arg, nodes.Dict):
                    keys += [k for pair in arg.items if (k := _const_str(pair.key)) is not None]
                else:
                    keys.append("**computed")
            for key in keys:
                if key in HOOK_KEYS or key == "**computed":
                    self.add("hook", call.lineno, f"config({key}=...) runs SQL when the model is built")
        elif (
            isinstance(call.node, nodes.Getattr)
            and _is_adapter(call.node.node)
            and call.node.attr == "dispatch"
        ):
            macro = _const_str(call.args[0]) if call.args else None
            if macro is None or macro in WAREHOUSE_CALLS:
                self.add(
                    "warehouse_call", call.lineno, f"adapter.dispatch({macro or 'a computed name'}) may write"
                )


def inspect_jinja(path: str, text: str, *, line_offset: int = 0) -> list[CodeFinding]:
    """Everything in a Jinja template that runs against the warehouse, the environment or dbt's naming."""
    try:
        template = parse_jinja(text)
    except jinja2.TemplateSyntaxError as exc:
        line = (exc.lineno or 1) + line_offset
        return [
            CodeFinding(
                "unparsable",
                path,
                line,
                (exc.source or text).splitlines()[(exc.lineno or 1) - 1][:300] if text else "",
                f"not valid Jinja ({exc.message}): dbt cannot parse it",
            )
        ]
    return _Walker(path, text, line_offset).walk(template)


def _yaml_findings(path: str, text: str, node: yaml.Node) -> Iterator[CodeFinding]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value in HOOK_KEYS:
                code = text[value.start_mark.index : value.end_mark.index].strip()
                yield CodeFinding(
                    "hook",
                    path,
                    key.start_mark.line + 1,
                    code[:300],
                    f"{key.value} runs SQL in the warehouse",
                )
            yield from _yaml_findings(path, text, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _yaml_findings(path, text, item)
    elif isinstance(node, yaml.ScalarNode) and any(m in node.value for m in _JINJA_MARKERS):
        yield from inspect_jinja(path, node.value, line_offset=node.start_mark.line)


def inspect_yaml(path: str, text: str) -> list[CodeFinding]:
    """Hooks anywhere in a dbt YAML file (properties, ``dbt_project.yml``) and code in its Jinja strings."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return [CodeFinding("unparsable", path, line, "", f"not valid YAML: dbt cannot parse it ({exc})")]
    return [] if root is None else list(_yaml_findings(path, text, root))


def inspect_vars(values: Mapping[str, Any], where: str) -> list[CodeFinding]:
    """``--vars`` values are rendered by dbt: any Jinja in one is code."""
    found: list[CodeFinding] = []

    def visit(value: Any, key: str) -> None:
        if isinstance(value, str) and any(m in value for m in _JINJA_MARKERS):
            found.append(
                CodeFinding(
                    "vars_jinja",
                    where,
                    1,
                    f"{key}: {value}"[:300],
                    "a --vars value holds Jinja, which dbt renders",
                )
            )
        elif isinstance(value, Mapping):
            for k, v in value.items():
                visit(v, f"{key}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                visit(v, f"{key}[{i}]")

    for key, value in values.items():
        visit(value, str(key))
    return found


def model_paths(project_yml: str | None) -> tuple[str, ...]:
    """dbt_project.yml's ``model-paths`` (dbt's default ``models`` when unreadable or unset)."""
    try:
        loaded = yaml.safe_load(project_yml or "") or {}
    except yaml.YAMLError:
        loaded = {}
    paths = loaded.get("model-paths") if isinstance(loaded, dict) else None
    return tuple(str(p).strip("/") for p in paths) if isinstance(paths, list) and paths else ("models",)


def inspect_file(path: str, text: str | None, models: Iterable[str] = ("models",)) -> list[CodeFinding]:
    """The findings for one file a changeset writes (None: deletes), ``path`` relative to the project."""
    pure = PurePosixPath(path)
    found: list[CodeFinding] = []
    if pure.name in CONFIG_FILES:
        why = f"{pure.name} decides how dbt connects, what it runs or what ae protects"
        found.append(CodeFinding("config_file", path, 1, "deleted" if text is None else "", why))
    if text is None:
        return found
    suffix = pure.suffix.lower()
    if suffix == ".py" and any(pure.is_relative_to(m) for m in models):
        first = (text.splitlines() or [""])[0][:300]
        found.append(CodeFinding("python_model", path, 1, first, "a Python model runs arbitrary Python"))
    elif suffix in {".sql", ".md"}:
        found += inspect_jinja(path, text)
    elif suffix in {".yml", ".yaml"}:
        found += inspect_yaml(path, text)
    return found


def inspect_changes(files: Mapping[str, str | None], project_yml: str | None) -> list[CodeFinding]:
    """Findings for every file of a change (path -> new text, None for a delete); ``project_yml`` is
    dbt_project.yml as it will be, for the model paths where a ``.py`` file is a model."""
    models = model_paths(project_yml)
    return [finding for path, text in files.items() for finding in inspect_file(path, text, models)]
