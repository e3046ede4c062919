"""Issue 25 item 4: memory tells a request only what is about it, and never the environment's faults.

The relevance threshold is measured here, on labelled pairs of a request and a remembered failure
(the failures are what learn.py stores: the request, the first error, the diff). A pair is labelled
relevant when the failure is on a model the request works on, or is the same kind of change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.commands.planner import CommandPlanner
from agent.memory.learn import learn_from_run
from agent.memory.recall import recall
from agent.memory.relevance import (
    MIN_REQUEST_SIMILARITY,
    PastFailure,
    environment_fault,
    plans_no_change,
    relevance,
)
from agent.runner import Session
from agent.settings import load_settings
from tests.dbt_project_factory import write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import BROKEN_MODEL, NEW_MODEL
from tools.manifest import Manifest
from tools.memory.embedding import cosine, hashed_ngrams
from tools.memory.store import ProjectMemory, open_memory


@dataclass(frozen=True)
class Failure:
    request: str
    error: str
    diff_paths: tuple[str, ...]

    def data(self) -> dict[str, object]:
        diff = "".join(f"diff --git a/{p} b/{p}\n+...\n" for p in self.diff_paths)
        return {"phase": "validate", "request": self.request, "error": self.error, "diff": diff}

    def text(self) -> str:
        """The memory's text as learn.py writes it."""
        return f"request {self.request!r} -> {self.error} -> not fixed: the run rolled back"


F = {
    "dim": Failure(
        "/dbt-model --name dim_stores --type dimension --from stg_stores",
        "validate failed:\n- dim_stores: adds no joins or aggregates to stg_stores",
        ("models/marts/dim_stores.sql",),
    ),
    "parse": Failure(
        "add stg_people_names",
        "validate failed:\n- stg_people_names: Parsing Error: unexpected ')'",
        ("models/staging/stg_people_names.sql",),
    ),
    "incr": Failure(
        "/incremental-model --name fct_orders --unique-key order_id --strategy merge",
        "verify failed:\n- incremental fct_orders differs from its full refresh: 12 rows",
        ("models/marts/fct_orders.sql",),
    ),
    "unique": Failure(
        "/data-quality-test --model stg_orders --tests unique,not_null",
        "verify failed:\n- test unique_stg_orders_order_id: Got 3 results, configured to fail if != 0",
        ("models/staging/stg_orders.yml",),
    ),
    "snapshot": Failure(
        "/dbt-snapshot --source-table raw.customers --unique-key id --strategy timestamp "
        "--updated-at updated_at",
        "validate failed:\n- snapshots/customers_snapshot.sql: updated_at is not a timestamp",
        ("snapshots/customers_snapshot.sql",),
    ),
    "clv": Failure(
        "make fct_customer_lifetime_value incremental on the order date",
        "verify failed:\n- incremental fct_customer_lifetime_value differs from its full refresh",
        ("models/marts/fct_customer_lifetime_value.sql",),
    ),
    "source": Failure(
        "/dbt-source --database jaffle_shop --schema raw --table payments",
        "validate failed:\n- source raw.payments: no column loaded_at for the freshness rule",
        ("models/staging/_sources.yml",),
    ),
    "macro": Failure(
        '/dbt-macro --name cents_to_dollars --parameters "column_name, scale"',
        "validate failed:\n- macro cents_to_dollars: Compilation Error: unexpected end of template",
        ("macros/cents_to_dollars.sql",),
    ),
    "exposure": Failure(
        "/exposure-define --name weekly_kpis --type dashboard --depends-on fct_orders,dim_customers",
        "validate failed:\n- exposure weekly_kpis: dim_customers is private to its group",
        ("models/exposures.yml",),
    ),
    "rename": Failure(
        "rename column amount to amount_cents in stg_payments",
        "validate failed:\n- fct_orders: Binder Error: Referenced column amount not found",
        ("models/staging/stg_payments.sql",),
    ),
    "layering": Failure(
        "/dbt-model --name int_order_items --type intermediate --from stg_items",
        "validate failed:\n- int_order_items: an intermediate model reads a source",
        ("models/intermediate/int_order_items.sql",),
    ),
    "null": Failure(
        "add a not_null test on customer_id in fct_orders",
        "verify failed:\n- test not_null_fct_orders_customer_id: Got 5 results",
        ("models/marts/fct_orders.yml",),
    ),
}

