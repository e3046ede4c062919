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

_FILE = os.environ.get("AE_TIMINGS")
_PARTS: list[tuple[str, float]] = []
_STARTED = time.perf_counter()


@contextmanager
def span(name: str) -> Iterator[None]:
    """Time the block as part ``name`` (summed when a part repeats)."""
    if _FILE is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        _PARTS.append((name, time.perf_counter() - started))


def _write() -> None:
    if _FILE is not None:
        data = {"parts": _PARTS, "since_first_import_s": time.perf_counter() - _STARTED}
        Path(_FILE).write_text(json.dumps(data), encoding="utf-8")


if _FILE is not None:
    atexit.register(_write)
