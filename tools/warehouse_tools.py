"""Warehouse and manifest exploration as registered read-only tools.

The warehouse tools run on the target's ``Warehouse`` (``ToolContext.warehouse``): a DuckDB file or
any dbt adapter, PostgreSQL included; MCP's ae_sql, ae_describe and ae_profile serve these same tools.
"""

from __future__ import annotations

from tools.column_answers import ColumnLineageAnswer, column_lineage
from tools.compiled_project import CompiledProject, parsed_manifest
from tools.context import ToolContext
from tools.lineage import Lineage, lineage
from tools.profiling import ForeignKeyMatch, RelationProfile, foreign_key_matches, profile_relation
from tools.registry import tool
from tools.warehouse_port import QueryResult, RelationDescription, RelationRef


@tool(read_only=True, family="warehouse")
def list_warehouse_relations(ctx: ToolContext, schema_name: str = "") -> list[RelationRef]:
    """List tables and views in the warehouse."""
    return ctx.warehouse().list_relations(schema_name or None)


@tool(read_only=True, family="warehouse")
def describe_warehouse_relation(ctx: ToolContext, relation: str) -> RelationDescription:
    """Columns, types and row count of a table or view."""
    return ctx.warehouse().describe(relation)


@tool(read_only=True, family="warehouse")
def profile_columns(ctx: ToolContext, relation: str, columns: list[str] | None = None) -> RelationProfile:
    """Profile columns: rows, distinct, nulls, min/max, top values, key and timestamp candidates."""
    return profile_relation(ctx.warehouse(), relation, columns=columns)


@tool(read_only=True, family="warehouse")
def check_foreign_key(
    ctx: ToolContext, child_relation: str, child_column: str, parent_relation: str, parent_column: str
) -> ForeignKeyMatch:
    """Check whether every non-null child value has a parent (a relationships test would pass)."""
    return foreign_key_matches(ctx.warehouse(), child_relation, child_column, parent_relation, parent_column)


@tool(read_only=True, family="warehouse")
def run_query(ctx: ToolContext, sql: str, limit: int = 50) -> QueryResult:
    """Run one read-only SQL statement (SELECT/WITH/DESCRIBE/SHOW/EXPLAIN) on the warehouse."""
    return ctx.warehouse().query(sql, limit=min(limit, 500))


@tool(read_only=True, family="manifest")
def model_lineage(
    ctx: ToolContext, node: str, upstream: int = 1, downstream: int = 1, column: str = ""
) -> Lineage | ColumnLineageAnswer:
    """Upstream and downstream nodes of a model, source or snapshot, from the parsed manifest; with
    ``column``, that column's lineage over the compiled SQL (tools/column_lineage.py)."""
    found = lineage(
        parsed_manifest(ctx), node, upstream=0 if column else upstream, downstream=0 if column else downstream
    )
    if not column:
        return found
    focus = found.node
    label = focus.name if focus.resource_type != "source" else f"source:{focus.name}"
    project = CompiledProject.compile(ctx, f"@{label}")
    return column_lineage(project.graph(), focus.unique_id, column, upstream=upstream, downstream=downstream)
