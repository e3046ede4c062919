"""The warehouse behind one port: what ae asks of any warehouse, and the two ways it is answered.

Hold a ``Warehouse`` (tools/warehouse_port/port.py) and call its methods; get one with:

- ``warehouse_for(engine)``: the engine's target. A DuckDB file is opened by ae directly (fast, and
  readable while no dbt holds it); any other adapter runs through dbt's adapter in the engine's
  child process (``adapter_warehouse``).
- ``duckdb_warehouse(path)``: a DuckDB file, without an engine (scratch files, CSV profiles).
- ``adapter_warehouse(engine)``: dbt's adapter whatever the target, DuckDB included.

Capabilities an adapter lacks raise ``NotOnAdapter`` (tools/errors.py), naming the adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tools.warehouse_port.dialects import Dialect, dialect_for
from tools.warehouse_port.duckdb_runner import DuckDbRunner
from tools.warehouse_port.models import (
    ColumnInfo,
    Fingerprint,
    QueryResult,
    RelationDescription,
    RelationName,
    RelationRef,
)
from tools.warehouse_port.port import Warehouse

if TYPE_CHECKING:
    from tools.engine.engine import DbtEngine

__all__ = [
    "ColumnInfo",
    "Dialect",
    "Fingerprint",
    "QueryResult",
    "RelationDescription",
    "RelationName",
    "RelationRef",
    "Warehouse",
    "adapter_warehouse",
    "duckdb_warehouse",
    "warehouse_for",
]


def duckdb_warehouse(db_path: Path) -> Warehouse:
    """The DuckDB file at ``db_path``, opened by ae for each call."""
    return Warehouse(DuckDbRunner(db_path), dialect_for("duckdb"))


def adapter_warehouse(engine: DbtEngine) -> Warehouse:
    """The engine's target through its dbt adapter, in the engine's child process."""
    from tools.warehouse_port.adapter_runner import AdapterRunner

    dialect = dialect_for(engine.read_target().type)
    return Warehouse(AdapterRunner(engine, dialect), dialect)


def warehouse_for(engine: DbtEngine) -> Warehouse:
    """The engine's target: its DuckDB file opened directly, else through dbt's adapter."""
    target = engine.read_target()
    if target.type == "duckdb" and target.path is not None:
        return duckdb_warehouse(target.path)
    return adapter_warehouse(engine)
