"""A scratch database on the warehouse's own server (PostgreSQL), with the engine's dbt process
pointed at it: where Verify edits upstream rows in place to prove an incremental model, without
writing the user's database.

ae creates ``ae_proof_<hex>`` beside the target's database, copies in the tables a proof reads
under the schema and relation names they have where they live (rows through the port: read from
the run's database, loaded into the scratch one, column types from the catalog), and points dbt at
a profile identical to the user's target except ``dbname`` (``env_var`` calls kept, so no secret is
written). The database is dropped ``WITH (FORCE)`` when the block ends, whatever happened.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tools.engine.engine import DbtEngine
from tools.engine.scratch import write_target_profile
from tools.errors import AeError
from tools.warehouse_port import RelationRef, Warehouse, adapter_warehouse
from tools.warehouse_port.models import RelationName


class CannotCreateDatabase(AeError):
    """The server refused ``CREATE DATABASE`` (a role without CREATEDB): no scratch database."""


#: the name of every scratch database ae creates: a leftover one is recognisable as ae's
SCRATCH_PREFIX = "ae_proof_"


@dataclass(frozen=True)
class ScratchDatabase:
    """The engine's dbt process pointed at the scratch database ``name``; ``warehouse`` is it."""

    engine: DbtEngine
    warehouse: Warehouse
    name: str

    def copy_in(self, source: Warehouse, relation: RelationRef, dest: RelationName) -> None:
        """The rows of ``relation`` (in ``source``, the run's database) as table ``dest`` here."""
        self.warehouse.create_schema(dest.schema_name)
        columns = source.columns(relation)
        [rows] = source.read([f"SELECT * FROM {source.sql_of(relation)}"])
        self.warehouse.load_rows(
            RelationName(schema_name=dest.schema_name, name=dest.name), columns, rows.rows
        )


@contextmanager
def scratch_database(engine: DbtEngine, server: Warehouse) -> Iterator[ScratchDatabase]:
    """A new scratch database on ``server``'s server (``engine``'s target), dropped when the block
    ends. Raises what the server answered when the role may not create databases."""
    name = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        server.create_database(name)
    except AeError as exc:
        raise CannotCreateDatabase(str(exc)) from exc
    try:
        with tempfile.TemporaryDirectory(prefix="ae-scratch-db-") as tmp:
            folder = Path(tmp)
            # dbt-postgres takes the database as dbname or database: one name only
            write_target_profile(engine, folder, database=None, dbname=name)
            pointed = engine.pointed_at(folder, str(folder / "target"))
            yield ScratchDatabase(engine=pointed, warehouse=adapter_warehouse(pointed), name=name)
    finally:
        server.drop_database(name)
