"""The ``ae`` command's entry point: ``ae run`` is handed to a warm ae process when one can be had;
everything else, and ``ae run`` when none can, runs in this process.

A one-shot ``ae run`` used to spend about 1.1 s of its 1.6 s importing Python (LangGraph, langchain,
the graph, the planners) and tearing the interpreter down, against 0.2 s of dbt's work in the warm
engine. So the first ``ae run`` starts a run server (agent/run_server.py), a Python that imports ae
once and forks a copy of itself for each run. The copy runs the command with this process's
arguments, working folder, environment, umask and standard streams (passed as file descriptors, so
a terminal stays a terminal and a question reads the keyboard); this process relays signals (Ctrl-C)
and exits with the run's exit code. If this process dies, the run is killed, as it would be if it
ran here.

The server is keyed by everything its imports depend on (the Python, the installed packages, ae's
code, the environment), so a changed setting or an edited ae gets a server of its own; it exits
after ``AE_ENGINE_KEEP_ALIVE_S`` (default 300) without a run, like the warm dbt engine, and ``0``
turns both off. Its socket is in a folder only this user can enter (tools/private_sockets.py):
whoever can connect runs ae as this user.

This module is what stays cheap: the standard library and tools.private_sockets, nothing else.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

from tools.private_sockets import ENV_NOT_KEYED, SocketFolderRefused, connect, socket_folder, spawn_lock

#: the commands a run server carries: the one-shot ones, whose start-up cost is most of their time
SERVED_COMMANDS = frozenset({"run"})
#: the variable that keeps ae's processes warm (seconds idle before they exit; 0: never started)
KEEP_ALIVE_VARIABLE = "AE_ENGINE_KEEP_ALIVE_S"
DEFAULT_KEEP_ALIVE_S = 300.0
#: ae's packages: an edit to any file in them is another server (a warm one would run the old code)
CODE_PACKAGES = ("agent", "graph", "tools", "prompts", "evals")
#: how long a server just started may take to listen (it binds before importing anything heavy)
LISTEN_TIMEOUT_S = 10.0
#: signals a person or a supervisor sends to ``ae run`` that the run must see
RELAYED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
#: agent/exit_codes.py's ExitCode values this module answers with (that module is not this cheap
#: to import; a test holds them equal): a run's process that ended without saying how is the
#: environment's fault, and Ctrl-C is an interruption
LOST_RUN_EXIT = 5
INTERRUPTED_EXIT = 130
CODE_ROOT = Path(__file__).resolve().parent.parent


def main() -> NoReturn:
    """The console script ``ae``."""
    argv = sys.argv[1:]
    if served(argv, os.environ):
        try:
            code = run_in_server(argv)
        except KeyboardInterrupt:  # before the run had started: nothing to stop or resume
            code = INTERRUPTED_EXIT
        if code is not None:
            exit_now(code)
    from agent.cli import main as cli_main

    exit_now(cli_main(argv))


def served(argv: list[str], env: os._Environ[str] | dict[str, str]) -> bool:
    """Whether ``argv`` goes to a run server: a served command, not its help, with warm processes on."""
    if not argv or argv[0] not in SERVED_COMMANDS or {"-h", "--help"} & set(argv):
        return False
    return keep_alive_s(env) > 0


def keep_alive_s(env: os._Environ[str] | dict[str, str]) -> float:
    """``AE_ENGINE_KEEP_ALIVE_S``; 0 when it is not a number (the command itself then says so)."""
    try:
        return max(float(env.get(KEEP_ALIVE_VARIABLE, DEFAULT_KEEP_ALIVE_S)), 0.0)
    except ValueError:
        return 0.0


def exit_now(code: int, last: Callable[[], None] | None = None) -> NoReturn:
    """End the process as ``sys.exit`` would, less the interpreter's teardown (~0.3 s of freeing
    thousands of modules nobody will use again): threads joined, exit handlers run, streams flushed,
    then ``last`` (a run server's copy tells its client), then the exit."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    if last is not None:
        last()
    os._exit(code)


# --- the server's key -------------------------------------------------------------------------------


def _code_stamp(folder: Path, into: Any) -> None:
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    _code_stamp(Path(entry.path), into)
            else:
                info = entry.stat(follow_symlinks=False)
                into.update(f"{entry.path}\0{info.st_mtime_ns}\0{info.st_size}\n".encode())


def code_stamp(root: Path = CODE_ROOT) -> str:
    """A digest of every file's path, size and modification time in ae's packages (~2 ms)."""
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        _code_stamp(root / package, digest)
    return digest.hexdigest()


def server_key(env: os._Environ[str] | dict[str, str], root: Path = CODE_ROOT) -> str:
    """A digest of everything a run server's imports depend on: reuse one only when all is equal."""
    purelib = Path(sysconfig.get_path("purelib"))
    parts = {
        "python": sys.executable,
        "path": sys.path[1:],  # [0] is the script's folder, which differs between entry points
        # installing or upgrading a package changes this folder's entries
        "packages": purelib.stat().st_mtime_ns if purelib.is_dir() else 0,
        "code": code_stamp(root),
        "env": sorted((k, v) for k, v in env.items() if k not in ENV_NOT_KEYED),
    }
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


# --- the client -------------------------------------------------------------------------------------


def run_in_server(argv: list[str]) -> int | None:
    """Run ``ae`` with ``argv`` in a run server and return its exit code; None when no server can
    be had (no private socket folder, or it would not start), and the caller runs it here."""
    try:
        path = socket_folder() / f"run-{server_key(os.environ)}.sock"
        cwd = os.getcwd()  # gone when the folder was deleted under the shell: here, ae says so
    except (SocketFolderRefused, OSError):
        return None
    conn = _connect_or_start(path)
    if conn is None:
        return None
    with conn:
        _send_request(conn, argv, cwd)
        return _relay(conn, path)


def _connect_or_start(path: Path) -> socket.socket | None:
    conn = connect(path)
    if conn is not None:
        return conn
    with spawn_lock(path):
        conn = connect(path)  # another ae process started one meanwhile
        if conn is not None:
            return conn
        path.unlink(missing_ok=True)  # a server that died without cleaning up
        with open(path.with_suffix(".log"), "ab") as log:
            server = subprocess.Popen(
                # -P: not the working folder on sys.path (it is "/", and nothing there is ae's)
                [sys.executable, "-P", "-m", "agent.run_server", "--socket", str(path)],
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # it outlives this process, and this terminal's Ctrl-C
            )
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while time.monotonic() < deadline and server.poll() is None:
            conn = connect(path)
            if conn is not None:
                return conn
            time.sleep(0.005)
    print(f"ae: the run server did not start (see {path.with_suffix('.log')}); running here", file=sys.stderr)
    return None


def _standard_fds() -> list[int]:
    """This process's stdin, stdout and stderr; /dev/null in place of one that is closed."""
    fds = []
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            fds.append(os.open(os.devnull, mode))
    return fds


def _send_request(conn: socket.socket, argv: list[str], cwd: str) -> None:
    umask = os.umask(0)
    os.umask(umask)
    request = {
        "argv0": sys.argv[0],
        "argv": argv,
        "cwd": cwd,
        "env": dict(os.environ),
        "umask": umask,
    }
    body = json.dumps(request).encode()
    socket.send_fds(conn, [len(body).to_bytes(4, "big")], _standard_fds())
    conn.sendall(body)


def _relay(conn: socket.socket, path: Path) -> int:
    """Relay signals to the run until it says how it ended; its exit code."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"signal": signum}).encode() + b"\n")

    for signum in RELAYED_SIGNALS:
        signal.signal(signum, forward)
    for message in read_messages(conn):
        if "exit" in message:
            return int(message["exit"])
        if "killed_by" in message:
            return 128 + int(message["killed_by"])
    print(
        f"ae: the run's process ended without an exit code (see {path.with_suffix('.log')})", file=sys.stderr
    )
    return LOST_RUN_EXIT


def read_messages(conn: socket.socket) -> Iterator[dict[str, Any]]:
    """The JSON objects ``conn`` sends, one per line, until it closes (a line that is not JSON ends it)."""
    pending = b""
    while True:
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            return
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            try:
                message = json.loads(line)
            except ValueError:
                return
            if isinstance(message, dict):
                yield message
