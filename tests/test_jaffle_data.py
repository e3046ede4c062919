"""The raw Jaffle Shop generator: deterministic, consistent, and moving forward on advance_time."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tools.errors import ConfigurationError, InvalidArguments
from tools.jaffle_data import (
    HISTORY_DAYS,
    ORDER_STATUSES,
    START,
    TABLES,
    AdvanceSummary,
    advance_time,
    generate,
    main,
)

_PRIMARY_KEYS = {
    "customers": "id",
    "stores": "id",
    "products": "sku",
    "supplies": "id",
    "orders": "id",
    "items": "id",
}
# (child table, column, parent table, column)
_FOREIGN_KEYS = (
    ("orders", "customer_id", "customers", "id"),
    ("orders", "store_id", "stores", "id"),
    ("items", "order_id", "orders", "id"),
    ("items", "sku", "products", "sku"),
    ("supplies", "sku", "products", "sku"),
)
# DuckDB values are dynamically typed
Dump = dict[str, list[tuple[Any, ...]]]


def _dump(db: Path) -> Dump:
    """Every row of every raw table, ordered by primary key."""
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            table: con.execute(f"SELECT * FROM raw.{table} ORDER BY {key}").fetchall()
            for table, key in _PRIMARY_KEYS.items()
        }


def _integrity_problems(db: Path) -> list[str]:
    """Each broken key or inconsistent business rule, with the number of offending rows."""
    checks = {
        f"{table}.{key} duplicated or null": (
            f"SELECT count(*) - count(DISTINCT {key}) + count(*) FILTER ({key} IS NULL) FROM raw.{table}"
        )
        for table, key in _PRIMARY_KEYS.items()
    }
    checks |= {
        f"{child}.{column} -> {parent}.{key} orphaned": (
            f"SELECT count(*) FROM raw.{child} c ANTI JOIN raw.{parent} p ON c.{column} = p.{key}"
        )
        for child, column, parent, key in _FOREIGN_KEYS
    }
    statuses = ", ".join(f"'{s}'" for s in ORDER_STATUSES)
    checks |= {
        "unknown order status": f"SELECT count(*) FROM raw.orders WHERE status NOT IN ({statuses})",
        "order_total != subtotal + tax_paid": (
            "SELECT count(*) FROM raw.orders WHERE order_total != subtotal + tax_paid"
        ),
        "subtotal != sum of item prices": (
            "SELECT count(*) FROM raw.orders o JOIN (SELECT order_id, sum(p.price) AS s FROM raw.items i"
            " JOIN raw.products p USING (sku) GROUP BY 1) t ON t.order_id = o.id WHERE o.subtotal != t.s"
        ),
        "order without items": "SELECT count(*) FROM raw.orders o ANTI JOIN raw.items i ON i.order_id = o.id",
        "order updated before it was placed": "SELECT count(*) FROM raw.orders WHERE updated_at < ordered_at",
        "order before its store opened": (
            "SELECT count(*) FROM raw.orders o JOIN raw.stores s ON s.id = o.store_id"
            " WHERE o.ordered_at < s.opened_at"
        ),
        "order before its customer signed up": (
            "SELECT count(*) FROM raw.orders o JOIN raw.customers c ON c.id = o.customer_id"
            " WHERE o.ordered_at < c.created_at"
        ),
        "customer updated before created": "SELECT count(*) FROM raw.customers WHERE updated_at < created_at",
    }
    with duckdb.connect(str(db), read_only=True) as con:
        counts = {name: con.execute(sql).fetchall()[0][0] for name, sql in checks.items()}
    return [f"{name}: {count}" for name, count in counts.items() if count]


def _latest_timestamp(dump: Dump) -> datetime:
    order_times = [t for row in dump["orders"] for t in (row[3], row[8])]
    customer_times = [t for row in dump["customers"] for t in (row[3], row[4])]
    latest: datetime = max(order_times + customer_times)
    return latest


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("gen") / "jaffle.duckdb").db_path


@pytest.fixture(scope="module")
def advanced(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Dump, Dump, AdvanceSummary]:
    """(rows before, rows after, summary) of one advance_time on a copy of the generated warehouse."""
    db = tmp_path_factory.mktemp("adv") / "jaffle.duckdb"
    shutil.copyfile(generated, db)
    before = _dump(db)
    summary = advance_time(db, days=7)
    return before, _dump(db), summary


def test_same_seed_gives_identical_rows(generated: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again.duckdb", seed=42)
    assert _dump(again.db_path) == _dump(generated)


def test_different_seed_gives_different_rows(generated: Path, tmp_path: Path) -> None:
    other = _dump(generate(tmp_path / "other.duckdb", seed=7).db_path)
    original = _dump(generated)
    assert other["orders"] != original["orders"]
    assert other["customers"] != original["customers"]
    # the catalogue is fixed; only the activity depends on the seed
    assert other["products"] == original["products"]


def test_generated_data_keeps_keys_and_business_rules(generated: Path) -> None:
    assert _integrity_problems(generated) == []


def test_scale_one_has_the_documented_size_and_time_span(generated: Path, tmp_path: Path) -> None:
    summary = generate(tmp_path / "sized.duckdb")
    counts = summary.row_counts
    assert set(counts) == set(TABLES)
    assert counts["customers"] == 200
    assert counts["orders"] == 2000
    assert 3600 <= counts["items"] <= 4400  # ~2 items per order
    orders = _dump(generated)["orders"]
    ordered_at = [row[3] for row in orders]
    assert min(ordered_at) >= START
    assert summary.max_ordered_at == max(ordered_at)
    assert summary.max_ordered_at < START + timedelta(days=HISTORY_DAYS)
    assert {row[4] for row in orders} == set(ORDER_STATUSES)


def test_scale_multiplies_the_activity(tmp_path: Path) -> None:
    counts = generate(tmp_path / "x2.duckdb", scale=2).row_counts
    assert counts["customers"] == 400
    assert counts["orders"] == 4000
    assert counts["products"] == generate(tmp_path / "x1.duckdb").row_counts["products"]


def test_generate_refuses_to_overwrite_unless_asked(generated: Path, tmp_path: Path) -> None:
    db = tmp_path / "jaffle.duckdb"
    generate(db, seed=7)
    with pytest.raises(ConfigurationError, match="refusing to overwrite"):
        generate(db)
    generate(db, overwrite=True)
    assert _dump(db) == _dump(generated)
    assert [p.name for p in tmp_path.iterdir()] == ["jaffle.duckdb"]  # no partial file left behind


def test_advance_appends_orders_later_than_anything_present(
    advanced: tuple[Dump, Dump, AdvanceSummary],
) -> None:
    before, after, summary = advanced
    previous_latest = _latest_timestamp(before)
    old_ids = {row[0] for row in before["orders"]}
    new_orders = [row for row in after["orders"] if row[0] not in old_ids]
    assert len(new_orders) == summary.orders_added > 0
    assert min(row[3] for row in new_orders) > previous_latest
    assert max(row[8] for row in new_orders) <= summary.window_end
    assert min(row[0] for row in new_orders) > max(old_ids)
    assert len(after["items"]) - len(before["items"]) == summary.items_added > 0
    assert summary.max_ordered_at == max(row[3] for row in new_orders)


def test_advance_moves_existing_order_status_forward(advanced: tuple[Dump, Dump, AdvanceSummary]) -> None:
    before, after, summary = advanced
    previous_latest = _latest_timestamp(before)
    after_by_id = {row[0]: row for row in after["orders"]}
    changed = [(old, after_by_id[old[0]]) for old in before["orders"] if after_by_id[old[0]] != old]
    assert len(changed) == summary.orders_updated > 0
    for old, new in changed:
        assert ORDER_STATUSES.index(new[4]) > ORDER_STATUSES.index(old[4])
        assert new[8] > previous_latest
        assert new[:4] + new[5:8] == old[:4] + old[5:8]  # only status and updated_at change


def test_advance_edits_some_customers_with_a_later_updated_at(
    advanced: tuple[Dump, Dump, AdvanceSummary],
) -> None:
    before, after, summary = advanced
    previous_latest = _latest_timestamp(before)
    edited = [
        (old, new) for old, new in zip(before["customers"], after["customers"], strict=True) if old != new
    ]
    assert len(edited) == summary.customers_updated > 0
    for old, new in edited:
        assert new[2] != old[2]  # the email always changes; the name sometimes
        assert new[4] > previous_latest
        assert (new[0], new[3]) == (old[0], old[3])


def test_advance_keeps_keys_and_business_rules(advanced: tuple[Dump, Dump, AdvanceSummary]) -> None:
    before, after, summary = advanced
    assert _integrity_problems(summary.db_path) == []
    assert after["products"] == before["products"]


def test_advance_is_deterministic_and_each_call_moves_further(generated: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    shutil.copyfile(generated, first)
    shutil.copyfile(generated, second)
    one = advance_time(first, days=3, seed=5)
    assert advance_time(second, days=3, seed=5) == one.model_copy(update={"db_path": second})
    assert _dump(first) == _dump(second)

    two = advance_time(first, days=3, seed=5)
    assert two.window_start > one.max_ordered_at
    assert two.max_ordered_at > one.max_ordered_at
    assert two.orders_added > 0
    assert _integrity_problems(first) == []


def test_advance_rejects_a_missing_warehouse_and_bad_days(tmp_path: Path, generated: Path) -> None:
    with pytest.raises(ConfigurationError, match="no warehouse at"):
        advance_time(tmp_path / "missing.duckdb")
    with pytest.raises(InvalidArguments, match="days must be a positive integer"):
        advance_time(generated, days=0)


def test_advance_rejects_a_file_without_the_raw_tables(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    with pytest.raises(ConfigurationError, match=r"missing tables raw\.customers, raw\.items"):
        advance_time(db)


def test_a_file_named_like_the_schema_works(tmp_path: Path) -> None:
    # DuckDB names the catalog after the file: in raw.duckdb, "raw.orders" alone is ambiguous.
    db = tmp_path / "raw.duckdb"
    generate(db)
    added = advance_time(db).orders_added
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.raw.orders").fetchall() == [(2000 + added,)]


def test_cli_generates_then_advances_and_reports_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.duckdb"
    assert main(["generate", "--db", str(db), "--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["row_counts"]["orders"] == 2000
    assert main(["advance", "--db", str(db), "--days", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["days"] == 2
    assert main(["generate", "--db", str(db)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
