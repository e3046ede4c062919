"""DbtEngine: dbt in-process in a long-lived child process per project and target.

Why a child process: dbt's in-process API is ~20x faster than the CLI once warm, but two
invocations in threads of one process break each other (they share the adapter's state), and a
hung invocation cannot be cancelled inside a thread. A child gives us the warm API, one invocation
at a time, and a kill switch: a call past its timeout kills the child and the next call starts a
fresh one. With
``keep_alive_s`` the child is a server shared with later ae processes (tools/engine/process.py).

The arguments match what a person would type, so dbt's partial parse (target/partial_parse.msgpack)
is shared with their own dbt runs: dbt hashes the ``--profile``/``--target`` *arguments* (not the
resolved names) and ``--vars`` into it, so those are passed only when someone asked for them.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from tools.engine.child_env import child_environment
from tools.engine.commands import NO_TARGET_PATH, DbtCall, build_args
from tools.engine.process import EngineProcess, Heartbeat, PrivateChild, SharedServer
from tools.engine.results import SQL_COMMAND, DbtError, DbtResult, SqlReply
from tools.errors import (
    AeError,
    ConfigurationError,
    ConnectionFault,
    DbtCompilationError,
    EmptySelection,
    EngineCrashed,
    EngineTimeout,
    QueryError,
    ReadOnlyViolation,
    WarehouseBusy,
    WarehouseLocked,
)
from tools.locks import locked_message
from tools.logs import get_logger, redact
from tools.paths import ensure_state_dir
from tools.private_sockets import SocketFolderRefused
from tools.profiles import ProfilesLocation, ProfileTarget, find_profiles, read_target

log = get_logger("ae.engine")

#: how often a dbt call still running says so
HEARTBEAT_S = 5.0
#: what a SQL request gets past its own time limit (connecting, cancelling) before its child is killed
SQL_GRACE_S = 15.0


class CallWatcher(Protocol):
    """Who hears of each dbt invocation (a run counts them and shows the long ones as progress)."""

    def calling(self, call: DbtCall) -> None:
        """An invocation starts (a retry of the policy layer is another one)."""

    def still_running(self, call: DbtCall, waited_s: float) -> None:
        """The invocation has run ``waited_s`` so far; heard every ``heartbeat_s``."""


def timeout_message(call: DbtCall, limit_s: float) -> str:
    """What ran past which limit, and how to give it longer: a timeout is reported, not retried."""
    what = f"dbt {call.command}"
    if call.select:
        what += f" --select {' '.join(call.select)}"
    elif call.inline:
        what += " --inline (a query)"
    return (
        f"{what} ran past the engine's {limit_s:g}s time limit and was stopped (its dbt process was "
        "killed); it is not retried, since it would run as long again. Make the model or query "
        "cheaper, or raise the limit: engine_timeout_s in ae.yml or AE_ENGINE_TIMEOUT_S"
    )


class DbtEngine:
    """Runs dbt commands for one project and target. Thread-safe: calls are serialised.

    ``target``, ``profile`` and ``profiles_dir`` are dbt's ``--target``, ``--profile`` and
    ``--profiles-dir``; None leaves each to dbt's defaults (tools/profiles.py). A missing
    profiles.yml is a ConfigurationError here, naming the files looked at. ``keep_alive_s`` > 0
    shares the dbt process with later ae processes until it has been idle that long.
    """

    def __init__(
        self,
        project_dir: Path,
        *,
        target: str | None = None,
        profile: str | None = None,
        profiles_dir: Path | None = None,
        target_path: str | None = None,
        timeout_s: float = 300.0,
        keep_alive_s: float = 0.0,
    ) -> None:
        self.project_dir = project_dir.resolve()
        if not (self.project_dir / "dbt_project.yml").is_file():
            raise ConfigurationError(
                f"{self.project_dir} is not a dbt project (no dbt_project.yml)",
                hint="pass --project pointing at the folder that holds dbt_project.yml",
            )
        self.target = target
        self.profile = profile
        self.profiles: ProfilesLocation = find_profiles(self.project_dir, profiles_dir)
        #: the folder passed as --profiles-dir: where the profile was found, so dbt reads that file
        self.profiles_dir = self.profiles.directory
        self.target_path = target_path
        self.timeout_s = timeout_s
        #: told of every invocation and, every ``heartbeat_s``, of one still running
        self.watcher: CallWatcher | None = None
        self.heartbeat_s = HEARTBEAT_S
        self.restarts = 0
        #: False for an engine ``pointed_at`` another profile: the dbt process is its owner's to close
        self._owns_process = True
        #: dbt's ``--defer --state`` folder (``pointed_at``); None reads every node where it is built
        self.defer_to: Path | None = None
        self._lock = threading.Lock()
        self._restarted_pending = False
        log_dir = ensure_state_dir(self.project_dir) / "logs"
        log_dir.mkdir(exist_ok=True)
        log_file = log_dir / f"engine-{target or 'default'}.log"
        warm_up = ["parse", *self._base_args("parse")]
        # dbt runs project code, which the agent may have written: it gets no secrets it does not need
        env = child_environment(os.environ, [self.profiles.file, self.project_dir / "dbt_project.yml"])
        self._process: EngineProcess = PrivateChild(self.project_dir, log_file, warm_up, env)
        if keep_alive_s > 0:
            try:
                self._process = SharedServer(self.project_dir, log_file, warm_up, env, keep_alive_s)
            except SocketFolderRefused as exc:
                # not worth failing a run for: it only costs this run dbt's start-up
                log.warning(
                    "engine_not_shared",
                    reason=str(exc),
                    consequence="this run uses a dbt process of its own (a few seconds slower)",
                    hint="make that folder yours with mode 700, or remove it",
                )

    def read_target(self) -> ProfileTarget:
        """The profile target this engine's dbt uses (where its DuckDB file is)."""
        return read_target(self.project_dir, self.target, self.profiles_dir, profile=self.profile)

    def target_name(self) -> str:
        """The target dbt uses: the one asked for, else the profile's default."""
        return self.target or self.read_target().target

    # --- lifecycle --------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Start dbt's process in the background and have it parse the project; return at once.

        For a caller with a slow start of its own ahead (``ae run`` imports LangGraph): the child
        imports dbt and does the cold first parse (seconds: adapter imports, the manifest loaded)
        meanwhile, so the first call finds both done. Nearly every dbt command starts with that
        parse, so at worst this costs one warm partial parse (~0.2 s). Its result is dropped: the
        caller's own calls report whatever is wrong with the project.
        """
        with self._lock:
            self._process.prepare()

    def pointed_at(
        self, profiles_dir: Path, target_path: str | None = None, *, defer_to: Path | None = None
    ) -> DbtEngine:
        """This engine's dbt process with the profile in ``profiles_dir`` (an audit or scratch copy of
        the warehouse) and dbt's output in ``target_path``: no second process and no cold start (each
        call is a fresh dbt invocation, its flags its own). Calls of both are serialised by one lock;
        closing the returned engine leaves the process to this one. ``defer_to``: a folder holding the
        manifest of the warehouse the profile does not point at, for dbt's ``--defer``: a node the
        call does not build is read where that manifest says it is (an audit schema's parents, live)."""
        other = copy.copy(self)
        other.defer_to = defer_to
        other.profiles = find_profiles(self.project_dir, profiles_dir)
        other.profiles_dir = other.profiles.directory
        other.target_path = target_path
        other._owns_process = False
        return other

    def close(self) -> None:
        """Stop a private child (a shared server stays for the next process)."""
        if not self._owns_process:
            return
        with self._lock:
            self._process.close()

    def __enter__(self) -> DbtEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def stop_call(self) -> bool:
        """End the process running this engine's call in flight (Ctrl-C: dbt cannot be cancelled
        mid-invocation); True when one was ended, False when no call of ours was running.

        A private child is ended while it works for a call; a shared server only once it has taken
        our call: while the call waits in the server's queue the server runs another ae process's
        call, which is not ours to end. The calling thread then reads end-of-file and raises
        EngineCrashed, and the next call starts a fresh process. Safe from another thread and from
        a signal handler (it takes no lock a call holds).
        """
        return self._process.stop_call()

    # --- calls ------------------------------------------------------------------------------------

    def _base_args(self, command: str | None = None) -> list[str]:
        """The project, profile and target flags every call carries, as dbt ``command`` accepts them
        (None: all of them, for a request that is no dbt command)."""
        args = ["--project-dir", str(self.project_dir), "--profiles-dir", str(self.profiles_dir)]
        if self.profile:
            args += ["--profile", self.profile]
        if self.target:
            args += ["--target", self.target]
        if self.target_path and command not in NO_TARGET_PATH:
            args += ["--target-path", self.target_path]
        if self.defer_to is not None and command not in NO_TARGET_PATH | {None, "retry"}:
            args += ["--defer", "--state", str(self.defer_to)]
        return args

    def invoke(self, call: DbtCall, *, timeout_s: float | None = None) -> DbtResult:
        """Run one dbt command and return its typed result.

        Raises the error classes of tools.errors: ``WarehouseLocked``/``EngineCrashed`` (transient,
        retried by the policy layer), ``EngineTimeout`` (not retried: the call would run as long
        again), ``DbtCompilationError``/``EmptySelection`` (the caller can fix them),
        ``ConfigurationError`` (profile or project broken). A run in which some nodes
        fail is not an exception: it returns ``success=False`` with the failing nodes.
        """
        command_args = build_args(call)
        args = [*command_args, *self._base_args(call.command)]
        limit = timeout_s if timeout_s is not None else self.timeout_s
        request = json.dumps({"command": call.command, "args": args, "read_only": call.read_only}).encode()
        request += b"\n"
        with self._lock:
            started = time.perf_counter()
            watcher = self.watcher
            heartbeat = None
            if watcher is not None:
                watcher.calling(call)
                heartbeat = Heartbeat(self.heartbeat_s, lambda waited: watcher.still_running(call, waited))
            try:
                payload = json.loads(self._process.exchange(request, limit, heartbeat))
            except TimeoutError as exc:
                self._fail_child()
                log.warning("engine_timeout_killed", command=call.command, timeout_s=limit)
                raise EngineTimeout(timeout_message(call, limit)) from exc
            except (EOFError, OSError) as exc:
                self._fail_child()
                raise EngineCrashed(f"the dbt engine died during dbt {call.command}: {exc}") from exc
            if self._process.replaced_dead_process():
                self._restarted_pending = True
            result = DbtResult.model_validate(payload)
            result.args = command_args  # paths of this machine stay out of reports
            result.engine_restarted, self._restarted_pending = self._restarted_pending, False
            log.info(
                "dbt_call",
                command=call.command,
                success=result.success,
                nodes=len(result.nodes),
                seconds=round(time.perf_counter() - started, 3),
            )
        return self._check(call, result)

    def _fail_child(self) -> None:
        self._process.kill()
        self.restarts += 1
        self._restarted_pending = True

    @staticmethod
    def _check(call: DbtCall, result: DbtResult) -> DbtResult:
        error = result.error
        if error is not None:
            message = redact(error.message)
            if error.kind == "locked":
                raise WarehouseLocked(locked_message(f"dbt {call.command}: the warehouse", message))
            # a server warehouse that went away or refused for now: retried by the policy layer
            if error.kind == "unreachable":
                raise ConnectionFault(f"dbt {call.command}: {message}")
            if error.kind == "conflict":
                raise WarehouseBusy(f"dbt {call.command}: {message}")
            if error.kind == "compilation":
                raise DbtCompilationError(f"dbt {call.command}: {message}")
            if error.kind == "configuration":
                raise ConfigurationError(f"dbt {call.command}: {message}")
        if (
            call.needs_nonempty_selection()
            and error is None
            and not result.nodes
            and not result.listed
            and result.preview is None
        ):
            raise EmptySelection(
                f"dbt {call.command}: the selection {' '.join(call.select)!r} matched no nodes"
            )
        return result

    def run(self, command: str, **options: Any) -> DbtResult:
        """Convenience: ``engine.run("compile", select=["stg_orders"])``."""
        return self.invoke(DbtCall(command=command, **options))  # type: ignore[arg-type]

    # --- SQL through the project's dbt adapter ----------------------------------------------------

    def sql(
        self,
        statements: list[str],
        *,
        read_only: bool = True,
        limit: int | None = None,
        max_bytes: int | None = None,
        timeout_s: float = 30.0,
        autocommit: bool = False,
    ) -> SqlReply:
        """Run ``statements`` through the project's dbt adapter in the engine's child, in one
        transaction (rolled back when ``read_only``, committed otherwise); one result per statement.

        The channel of ae's warehouse port (tools/warehouse_port/adapter_runner.py), not of model
        text: statements are ae's own, or a read the port checked first. The child runs them in its
        read-only walls when ``read_only`` (tools/engine/child.py ``walls``), stops them at
        ``timeout_s`` (tools/engine/adapter_sql.py), caps each result at ``limit`` rows and
        ``max_bytes`` of JSON. One call at a time, like dbt invocations; a child that does not answer
        by ``timeout_s`` plus ``SQL_GRACE_S`` is killed (EngineTimeout). Errors are raised as
        tools.errors classes (``_sql_error``). ``autocommit``: each statement committed as it runs, for
        what PostgreSQL refuses inside a transaction (``Statement.alone``).
        """
        request = {
            "command": SQL_COMMAND,
            "args": self._base_args(),
            "statements": statements,
            "read_only": read_only,
            "limit": limit,
            "max_bytes": max_bytes,
            "timeout_s": timeout_s,
            "autocommit": autocommit,
        }
        line = json.dumps(request).encode() + b"\n"
        with self._lock:
            try:
                payload = json.loads(self._process.exchange(line, timeout_s + SQL_GRACE_S))
            except TimeoutError as exc:
                self._fail_child()
                raise EngineTimeout(
                    f"SQL through the dbt adapter did not stop at its {timeout_s:g}s time limit; its dbt "
                    "process was killed",
                    hint="the adapter could not cancel the statement; make it cheaper",
                ) from exc
            except (EOFError, OSError) as exc:
                self._fail_child()
                raise EngineCrashed(f"the dbt engine died while running SQL: {exc}") from exc
            if self._process.replaced_dead_process():
                self._restarted_pending = True
        reply = SqlReply.model_validate(payload)
        if reply.error is not None:
            raise self._sql_error(reply.adapter or "the warehouse", reply.error, read_only, timeout_s)
        return reply

    @staticmethod
    def _sql_error(adapter: str, error: DbtError, read_only: bool, timeout_s: float) -> AeError:
        """The tools.errors class of a failed ``__sql__`` request (kinds: tools/engine/classify.py)."""
        message = redact(error.message)
        if error.kind == "locked":
            return WarehouseLocked(locked_message(f"{adapter}: the warehouse", message))
        if error.kind == "unreachable":
            return ConnectionFault(f"{adapter} did not answer: {message}")
        if error.kind == "conflict":
            return WarehouseBusy(f"{adapter}: {message}")
        if error.kind == "timeout":
            return QueryError(
                f"the statement ran past its {timeout_s:g}s time limit and was stopped "
                f"({adapter}: {message})",
                hint="filter or aggregate more, add a LIMIT, or query a smaller relation",
            )
        if error.kind == "read_only":
            return ReadOnlyViolation(f"refused by the warehouse ({adapter}): {message}")
        if error.kind == "permission" and not read_only:
            return ConfigurationError(
                f"{adapter}: the profile's role may not do this: {message}",
                hint="grant the role the privilege on that schema, or use a target whose role has it",
            )
        if error.kind in {"permission", "database", "compilation"}:
            return QueryError(f"{adapter}: {message}")
        return ConfigurationError(f"SQL through the dbt adapter ({adapter}) failed ({error.type}): {message}")
