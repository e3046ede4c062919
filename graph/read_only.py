"""Whether a plan promises to leave the warehouse and the project as they are (compile, docs, debug,
lineage, tests without stored failures, freshness).

Decided from what the plan does, not from which command made it: a plan with no file change whose
dbt operations all only read. Such a plan skips Validate's checks (there is no change to check), and
Execute and Verify run its dbt calls with the warehouse opened read-only (tools/engine/child.py), so
even code in a model cannot write while it is compiled or tested.
"""

from __future__ import annotations

from graph.plan_spec import PlanSpec
from tools.engine.commands import only_reads


def is_read_only(spec: PlanSpec) -> bool:
    """No file change, and only dbt commands that read (tools/engine/commands.py ``READING``)."""
    if not spec.changeset.is_empty or spec.operations is None or spec.store_failures:
        return False
    return all(only_reads(op.command, store_failures=op.store_failures) for op in spec.operations)