#: each request, with the failures that are about it (the same models, or the same kind of change)
LABELLED: dict[str, set[str]] = {
    "/dbt-model --name dim_customers --type dimension --from stg_customers": {"dim"},
    "/incremental-model --name fct_orders --unique-key order_id --strategy merge": {"incr", "clv", "null"},
    "/data-quality-test --model fct_orders --tests not_null,relationships": {"null", "unique", "incr"},
    "/dbt-snapshot --source-table raw.orders --unique-key id --strategy timestamp --updated-at updated_at": {
        "snapshot"
    },
    "/dbt-source --database jaffle_shop --schema raw --table refunds": {"source"},
    '/dbt-macro --name safe_divide --parameters "numerator, denominator"': {"macro"},
    "add stg_people_names with the first and last name": {"parse"},
    "make fct_orders incremental": {"incr", "clv", "null"},
    "/dbt-run --select stg_payments": {"rename"},
    "/exposure-define --name finance_dash --type dashboard --depends-on fct_revenue": {"exposure"},
    "/dbt-model --name stg_refunds --type staging --source raw.refunds": set(),
    "rename column status to order_status in stg_orders": {"rename", "unique"},
    "/dbt-seed --file seeds/holidays.csv": set(),
    "/dbt-model --name fct_payments --type fact --from stg_payments": {"rename"},
    "make fct_customer_lifetime_value a table instead of a view": {"clv"},
    "document the columns of dim_geo": set(),
}


#: written after the threshold was chosen on the pairs above, and not tuned on
HELD_OUT_FAILURES = {
    "incr": Failure(
        "/incremental-model --name fct_payments --unique-key payment_id --strategy delete+insert",
        "verify failed:\n- incremental fct_payments differs from its full refresh",
        ("models/marts/fct_payments.sql",),
    ),
    "seed": Failure(
        "/dbt-seed --file seeds/country_codes.csv",
        "validate failed:\n- seeds/country_codes.csv: column code has mixed types",
        ("seeds/country_codes.csv",),
    ),
    "split": Failure(
        "split the payments CTE of fct_orders into int_payments",
        "validate failed:\n- int_payments: found a cycle",
        ("models/intermediate/int_payments.sql", "models/marts/fct_orders.sql"),
    ),
    "staging": Failure(
        "/dbt-model --name stg_supplies --type staging --source raw.supplies",
        "validate failed:\n- stg_supplies: column cost renamed twice",
        ("models/staging/stg_supplies.sql",),
    ),
    "describe": Failure(
        "describe the columns of fct_orders",
        "validate failed:\n- fct_orders.yml: duplicate column order_id",
        ("models/marts/fct_orders.yml",),
    ),
}
HELD_OUT: dict[str, set[str]] = {
    "/incremental-model --name fct_daily_revenue --unique-key revenue_date --strategy merge": {"incr"},
    "/dbt-seed --file seeds/holidays.csv": {"seed"},
    "/dbt-model --name stg_products --type staging --source raw.products": {"staging"},
    "extract the customers CTE of fct_orders into int_customers": {"split", "describe"},
    "/dbt-macro --name money --parameters amount": set(),
    "add descriptions to the columns of dim_customers": {"describe"},
    "/dbt-run --select fct_payments": {"incr"},
}


def precision_recall(
    relevant: set[tuple[str, str]], labelled: dict[str, set[str]] = LABELLED
) -> tuple[float, float]:
    truth = {(request, key) for request, keys in labelled.items() for key in keys}
    hits = len(relevant & truth)
    return hits / len(relevant) if relevant else 1.0, hits / len(truth)


