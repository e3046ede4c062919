"""How the engine reaches the Python that runs dbt: a private child, or a server ae processes share.

``PrivateChild`` (the default): one child per engine over its stdin/stdout, ended with the engine.

``SharedServer`` (``ae run``): a one-shot ``ae run`` would otherwise pay dbt's import and a cold
parse (seconds) in every process. The first ``ae run`` on a project starts a server on a Unix
socket; the next ones connect to it, and it exits after ``keep_alive_s`` without a call. The socket
name is a digest of everything the server's dbt depends on (project folder and its identity on disk,
dbt arguments, environment, Python and installed packages, this engine's code), so a changed
setting, or a project deleted and re-created at the same path, gets a server of its own instead of
a stale one. The server takes one connection at a time, so calls from several ae processes on one
project queue instead of fighting over the DuckDB file.

Whoever can connect to the socket runs dbt as this user, so it lives in a folder only this user can
enter (``socket_folder``); when no such folder can be had, the engine uses a private child instead.

Both speak the same protocol (tools/engine/child.py): one JSON request per line, one JSON reply per
line; the shared server greets each connection with a hello line first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tools.errors import EngineCrashed, WarehouseLocked
from tools.private_sockets import ENV_NOT_KEYED, connect, socket_folder, spawn_lock

#: the child imports dbt (~1.5-3 s); allow a slow machine before calling it a crash
STARTUP_TIMEOUT_S = 60.0


def project_identity(project_dir: Path) -> tuple[int, int]:
    """The project folder's device and inode: a folder deleted and re-created at the same path is
    another folder. FileNotFoundError when it is gone."""
    info = os.stat(project_dir)
    return info.st_dev, info.st_ino


class Heartbeat:
    """Calls ``beat(seconds waited)`` every ``every_s`` while a reply is awaited: a long dbt call
    says it is still running instead of leaving a person to wonder whether it hung."""

    def __init__(self, every_s: float, beat: Callable[[float], None]) -> None:
        self._every_s = every_s
        self._beat = beat
        self._started = time.monotonic()
        self._due = self._started + every_s

    def wait_s(self, now: float) -> float:
        return max(self._due - now, 0.0)

    def tick(self, now: float) -> None:
        if now >= self._due:
            self._beat(now - self._started)
            self._due = now + self._every_s


class LineReader:
    """Lines from a pipe or socket with a timeout.

    Reads the file descriptor directly: a buffered reader may already hold the next line while
    ``select`` waits for new bytes that never come (a warm-up reply followed by a call's reply).
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    def read_line(self, timeout_s: float, heartbeat: Heartbeat | None = None) -> bytes:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            now = time.monotonic()
            wait = deadline - now if heartbeat is None else min(deadline - now, heartbeat.wait_s(now))
            ready, _, _ = select.select([self._fd], [], [], max(wait, 0))
            if not ready:
                now = time.monotonic()
                if now >= deadline:
                    raise TimeoutError(f"no answer within {timeout_s:g}s")
                if heartbeat is not None:
                    heartbeat.tick(now)
                continue
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise EOFError("the engine process exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line


class EngineProcess(Protocol):
    """What DbtEngine needs from the process that runs dbt."""

    @property
    def pid(self) -> int | None: ...

    def prepare(self) -> None:
        """Start in the background and warm up (import dbt, parse); return at once."""

    def exchange(self, request: bytes, timeout_s: float, heartbeat: Heartbeat | None = None) -> bytes:
        """One request line, its reply line. TimeoutError: the call hung; EOFError/OSError: it died.
        ``heartbeat`` beats while the reply is awaited (queued behind other work included)."""

    def kill(self) -> None:
        """End a hung or broken process; the next exchange starts a fresh one."""

    def stop_call(self) -> bool:
        """End the process if it is working on a request of ours now (True), else leave it (False).
        Safe from another thread or a signal handler: the exchange then fails with EOFError."""

    def close(self) -> None: ...

    def replaced_dead_process(self) -> bool:
        """Whether the last exchange had to start over because the process had died since."""


def child_command(project_dir: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "tools.engine.child", str(project_dir), *options]


def die_with_us_options() -> list[str]:
    """Options that make a private child end when this process does (tools/engine/child.py).

    The kernel's parent-death signal fires when the *thread* that started the child ends, not the
    process: a child started from a worker thread (the tool loop's pool) would be killed with that
    thread. So it is asked for only from the main thread; the child's watchdog covers the rest.
    """
    options = ["--parent-pid", str(os.getpid())]
    if threading.current_thread() is threading.main_thread():
        options.append("--pdeathsig")
    return options


class PrivateChild:
    """One child for one engine, over its stdin/stdout."""

    def __init__(self, project_dir: Path, log_file: Path, warm_up: list[str], env: dict[str, str]) -> None:
        self._project_dir = project_dir
        self._env = env
        self._log_file = log_file
        self._warm_up = warm_up
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: LineReader | None = None
        self._ready = False
        #: replies the child owes for requests nobody waits on (the warm-up parse)
        self._unread = 0
        self._replaced = False
        #: the project folder the child started in (``project_identity``)
        self._identity: tuple[int, int] | None = None
        #: an exchange is under way (the child starts, finishes the warm-up or answers our request)
        self._exchanging = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._identity = project_identity(self._project_dir)
        with open(self._log_file, "ab") as stderr:
            proc = subprocess.Popen(
                child_command(self._project_dir, *die_with_us_options()),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=self._env,
            )
        assert proc.stdout is not None
        self._proc, self._reader, self._ready, self._unread = proc, LineReader(proc.stdout.fileno()), False, 0
        return proc

    def prepare(self) -> None:
        if self._proc is None:
            self._send(self._spawn(), self._warm_up_request())
            self._unread += 1

    def _warm_up_request(self) -> bytes:
        return json.dumps({"command": "parse", "args": self._warm_up}).encode() + b"\n"

    @staticmethod
    def _send(proc: subprocess.Popen[bytes], request: bytes) -> None:
        assert proc.stdin is not None
        proc.stdin.write(request)
        proc.stdin.flush()

    def _moved(self) -> bool:
        """Whether the project folder is no longer the one the child works in (deleted and
        re-created at the same path): the child would parse a folder that is gone."""
        try:
            return project_identity(self._project_dir) != self._identity
        except FileNotFoundError:
            return False  # gone for good: the call reports it

    def _running(self) -> tuple[subprocess.Popen[bytes], LineReader]:
        proc = self._proc
        self._replaced = proc is not None and self._ready and proc.poll() is not None
        if proc is not None and not self._replaced and self._moved():
            self.kill()
            proc = None
        if proc is None or self._replaced:
            self.kill()
            proc = self._spawn()
        assert self._reader is not None
        if not self._ready:
            try:
                self._reader.read_line(STARTUP_TIMEOUT_S)
            except (TimeoutError, EOFError) as exc:
                self.kill()
                raise EngineCrashed(
                    f"the dbt engine did not start (see {self._log_file}): {exc}",
                    hint="run `ae doctor` to check the dbt install",
                ) from exc
            self._ready = True
        return proc, self._reader

    def exchange(self, request: bytes, timeout_s: float, heartbeat: Heartbeat | None = None) -> bytes:
        self._exchanging = True
        try:
            proc, reader = self._running()
            while self._unread:  # the call waits for what the child is still doing
                reader.read_line(timeout_s, heartbeat)
                self._unread -= 1
            self._send(proc, request)
            return reader.read_line(timeout_s, heartbeat)
        finally:
            self._exchanging = False

    def replaced_dead_process(self) -> bool:
        return self._replaced

    def stop_call(self) -> bool:
        """The child is ours alone: end it whenever an exchange is under way."""
        pid = self.pid
        if pid is None or not self._exchanging:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return True

    def kill(self) -> None:
        proc, self._proc, self._reader, self._ready, self._unread = self._proc, None, None, False, 0
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        """End of input stops the child politely; kill it if it does not stop."""
        proc = self._proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                proc.stdin.close()
                proc.wait(timeout=5)
        self.kill()


def server_key(project_dir: Path, warm_up: list[str], env: dict[str, str]) -> str:
    """A digest of everything a server's dbt depends on: reuse it only when all of that is equal."""
    engine_code = b"".join(path.read_bytes() for path in sorted(Path(__file__).parent.glob("*.py")))
    packages = Path(sysconfig.get_paths()["purelib"])
    parts = {
        "project": str(project_dir),
        # a project deleted and re-created at the same path is another project (the old server
        # kept the deleted folder as its working directory)
        "project_identity": project_identity(project_dir),
        "dbt_args": warm_up,
        "env": sorted((k, v) for k, v in env.items() if k not in ENV_NOT_KEYED),
        "python": sys.executable,
        # installing or upgrading a package changes this folder's entries
        "packages": packages.stat().st_mtime_ns if packages.is_dir() else 0,
        "code": hashlib.sha256(engine_code).hexdigest(),
    }
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


class SharedServer:
    """A server on a Unix socket shared by ae processes, kept while used (module docstring)."""

    def __init__(
        self, project_dir: Path, log_file: Path, warm_up: list[str], env: dict[str, str], keep_alive_s: float
    ) -> None:
        self._project_dir = project_dir
        self._env = env
        self._log_file = log_file
        self._warm_up = warm_up
        self._keep_alive_s = keep_alive_s
        self.socket_path = socket_folder() / f"{server_key(project_dir, warm_up, env)}.sock"
        self._pid: int | None = None
        # a server this process started: kept to be reaped, never waited for
        self._started: subprocess.Popen[bytes] | None = None
        #: the server's pid from its greeting to the close of our connection, while it serves us
        #: alone (it takes no other connection until we close ours); guarded by ``_serving_lock``,
        #: reentrant: a signal handler may take it in the thread of the exchange
        self._serving_us: int | None = None
        self._serving_lock = threading.RLock()

    @property
    def pid(self) -> int | None:
        return self._pid

    def _spawn(self) -> None:
        self.socket_path.unlink(missing_ok=True)  # a server that died without cleaning up
        options = ["--socket", str(self.socket_path), "--keep-alive", f"{self._keep_alive_s:g}"]
        with open(self._log_file, "ab") as stderr:
            self._started = subprocess.Popen(
                child_command(self._project_dir, *options, "--warm-up", json.dumps(self._warm_up)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=self._env,
                start_new_session=True,  # it outlives this process, and this terminal's Ctrl-C
            )

    def _connect_or_spawn(self) -> socket.socket:
        conn = connect(self.socket_path)
        if conn is not None:
            return conn
        with spawn_lock(self.socket_path):
            conn = connect(self.socket_path)  # another process started one meanwhile
            if conn is not None:
                return conn
            self._spawn()
            started = self._started
            assert started is not None
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while time.monotonic() < deadline and started.poll() is None:
                conn = connect(self.socket_path)
                if conn is not None:
                    return conn
                time.sleep(0.02)
        raise EngineCrashed(
            f"the shared dbt engine did not start (see {self._log_file})",
            hint="run `ae doctor`, or set AE_ENGINE_KEEP_ALIVE_S=0 for a private engine",
        )

    def prepare(self) -> None:
        """Make sure a server runs, in a thread: the server warms up by itself when it starts (an
        existing one is warm already), and this process goes on meanwhile instead of waiting the
        ~0.2 s a new one takes to listen (``ae run`` imports LangGraph). A call made before it
        listens waits on the spawn lock the thread holds; a failure here is the first call's to
        report, which tries again."""

        def ensure() -> None:
            with contextlib.suppress(Exception):
                self._connect_or_spawn().close()

        threading.Thread(target=ensure, name="engine-prepare", daemon=True).start()

    def exchange(self, request: bytes, timeout_s: float, heartbeat: Heartbeat | None = None) -> bytes:
        conn, reader = self._greeted(timeout_s, heartbeat)
        with conn:
            try:
                # greeted: the server serves this connection alone until it closes, so from here
                # ending it ends our call only (before, in its queue, it ran another process's)
                with self._serving_lock:
                    self._serving_us = self._pid
                conn.sendall(request)
                return reader.read_line(timeout_s, heartbeat)
            finally:
                # before the connection closes: after that the server may take another process's call
                with self._serving_lock:
                    self._serving_us = None

    def _greeted(
        self, timeout_s: float, heartbeat: Heartbeat | None, *, retry: bool = True
    ) -> tuple[socket.socket, LineReader]:
        """A connection the server has taken (its hello names its pid): our turn has come."""
        conn = self._connect_or_spawn()
        reader = LineReader(conn.fileno())
        try:
            hello = json.loads(reader.read_line(max(timeout_s, STARTUP_TIMEOUT_S), heartbeat))
        except TimeoutError as exc:
            conn.close()
            # queued behind another process's long call: not ours to kill, and like a lock held by
            # another process it ends, so it is retried
            raise WarehouseLocked(
                f"the shared dbt engine stayed busy for {timeout_s:g}s (another ae process's call?)"
            ) from exc
        except (EOFError, ConnectionResetError):
            conn.close()
            if not retry:
                raise
            return self._greeted(
                timeout_s, heartbeat, retry=False
            )  # it was ending its keep-alive: start another
        self._pid = int(hello["pid"])
        return conn, reader

    def replaced_dead_process(self) -> bool:
        return False  # a server that ended after its keep-alive is no fault

    def stop_call(self) -> bool:
        """End the server only once it has taken our connection (our request is sent or about to
        be). Before, while we wait in its queue, it runs another ae process's call, not ours to end."""
        with self._serving_lock:
            pid = self._serving_us
            if pid is None:
                return False
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return True

    def kill(self) -> None:
        """Our call hung in it: kill it (calls queued behind ours fail and start another)."""
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._pid = None

    def close(self) -> None:
        """Nothing to do: the server stays for the next process until its keep-alive ends."""
