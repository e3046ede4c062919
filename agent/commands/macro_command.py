"""/dbt-macro: a macro with a working body for the families ae knows (see ``macro_library``), pinned
by a test; a clearly marked stub otherwise."""

from __future__ import annotations

from agent.commands.macro_library import TEST_SUBFOLDER, macro_files
from agent.commands.naming import is_identifier
from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from graph.plan_spec import PlanSpec
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
    existing = next((m for m in view.manifest.macros.values() if m.name == name), None)
    if existing is not None:
        raise InvalidArguments(
            f"a macro named {name!r} already exists (package {existing.package_name})",
            hint="pick another --name; shadowing a dbt or project macro changes how the project compiles",
        )


def dbt_macro(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    name = cmd.required_text("name")
    parameters = cmd.items("parameters")
    _check_names(name, parameters, view)
    files, what = macro_files(name, parameters, cmd.text("description"))
    writes = {f"macros/{name}.sql": files.sql, f"macros/{name}.yml": files.yml}
    if files.test_name and files.test_sql:
        # dbt finds singular tests under the project's test-paths
        tests_root = str((view.dbt_project.get("test-paths") or ["tests"])[0]).strip("/")
        writes[f"{tests_root}/{TEST_SUBFOLDER}/{files.test_name}.sql"] = files.test_sql
    changeset = view.tools.changeset
    for path in writes:
        if changeset.view(view.paths, path) is not None:
            raise InvalidArguments(f"{path} already exists", hint="edit it, or pick another --name")
    for path, text in writes.items():
        changeset.write_file(view.paths, path, text)
    proof = (
        f" Verify runs dbt test --select {files.test_name}, which fails on any fixture row the macro gets "
        "wrong."
        if files.test_name
        else " dbt parse in Validate proves it compiles."
    )
    return PlanSpec(
        summary=f"create macro {name}({', '.join(parameters)})",
        operations=[],
        # the macro's own test, when it has one: nothing else changed
        verify_select=[files.test_name] if files.test_name else [],
        answer=f"{', '.join(writes)} written: {what}.{proof}",
        document=False,
    )
