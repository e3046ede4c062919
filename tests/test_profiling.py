"""Column profiles and foreign-key checks against a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tools.errors import InvalidArguments
from tools.profiling import (
    ColumnProfile,
    RelationProfile,
    foreign_key_matches,
    profile_relation,
    suggest_foreign_keys,
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profiling") / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        """
        -- email is unique too and comes first, but customer_id is the id-like key
        CREATE TABLE customers AS
        SELECT 'c' || i || '@example.com' AS email,
               i AS customer_id,
               ['gold', 'silver', 'bronze'][1 + i % 3] AS tier,
               CASE WHEN i % 4 = 0 THEN NULL ELSE 'nick' || i END AS nickname,
               DATE '2024-01-01' + CAST(i AS INTEGER) AS signup_date,
               TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i) HOUR AS updated_at,
               TIMESTAMP '2024-06-01 00:00:00' AS _loaded_at
        FROM range(1, 21) t(i);
        CREATE TABLE orders AS
        SELECT i AS order_id, 1 + i % 20 AS customer_id,
               CASE WHEN i % 5 = 0 THEN 'returned' ELSE 'completed' END AS status
        FROM range(1, 101) t(i);
        CREATE TABLE orphan_orders AS
        SELECT i AS order_id, i + 15 AS customer_id FROM range(1, 11) t(i);
        CREATE TABLE products AS SELECT 'sku-' || i AS sku, 'product ' || i AS title FROM range(1, 6) t(i);
        CREATE TABLE order_items AS
        SELECT i AS order_item_id, 1 + i % 100 AS order_id, 'sku-' || (1 + i % 5) AS product_sku
        FROM range(1, 301) t(i);
        CREATE TABLE empty_table (id INTEGER);
        """
    )
    con.close()
    return path


@pytest.fixture(scope="module")
def customers(warehouse: Path) -> RelationProfile:
    return profile_relation(warehouse, "customers")


def column(profile: RelationProfile, name: str) -> ColumnProfile:
    return next(c for c in profile.columns if c.name == name)


def test_key_candidates_are_unique_non_null_columns_id_like_first(customers: RelationProfile) -> None:
    assert customers.row_count == 20
    # nickname has nulls, tier repeats; the timestamp is unique too but comes last
    assert customers.key_candidates == ["customer_id", "email", "signup_date", "updated_at"]
    assert column(customers, "customer_id").is_unique
    assert not column(customers, "nickname").is_unique


def test_low_cardinality_columns_carry_their_value_set(customers: RelationProfile) -> None:
    tier = column(customers, "tier")
    assert tier.low_cardinality
    assert tier.distinct == 3
    assert sorted(str(value) for value in tier.value_set or []) == ["bronze", "gold", "silver"]
    assert column(customers, "email").value_set is None  # 20 distinct > 10


def test_null_counts_and_min_max(customers: RelationProfile) -> None:
    nickname = column(customers, "nickname")
    assert (nickname.rows, nickname.nulls, nickname.distinct) == (20, 5, 15)
    assert nickname.null_fraction == pytest.approx(0.25)
    customer_id = column(customers, "customer_id")
    assert (customer_id.min, customer_id.max) == ("1", "20")
    assert column(customers, "signup_date").min == "2024-01-02"


def test_top_values_are_most_frequent_first(warehouse: Path) -> None:
    status = column(profile_relation(warehouse, "orders", columns=["status"], top_n=1), "status")
    assert [(v.value, v.count) for v in status.top_values] == [("completed", 80)]
    assert status.value_set == ["completed", "returned"]  # the whole set, not cut to top_n


def test_timestamp_and_updated_at_candidates(customers: RelationProfile) -> None:
    assert customers.timestamp_columns == ["signup_date", "updated_at", "_loaded_at"]
    # a business update time beats the pipeline load time
    assert customers.updated_at_candidates == ["updated_at", "_loaded_at"]


def test_profile_selected_columns_only_and_unknown_column(warehouse: Path) -> None:
    profile = profile_relation(warehouse, "customers", columns=["TIER"])
    assert [c.name for c in profile.columns] == ["tier"]
    with pytest.raises(InvalidArguments, match="no column"):
        profile_relation(warehouse, "customers", columns=["nope"])


def test_empty_relation_proves_no_key(warehouse: Path) -> None:
    profile = profile_relation(warehouse, "empty_table")
    assert profile.row_count == 0
    assert profile.key_candidates == []
    assert not column(profile, "id").low_cardinality


def test_foreign_key_match_when_every_child_has_a_parent(warehouse: Path) -> None:
    match = foreign_key_matches(warehouse, "orders", "customer_id", "customers", "customer_id")
    assert match.is_foreign_key
    assert (match.child_values, match.orphan_rows, match.match_fraction) == (100, 0, 1.0)


def test_foreign_key_mismatch_reports_orphans(warehouse: Path) -> None:
    match = foreign_key_matches(warehouse, "orphan_orders", "customer_id", "customers", "customer_id")
    assert not match.is_foreign_key
    assert match.orphan_rows == 5  # 21..25 have no customer
    assert match.orphan_sample == [21, 22, 23, 24, 25]
    assert match.match_fraction == pytest.approx(0.5)


def test_suggest_foreign_keys_returns_only_full_matches(warehouse: Path) -> None:
    found = suggest_foreign_keys(warehouse, "order_items", ["orders", "products", "customers"])
    assert {(m.child_column, m.parent_relation, m.parent_column) for m in found} == {
        ("order_id", "shop.main.orders", "order_id"),
        ("product_sku", "shop.main.products", "sku"),
    }
    assert suggest_foreign_keys(warehouse, "orphan_orders", ["customers"]) == []
