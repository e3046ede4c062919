"""Fault injection for the benchmark: fail a fraction of calls with transient faults, reproducibly.

The policy layer asks the injector before each attempt; an injected fault is indistinguishable from
a real one to the retry and breaker logic, which is what ``reliability`` measures.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from tools.errors import ConnectionFault, EngineCrashed, TransientError, WarehouseLocked


class InjectedLLMFault(TransientError):
    hint = "injected by fault injection (an overloaded or rate-limited model API)"


#: what each family's faults look like
_FAULTS: dict[str, tuple[tuple[type[TransientError], str], ...]] = {
    "dbt": (
        (WarehouseLocked, "injected: Could not set lock on file (held by another process)"),
        (EngineCrashed, "injected: the dbt engine died"),
    ),
    "llm": (
        (InjectedLLMFault, "injected: 429 rate_limit_error"),
        (InjectedLLMFault, "injected: 529 overloaded_error"),
        (InjectedLLMFault, "injected: request timed out"),
    ),
}
_DEFAULT = ((ConnectionFault, "injected: connection reset"),)


@dataclass
class FaultInjector:
    rate: float
    seed: int = 0
    injected: int = 0
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {self.rate}")
        self._random = random.Random(self.seed)

    def maybe_fail(self, family: str) -> None:
        """Raise a transient fault for this call with probability ``rate``."""
        with self._lock:
            roll = self._random.random()
            choices = _FAULTS.get(family, _DEFAULT)
            kind, message = choices[self._random.randrange(len(choices))]
            if roll >= self.rate:
                return
            self.injected += 1
        raise kind(message)
