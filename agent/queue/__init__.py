"""Batch work from a durable queue: `ae queue` enqueues requests, `ae worker` runs them (on DBOS).

DBOS (``dbos`` on PyPI) is the engine: SQLite by default, PostgreSQL for several workers and
machines. Importing it costs seconds, so nothing here imports it at module level except the modules
only a queue command or a worker loads (engine.py, tasks.py, worker.py).
"""
