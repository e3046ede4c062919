"""In-process DuckDB statements that Ctrl-C stops at once.

A run's phase works in LangGraph's worker thread; Ctrl-C reaches the main thread, which stops the run
with an exception raised in the worker (graph/context.py ``RunContext.stop``). Python raises it only
when the worker is back in Python, so a statement DuckDB is running (a profile of a large table:
5-9 s) would first run to its end. A connection running statements is known here while it does, and
``interrupt_queries`` interrupts each (DuckDB's ``interrupt``: the statement stops with an
InterruptException, which the caller's error handling turns into an error like any other).

The registry's lock is reentrant: a signal handler runs in the main thread, possibly while that same
thread is adding or removing a connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

_running: dict[int, duckdb.DuckDBPyConnection] = {}
_lock = threading.RLock()


@contextmanager
def interruptible(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``con``, known to ``interrupt_queries`` while the body runs its statements."""
    with _lock:
        _running[id(con)] = con
    try:
        yield con
    finally:
        with _lock:
            _running.pop(id(con), None)


def interrupt_queries() -> int:
    """Interrupt the statement of every connection running in ``interruptible`` now; how many."""
    with _lock:
        running = list(_running.values())
    for con in running:
        con.interrupt()
    return len(running)
