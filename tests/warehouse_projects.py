"""dbt projects on DuckDB and on PostgreSQL holding the same small shop, for the warehouse port's tests.

A PostgreSQL project gets a database of its own, created here and dropped by the caller's fixture;
its profile reads the server from the standard libpq variables with ``env_var`` (defaults: the test
server), so no password lands in a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest

from tests.postgres import postgres_database
from tools.context import ToolContext
from tools.engine import DbtEngine
from tools.paths import ProjectPaths
from tools.warehouse_port import Warehouse
from tools.warehouse_undo import relation_names

CUSTOMERS = [
    (i, f"c{i}@example.com", ("gold", "silver", "bronze")[i % 3], None if i % 4 == 0 else f"nick{i}")
    for i in range(1, 13)
]
ORDERS = [(i, 1 + i % 12, "returned" if i % 5 == 0 else "completed", f"{i * 1.5:.2f}") for i in range(1, 31)]

DUCKDB_PROFILE = """\
shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: warehouse.duckdb
      keep_open: false
      threads: 1
"""

POSTGRES_PROFILE = """\
shop:
  target: dev
  outputs:
    dev:
      type: postgres
      host: "{{{{ env_var('PGHOST', '{host}') }}}}"
      port: "{{{{ env_var('PGPORT', '{port}') | as_number }}}}"
      user: "{{{{ env_var('PGUSER', '{user}') }}}}"
      password: "{{{{ env_var('PGPASSWORD', '') }}}}"
      dbname: {database}
      schema: public
      threads: 1
    down:
      type: postgres
      host: 127.0.0.1
      port: 9
      user: nobody
      password: ""
      dbname: {database}
      schema: public
      threads: 1
      connect_timeout: 3
      retries: 0
"""


def seed_statements() -> list[str]:
    """The shop in portable SQL (DuckDB and PostgreSQL read it alike)."""

    def text(value: str | None) -> str:
        return "NULL" if value is None else "'" + value.replace("'", "''") + "'"

    customers = ", ".join(
        f"({i}, {text(email)}, {text(tier)}, {text(nick)}, "
        f"CAST('{date(2024, 1, 1) + timedelta(days=i)}' AS date))"
        for i, email, tier, nick in CUSTOMERS
    )
    orders = ", ".join(f"({i}, {c}, {text(s)}, CAST({a} AS decimal(10, 2)))" for i, c, s, a in ORDERS)
    return [
        "CREATE SCHEMA shop",
        "CREATE TABLE shop.customers (customer_id integer, email varchar(100), tier varchar(20), "
        "nickname varchar(20), signup_date date)",
        f"INSERT INTO shop.customers VALUES {customers}",
        "CREATE TABLE shop.orders (order_id integer, customer_id integer, status varchar(20), "
        "amount decimal(10, 2))",
        f"INSERT INTO shop.orders VALUES {orders}",
        "CREATE VIEW shop.big_orders AS SELECT order_id, amount FROM shop.orders WHERE amount > 20",
    ]


def _project(root: Path, profile: str) -> Path:
    root.mkdir(parents=True)
    (root / "models").mkdir()
    (root / "dbt_project.yml").write_text("name: shop\nversion: '1.0'\nprofile: shop\n")
    (root / "profiles.yml").write_text(profile)
    return root


def duckdb_project(root: Path) -> Path:
    """A dbt-duckdb project whose (empty) warehouse file exists."""
    project = _project(root, DUCKDB_PROFILE)
    duckdb.connect(str(project / "warehouse.duckdb")).close()
    return project


READER_OUTPUT = """\
    reader:
      type: postgres
      host: {host}
      port: {port}
      user: {reader}
      password: ""
      dbname: {database}
      schema: public
      threads: 1
"""


READ_ONLY_OUTPUT = """\
    dev_read_only:
      type: postgres
      host: {host}
      port: {port}
      user: {read_only}
      password: ""
      dbname: {database}
      schema: public
      threads: 1
"""


def postgres_project(
    root: Path, dsn: str, *, reader: str | None = None, read_only: str | None = None
) -> Path:
    """A dbt-postgres project on the database at ``dsn``: its ``dev`` target; ``down`` names a port
    where no server listens; ``reader`` (when given) logs in as that role; ``read_only`` (when
    given) is dev's read-only login (tools/engine/read_only_login.py)."""
    url = urlsplit(dsn)
    values = {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "database": url.path.lstrip("/"),
        "reader": reader,
        "read_only": read_only,
    }
    profile = POSTGRES_PROFILE.format(**values)
    if reader is not None:
        profile += READER_OUTPUT.format(**values)
    if read_only is not None:
        profile += READ_ONLY_OUTPUT.format(**values)
    return _project(root, profile)


def seed(warehouse: Warehouse) -> None:
    warehouse.execute(seed_statements())


@dataclass(frozen=True)
class Shop:
    """The shop on one warehouse, with a dbt engine on its project for the test's own reads."""

    adapter: str
    project: Path
    engine: DbtEngine

    @property
    def ctx(self) -> ToolContext:
        return ToolContext(paths=ProjectPaths.for_project(self.project), target="dev", engine=self.engine)

    @property
    def schema(self) -> str:
        """Where the project's models go."""
        return "public" if self.adapter == "postgres" else "main"

    def warehouse(self) -> Warehouse:
        return self.ctx.warehouse()

    def relations(self) -> set[str]:
        return relation_names(self.warehouse())

    def qualified(self, schema: str, name: str) -> str:
        return f"{self.warehouse().current_database()}.{schema}.{name}".lower()


#: the adapters a shop test runs on; the PostgreSQL one carries the postgres marker
ADAPTERS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def seeded_shop(adapter: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    """The seeded shop at ``root`` on ``adapter`` (PostgreSQL: a database of its own, dropped after),
    with ae's settings only from the test's own files."""
    monkeypatch.setenv("AE_CONFIG", str(root.parent / "user" / "config.yml"))
    for name in ("AE_PROTECTED_TARGETS", "AE_PROTECTED_SCHEMAS", "AE_STORE_URL", "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    with ExitStack() as stack:
        if adapter == "postgres":
            project = postgres_project(root, stack.enter_context(postgres_database("ae_shop")))
        else:
            project = duckdb_project(root)
        shop = Shop(adapter, project, stack.enter_context(DbtEngine(project)))
        seed(shop.warehouse())
        yield shop