def recalled_now(
    labelled: dict[str, set[str]] = LABELLED, failures: dict[str, Failure] = F
) -> set[tuple[str, str]]:
    return {
        (request, key)
        for request in labelled
        for key, failure in failures.items()
        if relevance(request, PastFailure.of(failure.data())) >= MIN_REQUEST_SIMILARITY
    }


def recalled_before() -> set[tuple[str, str]]:
    """What recall told before: the request's cosine to the failure's whole text at or above 0.25."""
    found = set()
    for request in LABELLED:
        for key, failure in F.items():
            mine, theirs = hashed_ngrams([request, failure.text()])
            if cosine(mine, theirs) >= 0.25:
                found.add((request, key))
    return found


def test_relevance_is_measured_on_the_labelled_pairs() -> None:
    """Measured: 192 pairs, 20 relevant. At MIN_REQUEST_SIMILARITY 0.5, 20 told: precision 1.00,
    recall 1.00 (the same from 0.40 to 0.55; 0.35 lets 4 unrelated in, 0.60 loses one). What recall
    did before (the request's cosine to the failure's whole text, at 0.25): 27 told, precision 0.63,
    recall 0.85. Held out (35 pairs, 7 relevant, written after the choice): 1.00 and 1.00; before,
    0.88 and 1.00."""
    assert precision_recall(recalled_now()) >= (0.95, 0.95)
    held_out = precision_recall(recalled_now(HELD_OUT, HELD_OUT_FAILURES), HELD_OUT)
    assert held_out[0] >= 0.85 and held_out[1] >= 0.85
    before = precision_recall(recalled_before())
    assert before[0] < 0.7  # what the issue saw: a third of what was told was about something else


def test_the_threshold_sits_where_precision_and_recall_peak() -> None:
    measure = {t / 100: sum(precision_recall(_at(t / 100))) for t in range(5, 100, 5)}
    assert measure[MIN_REQUEST_SIMILARITY] == max(measure.values())
    assert measure[MIN_REQUEST_SIMILARITY - 0.15] < measure[MIN_REQUEST_SIMILARITY]  # lower lets others in
    assert measure[MIN_REQUEST_SIMILARITY + 0.15] < measure[MIN_REQUEST_SIMILARITY]  # higher loses some


def _at(threshold: float) -> set[tuple[str, str]]:
    return {
        (request, key)
        for request in LABELLED
        for key, failure in F.items()
        if relevance(request, PastFailure.of(failure.data())) >= threshold
    }


@pytest.mark.parametrize(
    "request_",
    [
        "/dbt-compile --select fct_orders",
        "/model-lineage --model fct_orders --upstream 2",
        "/dbt-docs --generate",
        "/dbt-debug",
        "/dbt-test --select fct_orders",
    ],
)
def test_a_command_that_plans_no_change_recalls_nothing(tmp_path: Path, request_: str) -> None:
    with open_memory(None, tmp_path, "shop") as memory:
        _remember(memory, "incr")
        memory.remember("decisions", "merge", "always use merge for facts")
        assert plans_no_change(request_)
        assert recall(memory, request_).lessons() == [] and recall(memory, request_).render() == ""
        # the same failure is told to a change on that model
        told = recall(memory, "/incremental-model --name fct_orders --unique-key order_id").lessons()
        assert any("fct_orders differs from its full refresh" in line for line in told)


def _remember(memory: ProjectMemory, key: str) -> None:
    failure = F[key]
    memory.remember("failures", f"run-{key}", failure.text(), failure.data())


ENVIRONMENT_ERRORS = [
    "execute failed:\n- Catalog Error: Table with name stg_orders does not exist! Did you mean raw.orders?",
    'execute failed:\n- relation "prod.stg_orders" does not exist',
    'IO Error: Could not set lock on file "shop.duckdb": Conflicting lock is held in pid 4242',
    'IO Error: Cannot open file "/data/prod.duckdb": No such file or directory',
    "connection to server at 10.0.0.5 failed: Connection refused",
    "Could not find profile named 'shop'",
    'dbt found 1 package(s) specified in packages.yml, but only 0 installed. Run "dbt deps"',
    "verify stopped by an infrastructure fault: the engine kept dying",
    "ERROR STALE freshness of raw.orders: 30 days old",
]
MODEL_ERRORS = [
    "validate failed:\n- fct_orders: Binder Error: Referenced column amount not found in FROM clause",
    "validate failed:\n- stg_people: Parsing Error: unexpected ')'",
    "verify failed:\n- test unique_stg_orders_order_id: Got 3 results",
    'validate failed:\n- column "amount" does not exist',
]


