"""One policy layer for every tool call: retry transient faults, break the circuit when they persist.

- Retries use tenacity with exponential backoff and jitter, and only for errors on the ``retry``
  channel (``TransientError``). Model-fixable and programmer errors pass straight through.
- One circuit breaker per (tool family, target), from pybreaker: it counts consecutive transient
  failures, opens after ``fail_max``, fails fast with ``CircuitOpen`` while open, lets one trial
  call through after ``reset_timeout`` (half-open) and closes when that call succeeds.

pybreaker was chosen over a hand-written breaker because it already has exactly these states, an
``exclude`` predicate (so non-transient errors never count) and listeners for logging transitions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pybreaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from tools.errors import CircuitOpen, TransientError
from tools.faults import FaultInjector
from tools.logs import get_logger

T = TypeVar("T")
log = get_logger("ae.resilience")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    initial_wait: float = 0.5
    max_wait: float = 8.0
    jitter: float = 0.5
    #: the longest retry-after we honour; a server asking for more fails the call instead of stalling
    max_retry_after: float = 60.0


@dataclass(frozen=True)
class BreakerPolicy:
    fail_max: int = 5
    reset_timeout: float = 30.0


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TransientError)


class _LogTransitions(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        log.warning(
            "breaker_state_change",
            breaker=cb.name,
            old=getattr(old_state, "name", str(old_state)),
            new=getattr(new_state, "name", str(new_state)),
        )


@dataclass
class CallStats:
    """Counters a run report shows: how often the policy had to step in."""

    retries: int = 0
    breaker_trips: int = 0
    fast_failures: int = 0


@dataclass
class Resilience:
    """The policy layer. Thread-safe; one instance per run (or per worker process)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    stats: CallStats = field(default_factory=CallStats)
    #: benchmark fault injection: transient faults before some attempts (None in normal use)
    faults: FaultInjector | None = None
    _breakers: dict[tuple[str, str], pybreaker.CircuitBreaker] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def breaker_for(self, family: str, target: str) -> pybreaker.CircuitBreaker:
        key = (family, target)
        with self._lock:
            if key not in self._breakers:
                self._breakers[key] = pybreaker.CircuitBreaker(
                    fail_max=self.breaker.fail_max,
                    reset_timeout=self.breaker.reset_timeout,
                    # Only transient faults count against the circuit.
                    exclude=[lambda e: not _is_transient(e)],
                    listeners=[_LogTransitions(), _CountTrips(self.stats)],
                    name=f"{family}:{target}",
                    # On the tripping call, surface the real fault rather than a generic error.
                    throw_new_error_on_trip=False,
                )
            return self._breakers[key]

    def breaker_state(self, family: str, target: str) -> str:
        return str(self.breaker_for(family, target).current_state)

    def call(self, family: str, target: str, fn: Callable[[], T], *, op: str = "") -> T:
        """Run ``fn`` under the retry policy and the (family, target) breaker."""
        breaker = self.breaker_for(family, target)

        def attempt() -> T:
            if self.faults is not None:
                self.faults.maybe_fail(family)
            return fn()

        def guarded() -> T:
            try:
                return breaker.call(attempt)
            except pybreaker.CircuitBreakerError as exc:
                self.stats.fast_failures += 1
                raise CircuitOpen(
                    f"circuit for {family} on target {target!r} is open after "
                    f"{self.breaker.fail_max} consecutive transient failures; "
                    f"retry in up to {self.breaker.reset_timeout:g}s"
                ) from exc

        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "retrying",
                family=family,
                target=target,
                op=op,
                attempt=state.attempt_number,
                wait_s=round(state.next_action.sleep, 3) if state.next_action else None,
                error=str(exc),
                error_type=type(exc).__name__,
            )

        backoff = wait_exponential_jitter(
            multiplier=self.retry.initial_wait, max=self.retry.max_wait, jitter=self.retry.jitter
        )

        def wait(state: RetryCallState) -> float:
            # Honour the server's retry-after when it asks for longer than our own backoff.
            exc = state.outcome.exception() if state.outcome else None
            asked = exc.retry_after if isinstance(exc, TransientError) else None
            computed = float(backoff(state))
            return max(computed, min(asked, self.retry.max_retry_after)) if asked else computed

        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(guarded)


class _CountTrips(pybreaker.CircuitBreakerListener):
    def __init__(self, stats: CallStats) -> None:
        self._stats = stats

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        if getattr(new_state, "name", "") == pybreaker.STATE_OPEN:
            self._stats.breaker_trips += 1
