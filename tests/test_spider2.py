"""Spider2-DBT's grading rule on small DuckDB files, and the core suite exported to its layout."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from evals.spider2 import EvalParameters, duckdb_match, vectors_match
from evals.spider2_run import spider2_round_trip
from evals.task import load_suite


def test_numbers_match_within_a_hundredth_and_other_values_exactly() -> None:
    assert vectors_match([1.0, 2.004, "a"], [1, 2.0, "a"], ignore_order=False)
    assert not vectors_match([1.0, 2.02], [1.0, 2.0], ignore_order=False)
    assert not vectors_match(["a"], ["A"], ignore_order=False)
    assert vectors_match([None, 1], [None, 1], ignore_order=False)


def test_order_counts_unless_ignored_and_lengths_must_match() -> None:
    assert not vectors_match([1, 2], [2, 1], ignore_order=False)
    assert vectors_match([1, 2], [2, 1], ignore_order=True)
    assert not vectors_match([1, 2], [1, 2, 2], ignore_order=True)


def _db(path: Path, sql: str) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute(sql)
    return path


def test_each_selected_gold_column_needs_an_equal_produced_column(tmp_path: Path) -> None:
    gold = _db(
        tmp_path / "gold.duckdb",
        "create table t as select * from (values (1, 'x', 9), (2, 'y', 9)) v(a, b, c)",
    )
    # the produced table renames and reorders columns and has an extra one: only vectors count
    good = _db(
        tmp_path / "good.duckdb",
        "create table t as select * from (values ('y', 2, 0), ('x', 1, 0)) v(q, r, s)",
    )
    params = EvalParameters(
        gold="gold.duckdb", condition_tabs=["t"], condition_cols=[[0, 1]], ignore_orders=[True]
    )
    assert duckdb_match(good, gold, params) == 1
    assert duckdb_match(good, gold, params.model_copy(update={"ignore_orders": [False]})) == 0
    assert duckdb_match(good, gold, params.model_copy(update={"condition_cols": [[0, 1, 2]]})) == 0
    missing = _db(tmp_path / "missing.duckdb", "create table other as select 1 as a")
    assert duckdb_match(missing, gold, params) == 0


@pytest.mark.slow
def test_core_tasks_round_trip_through_spider2_layout(tmp_path: Path) -> None:
    tasks = [t for t in load_suite() if t.id in {"staging_orders", "fact_orders"}]
    results = spider2_round_trip(tmp_path, tasks)
    assert [r.score for r in results["oracle"]] == [1, 1]
    assert [r.score for r in results["noop"]] == [0, 0]


def test_empty_db_dir_names_each_missing_start_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evals.cli import main as eval_main

    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "spider2-dbt.jsonl").write_text(
        '{"instance_id": "airbnb001", "instruction": "x"}\n{"instance_id": "f1001", "instruction": "y"}\n'
    )
    (tmp_path / "empty").mkdir()
    code = eval_main(
        ["--suite", "spider2-dbt", "--agent", "noop", "--tasks-dir", str(tmp_path),
         "--db-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 5  # the environment is not usable: the warehouses are missing
    assert "airbnb001/*.duckdb" in err and "f1001/*.duckdb" in err
    assert not (tmp_path / "out").exists()
