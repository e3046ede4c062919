"""A circuit breaker per (tool family, target): closed, open after repeated failures, half-open trial.

It counts *calls* that failed with a transient fault after the retry policy gave up, not single
attempts: with four attempts per call, counting attempts would let one unlucky call nearly open the
circuit on its own, and a flaky-but-working warehouse would then fail runs it could have finished.
Five calls in a row that each failed four times is an outage; then calls fail fast until the
cool-down ends and one trial call is let through (half-open). Its success closes the circuit, its
failure opens it again.

Written here rather than taken from pybreaker because pybreaker holds its lock while the protected
call runs, which would serialise the read-only tool calls the tool loop runs concurrently. This
breaker only locks to read and change its state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

from tools.logs import get_logger

log = get_logger("ae.resilience")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Thread-safe. ``allow()`` before a call; ``succeeded()`` or ``failed()`` after it."""

    def __init__(
        self,
        name: str,
        *,
        fail_max: int,
        reset_timeout: float,
        on_trip: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self._on_trip = on_trip
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._current()

    def allow(self) -> bool:
        """Whether a call may go ahead now (while half-open, only the one trial call may)."""
        with self._lock:
            state = self._current()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_in_flight = False
            self._move(BreakerState.CLOSED)

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            trial_failed = self._trial_in_flight
            self._trial_in_flight = False
            if trial_failed or self._failures >= self.fail_max:
                self._opened_at = self._clock()
                self._move(BreakerState.OPEN)

    def _current(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_timeout:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is new:
            return
        log.warning("breaker_state_change", breaker=self.name, old=old.value, new=new.value)
        if new is BreakerState.OPEN:
            self._on_trip()
