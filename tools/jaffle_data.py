"""Deterministic Jaffle-Shop-like raw data for the bundled example project.

``generate`` writes six tables into schema ``raw`` of a DuckDB file; ``advance_time`` moves that
data forward (new orders, order status changes, customer edits) so incremental models and
snapshots have something to pick up. Both are pure functions of (existing data, seed): every
timestamp is anchored to ``START``, never to the wall clock, so the same seed gives the same rows.

Choices worth knowing when modelling this data:
- Money is INTEGER cents (``products.price``, ``supplies.cost``, ``orders.subtotal/tax_paid/
  order_total``), as in the real Jaffle Shop; ``stores.tax_rate`` is DECIMAL(5,4).
- Every table has a single-column primary key; ``supplies.id`` is unique on its own (the real data
  repeats a supply id across products, which only forces a surrogate key without teaching anything).
- ``orders.updated_at`` is the time of the latest status change (``ordered_at`` while ``placed``);
  ``customers.updated_at`` is the time of the latest edit. Both only ever move forward.
- Order ids follow ``ordered_at``; orders are placed during opening hours only.
"""

from __future__ import annotations

import argparse
import random
import sys
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
from pydantic import BaseModel, ConfigDict

from tools.errors import AeError, ConfigurationError, InvalidArguments, WarehouseLocked

RAW_SCHEMA = "raw"
START = datetime(2024, 1, 1)
HISTORY_DAYS = 180
CUSTOMERS_PER_SCALE = 200
ORDERS_PER_SCALE = 2000
STORES_PER_SCALE = 3
OPENING_HOURS = range(7, 21)  # orders are placed from 07:00 to 20:59
ORDER_STATUSES = ("placed", "shipped", "completed", "returned")
RETURN_RATE = 0.04
# A completed order can still be returned for this long; older ones are final.
RETURN_WINDOW = timedelta(days=10)
# Share of customers who change their name or email per simulated day in advance_time.
CUSTOMER_EDIT_RATE_PER_DAY = 0.003

#: column definitions in SQL that DuckDB and PostgreSQL both read (tools/example_postgres.py makes
#: the same tables in PostgreSQL)
DDL: dict[str, str] = {
    "customers": (
        "id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, email VARCHAR NOT NULL,"
        " created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL"
    ),
    "stores": (
        "id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, opened_at TIMESTAMP NOT NULL,"
        " tax_rate DECIMAL(5, 4) NOT NULL"
    ),
    "products": (
        "sku VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, type VARCHAR NOT NULL,"
        " price INTEGER NOT NULL, description VARCHAR NOT NULL"
    ),
    "supplies": (
        "id VARCHAR PRIMARY KEY, sku VARCHAR NOT NULL, name VARCHAR NOT NULL,"
        " cost INTEGER NOT NULL, perishable BOOLEAN NOT NULL"
    ),
    "orders": (
        "id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, store_id INTEGER NOT NULL,"
        " ordered_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL, subtotal INTEGER NOT NULL,"
        " tax_paid INTEGER NOT NULL, order_total INTEGER NOT NULL, updated_at TIMESTAMP NOT NULL"
    ),
    "items": "id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, sku VARCHAR NOT NULL",
}
TABLES: tuple[str, ...] = tuple(DDL)

# --- fixed catalogue ------------------------------------------------------------------------------

