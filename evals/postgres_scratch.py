"""A scratch PostgreSQL database for a benchmark: made, given as a URL, dropped after.

The server is the one the libpq variables name (PGHOST, PGPORT, PGUSER, PGPASSWORD; defaults
127.0.0.1, 5432, the current user). None when no server answers: a benchmark then skips its
PostgreSQL part and says so.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import quote


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str | None]:
    """A new database's ``postgresql://`` URL, dropped with everything in it afterwards."""
    import psycopg

    user = os.environ.get("PGUSER") or getpass.getuser()
    password = os.environ.get("PGPASSWORD", "")
    host, port = os.environ.get("PGHOST", "127.0.0.1"), os.environ.get("PGPORT", "5432")
    admin = {"host": host, "port": port, "user": user, "password": password, "dbname": "postgres"}
    database = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(**admin, connect_timeout=3, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'create database "{database}"')
    except psycopg.Error as exc:
        print(f"  PostgreSQL skipped: no server answered ({str(exc).strip()})", file=sys.stderr)
        yield None
        return
    login = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    try:
        yield f"postgresql://{login}@{host}:{port}/{database}"
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'drop database if exists "{database}" with (force)')
