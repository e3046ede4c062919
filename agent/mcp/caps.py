"""Caps on what one MCP tool call returns, each saying how it narrowed and how to ask for more.

dbt-mcp's users hit list outputs of more than 25k tokens; an MCP client pays for every byte it is
handed, so rows and lists are bounded by default and the answer names the argument that widens them.
"""

from __future__ import annotations

from typing import Any

#: rows show and SQL return unless the caller asks for more
DEFAULT_ROWS = 10
#: the most rows a caller may ask for (dbt show's own ceiling in tools/dbt_tools.py is 100)
MAX_SHOW_ROWS = 100
MAX_SQL_ROWS = 500
#: names one list call returns; page on with ``offset``
MAX_LISTED = 200


def rows_note(returned: int, limit: int, ceiling: int) -> str | None:
    """A "narrowed" note when the rows reached ``limit`` (there may be more), else None."""
    if returned < limit:
        return None
    if limit < ceiling:
        return f"narrowed to {limit} rows; ask for more with limit (up to {ceiling})"
    return f"narrowed to {limit} rows, the most one call returns; filter in SQL or select a smaller model"


def page(names: list[str], offset: int, size: int = MAX_LISTED) -> dict[str, Any]:
    """One page of ``names`` with the total and, when cut, how to get the next page."""
    shown = names[offset : offset + size]
    result: dict[str, Any] = {"listed": shown, "total": len(names), "offset": offset}
    rest = len(names) - offset - len(shown)
    if rest > 0:
        result["narrowed"] = (
            f"{len(shown)} of {len(names)} shown; ask for more with offset={offset + len(shown)}, "
            "or narrow with select / exclude / resource_type"
        )
    return result
