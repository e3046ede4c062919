"""Per-run context: the live objects a run needs, kept outside the checkpointed state."""

from __future__ import annotations

import contextvars
import ctypes
import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graph.dbt_calls import DbtInvocation, journal_invocation
from graph.plan_spec import Describer, Planner
from graph.progress import EventKind, ProgressEvent
from graph.questions import Asking, RunCancelled
from graph.report import RunReport
from graph.state import RunState
from graph.transaction import WarehouseNow
from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine, DbtResult
from tools.errors import AeError, ConfigurationError
from tools.lint import LintConfig
from tools.protection import Protection
from tools.warehouse_undo import server_of

#: what a run sends up LangGraph's stream: ProgressEvent and Asking items
StreamWrite = Callable[[Any], None]


def _unprotected() -> Protection | None:
    return None


def _nowhere(_item: Any) -> None:
    """Where progress goes before a node binds the stream (a context used outside a graph)."""


@dataclass
class RunContext:
    run_id: str
    run_dir: Path
    tools: ToolContext
    planner: Planner
    #: whether the target needs approval before Execute, and why. A function, read when Execute
    #: asks: a plan that rewrote profiles.yml (approved as code) may have moved the target onto
    #: a protected location since the run began (tools/protection.py)
    protection: Callable[[], Protection | None] = _unprotected
    #: approval of a protected target: given up front (``ae run --yes``, a queue task's setting) or
    #: by a yes during the run
    approved: bool = False
    #: executable dbt code in the plan approved, up front (``ae run --allow-code``) or by a yes:
    #: graph/phases/approve.py
    code_approved: bool = False
    #: whether the caller answers questions as they come (``ask``); False pauses the run instead
    answers: bool = False
    #: set when the caller stops the run (``stop``): no phase goes past its next progress line, dbt
    #: call or question (RunCancelled)
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: writes missing model/column descriptions in Document; None leaves them missing
    describer: Describer | None = None
    max_repairs: int = 3
    #: times a phase is repeated from its start when a transient fault outlasts the per-call retries
    phase_restarts: int = 1
    lint: LintConfig = field(default_factory=LintConfig)
    #: build and test in an audit copy and publish only what passed (graph/audit_run.py); False builds
    #: straight in the warehouse, as dbt does
    audit_builds: bool = True
    #: runs per project whose replaced relations are kept for ``ae undo`` (tools/audit/history.py)
    history_runs: int = 5
    #: the run's tools on the live warehouse while ``tools`` points at the audit copy (``enter_audit``)
    live_tools: ToolContext | None = field(default=None, init=False)
    #: the report Finish made, handed to the caller in memory
    report: RunReport | None = field(default=None, init=False)
    #: the phase running now (the last one announced), which a dbt call is counted under
    _phase: str = field(default="plan", init=False)
    #: a factory, not a default: a plain function as a class default would be bound as a method
    _write: StreamWrite = field(default_factory=lambda: _nowhere, init=False, repr=False)
    #: the thread a node of this run is running in now (LangGraph's worker), None between nodes
    _node_thread: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # the engine reports each invocation, including the planner's and retries, to the run
        if self.tools.engine is not None:
            self.tools.engine.watcher = self

    def bind_stream(self, write: StreamWrite) -> None:
        """Send this run's progress and questions to ``write``: LangGraph's stream writer of the node
        running now (``streamed``). The node's context goes with it, so a thread the phase starts
        (the tool loop runs read-only tools in a pool) writes to the same stream."""
        node = contextvars.copy_context()
        self._write = lambda item: node.copy().run(write, item)

    @contextmanager
    def visiting(self, write: StreamWrite) -> Iterator[None]:
        """A node's visit, in the thread LangGraph runs it in: its stream bound (``bind_stream``), and
        its thread known to ``stop``."""
        self.bind_stream(write)
        self._node_thread = threading.get_ident()
        try:
            yield
        finally:
            self._node_thread = None

    def stop(self) -> None:
        """Stop the run (Ctrl-C): no phase goes past its next progress line, dbt call or question, and
        the node running now is interrupted at its next Python step, as a KeyboardInterrupt would have
        interrupted it in the caller's thread (a profiling query in-process ends first)."""
        self.cancelled.set()
        thread = self._node_thread
        if thread is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(RunCancelled))

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise RunCancelled

    def calling(self, call: DbtCall) -> None:
        self.check_cancelled()  # a retry after the stopped call's process was ended starts nothing
        journal_invocation(self.run_dir, DbtInvocation(phase=self._phase, command=call.command))

    def still_running(self, call: DbtCall, waited_s: float) -> None:
        self.progress(self._phase, f"waiting for dbt {call.command} ({waited_s:.0f} s)…", kind="tool")

    @property
    def project_dir(self) -> Path:
        return self.tools.paths.root

    @property
    def target(self) -> str:
        return self.tools.target

    def warehouse_path(self) -> Path | None:
        """The target's DuckDB file as dbt resolves the profile; None for a warehouse that is no file."""
        return self.tools.warehouse_file()

    def warehouse_now(self) -> WarehouseNow | None:
        """The warehouse as the profile names it now, where a rollback drops what the run built;
        None (the journal's own warehouse) when the profile cannot be read, as when it broke mid-run."""
        tools = self.live_tools or self.tools  # never the audit copy: a rollback is about the warehouse
        try:
            target = tools.profile_target()
        except AeError:
            return None
        if target.path is not None:
            return WarehouseNow(target.path, self.target)
        return WarehouseNow(
            None, self.target, server=server_of(target), open=lambda: nullcontext(tools.warehouse())
        )

    def enter_audit(self, engine: DbtEngine) -> None:
        """Point the run's tools at the audit copy ``engine`` builds in: Execute's and Verify's dbt
        calls, warehouse reads and proofs go there until ``leave_audit``."""
        live = self.live_tools or self.tools
        self.live_tools = live
        self.tools = replace(live, engine=engine)

    def leave_audit(self) -> None:
        """Point the run's tools back at the live warehouse."""
        if self.live_tools is not None:
            self.tools, self.live_tools = self.live_tools, None

    @property
    def engine(self) -> DbtEngine:
        if self.tools.engine is None:
            raise ConfigurationError("a run needs a dbt engine in its tool context")
        return self.tools.engine

    def progress(
        self,
        phase: str,
        message: str,
        *,
        ok: bool | None = None,
        kind: EventKind = "info",
        duration_s: float | None = None,
    ) -> None:
        self.check_cancelled()
        if kind == "phase":
            self._phase = phase
        self._write(ProgressEvent(kind=kind, phase=phase, message=message, ok=ok, duration_s=duration_s))

    def ask(self, question: dict[str, Any]) -> bool:
        """The caller's answer to ``question`` (graph/questions.py). With nobody to answer now the run
        pauses here; the run it is resumed as carries its approvals in this context (Session.resume),
        so whatever answer it resumes with is a no."""
        self.check_cancelled()
        if not self.answers:
            interrupt(question)
            return False
        asking = Asking(question)
        self._write(asking)
        return asking.wait(self.cancelled)

    def approves(self, question: dict[str, Any]) -> bool:
        """Whether the caller approves what ``question`` is about (its ``kind``: "target", building on a
        protected location; "code", code dbt would run): given up front, else asked now. A yes holds
        for the rest of the run, as the flag would have."""
        code = question["kind"] == "code"
        if self.code_approved if code else self.approved:
            return True
        if not self.ask(question):
            return False
        if code:
            self.code_approved = True
        else:
            self.approved = True
        return True

    def dbt(self, phase: str, call: DbtCall) -> DbtResult:
        """One dbt invocation through the policy layer, recorded, and shown as progress."""
        label = f"dbt {call.command}" + (f" --select {' '.join(call.select)}" if call.select else "")
        started = time.perf_counter()
        self.progress(phase, label, kind="tool")
        try:
            result = self.tools.dbt(call)
        except AeError as exc:
            self.progress(
                phase, f"{label}: {exc}", ok=False, kind="tool", duration_s=time.perf_counter() - started
            )
            raise
        self.progress(
            phase, result.summary(), ok=result.success, kind="tool", duration_s=time.perf_counter() - started
        )
        return result


class Node(Protocol):
    def __call__(self, state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]: ...


def streamed(node: Node) -> Node:
    """``node`` with the run's progress and questions bound to LangGraph's stream of this visit."""

    @functools.wraps(node)
    def bound(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        with runtime.context.visiting(runtime.stream_writer):
            return node(state, runtime)

    return bound
