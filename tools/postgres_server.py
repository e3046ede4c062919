"""The PostgreSQL server the libpq variables name, and the databases ae makes and drops on it.

``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD`` say where the server is and who logs in (defaults
127.0.0.1, 5432, the current user, no password), as psql reads them. The demo and the benchmark on
PostgreSQL use this: the profiles they write read the same variables with ``env_var``, so dbt and
ae reach the same server and no password lands in a file.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tools.errors import ConfigurationError, InvalidArguments

if TYPE_CHECKING:
    import psycopg

#: (variable, default) for each setting; None: the current user
PG_VARIABLES: tuple[tuple[str, str | None], ...] = (
    ("PGHOST", "127.0.0.1"),
    ("PGPORT", "5432"),
    ("PGUSER", None),
    ("PGPASSWORD", ""),
)
#: the server's maintenance database: where CREATE / DROP DATABASE run
_ADMIN_DATABASE = "postgres"
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: str
    user: str
    #: never printed: repr=False keeps it out of tracebacks and logs
    password: str = field(default="", repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> PostgresServer:
        values = {name: environ.get(name) or default for name, default in PG_VARIABLES}
        return cls(
            host=str(values["PGHOST"]),
            port=str(values["PGPORT"]),
            user=values["PGUSER"] or getpass.getuser(),
            password=str(values["PGPASSWORD"]),
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self, dbname: str, *, autocommit: bool = True) -> psycopg.Connection[tuple[object, ...]]:
        """A connection to ``dbname``; ConfigurationError (exit 5) naming the server when none answers."""
        import psycopg

        try:
            return psycopg.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname=dbname,
                connect_timeout=CONNECT_TIMEOUT_S,
                autocommit=autocommit,
            )
        except psycopg.OperationalError as exc:
            # libpq's message names the host and the cause, never the password
            raise ConfigurationError(
                f"PostgreSQL at {self.address} (database {dbname!r}, user {self.user!r}) did not "
                f"answer: {str(exc).strip()}",
                hint="start the server, or point PGHOST, PGPORT, PGUSER and PGPASSWORD at one "
                "(defaults 127.0.0.1, 5432, the current user, no password)",
            ) from exc

    def check(self) -> None:
        """ConfigurationError (exit 5) naming the server when it does not answer."""
        self.connect(_ADMIN_DATABASE).close()

    def ensure_database(self, name: str) -> bool:
        """Create database ``name`` unless it exists; True when it was created here."""
        check_database_name(name)
        with self.connect(_ADMIN_DATABASE) as conn:
            if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
                return False
            conn.execute(f"create database {quote(name)}")
        return True

    def create_database(self, name: str, *, template: str | None = None) -> None:
        """A new database, empty or a copy of ``template`` (whose sessions are ended first: PostgreSQL
        copies a database only while nobody is connected to it)."""
        check_database_name(name)
        with self.connect(_ADMIN_DATABASE) as conn:
            if template is None:
                conn.execute(f"create database {quote(name)}")
                return
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = %s and pid <> pg_backend_pid()",
                (template,),
            )
            conn.execute(f"create database {quote(name)} template {quote(template)}")

    def drop_database(self, name: str) -> None:
        """Drop ``name`` and everything in it, ending its sessions (a scratch database ae made)."""
        with self.connect(_ADMIN_DATABASE) as conn:
            conn.execute(f"drop database if exists {quote(name)} with (force)")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def check_database_name(name: str) -> None:
    """dbt writes the database name between quotes unescaped (tools/profiles.py): letters, digits and
    _ only, within PostgreSQL's 63 bytes."""
    if not name or len(name.encode()) > 63 or not all(c.isalnum() or c == "_" for c in name):
        raise InvalidArguments(
            f"{name!r} is not a database name ae will create",
            hint="use letters, digits and _ (at most 63), e.g. PGDATABASE=ae_demo",
        )