# (sku, name, type, price in cents, description)
PRODUCTS: tuple[tuple[str, str, str, int, str], ...] = (
    ("JAF-001", "the classic", "jaffle", 1100, "ham and cheese, toasted until the edges seal"),
    ("JAF-002", "tangy beef", "jaffle", 1400, "slow-cooked beef with pickled onion"),
    ("JAF-003", "garden party", "jaffle", 1200, "spinach, feta and roasted peppers"),
    ("JAF-004", "sweet tooth", "jaffle", 1000, "banana, chocolate and a pinch of salt"),
    ("JAF-005", "spicy bean", "jaffle", 1200, "black beans, jalapeno and smoked cheddar"),
    ("BEV-001", "flat white", "beverage", 500, "double shot with steamed milk"),
    ("BEV-002", "cold brew", "beverage", 600, "steeped for eighteen hours"),
    ("BEV-003", "chai latte", "beverage", 550, "spiced black tea with milk"),
    ("BEV-004", "lemonade", "beverage", 400, "fresh lemons, cane sugar"),
    ("BEV-005", "hot chocolate", "beverage", 450, "dark chocolate and whole milk"),
)
_PRICE_BY_SKU = {sku: price for sku, _, _, price, _ in PRODUCTS}
_SKUS = tuple(_PRICE_BY_SKU)
# Jaffles sell a bit more often than drinks.
_SKU_WEIGHTS = tuple(3 if kind == "jaffle" else 2 for _, _, kind, _, _ in PRODUCTS)

# (id, sku, name, cost in cents, perishable)
SUPPLIES: tuple[tuple[str, str, str, int, bool], ...] = (
    ("SUP-001", "JAF-001", "bread", 40, True),
    ("SUP-002", "JAF-001", "ham", 120, True),
    ("SUP-003", "JAF-001", "cheddar", 80, True),
    ("SUP-004", "JAF-002", "bread", 40, True),
    ("SUP-005", "JAF-002", "braised beef", 260, True),
    ("SUP-006", "JAF-002", "pickled onion", 30, True),
    ("SUP-007", "JAF-003", "bread", 40, True),
    ("SUP-008", "JAF-003", "spinach", 50, True),
    ("SUP-009", "JAF-003", "feta", 90, True),
    ("SUP-010", "JAF-004", "bread", 40, True),
    ("SUP-011", "JAF-004", "banana", 25, True),
    ("SUP-012", "JAF-004", "chocolate spread", 60, False),
    ("SUP-013", "JAF-005", "bread", 40, True),
    ("SUP-014", "JAF-005", "black beans", 45, False),
    ("SUP-015", "JAF-005", "jalapeno", 20, True),
    ("SUP-016", "BEV-001", "coffee beans", 70, False),
    ("SUP-017", "BEV-001", "milk", 30, True),
    ("SUP-018", "BEV-001", "paper cup", 10, False),
    ("SUP-019", "BEV-002", "coffee beans", 90, False),
    ("SUP-020", "BEV-002", "paper cup", 10, False),
    ("SUP-021", "BEV-003", "chai tea", 40, False),
    ("SUP-022", "BEV-003", "milk", 30, True),
    ("SUP-023", "BEV-004", "lemons", 60, True),
    ("SUP-024", "BEV-004", "cane sugar", 10, False),
    ("SUP-025", "BEV-005", "cocoa", 50, False),
    ("SUP-026", "BEV-005", "milk", 30, True),
)

_FIRST_NAMES = (
    "Ava", "Ben", "Chloe", "Dan", "Elena", "Farid", "Grace", "Hiro", "Iris", "Jamal", "Kate", "Liam",
    "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Yara",
    "Zoe", "Aaron", "Bianca", "Carlos", "Dina", "Eli",
)  # fmt: skip
_LAST_NAMES = (
    "Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Khan",
    "Lopez", "Murphy", "Nguyen", "Okafor", "Patel", "Quinn", "Rossi", "Silva", "Tanaka", "Usman",
    "Varga", "Walsh", "Young", "Zhang",
)  # fmt: skip
# Reserved example domains: generated emails can never reach anybody.
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
_CITIES = ("Philadelphia", "Brooklyn", "Chicago", "San Francisco", "New Orleans", "Los Angeles")
_TAX_RATES = tuple(Decimal(r) for r in ("0.0400", "0.0600", "0.0625", "0.0700", "0.0800", "0.0875"))

# --- results --------------------------------------------------------------------------------------


class GenerationSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    db_path: Path
    scale: int
    seed: int
    row_counts: dict[str, int]
    max_ordered_at: datetime


class AdvanceSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    db_path: Path
    days: int
    seed: int
    #: every new or changed row has a timestamp in [window_start, window_end]
    window_start: datetime
    window_end: datetime
    orders_added: int
    items_added: int
    orders_updated: int
    customers_updated: int
    max_ordered_at: datetime


# --- row shapes (field order = column order) ------------------------------------------------------


class _Customer(NamedTuple):
    id: int
    name: str
    email: str
    created_at: datetime
    updated_at: datetime


class _Store(NamedTuple):
    id: int
    name: str
    opened_at: datetime
    tax_rate: Decimal


class _Order(NamedTuple):
    id: int
    customer_id: int
    store_id: int
    ordered_at: datetime
    status: str
    subtotal: int
    tax_paid: int
    order_total: int
    updated_at: datetime


class _Item(NamedTuple):
    id: int
    order_id: int
    sku: str


# --- random building blocks -----------------------------------------------------------------------

_NEXT_STATUS = {"placed": "shipped", "shipped": "completed", "completed": "returned"}
_HOURS_UNTIL = {"shipped": (4, 24), "completed": (24, 72), "returned": (72, 240)}


def _transitions(rng: random.Random, status: str, since: datetime) -> list[tuple[str, datetime]]:
    """The status changes an order in ``status`` will go through after ``since``, with their times."""
    changes: list[tuple[str, datetime]] = []
    at = since
    while (following := _NEXT_STATUS.get(status)) is not None:
        if following == "returned" and rng.random() >= RETURN_RATE:
            break
        low, high = _HOURS_UNTIL[following]
        at += timedelta(seconds=rng.randint(low * 3600, high * 3600))
        changes.append((following, at))
        status = following
    return changes


def _status_as_of(
    rng: random.Random, status: str, updated_at: datetime, *, since: datetime, as_of: datetime
) -> tuple[str, datetime]:
    """(status, updated_at) at ``as_of`` of an order whose next changes are drawn from ``since`` on."""
    for following, at in _transitions(rng, status, since):
        if at > as_of:
            break
        status, updated_at = following, at
    return status, updated_at


def _times_in_opening_hours(rng: random.Random, start: datetime, end: datetime, count: int) -> list[datetime]:
    """``count`` sorted whole-second times in [start, end) that fall within opening hours."""
    span = int((end - start).total_seconds())
    times: list[datetime] = []
    while len(times) < count:
        at = start + timedelta(seconds=rng.randrange(span))
        if at.hour in OPENING_HOURS:
            times.append(at)
    return sorted(times)


class _CustomerPicker:
    """Picks a customer who already existed at a given time, favouring heavier weights."""

    def __init__(self, weighted: Sequence[tuple[_Customer, float]]) -> None:
        by_creation = sorted(weighted, key=lambda pair: (pair[0].created_at, pair[0].id))
        self._ids = [customer.id for customer, _ in by_creation]
        self._created = [customer.created_at for customer, _ in by_creation]
        self._cumulative: list[float] = []
        total = 0.0
        for _, weight in by_creation:
            total += weight
            self._cumulative.append(total)

    def pick(self, rng: random.Random, at: datetime) -> int:
        existing = bisect_right(self._created, at)
        if existing == 0:
            raise ConfigurationError(f"no customer existed yet at {at:%Y-%m-%d %H:%M:%S} to place an order")
        point = rng.random() * self._cumulative[existing - 1]
        return self._ids[bisect_right(self._cumulative, point, 0, existing - 1)]


def _open_stores(stores: Sequence[_Store], at: datetime) -> list[_Store]:
    return [store for store in stores if store.opened_at <= at]


