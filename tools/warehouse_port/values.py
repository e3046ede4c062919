"""Result values as JSON, and rows fetched within a row cap and a byte budget.

Shared by every way ae reads a warehouse (a DuckDB file opened here, a dbt adapter in the engine's
child process), so a result looks the same whichever path produced it.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol

from pydantic import JsonValue

#: one value longer than this as text (a huge list, a document) is cut, with a marker
MAX_VALUE_CHARS = 10_000
TRUNCATED_MARKER = "… [truncated by ae: value longer than {limit} characters]"
#: rows come in batches of this many: one row past the cap says the result was cut, without counting it
_BATCH = 100


def to_json_value(value: Any) -> JsonValue:
    """A result value as JSON: numbers stay numbers when exact, the rest becomes text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        as_float = float(value)
        # keep money-like decimals numeric, but never lose digits of a wide DECIMAL(38, x)
        return as_float if value.is_finite() and Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    return str(value)


def cut(prefix: str) -> str:
    """``prefix`` (the first MAX_VALUE_CHARS characters of a long value) with the truncation marker."""
    return prefix[:MAX_VALUE_CHARS] + TRUNCATED_MARKER.format(limit=MAX_VALUE_CHARS)


def capped_value(value: JsonValue) -> tuple[JsonValue, bool]:
    """``value``, or its text cut to MAX_VALUE_CHARS when longer; and whether it was cut.

    For a path that cannot cut inside the database (the dbt adapter's): the value has been fetched
    already, but it does not go on into a model's context whole.
    """
    if isinstance(value, str):
        return (cut(value), True) if len(value) > MAX_VALUE_CHARS else (value, False)
    if isinstance(value, list | dict):
        text = json.dumps(value, default=str)
        return (cut(text), True) if len(text) > MAX_VALUE_CHARS else (value, False)
    return value, False


class Cursor(Protocol):
    """What a DB-API cursor offers that fetching needs."""

    def fetchmany(self, size: int = ...) -> list[Any]: ...


def fetch_within(
    cursor: Cursor, limit: int | None, max_bytes: int | None, width: int, prefixes: bool
) -> tuple[list[list[JsonValue]], bool, bool]:
    """Up to ``limit`` rows (None: all), stopping before their JSON passes ``max_bytes`` (None: no budget).

    ``prefixes``: the cursor's rows hold ``width`` values and then, per value, its cut text when the
    database cut it (DuckDB, ``capped_values_sql``); otherwise long values are cut here. Returns the
    rows, whether rows were left out, and whether values were cut.
    """
    rows: list[list[JsonValue]] = []
    size = 0
    values_cut = False
    while batch := cursor.fetchmany(_BATCH if limit is None else min(_BATCH, limit + 1 - len(rows))):
        for fetched in batch:
            if limit is not None and len(rows) == limit:
                return rows, True, values_cut
            row = [to_json_value(v) for v in fetched[:width]]
            if prefixes:
                for index, prefix in enumerate(fetched[width:]):
                    if prefix is not None:
                        row[index], values_cut = cut(prefix), True
            else:
                for index, value in enumerate(row):
                    row[index], was_cut = capped_value(value)
                    values_cut = values_cut or was_cut
            size += len(json.dumps(row, default=str))
            if max_bytes is not None and size > max_bytes and rows:
                return rows, True, values_cut
            rows.append(row)
    return rows, False, values_cut
