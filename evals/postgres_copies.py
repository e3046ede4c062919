"""A task copy's own PostgreSQL database (``ae eval --adapter postgres``): made, cloned, dropped.

The database is named after the copy's folder, so the harness finds it again to drop it whatever
the task did to the copy's profile, parallel workers (different folders) never share one, and a
copy left by a killed run is replaced when its folder is used again. The server is the one the
libpq variables name (tools/postgres_server.py); the copy's profile reads them with ``env_var``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tools.example_postgres import load_raw, write_postgres_profile
from tools.example_project import warehouse_path
from tools.postgres_server import PostgresServer
from tools.profiles import PROFILES_FILE

ADAPTERS = ("duckdb", "postgres")
PREFIX = "ae_eval_"


def database_of(project_dir: Path) -> str:
    digest = hashlib.sha256(str(project_dir.resolve()).encode()).hexdigest()[:20]
    return f"{PREFIX}{digest}"


def move_example(project_dir: Path) -> str:
    """The generated example in ``project_dir`` moved to a new database of its own: its profile
    pointed there and its raw data loaded. Returns the database's name."""
    server = PostgresServer.from_environment()
    database = database_of(project_dir)
    server.drop_database(database)  # a killed run's copy in the same folder
    server.create_database(database)
    write_postgres_profile(project_dir, server, database)
    load_raw(warehouse_path(project_dir), server, database)
    return database


def clone(source_dir: Path, dest_dir: Path) -> str:
    """``dest_dir`` (a copy of ``source_dir``'s files) on a copy of ``source_dir``'s database; its
    profile renamed to it (a profile the task's setup replaced keeps what the task wrote)."""
    server = PostgresServer.from_environment()
    source, database = database_of(source_dir), database_of(dest_dir)
    server.drop_database(database)
    server.create_database(database, template=source)
    profile = dest_dir / PROFILES_FILE
    profile.write_text(profile.read_text(encoding="utf-8").replace(source, database), encoding="utf-8")
    return database


def drop(project_dir: Path) -> None:
    PostgresServer.from_environment().drop_database(database_of(project_dir))
