"""What the LangGraph checkpointer stores: the run's state with the known secrets replaced, and
failures that name the database (agent/store.py opens it). Loaded with LangGraph, when a run starts."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from tools.errors import ConfigurationError
from tools.logs import redact_known_values


class RedactingSerializer(JsonPlusSerializer):
    """LangGraph's serializer, with every registered secret value replaced before a checkpoint or a
    pending write is stored: a compiled model, a dbt error or a tool result in the run's state may
    hold one, and a PostgreSQL store is shared with other machines and people.

    Only the values registered with ``register_secret`` are replaced, never text that merely looks
    like a secret (``redact``'s patterns): a resumed run reads this state back and carries on with
    it, so a plan's SQL comes back as it was. Where a secret's value was, a resumed run sees ``***``,
    which matters only to a plan that wrote a secret's value into a file.
    """

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return super().dumps_typed(redact_known_values(obj))


class NamedSqliteSaver(SqliteSaver):
    """The SQLite checkpointer, whose failures (a full disk mid-run) become ``error(exc)``: they
    surface from inside the graph, where nothing else knows which database was being written."""

    def __init__(self, conn: sqlite3.Connection, error: Callable[[Exception], ConfigurationError]) -> None:
        super().__init__(conn, serde=RedactingSerializer())
        self._error = error

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        try:
            with super().cursor(transaction) as cur:
                yield cur
        except sqlite3.Error as exc:
            raise self._error(exc) from None