def _new_orders(
    rng: random.Random,
    times: Iterable[datetime],
    *,
    first_order_id: int,
    first_item_id: int,
    customers: _CustomerPicker,
    stores: Sequence[_Store],
    as_of: datetime,
) -> tuple[list[_Order], list[_Item]]:
    """Orders placed at ``times`` with their items, each in the status it has reached by ``as_of``."""
    orders: list[_Order] = []
    items: list[_Item] = []
    item_id = first_item_id
    for order_id, ordered_at in enumerate(times, start=first_order_id):
        open_stores = _open_stores(stores, ordered_at)
        if not open_stores:
            raise ConfigurationError(f"no store was open at {ordered_at:%Y-%m-%d %H:%M:%S}")
        store = rng.choice(open_stores)
        customer_id = customers.pick(rng, ordered_at)
        item_count = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
        skus = rng.choices(_SKUS, weights=_SKU_WEIGHTS, k=item_count)
        for sku in skus:
            items.append(_Item(item_id, order_id, sku))
            item_id += 1
        subtotal = sum(_PRICE_BY_SKU[sku] for sku in skus)
        tax_paid = int((subtotal * store.tax_rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        status, updated_at = _status_as_of(rng, "placed", ordered_at, since=ordered_at, as_of=as_of)
        total = subtotal + tax_paid
        orders.append(
            _Order(order_id, customer_id, store.id, ordered_at, status, subtotal, tax_paid, total, updated_at)
        )
    return orders, items


def _email(first: str, last: str, customer_id: int, domain: str) -> str:
    return f"{first}.{last}.{customer_id}@{domain}".lower()


def _new_customers(rng: random.Random, count: int) -> list[_Customer]:
    # Three quarters signed up in the year before START, the rest during the order history; the
    # earliest therefore predates the first order, so every order has a customer to pick.
    before = count * 3 // 4
    signups = sorted(
        [START - timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(before)]
        + [START + timedelta(seconds=rng.randrange(HISTORY_DAYS * 86400)) for _ in range(count - before)]
    )
    customers = []
    for customer_id, created_at in enumerate(signups, start=1):
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        email = _email(first, last, customer_id, rng.choice(_EMAIL_DOMAINS))
        customers.append(_Customer(customer_id, f"{first} {last}", email, created_at, created_at))
    return customers


def _new_stores(rng: random.Random, count: int) -> list[_Store]:
    # The first store opened well before START and, with two or more, the last one opens halfway
    # through the history (so its orders begin on its opening day); the others open at random.
    openings = [START - timedelta(days=400)]
    openings += [START + timedelta(days=rng.randrange(-400, HISTORY_DAYS // 2)) for _ in range(count - 2)]
    openings += [START + timedelta(days=HISTORY_DAYS // 2)] if count > 1 else []
    stores = []
    for index, opened_at in enumerate(sorted(openings)):
        city = _CITIES[index % len(_CITIES)]
        name = city if index < len(_CITIES) else f"{city} {index // len(_CITIES) + 1}"
        stores.append(_Store(index + 1, name, opened_at, rng.choice(_TAX_RATES)))
    return stores


def _edited_customer(rng: random.Random, customer: _Customer, at: datetime) -> _Customer:
    """The customer after a name change (which changes the email too) or a new email domain."""
    first, _, last = customer.name.partition(" ")
    if rng.random() < 0.3:
        last = rng.choice([name for name in _LAST_NAMES if name != last])
    current_domain = customer.email.rpartition("@")[2]
    domain = rng.choice([d for d in _EMAIL_DOMAINS if d != current_domain])
    email = _email(first, last, customer.id, domain)
    return customer._replace(name=f"{first} {last}", email=email, updated_at=at)


# --- DuckDB access --------------------------------------------------------------------------------

# DuckDB values are dynamically typed; rows are typed where they become NamedTuples.
Row = tuple[Any, ...]


class _Warehouse:
    """One connection to a warehouse file, with unambiguous names for the raw tables."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path
        try:
            self.con = duckdb.connect(str(db_path))
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WarehouseLocked(f"cannot open {db_path}: {exc}") from exc
            raise
        (catalog,) = self.one("SELECT current_database()")
        self.catalog: str = catalog
        # DuckDB names the catalog after the file, so in a file called raw.duckdb "raw.orders" is
        # ambiguous (catalog raw or schema raw?): always qualify with the catalog.
        self.schema = '"{}".{}'.format(catalog.replace('"', '""'), RAW_SCHEMA)

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}"

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return [tuple(row) for row in self.con.execute(sql, list(params)).fetchall()]

    def one(self, sql: str, params: Sequence[object] = ()) -> Row:
        return self.rows(sql, params)[0]

    def append(self, table: str, rows: Iterable[Row]) -> None:
        # The appender is ~50x faster than executemany for thousands of rows (measured, duckdb 2.0.1).
        with self.con.appender(self.table(table)) as appender:
            appender.append_rows(rows)

    def update(self, table: str, columns: list[str], rows: Iterable[Row]) -> None:
        """Set ``columns[1:]`` of the rows whose ``id`` (the first column) matches."""
        with self.con.appender(self.table(table), columns=columns, action="update", key=["id"]) as appender:
            appender.append_rows(rows)

    def max_ordered_at(self) -> datetime:
        latest: datetime = self.one(f"SELECT max(ordered_at) FROM {self.table('orders')}")[0]
        return latest

    def close(self) -> None:
        self.con.close()


# --- generate -------------------------------------------------------------------------------------


# Over 60 lines on purpose: one block per table in dependency order (customers, stores, orders,
# items), all drawing from one seeded generator so a seed always gives the same warehouse.
def generate(db_path: Path, *, scale: int = 1, seed: int = 42, overwrite: bool = False) -> GenerationSummary:
    """Write a fresh raw Jaffle Shop warehouse to ``db_path`` (schema ``raw``, six tables).

    ``scale`` multiplies customers, stores and orders (scale 1: 200 customers, 3 stores, 2,000
    orders over 180 days from 2024-01-01, ~2 items per order). The file is built beside its
    destination and moved into place, so a failed run leaves no half-written warehouse.
    """
    if scale < 1:
        raise InvalidArguments(f"scale must be a positive integer, got {scale}")
    if db_path.exists() and not overwrite:
        raise ConfigurationError(
            f"refusing to overwrite the existing warehouse {db_path}",
            hint="pass overwrite=True (--overwrite) or choose another path",
        )
    rng = random.Random(seed)
    customers = _new_customers(rng, CUSTOMERS_PER_SCALE * scale)
    stores = _new_stores(rng, STORES_PER_SCALE * scale)
    end = START + timedelta(days=HISTORY_DAYS)
    # Some customers order much more often than others, as in any shop.
    picker = _CustomerPicker([(customer, rng.gammavariate(2.0, 1.0)) for customer in customers])
    orders, items = _new_orders(
        rng,
        _times_in_opening_hours(rng, START, end, ORDERS_PER_SCALE * scale),
        first_order_id=1,
        first_item_id=1,
        customers=picker,
        stores=stores,
        as_of=end,
    )
    rows_by_table: dict[str, Sequence[Row]] = {
        "customers": customers,
        "stores": stores,
        "products": PRODUCTS,
        "supplies": SUPPLIES,
        "orders": orders,
        "items": items,
    }

    db_path.parent.mkdir(parents=True, exist_ok=True)
    partial = db_path.with_name(db_path.name + ".partial")
    partial.unlink(missing_ok=True)
    warehouse = _Warehouse(partial)
    try:
        warehouse.con.execute(f"CREATE SCHEMA {warehouse.schema}")
        for table, columns in DDL.items():
            warehouse.con.execute(f"CREATE TABLE {warehouse.table(table)} ({columns})")
        for table, rows in rows_by_table.items():
            warehouse.append(table, rows)
        max_ordered_at = warehouse.max_ordered_at()
    finally:
        warehouse.close()
    # A write-ahead log left by the file being replaced would be replayed onto the new one.
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
    partial.replace(db_path)
    return GenerationSummary(
        db_path=db_path,
        scale=scale,
        seed=seed,
        row_counts={table: len(rows) for table, rows in rows_by_table.items()},
        max_ordered_at=max_ordered_at,
    )


# --- advance_time ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Present:
    """What advance_time needs to know about the data already in the warehouse."""

    now: datetime
    customers: list[_Customer]
    orders_per_customer: dict[int, int]
    stores: list[_Store]
    order_count: int
    history_days: float
    next_order_id: int
    next_item_id: int
    #: (id, status, updated_at) of the orders that can still change status
    open_orders: list[Row]


@dataclass(frozen=True)
class _Batch:
    """The changes of one advance_time call."""

    window_start: datetime
    window_end: datetime
    orders: list[_Order]
    items: list[_Item]
    #: (id, status, updated_at)
    status_changes: list[Row]
    edited_customers: list[_Customer]


def _read_present(warehouse: _Warehouse) -> _Present:
    found = {
        name
        for (name,) in warehouse.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = ?",
            [warehouse.catalog, RAW_SCHEMA],
        )
    }
    missing = sorted(set(TABLES) - found)
    if missing:
        raise ConfigurationError(
            f"{warehouse.path} is not a generated Jaffle Shop warehouse: missing tables "
            + ", ".join(f"{RAW_SCHEMA}.{table}" for table in missing),
            hint="create it first with `python -m tools.jaffle_data generate --db PATH`",
        )
    orders, customers = warehouse.table("orders"), warehouse.table("customers")
    now, order_count, first_ordered_at, last_ordered_at, max_order_id = warehouse.one(
        f"SELECT greatest((SELECT max(updated_at) FROM {orders}), (SELECT max(ordered_at) FROM {orders}),"
        f" (SELECT max(updated_at) FROM {customers}), (SELECT max(created_at) FROM {customers})),"
        f" count(*), min(ordered_at), max(ordered_at), max(id) FROM {orders}"
    )
    (max_item_id,) = warehouse.one(f"SELECT coalesce(max(id), 0) FROM {warehouse.table('items')}")
    if not order_count:
        raise ConfigurationError(f"{warehouse.path} has no orders to continue from", hint="generate it again")
    return _Present(
        now=now,
        customers=[_Customer(*row) for row in warehouse.rows(f"SELECT * FROM {customers} ORDER BY id")],
        orders_per_customer=dict(warehouse.rows(f"SELECT customer_id, count(*) FROM {orders} GROUP BY 1")),
        stores=[
            _Store(*row) for row in warehouse.rows(f"SELECT * FROM {warehouse.table('stores')} ORDER BY id")
        ],
        order_count=order_count,
        history_days=max((last_ordered_at - first_ordered_at) / timedelta(days=1), 1.0),
        next_order_id=max_order_id + 1,
        next_item_id=max_item_id + 1,
        open_orders=warehouse.rows(
            f"SELECT id, status, updated_at FROM {orders} WHERE status IN ('placed', 'shipped')"
            " OR (status = 'completed' AND updated_at >= ?) ORDER BY id",
            [now - RETURN_WINDOW],
        ),
    )


def _next_batch(present: _Present, *, days: int, seed: int) -> _Batch:
    # A string seed is hashed with SHA-512 by random.Random: stable across processes and runs.
    rng = random.Random(f"{seed}:{present.now.isoformat()}")
    window_start = present.now + timedelta(seconds=1)
    window_end = present.now + timedelta(days=days)

    # Customers who ordered before keep ordering; everybody keeps a chance.
    picker = _CustomerPicker([(c, present.orders_per_customer.get(c.id, 0) + 1.0) for c in present.customers])
    order_count = max(1, round(present.order_count / present.history_days * days))
    orders, items = _new_orders(
        rng,
        _times_in_opening_hours(rng, window_start, window_end, order_count),
        first_order_id=present.next_order_id,
        first_item_id=present.next_item_id,
        customers=picker,
        stores=present.stores,
        as_of=window_end,
    )
    status_changes: list[Row] = []
    for order_id, status, updated_at in present.open_orders:
        new_status, new_updated_at = _status_as_of(
            rng, status, updated_at, since=window_start, as_of=window_end
        )
        if new_status != status:
            status_changes.append((order_id, new_status, new_updated_at))

    edit_count = max(1, round(len(present.customers) * CUSTOMER_EDIT_RATE_PER_DAY * days))
    edited = [
        _edited_customer(rng, customer, window_start + timedelta(seconds=rng.randrange(days * 86400)))
        for customer in sorted(rng.sample(present.customers, min(edit_count, len(present.customers))))
    ]
    return _Batch(window_start, window_end, orders, items, status_changes, edited)


def advance_time(db_path: Path, *, days: int = 7, seed: int = 42) -> AdvanceSummary:
    """Move the warehouse ``days`` forward: new orders and items, status changes, customer edits.

    Every new or changed row gets a timestamp later than anything already present, so an
    incremental model filtering on ``updated_at`` picks up exactly this batch and a snapshot
    records the customer edits. Each call continues from the data's latest timestamp; the result
    depends only on the existing data and ``seed``. All changes commit together or not at all.
    """
    if days < 1:
        raise InvalidArguments(f"days must be a positive integer, got {days}")
    if not db_path.is_file():
        raise ConfigurationError(
            f"no warehouse at {db_path}",
            hint="create it first with `python -m tools.jaffle_data generate --db PATH`",
        )
    warehouse = _Warehouse(db_path)
    try:
        warehouse.con.begin()
        batch = _next_batch(_read_present(warehouse), days=days, seed=seed)
        warehouse.append("orders", batch.orders)
        warehouse.append("items", batch.items)
        warehouse.update("orders", ["id", "status", "updated_at"], batch.status_changes)
        warehouse.update(
            "customers",
            ["id", "name", "email", "updated_at"],
            [(c.id, c.name, c.email, c.updated_at) for c in batch.edited_customers],
        )
        max_ordered_at = warehouse.max_ordered_at()
        warehouse.con.commit()
    finally:
        # Closing with the transaction still open (after an error) rolls it back.
        warehouse.close()
    return AdvanceSummary(
        db_path=db_path,
        days=days,
        seed=seed,
        window_start=batch.window_start,
        window_end=batch.window_end,
        orders_added=len(batch.orders),
        items_added=len(batch.items),
        orders_updated=len(batch.status_changes),
        customers_updated=len(batch.edited_customers),
        max_ordered_at=max_ordered_at,
    )


# --- CLI ------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.jaffle_data",
        description="Generate or advance the deterministic raw Jaffle Shop warehouse (DuckDB, schema raw).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write a fresh warehouse file")
    gen.add_argument("--db", type=Path, required=True, help="DuckDB file to create")
    gen.add_argument("--scale", type=int, default=1, help="size multiplier; 1 = 200 customers, 2,000 orders")
    gen.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same data")
    gen.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    adv = commands.add_parser("advance", help="append new orders and change some existing rows")
    adv.add_argument("--db", type=Path, required=True, help="DuckDB file made by `generate`")
    adv.add_argument("--days", type=int, default=7, help="how many days of activity to add")
    adv.add_argument("--seed", type=int, default=42, help="random seed for this batch")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        summary: BaseModel
        if args.command == "generate":
            summary = generate(args.db, scale=args.scale, seed=args.seed, overwrite=args.overwrite)
        else:
            summary = advance_time(args.db, days=args.days, seed=args.seed)
    except AeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
