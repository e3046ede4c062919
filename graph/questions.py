"""Questions a run asks whoever started it (build on a protected location? run this code?), and the
way a caller stops a run (Ctrl-C).

A phase asks through ``RunContext.ask``. A caller that answers questions (``Session.handle`` with an
``ask`` callback: the chat asks a person, ``ae run`` answers from its flags) gets each question up
LangGraph's stream as an ``Asking`` item, in its own thread, and puts the answer back while the phase
waits: the run goes on in the same pass, and a "no" is recorded by the phase that asked. With nobody
to answer (a library caller), the run pauses at a LangGraph interrupt instead (``awaiting_approval``).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

#: how often a phase waiting for an answer looks whether the run was stopped meanwhile
_POLL_S = 0.1


class RunCancelled(KeyboardInterrupt):
    """The caller stopped the run (Ctrl-C): the phase ends where it is; the run resumes from its last
    checkpoint. A KeyboardInterrupt, so nothing that handles errors (retries, the phase guard) keeps
    the run going."""


@dataclass
class Asking:
    """A question on its way to the caller, and the caller's answer on its way back."""

    #: ``kind`` ("target" or "code"), ``question`` (the text) and what it is about (findings, diff,
    #: the plan's summary and operations)
    question: dict[str, Any]
    _answer: Future[bool] = field(default_factory=Future, repr=False)

    def answer(self, yes: bool) -> None:
        self._answer.set_result(yes)

    def wait(self, cancelled: threading.Event) -> bool:
        """The answer, once the caller gives it; RunCancelled when the run is stopped first."""
        while True:
            try:
                return self._answer.result(timeout=_POLL_S)
            except TimeoutError:
                if cancelled.is_set():
                    raise RunCancelled from None