@pytest.mark.parametrize("error", ENVIRONMENT_ERRORS)
def test_an_environment_fault_is_neither_learned_nor_recalled(tmp_path: Path, error: str) -> None:
    assert environment_fault(error) is not None
    state = {
        "status": "failed",
        "request": "/dbt-run --select fct_orders --target prod",
        "feedback": [{"phase": "execute", "errors": [error]}],
    }
    with open_memory(None, tmp_path, "shop") as memory:
        learn_from_run(memory, state, Manifest({}), "R")
        assert memory.items("failures") == []
        # one an older ae stored is not told either
        memory.remember("failures", "old", f"request 'x' -> {error}", {"request": "x", "error": error})
        assert recall(memory, "/dbt-run --select fct_orders --target prod").failures == []


@pytest.mark.parametrize("error", MODEL_ERRORS)
def test_a_models_own_failure_is_still_learned(tmp_path: Path, error: str) -> None:
    assert environment_fault(error) is None
    state = {
        "status": "failed",
        "request": "add fct_orders",
        "feedback": [{"phase": "validate", "errors": [error]}],
    }
    with open_memory(None, tmp_path, "shop") as memory:
        learn_from_run(memory, state, Manifest({}), "R")
        assert [m.key for m in memory.items("failures")] == ["R"]


def test_a_run_the_guard_stopped_teaches_no_failure(tmp_path: Path) -> None:
    """Its first failure was the model's, but the run ended on the environment: nothing learned."""
    state = {
        "status": "failed",
        "reason": "execute stopped by an infrastructure fault: the warehouse is locked",
        "request": "add fct_orders",
        "feedback": [{"phase": "validate", "errors": [MODEL_ERRORS[0]]}],
    }
    with open_memory(None, tmp_path, "shop") as memory:
        learn_from_run(memory, state, Manifest({}), "R")
        assert memory.items("failures") == []


@pytest.mark.parametrize(
    "request_",
    [
        "/dbt-model --name x --type dimension --from 'unbalanced",
        "--name --model --select",
        "/",
        "",
        "fct_" * 5000,
        "/dbt-run --select 2+fct_orders+3,@stg_people,fct_*",
    ],
)
def test_odd_requests_are_read_without_error(tmp_path: Path, request_: str) -> None:
    with open_memory(None, tmp_path, "shop") as memory:
        _remember(memory, "incr")
        assert isinstance(recall(memory, request_).failures, list)


@pytest.mark.slow
def test_a_lineage_after_a_failure_prints_no_remembered_failure(tmp_path: Path) -> None:
    """The issue's case on real dbt: a failure learned, then compile and lineage answers stay clean,
    while the same model's next change still hears about it."""
    settings = load_settings(write_tiny_project(tmp_path / "tiny"), max_repairs=2, retry_attempts=2)
    with Session(settings) as session:
        repaired = session.run(
            "add stg_people_names", planner=ScriptedPlanner([writes(BROKEN_MODEL), writes(NEW_MODEL)])
        )
        assert repaired.ok and len(repaired.state["feedback"]) == 1
        for request in ("/model-lineage --model stg_people_names", "/dbt-compile --select stg_people_names"):
            answered = session.run(request, planner=CommandPlanner())
            assert answered.ok, answered.reason
            assert "Remembered" not in (answered.state["plan"]["answer"] or "")
        # the model exists now: changed in place (a /dbt-model on it is refused by design)
        changed = session.run(
            "/model-edit --name stg_people_names --materialized table", planner=CommandPlanner()
        )
        assert "Remembered failure: request 'add stg_people_names'" in (changed.state["plan"]["answer"] or "")
