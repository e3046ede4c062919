"""The circuit breaker's states, and the policy layer's use of it (no dbt needed)."""

from __future__ import annotations

import threading

import pytest

from tools.breaker import BreakerState, CircuitBreaker
from tools.errors import CircuitOpen, ConnectionFault, QueryError
from tools.resilience import BreakerPolicy, Resilience, RetryPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_a_success_resets_the_count() -> None:
    trips: list[int] = []
    breaker = CircuitBreaker(
        "t", fail_max=3, reset_timeout=10, on_trip=lambda: trips.append(1), clock=Clock()
    )
    breaker.failed()
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    breaker.failed()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.failed()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    assert trips == [1]


def test_half_open_lets_one_trial_through_and_its_outcome_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t", fail_max=1, reset_timeout=10, clock=clock)
    breaker.failed()
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failed()  # the trial failed: open again, for a full cool-down
    assert breaker.state is BreakerState.OPEN
    clock.now = 20.0
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.allow()


def fast_policy(fail_max: int = 2) -> Resilience:
    return Resilience(
        retry=RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.002),
        breaker=BreakerPolicy(fail_max=fail_max, reset_timeout=60),
    )


def test_the_policy_counts_calls_that_failed_after_their_retries_not_attempts() -> None:
    policy = fast_policy(fail_max=2)
    attempts: list[int] = []

    def down() -> None:
        attempts.append(1)
        raise ConnectionFault("connection reset")

    with pytest.raises(ConnectionFault):
        policy.call("warehouse", "dev", down)
    assert len(attempts) == 3 and policy.breaker_state("warehouse", "dev") == "closed"
    with pytest.raises(ConnectionFault):
        policy.call("warehouse", "dev", down)
    assert policy.breaker_state("warehouse", "dev") == "open"
    with pytest.raises(CircuitOpen, match="2 consecutive calls failed despite retries"):
        policy.call("warehouse", "dev", down)
    assert len(attempts) == 6  # the open circuit did not call
    assert policy.stats.breaker_trips == 1 and policy.stats.fast_failures == 1
    assert policy.breaker_state("warehouse", "prod") == "closed"


def test_an_error_the_service_answered_with_does_not_count_against_the_circuit() -> None:
    policy = fast_policy(fail_max=1)

    def rejected() -> None:
        raise QueryError("column x does not exist")

    for _ in range(3):
        with pytest.raises(QueryError):
            policy.call("warehouse", "dev", rejected)
    assert policy.breaker_state("warehouse", "dev") == "closed"


def test_calls_through_one_circuit_run_concurrently() -> None:
    policy = fast_policy()
    # each call waits for the other inside the protected function: serialised calls would time out
    both_inside = threading.Barrier(2, timeout=5)
    results: list[str] = []

    def meet(name: str) -> None:
        both_inside.wait()
        results.append(name)

    threads = [
        threading.Thread(target=policy.call, args=("warehouse", "dev", lambda n=n: meet(n))) for n in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(results) == ["a", "b"]
