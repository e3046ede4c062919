"""Spider2-DBT grading rule (xlang-ai/Spider2, spider2-dbt evaluation_suite/eval_utils.py).

An instance is ``examples/<instance_id>`` (a dbt project) plus its line in ``spider2-dbt.jsonl``
(the instruction); its gold is ``evaluation_suite/gold/<instance_id>/<gold>.duckdb`` with a line
in ``spider2_eval.jsonl`` naming the tables, the gold columns and whether row order counts. The
score is 0 or 1: every selected gold column must equal, as a vector, some column of the produced
table with the same name (numbers within 0.01 absolute; sorted first where order is ignored; the
lengths, i.e. the row counts, must match). Implemented with DuckDB instead of pandas (not a
dependency here); NULL plays pandas' NaN.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from tools.errors import ConfigurationError
from tools.warehouse import quote_identifier

#: eval_utils.compare_pandas_table's tolerance
TOLERANCE = 1e-2


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EvalParameters(_Loose):
    gold: str
    condition_tabs: list[str] | None = None
    condition_cols: list[list[int]] | None = None
    ignore_orders: list[bool] | None = None


class Spider2Eval(_Loose):
    instance_id: str
    func: str
    parameters: EvalParameters


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ConfigurationError(f"{path} is not a file", hint="give Spider2-DBT's spider2-dbt folder")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_evals(path: Path) -> dict[str, Spider2Eval]:
    """spider2_eval.jsonl: instance id -> how it is graded."""
    return {
        row["instance_id"]: Spider2Eval(instance_id=row["instance_id"], **row["evaluation"])
        for row in load_jsonl(path)
    }


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _order_key(value: object) -> tuple[bool, str, bool]:
    return (value is None, str(value), _is_number(value))


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def vectors_match(gold: list[Any], pred: list[Any], *, ignore_order: bool) -> bool:
    """eval_utils.vectors_match: same length, element by element, numbers within TOLERANCE."""
    if ignore_order:
        gold, pred = sorted(gold, key=_order_key), sorted(pred, key=_order_key)
    if len(gold) != len(pred):
        return False
    for a, b in zip(gold, pred, strict=True):
        if _missing(a) and _missing(b):
            continue
        if _is_number(a) and _is_number(b):
            if not math.isclose(float(a), float(b), abs_tol=TOLERANCE):
                return False
        elif a != b:
            return False
    return True


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[list[Any]]:
    rows = con.execute(f"select * from {quote_identifier(table)}").fetchall()
    width = len(con.description or [])
    return [[row[i] for row in rows] for i in range(width)]


def table_matches(
    gold: list[list[Any]], pred: list[list[Any]], cols: list[int], *, ignore_order: bool
) -> bool:
    selected = [gold[i] for i in cols] if cols else gold
    return all(any(vectors_match(g, p, ignore_order=ignore_order) for p in pred) for g in selected)


def duckdb_match(result_db: Path, gold_db: Path, params: EvalParameters) -> int:
    """eval_utils.duckdb_match: 1 when every condition table matches, 0 otherwise (or when one is missing)."""
    with duckdb.connect(str(gold_db), read_only=True) as gold_con:
        tables = params.condition_tabs or [r[0] for r in gold_con.execute("show tables").fetchall()]
        gold_tables = [_columns(gold_con, t) for t in tables]
    cols = params.condition_cols or [[] for _ in tables]
    orders = params.ignore_orders or [False for _ in tables]
    try:
        with duckdb.connect(str(result_db), read_only=True) as pred_con:
            pred_tables = [_columns(pred_con, t) for t in tables]
    except duckdb.Error:
        return 0
    matched = all(
        table_matches(g, p, c, ignore_order=o)
        for g, p, c, o in zip(gold_tables, pred_tables, cols, orders, strict=True)
    )
    return 1 if matched else 0


class Spider2Result(BaseModel):
    instance_id: str
    agent: str
    score: int
    reason: str = ""
    tables: list[str] = Field(default_factory=list)
