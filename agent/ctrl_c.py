"""Ctrl-C during a run: stop what runs for it, let its phase end at a safe point, record it interrupted.

A run's phases work in LangGraph's worker thread while the caller's thread reads the stream, and
Python delivers Ctrl-C to the caller's thread. Raising KeyboardInterrupt there at once would break
what that thread is in the middle of (LangGraph starting a worker thread left one that never ends,
and ae hung at exit), so while the graph runs Ctrl-C:

1. stops the dbt call in flight for this run by ending the process that runs it
   (``DbtEngine.stop_call``: dbt cannot be cancelled mid-invocation): a private child, or a shared
   server once it has taken our call; an idle shared server, or one whose queue our call waits in
   behind another ae process's call, stays. It interrupts the in-process DuckDB statements running
   now too (tools/warehouse.py ``interrupt_queries``), so a profile ends at once, not at its end;
2. stops the run (``RunContext.stop``): its phase is interrupted where it is (RunCancelled, a
   KeyboardInterrupt), as Ctrl-C would have interrupted it in a single thread, and goes past no
   further dbt call, progress line or question; the stream ends with it, and LangGraph waits for the
   phase before letting go, so the project's lock is held until it has really stopped;
3. ends the body with KeyboardInterrupt, whatever the interrupted code raised instead (DuckDB's
   ``RuntimeError: Query interrupted``, a dbt call that lost its process), so the run is recorded
   ``interrupted`` (resumable) and ae exits 130. Only while the caller itself waits for a person
   (``waiting_for_the_caller``: the chat's question) does KeyboardInterrupt come at once.

Signal handlers belong to the main thread: a run in another thread (the MCP server's, the queue's)
is stopped by its own host.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

from tools.engine import DbtEngine
from tools.warehouse import interrupt_queries


@dataclass
class CtrlC:
    """Ctrl-C while a run goes (``stopping_on_ctrl_c``)."""

    pressed: threading.Event = field(default_factory=threading.Event)
    #: set while the caller's own thread waits for a person (a question in the chat)
    _answering: threading.Event = field(default_factory=threading.Event)

    @contextlib.contextmanager
    def waiting_for_the_caller(self) -> Iterator[None]:
        """Ctrl-C here interrupts at once: the thread waits for a person, not inside LangGraph."""
        self._answering.set()
        try:
            yield
        finally:
            self._answering.clear()


@contextlib.contextmanager
def stopping_on_ctrl_c(engine: DbtEngine, stop: Callable[[], None]) -> Iterator[CtrlC]:
    """While the body runs, Ctrl-C stops the run (``stop``) as the module doc says."""
    ctrl_c = CtrlC()
    if threading.current_thread() is not threading.main_thread():
        yield ctrl_c
        return

    def on_ctrl_c(_signum: int, _frame: FrameType | None) -> None:
        ctrl_c.pressed.set()
        engine.stop_call()
        interrupt_queries()
        stop()
        if ctrl_c._answering.is_set():
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield ctrl_c
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as exc:
        if ctrl_c.pressed.is_set():  # what the interrupted code made of Ctrl-C
            raise KeyboardInterrupt from exc
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    if ctrl_c.pressed.is_set():  # pressed as the run ended: the caller still asked to stop
        raise KeyboardInterrupt
