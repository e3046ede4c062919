"""Commands that run dbt on what exists: run, test, compile, debug, docs, lineage. They write no files."""

from __future__ import annotations

from agent.commands.column_lineage_answer import column_lineage_answer, compile_for_lineage
from agent.commands.parser import ParsedCommand
from agent.commands.project import ProjectView
from agent.commands.selection import check_selection
from graph.plan_spec import Operation, PlanSpec
from tools.engine import DbtCall, DbtResult
from tools.errors import EmptySelection, InvalidArguments
from tools.lineage import lineage

_MAX_SQL_SHOWN = 4000


def dbt_run(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    selection = cmd.text("select")
    select = check_selection(view, selection) if selection else []
    op = Operation(
        command="run", select=select, full_refresh=cmd.boolean("full-refresh"), vars=cmd.mapping("vars")
    )
    shown = f" --select {selection}" if selection else " (all models)"
    return PlanSpec(
        summary=f"dbt run{shown}" + (" --full-refresh" if op.full_refresh else ""),
        operations=[op],
        # the tests of what it built (Verify's default): a relation whose tests fail is not published
        verify_select=None,
        document=False,
    )


def dbt_test(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    selection = cmd.required_text("select")
    select = check_selection(view, selection)
    store = cmd.boolean("store-failures")
    answer = (
        "failing rows are kept in audit tables (schema <target schema>_dbt_test__audit)" if store else None
    )
    return PlanSpec(
        summary=f"dbt test --select {selection}" + (" --store-failures" if store else ""),
        operations=[],
        verify_select=select,
        store_failures=store,
        answer=answer,
        document=False,
    )


def _compiled_sql(result: DbtResult) -> str:
    parts = []
    for node in result.nodes:
        if node.compiled_sql is None or node.resource_type == "test":
            continue
        sql = node.compiled_sql.strip()
        if len(sql) > _MAX_SQL_SHOWN:
            sql = sql[:_MAX_SQL_SHOWN] + f"\n-- ... {len(sql) - _MAX_SQL_SHOWN} more characters in the file"
        parts.append(f"-- {node.name} ({node.original_file_path})\n{sql}")
    return "\n\n".join(parts) or "(the selection compiled to no SQL: it holds no models)"


def dbt_compile(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    """One dbt call: the compile, here, with the warehouse read-only. Its manifest is checked for a
    misspelt name only when it selected nothing (a parse first would be a second call every time)."""
    selection = cmd.required_text("select")
    select = selection.split()
    try:
        compiled = view.dbt(DbtCall(command="compile", select=select, read_only=True))
    except EmptySelection:
        check_selection(view, selection)  # names the misspelt model, with the closest names
        raise
    project = view.dbt_project.get("name", "")
    compiled_dir = view.target_dir / "compiled" / str(project)
    if compiled_dir.is_relative_to(view.root):  # said as the project names it, unless it is elsewhere
        compiled_dir = compiled_dir.relative_to(view.root)
    where = f"{compiled_dir.as_posix()}/ (one .sql per node, same paths as in the project)"
    answer = f"Compiled SQL is written to {where}."
    if cmd.boolean("show-compiled-sql"):
        answer += "\n\n" + _compiled_sql(compiled)
    return PlanSpec(
        summary=f"dbt compile --select {selection}",
        operations=[],
        verify_select=[],
        answer=answer,
        document=False,
    )


def dbt_debug(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    profile = cmd.text("profile")
    expected = str(view.dbt_project.get("profile", ""))
    if profile is not None and profile != expected:
        raise InvalidArguments(
            f"--profile {profile!r}: this project uses the profile {expected!r} named in dbt_project.yml",
            hint="pick the connection with --target instead",
        )
    return PlanSpec(
        summary=f"dbt debug (profile {expected}, target {view.tools.target})",
        operations=[Operation(command="debug")],
        verify_select=[],
        answer=f"dbt debug checks dbt_project.yml, profiles.yml (profile {expected}, target "
        f"{view.tools.target}) and the warehouse connection; the run fails if any check fails.",
        document=False,
    )


def dbt_docs(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    if not cmd.boolean("generate") and not cmd.boolean("serve"):
        raise InvalidArguments("/dbt-docs --generate false with no --serve leaves nothing to do")
    index = view.target_dir / "index.html"
    answer = f"The docs site is {index}: a single self-contained file, open it in a browser."
    if cmd.boolean("serve"):
        port = cmd.integer("port") or 8080
        answer += (
            f"\nae does not run web servers, so --serve was not done; to serve the docs yourself run "
            f"`dbt docs serve --port {port}` in {view.root}."
        )
    return PlanSpec(
        summary="dbt docs generate",
        operations=[Operation(command="docs generate")],
        verify_select=[],
        answer=answer,
        document=False,
    )


def model_lineage(cmd: ParsedCommand, view: ProjectView) -> PlanSpec:
    """One dbt call: a parse for the model lineage, or, with --column, a compile around the node
    (which parses too) for the column's."""
    node = cmd.required_text("model")
    column = cmd.text("column")
    if column is not None:
        compile_for_lineage(view, node)
    found = lineage(
        view.manifest, node, upstream=cmd.integer("upstream") or 0, downstream=cmd.integer("downstream") or 0
    )
    answer = found.render_text()
    if column is not None:
        answer += "\n\n" + column_lineage_answer(view, found.node.unique_id, column)
    shown = f"{found.node.name}.{column}" if column is not None else found.node.name
    return PlanSpec(
        summary=f"lineage of {shown} ({len(found.upstream)} upstream, {len(found.downstream)} downstream)",
        operations=[],
        verify_select=[],
        answer=answer,
        document=False,
    )
