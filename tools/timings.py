"""Where a process's time goes, part by part, for ``make bench``'s breakdown of a one-shot run.

``span("name")`` times a block; the figures go nowhere unless ``AE_TIMINGS`` names a file, where
they are written as one JSON object (``{"parts": [[name, seconds], ...], "main_s": ...}``) when
the process exits. Costs one ``perf_counter`` pair per span when on, nothing worth measuring off.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class _Record:
    """Where the figures go (``AE_TIMINGS``), the parts timed so far, and when the clock started."""

    def __init__(self) -> None:
        self.file: str | None = None
        self.parts: list[tuple[str, float]] = []
        self.started = 0.0
        self.reset()

    def reset(self) -> None:
        self.file = os.environ.get("AE_TIMINGS")
        self.parts.clear()
        self.started = time.perf_counter()


_RECORD = _Record()


@contextmanager
def span(name: str) -> Iterator[None]:
    """Time the block as part ``name`` (summed when a part repeats)."""
    if _RECORD.file is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        _RECORD.parts.append((name, time.perf_counter() - started))


def _write() -> None:
    if _RECORD.file is not None:
        data = {"parts": _RECORD.parts, "since_first_import_s": time.perf_counter() - _RECORD.started}
        Path(_RECORD.file).write_text(json.dumps(data), encoding="utf-8")


def restart() -> None:
    """Start the clock again, for a process forked to run one request (agent/run_server.py): it was
    imported long before, in the server, under the environment the request now replaces."""
    _RECORD.reset()


# registered once, at import, and a no-op while AE_TIMINGS is unset: a process forked from the run
# server inherits it and writes only when its own request asked for timings
atexit.register(_write)
