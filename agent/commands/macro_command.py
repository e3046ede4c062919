"""/dbt-macro: a macro skeleton that compiles as generated, documented with its arguments."""

from __future__ import annotations

from agent.commands.naming import is_identifier, phrase
from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from graph.plan_spec import PlanSpec
from tools.codegen import MacroArgument, macro_sql, macro_yaml
from tools.errors import InvalidArguments

# Jinja words that cannot name a parameter
_JINJA_RESERVED = frozenset(
    {"and", "or", "not", "in", "is", "if", "else", "for", "true", "false", "none", "loop"}
)
# dbt's Jinja context: a macro with one of these names would shadow it (they are not in the manifest)
_DBT_CONTEXT = frozenset(
    {"ref", "source", "config", "var", "env_var", "this", "is_incremental", "return", "log", "print",
     "run_query", "adapter", "exceptions", "modules", "target", "builtins", "graph", "model", "schema",
     "database", "execute", "statement", "fromjson", "tojson", "fromyaml", "toyaml", "zip", "set", "doc",
     "metric", "invocation_id"}
)  # fmt: skip


def _check_names(name: str, parameters: list[str], view: ProjectView) -> None:
    for word, what in [(name, "macro name"), *((p, "parameter") for p in parameters)]:
        if not is_identifier(word) or word in _JINJA_RESERVED:
            raise InvalidArguments(f"{what} {word!r} must be a lower-case identifier (letters, digits, _)")
    repeated = sorted({p for p in parameters if parameters.count(p) > 1})
    if repeated:
        raise InvalidArguments(f"parameters repeat: {', '.join(repeated)}")
    if name in _DBT_CONTEXT:
        raise InvalidArguments(
            f"{name!r} is part of dbt's Jinja context; a macro of that name would shadow it"
        )
    existing = next((m for m in (view.manifest.get("macros") or {}).values() if m.get("name") == name), None)
    if existing is not None:
        package = existing.get("package_name")
        raise InvalidArguments(
            f"a macro named {name!r} already exists (package {package})",
            hint="pick another --name; shadowing a dbt or project macro changes how the project compiles",
        )


def dbt_macro(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    name = cmd.required_text("name")
    parameters = cmd.items("parameters")
    _check_names(name, parameters, view)
    sql_path, yml_path = f"macros/{name}.sql", f"macros/{name}.yml"
    changeset = view.tools.changeset
    for path in (sql_path, yml_path):
        if changeset.view(view.paths, path) is not None:
            raise InvalidArguments(f"{path} already exists", hint="edit it, or pick another --name")
    description = cmd.text("description") or (
        f"{phrase(name).capitalize()}: a macro taking {', '.join(parameters) or 'no arguments'}."
    )
    arguments = [MacroArgument(p, f"The {phrase(p)} to pass to {name}.") for p in parameters]
    changeset.write_file(view.paths, sql_path, macro_sql(name, arguments, description))
    changeset.write_file(view.paths, yml_path, macro_yaml(name, description, arguments))
    call = f"{{{{ {name}({', '.join(repr(p) for p in parameters)}) }}}}"
    return PlanSpec(
        summary=f"create macro {name}({', '.join(parameters)})",
        operations=[],
        verify_select=[],
        answer=f"{sql_path} and {yml_path} written. The body is a placeholder that returns its arguments "
        f"joined by ', ' (e.g. {call} renders {', '.join(parameters)}); replace it with the macro's SQL. "
        "dbt parse in Validate proves it compiles.",
        document=False,
    )
