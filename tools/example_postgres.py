"""The bundled example on PostgreSQL: its profile, and its raw data loaded from the generated DuckDB file.

One data generator serves both warehouses: tools/jaffle_data.py writes (and ``advance_time`` moves
forward) the raw tables in the project's DuckDB file, and ``load_raw`` puts the same rows into the
PostgreSQL database, replacing what its ``raw`` tables held. On PostgreSQL the DuckDB file is only
that source; the profile points dbt at the server.
"""

from __future__ import annotations

import re
from pathlib import Path

from tools.errors import InvalidArguments
from tools.jaffle_data import DDL, RAW_SCHEMA
from tools.postgres_server import PostgresServer, check_database_name, quote
from tools.profiles import PROFILES_FILE
from tools.warehouse import readonly_connection

#: where PGDATABASE is unset
DEFAULT_DATABASE = "ae_demo"
#: the profile's schemas, named as on DuckDB, so a relation the example's docs or a task names
#: (``main.fct_orders``, ``prod.dim_customers``) is the same relation on either warehouse
DEV_SCHEMA, PROD_SCHEMA = "main", "prod"
_PLAIN_USER = re.compile(r"[A-Za-z0-9_.@-]+")

_PROFILE = """\
# Written by ae for PostgreSQL. The server and the login come from the libpq variables when dbt runs
# (PGHOST, PGPORT, PGUSER, PGPASSWORD), so no password is in this file.
jaffle_shop:
  target: dev
  outputs:
{outputs}"""
_OUTPUT = """\
    {name}:
      type: postgres
      host: "{{{{ env_var('PGHOST', '127.0.0.1') }}}}"
      port: "{{{{ env_var('PGPORT', '5432') | as_number }}}}"
      user: "{{{{ env_var('PGUSER', '{user}') }}}}"
      password: "{{{{ env_var('PGPASSWORD', '') }}}}"
      dbname: "{dbname}"
      schema: {schema}
      threads: 4
"""


def postgres_profile(user: str, database: str | None = None) -> str:
    """profiles.yml text for the example on PostgreSQL: ``database`` written as it is (a benchmark
    copy's own), or None for ``PGDATABASE``'s (default ``ae_demo``). ``user`` is the default login
    when PGUSER is unset: libpq's own default, the current user."""
    check_database_name(database or DEFAULT_DATABASE)  # it lands in SQL between quotes
    if not _PLAIN_USER.fullmatch(user):  # it lands in the YAML, inside Jinja
        raise InvalidArguments(
            f"{user!r} is not a PostgreSQL user name ae writes into a profile",
            hint="set PGUSER to a name of letters, digits and . _ @ -",
        )
    dbname = database or f"{{{{ env_var('PGDATABASE', '{DEFAULT_DATABASE}') }}}}"
    outputs = "".join(
        _OUTPUT.format(name=target, user=user, dbname=dbname, schema=schema)
        for target, schema in (("dev", DEV_SCHEMA), ("prod", PROD_SCHEMA))
    )
    return _PROFILE.format(outputs=outputs)


def write_postgres_profile(project_dir: Path, server: PostgresServer, database: str | None = None) -> Path:
    path = project_dir / PROFILES_FILE
    path.write_text(postgres_profile(server.user, database), encoding="utf-8")
    return path


def load_raw(duckdb_file: Path, server: PostgresServer, database: str) -> dict[str, int]:
    """The raw tables of ``duckdb_file`` into schema ``raw`` of ``database``, in one transaction:
    tables made when missing, else emptied and refilled (views built on them stay). Rows per table."""
    counts: dict[str, int] = {}
    schema = quote(RAW_SCHEMA)
    with readonly_connection(duckdb_file) as source, server.connect(database, autocommit=False) as conn:
        conn.execute(f"create schema if not exists {schema}")
        for table, columns in DDL.items():
            relation = f"{schema}.{quote(table)}"
            conn.execute(f"create table if not exists {relation} ({columns})")
            conn.execute(f"truncate {relation}")
            rows = source.execute(f"select * from {RAW_SCHEMA}.{quote(table)}").fetchall()
            with conn.cursor().copy(f"copy {relation} from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
            counts[table] = len(rows)
    return counts


def example_schemas(server: PostgresServer, database: str) -> list[str]:
    """The schemas of ``database`` the example writes: raw, each target's, and dbt's custom schemas
    under them (``main_<custom>``)."""
    with server.connect(database) as conn:
        rows = conn.execute(
            "select nspname from pg_namespace where nspname = any(%s) "
            r"or nspname like 'main\_%%' or nspname like 'prod\_%%' order by 1",
            ([RAW_SCHEMA, DEV_SCHEMA, PROD_SCHEMA],),
        ).fetchall()
    return [str(name) for (name,) in rows]


def claim_database(server: PostgresServer, database: str, *, replace: bool) -> None:
    """``database`` ready for the example: created when missing; when it exists, the example's schemas
    in it (an earlier run's) are dropped if ``replace``, else refused, so nothing else is overwritten."""
    if server.ensure_database(database):
        return
    schemas = example_schemas(server, database)
    if not schemas:
        return
    if not replace:
        raise InvalidArguments(
            f"database {database!r} at {server.address} already holds the schemas "
            f"{', '.join(schemas)}, which the example would overwrite",
            hint="pass --force to drop them and start again, or set PGDATABASE to another database",
        )
    with server.connect(database) as conn:
        for schema in schemas:
            conn.execute(f"drop schema {quote(schema)} cascade")
