"""What every tool call receives besides its arguments: the project, the target, the run's state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from tools.changeset import Changeset
from tools.engine import DbtCall, DbtEngine, DbtResult
from tools.errors import Channel, ConfigurationError, channel_of
from tools.journal import LinesRead, append_line, read_lines
from tools.logs import get_logger, redact, redact_value
from tools.paths import ProjectPaths
from tools.profiles import ProfileTarget, find_profiles, read_target
from tools.resilience import Resilience
from tools.secrets import register_profile_secrets
from tools.warehouse_port import Warehouse, duckdb_warehouse, warehouse_for

if TYPE_CHECKING:  # the store imports LangGraph; a context without memory never loads it
    from tools.memory.store import ProjectMemory

T = TypeVar("T")
log = get_logger("ae.tools")


class ToolCallRecord(BaseModel):
    """One tool call as the run report shows it (arguments already redacted)."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    error: str | None = None
    channel: str | None = None
    duration_s: float
    retries: int = 0
    started_at: datetime


@dataclass
class CallInProgress:
    """A call timed by ``ToolContext.recorded``: ``fail`` marks it failed; ``record`` exists once it ends."""

    name: str
    arguments: dict[str, Any]
    error: str | None = None
    channel: str | None = None
    ended: ToolCallRecord | None = field(default=None, repr=False)

    def fail(self, error: str, channel: str | None = None) -> None:
        self.error, self.channel = error, channel

    @property
    def record(self) -> ToolCallRecord:
        if self.ended is None:
            raise RuntimeError(f"the call {self.name!r} is still running")
        return self.ended


@dataclass
class ToolContext:
    paths: ProjectPaths
    target: str
    changeset: Changeset = field(default_factory=Changeset)
    policy: Resilience = field(default_factory=Resilience)
    engine: DbtEngine | None = None
    #: every tool call of the run, in order, for the run report
    calls: list[ToolCallRecord] = field(default_factory=list)
    #: a JSON-lines file that also receives every call, so a resumed run's report has them all
    journal: Path | None = None
    #: the project's memory across runs (tools/memory); None when memory is off
    memory: ProjectMemory | None = None

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # Before any tool runs, so the profile's passwords are masked in whatever leaves the process.
        try:
            profiles = find_profiles(self.paths.root, self.engine.profiles_dir if self.engine else None)
        except ConfigurationError:
            return  # no profile: nothing to register, and dbt reports it where it matters
        register_profile_secrets(profiles.file)

    def record(self, call: ToolCallRecord) -> None:
        """Keep a call for the report; safe from the threads that run read-only tools concurrently."""
        with self._lock:
            self.calls.append(call)
            if self.journal is not None:
                append_line(self.journal, call.model_dump_json())

    @contextmanager
    def recorded(self, name: str, arguments: Mapping[str, Any] | None = None) -> Iterator[CallInProgress]:
        """Time the block and record it as one tool call: failed if it raises or calls ``fail``."""
        call = CallInProgress(name=name, arguments=redact_value(dict(arguments or {})))
        started_at, start = datetime.now(UTC), time.perf_counter()
        retries_before = self.policy.retries_on_this_thread()
        try:
            yield call
        except Exception as exc:
            channel = channel_of(exc)
            # a programmer error is named by its type: its message alone rarely says what broke
            call.fail(
                redact(str(exc) if channel else f"{type(exc).__name__}: {exc}"),
                channel.value if channel else None,
            )
            raise
        finally:
            call.ended = ToolCallRecord(
                name=name,
                arguments=call.arguments,
                ok=call.error is None,
                error=call.error,
                channel=call.channel,
                duration_s=round(time.perf_counter() - start, 4),
                retries=self.policy.retries_on_this_thread() - retries_before,
                started_at=started_at,
            )
            self.record(call.ended)
            _log_call(call.ended, self.target)

    def call(
        self, family: str, name: str, fn: Callable[[], T], arguments: Mapping[str, Any] | None = None
    ) -> T:
        """Run ``fn`` under the policy for ``family`` on this target, recorded as the tool call ``name``."""
        with self.recorded(name, arguments):
            return self.policy.call(family, self.target, fn, op=name)

    def profile_target(self) -> ProfileTarget:
        """The target as dbt resolves the profile (the engine's, else the project's profile)."""
        return self.engine.read_target() if self.engine else read_target(self.paths.root, self.target)

    def warehouse_file(self) -> Path | None:
        """The target's DuckDB file as dbt resolves the profile; None for a warehouse that is no file."""
        return self.profile_target().path

    def warehouse(self) -> Warehouse:
        """The target's warehouse behind the port (tools/warehouse_port): a DuckDB file opened by ae,
        any other adapter through dbt's adapter in the engine's child process, which needs the engine
        (the profile's credentials and dialect live there)."""
        if self.engine is not None:
            return warehouse_for(self.engine)
        target = self.profile_target()
        if target.path is None:
            raise ConfigurationError(
                f"target {self.target!r} is a {target.type} warehouse, reached only through dbt's adapter, "
                "and this tool context has no dbt engine",
                hint="give the ToolContext the project's DbtEngine",
            )
        return duckdb_warehouse(target.path)

    def dbt(self, call: DbtCall) -> DbtResult:
        """One dbt invocation under the policy, recorded as ``dbt_<command>`` (failed when dbt says so)."""
        engine = self.engine
        if engine is None:
            raise ConfigurationError("this tool context has no dbt engine")
        name = "dbt_" + call.command.replace(" ", "_").replace("-", "_")
        with self.recorded(name, call.model_dump(exclude_defaults=True)) as recording:
            result = self.policy.call("dbt", self.target, lambda: engine.invoke(call), op=call.command)
            if not result.success:
                recording.fail(result.summary())
        return result

    def journaled_calls(self) -> LinesRead[ToolCallRecord]:
        """Every call of the run, including those recorded by an earlier process; a torn or damaged
        line (a crash mid-write) is skipped and counted, never fatal to the report."""
        if self.journal is None or not self.journal.exists():
            return LinesRead(records=list(self.calls))
        return read_lines(self.journal, ToolCallRecord)


def _log_call(record: ToolCallRecord, target: str) -> None:
    if record.ok or record.channel == Channel.MODEL:
        level = "info"
    else:
        level = "warning" if record.channel == Channel.RETRY else "error"
    getattr(log, level)(
        "tool_call",
        tool=record.name,
        target=target,
        ok=record.ok,
        channel=record.channel,
        error=record.error,
        duration_s=record.duration_s,
        retries=record.retries,
    )
