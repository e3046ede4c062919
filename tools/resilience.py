"""One policy layer for every tool call: retry transient faults, break the circuit when they persist.

- Retries use tenacity with exponential backoff and jitter, and only for errors on the ``retry``
  channel (``TransientError``). Model-fixable and programmer errors pass straight through.
- One circuit breaker per (tool family, target) (tools/breaker.py): it counts consecutive calls
  that failed with a transient fault after their retries, opens after ``fail_max``, fails fast
  with ``CircuitOpen`` while open, lets one trial call through after ``reset_timeout``
  (half-open) and closes when that call succeeds. Any other outcome shows the service answered,
  so it counts as a success.
- A wait is never silent: a ``retrying`` line before each retry, and a ``still waiting`` line at
  least every ``progress_every_s`` while a long backoff sleeps, each with what is waited for
  (``waiting_for``) and for how long so far (``waited_s``). When the
  retries are over the error says so (``TransientError.gave_up``), with the attempts and the time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from tools.breaker import CircuitBreaker
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


@dataclass
class CallStats:
    """Counters a run report shows: how often the policy had to step in."""

    retries: int = 0
    breaker_trips: int = 0
    fast_failures: int = 0
    #: tells these counters from another process's (a run resumed elsewhere counts anew there)
    instance: str = field(default_factory=lambda: uuid.uuid4().hex)

    def as_dict(self) -> dict[str, int]:
        return {
            "retries": self.retries,
            "breaker_trips": self.breaker_trips,
            "fast_failures": self.fast_failures,
        }

    def since(self, start: Mapping[str, int | str]) -> CallStats:
        """What was counted after ``start`` (an earlier ``as_dict``): one run's share of a session's."""
        if start.get("instance") != self.instance:
            return self  # the run began in another process: all of these counts are its
        counts = {k: max(0, v - int(start.get(k, 0))) for k, v in self.as_dict().items()}
        return CallStats(**counts, instance=self.instance)


@dataclass
class Resilience:
    """The policy layer. Thread-safe; one instance per run (or per worker process)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    stats: CallStats = field(default_factory=CallStats)
    #: benchmark fault injection: transient faults before some attempts (None in normal use)
    faults: FaultInjector | None = None
    _breakers: dict[tuple[str, str], CircuitBreaker] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # retries made by calls on each thread: a recorded call reads its own count even while the tool
    # loop runs other calls concurrently (the shared ``stats`` would mix theirs in)
    _thread: threading.local = field(default_factory=threading.local, repr=False)
    #: the longest a backoff sleeps without a line saying what it waits for
    progress_every_s: float = 5.0

    def retries_on_this_thread(self) -> int:
        return int(getattr(self._thread, "retries", 0))

    def breaker_for(self, family: str, target: str) -> CircuitBreaker:
        key = (family, target)
        with self._lock:
            if key not in self._breakers:
                self._breakers[key] = CircuitBreaker(
                    f"{family}:{target}",
                    fail_max=self.breaker.fail_max,
                    reset_timeout=self.breaker.reset_timeout,
                    on_trip=self._count_trip,
                )
            return self._breakers[key]

    def _count_trip(self) -> None:
        self.stats.breaker_trips += 1

    def breaker_state(self, family: str, target: str) -> str:
        return self.breaker_for(family, target).state.value

    def call(self, family: str, target: str, fn: Callable[[], T], *, op: str = "") -> T:
        """Run ``fn`` under the retry policy, if the (family, target) circuit lets it through."""
        breaker = self.breaker_for(family, target)
        if not breaker.allow():
            self.stats.fast_failures += 1
            raise CircuitOpen(
                f"circuit for {family} on target {target!r} is open after "
                f"{self.breaker.fail_max} consecutive calls failed despite retries; "
                f"retry in up to {self.breaker.reset_timeout:g}s"
            )
        tries = _Tries(self, family, target, op)
        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(self.retry.attempts),
            wait=tries.wait,
            before_sleep=tries.before_sleep,
            sleep=tries.sleep,
            reraise=True,
        )
        try:
            result = retrying(lambda: tries.attempt(fn))
        except TransientError as exc:
            breaker.failed()
            exc.gave_up(tries.count, tries.waited())
            raise
        except Exception:
            breaker.succeeded()  # the service answered; the error is the caller's or ours
            raise
        breaker.succeeded()
        return result

    def count_retry(self) -> None:
        """One more retry, in the run's stats and in this thread's count."""
        with self._lock:
            self.stats.retries += 1
        self._thread.retries = self.retries_on_this_thread() + 1


@dataclass
class _Tries:
    """The attempts of one ``Resilience.call``: what each retry waits, and the lines that say so."""

    policy: Resilience
    family: str
    target: str
    op: str
    started: float = field(default_factory=time.monotonic)
    count: int = 0
    #: the type of the last transient error, shown while waiting
    last_error: str = ""

    def __post_init__(self) -> None:
        retry = self.policy.retry
        self._backoff = wait_exponential_jitter(
            multiplier=retry.initial_wait, max=retry.max_wait, jitter=retry.jitter
        )

    def waited(self) -> float:
        return time.monotonic() - self.started

    def _log(self, event: str, **fields: object) -> None:
        log.warning(
            event,
            waiting_for=f"{self.op or self.family} on target {self.target!r}",
            waited_s=round(self.waited(), 1),
            family=self.family,
            target=self.target,
            op=self.op,
            **fields,
        )

    def attempt(self, fn: Callable[[], T]) -> T:
        self.count += 1
        if self.policy.faults is not None:
            self.policy.faults.maybe_fail(self.family)
        return fn()

    def before_sleep(self, state: RetryCallState) -> None:
        self.policy.count_retry()
        exc = state.outcome.exception() if state.outcome else None
        self.last_error = type(exc).__name__
        wait_s = state.next_action.sleep if state.next_action else 0.0
        self._log(
            "retrying",
            attempt=state.attempt_number,
            of=self.policy.retry.attempts,
            wait_s=round(wait_s, 3),
            error=str(exc),
            error_type=self.last_error,
        )

    def sleep(self, seconds: float) -> None:
        # one long sleep cut into pieces, each followed by a line, so a person sees it is alive
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            time.sleep(min(left, self.policy.progress_every_s))
            if until - time.monotonic() > 0:
                self._log("still waiting", error_type=self.last_error)

    def wait(self, state: RetryCallState) -> float:
        # Honour the server's retry-after when it asks for longer than our own backoff.
        exc = state.outcome.exception() if state.outcome else None
        asked = exc.retry_after if isinstance(exc, TransientError) else None
        computed = float(self._backoff(state))
        return max(computed, min(asked, self.policy.retry.max_retry_after)) if asked else computed
