"""Python's cycle collector paused while a process loads what it keeps for its whole life."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off for the block: imports and dbt's parse make hundreds of thousands of
    objects that live as long as the process, and the collections the collector would run over them
    find nothing to free (measured on dbt's engine: import 1.04 -> 0.93 s, first compile 0.74 ->
    0.62 s). Afterwards one collection, then what survived is frozen out of later ones."""
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.freeze()
        gc.enable()
