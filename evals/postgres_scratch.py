"""A scratch PostgreSQL database for a benchmark: made, given as a URL, dropped after.

The server is the one the libpq variables name (tools/postgres_server.py: PGHOST, PGPORT, PGUSER,
PGPASSWORD; defaults 127.0.0.1, 5432, the current user). None when no server answers: a benchmark
then skips its PostgreSQL part and says so.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import quote

from tools.errors import ConfigurationError
from tools.postgres_server import PostgresServer


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str | None]:
    """A new database's ``postgresql://`` URL, dropped with everything in it afterwards."""
    import psycopg

    server = PostgresServer.from_environment()
    database = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        server.create_database(database)
    except (ConfigurationError, psycopg.Error) as exc:
        print(f"  PostgreSQL skipped: no server answered ({str(exc).strip()})", file=sys.stderr)
        yield None
        return
    login = quote(server.user, safe="") + (f":{quote(server.password, safe='')}" if server.password else "")
    try:
        yield f"postgresql://{login}@{server.address}/{database}"
    finally:
        server.drop_database(database)
