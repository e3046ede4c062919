"""Write, audit, publish: a run builds and tests where nobody reads, and only what passed is published.

- ``record.py``: the journal of a publication (what it replaced, where the previous versions are
  kept, what it published), read back by resume and ``ae undo`` as untrusted input.
- ``duckdb_publish.py``: publish from an audit copy of a DuckDB file in one transaction, keeping
  the previous versions in a history file; and restore them.
- ``history.py``: where previous versions are kept, their retention and the space they take.

The audit location itself is a copy of the warehouse with the engine's dbt process pointed at it
(tools/engine/scratch.py ``copy_warehouse``).
"""
