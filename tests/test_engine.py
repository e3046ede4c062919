"""The dbt engine against real dbt and real DuckDB."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbt_project_factory import write_tiny_project
from tools.engine import DbtCall, DbtEngine
from tools.errors import (
    CircuitOpen,
    DbtCompilationError,
    EmptySelection,
    EngineTimeout,
    InvalidArguments,
    TransientError,
    WarehouseLocked,
)
from tools.resilience import BreakerPolicy, Resilience, RetryPolicy


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_project(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def engine(project: Path) -> Iterator[DbtEngine]:
    with DbtEngine(project, timeout_s=120) as eng:
        eng.run("run")
        yield eng


def test_run_returns_typed_node_results(engine: DbtEngine) -> None:
    result = engine.run("run", select=["stg_people+"])
    assert result.success
    by_name = {n.name: n for n in result.nodes}
    assert set(by_name) == {"stg_people", "adults"}
    node = by_name["adults"]
    assert node.status == "success"
    assert node.resource_type == "model"
    assert node.relation is not None and node.relation.endswith('"adults"')
    assert node.compiled_sql is not None and '"stg_people"' in node.compiled_sql
    assert [t.name for t in node.timing] == ["compile", "execute"]
    assert node.original_file_path == "models/adults.sql"


def test_vars_reach_dbt(engine: DbtEngine) -> None:
    # show runs the model's SQL compiled with these vars (it does not read the built table)
    preview = engine.run("show", select=["adults"], limit=10, vars={"adult_age": 35}).preview
    assert preview is not None
    assert preview.columns == ["person_id", "name"]
    assert preview.rows == [[2, "bob"]]


def test_deps_and_debug_run_with_a_custom_target_path(project: Path) -> None:
    # dbt gives deps and debug no --target-path option: the engine leaves it off for them
    with DbtEngine(project, target_path="custom_out", timeout_s=120) as custom:
        assert custom.run("deps").success
        assert custom.run("debug").success
        assert custom.run("parse").success
    assert (project / "custom_out" / "manifest.json").is_file()


def test_failing_test_is_a_result_not_an_exception(engine: DbtEngine) -> None:
    result = engine.run("test", select=["adults"])
    assert not result.success
    (failed,) = result.failed_nodes
    assert failed.status == "fail"
    assert failed.failures == 1
    assert failed.resource_type == "test"


def test_show_preview_limits_rows(engine: DbtEngine) -> None:
    result = engine.run("show", select=["stg_people"], limit=2)
    assert result.preview is not None
    assert len(result.preview.rows) == 2
    assert result.preview.node == "model.tiny.stg_people"


def test_ls_lists_nodes(engine: DbtEngine) -> None:
    result = engine.run("ls", select=["stg_people+"], resource_types=["model"])
    assert result.listed == ["tiny.adults", "tiny.stg_people"]


def test_empty_selection_is_an_error(engine: DbtEngine) -> None:
    with pytest.raises(EmptySelection, match="no_such_model"):
        engine.run("run", select=["no_such_model"])


def test_flag_smuggled_as_selector_is_refused(engine: DbtEngine) -> None:
    with pytest.raises(InvalidArguments, match="looks like a flag"):
        engine.run("run", select=["stg_people --profiles-dir /etc"])
    with pytest.raises(InvalidArguments):
        engine.run("parse", select=["stg_people"])


def test_compile_error_is_model_fixable(engine: DbtEngine, project: Path) -> None:
    broken = project / "models" / "broken.sql"
    broken.write_text("select {{ ref('stg_people' }}\n")
    try:
        with pytest.raises(DbtCompilationError, match="broken"):
            engine.run("compile", select=["broken"])
    finally:
        broken.unlink()
    assert engine.run("compile", select=["adults"]).success


def test_hung_call_is_killed_and_engine_recovers(engine: DbtEngine) -> None:
    slow = "select sum(i) as s from range(1000000000000) t(i)"
    pid_before = engine.pid
    with pytest.raises(EngineTimeout, match="timeout"):
        engine.invoke(DbtCall(command="show", inline=slow), timeout_s=3)
    assert engine.pid is None  # the hung child is gone
    result = engine.run("compile", select=["adults"])
    assert result.success
    assert result.engine_restarted
    assert engine.pid not in (None, pid_before)
    assert not engine.run("compile", select=["adults"]).engine_restarted


HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_lock_held_by_another_process_is_retried_until_released(engine: DbtEngine, project: Path) -> None:
    policy = Resilience(retry=RetryPolicy(attempts=10, initial_wait=0.5, max_wait=1.0, jitter=0.1))
    holder = _hold_lock(project / "tiny.duckdb", 2.5)
    try:
        result = policy.call("dbt", "dev", lambda: engine.run("run", select=["stg_people"]))
    finally:
        holder.wait()
    assert result.success
    assert policy.stats.retries >= 1


def test_lock_is_a_transient_error(engine: DbtEngine, project: Path) -> None:
    holder = _hold_lock(project / "tiny.duckdb", 30)
    try:
        with pytest.raises(WarehouseLocked, match="lock"):
            engine.run("run", select=["stg_people"])
    finally:
        holder.kill()
        holder.wait()


def test_breaker_opens_fails_fast_and_closes_after_success(engine: DbtEngine, project: Path) -> None:
    policy = Resilience(
        retry=RetryPolicy(attempts=1),
        breaker=BreakerPolicy(fail_max=2, reset_timeout=1.0),
    )

    def build() -> object:
        return engine.run("run", select=["stg_people"])

    holder = _hold_lock(project / "tiny.duckdb", 60)
    try:
        for _ in range(2):
            with pytest.raises(WarehouseLocked):
                policy.call("dbt", "dev", build)
        assert policy.breaker_state("dbt", "dev") == "open"
        calls_before = engine.restarts, policy.stats.fast_failures
        with pytest.raises(CircuitOpen, match="open"):
            policy.call("dbt", "dev", build)
        assert policy.stats.fast_failures == calls_before[1] + 1
    finally:
        holder.kill()
        holder.wait()
    # the breaker is per family and target: another target is unaffected
    assert policy.breaker_state("dbt", "prod") == "closed"
    time.sleep(1.1)
    policy.call("dbt", "dev", build)
    assert policy.breaker_state("dbt", "dev") == "closed"
    assert policy.stats.breaker_trips == 1


def test_injected_faults_are_reproducible_and_retried(engine: DbtEngine) -> None:
    from tools.faults import FaultInjector

    def injected_pattern(seed: int) -> list[bool]:
        injector = FaultInjector(0.3, seed)
        pattern = []
        for _ in range(40):
            try:
                injector.maybe_fail("dbt")
                pattern.append(False)
            except TransientError:
                pattern.append(True)
        return pattern

    assert injected_pattern(7) == injected_pattern(7)
    assert injected_pattern(7) != injected_pattern(8)
    assert 4 <= sum(injected_pattern(7)) <= 20
    policy = Resilience(
        retry=RetryPolicy(attempts=6, initial_wait=0.001, max_wait=0.002), faults=FaultInjector(0.5, seed=3)
    )
    for _ in range(4):
        assert policy.call("dbt", "dev", lambda: engine.run("compile", select=["adults"])).success
    assert policy.faults is not None and policy.faults.injected > 0
    assert policy.stats.retries == policy.faults.injected
