"""The run server: a Python that has imported ae once and forks a copy of itself for each ``ae run``
(agent/launcher.py says why and how a client reaches it).

It listens before importing anything heavy, so the first client, which started it, is served at once:
its copy imports what it needs itself, while the dbt engine it starts first loads in parallel (the
first run pays for the slower of the two, as before). Only when no run is in progress, or a few
seconds on, does the server import the run stack (``preload``), so later copies start with it
loaded; it does not compete with the first run for the machine's cores. The server itself runs no
request and starts no thread, so a fork copies a process with one thread and nothing half-done.

A copy takes the client's standard streams, working folder, environment and umask, puts itself in a
process group of its own (as a shell puts a job), and runs ``agent.cli.main``. A signal the client
relays goes to that group, as the terminal's Ctrl-C would; if the client goes away (killed), the
group is killed, as the run would have died with it. The copy reports its exit code; the server
reports a copy that was killed before it could.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from agent.launcher import LOST_RUN_EXIT, code_stamp, exit_now, keep_alive_s, read_messages
from tools.collector import collector_paused
from tools.private_sockets import listen, stop_listening

#: how often an idle server checks that its socket and ae's code are still the ones it started with
CHECK_EVERY_S = 1.0
#: how long without a new client counts as idle enough to import the run stack
PRELOAD_WHEN_IDLE_S = 0.1
#: a server whose runs come back to back (or whose first run goes on) imports it after this long
PRELOAD_AFTER_S = 3.0
#: the largest request a client may send (its environment is most of it)
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def preload() -> None:
    """Import what every run imports, once, so each forked copy starts with it loaded."""
    # frozen afterwards: the collector never touches the imports' objects again, so a fork's pages
    # stay shared instead of being copied the first time a copy's collection walks them
    with collector_paused():
        import agent.cli
        import agent.run_command
        import agent.runner
        import agent.settings  # noqa: F401


class Request:
    """What a client sends: its command line, working folder, environment and umask."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.argv0 = str(data["argv0"])
        self.argv = [str(arg) for arg in data["argv"]]
        self.cwd = str(data["cwd"])
        self.env = {str(k): str(v) for k, v in dict(data["env"]).items()}
        self.umask = int(data["umask"]) & 0o777


def receive(conn: socket.socket) -> tuple[Request, list[int]]:
    """The request and the client's three standard streams; ValueError for anything else (and
    whatever descriptors came with it closed: this process lives long)."""
    header, fds, _flags, _addr = socket.recv_fds(conn, 4, 3)
    try:
        if len(header) != 4 or len(fds) != 3:
            raise ValueError("a request is 4 length bytes sent with 3 file descriptors")
        size = int.from_bytes(header, "big")
        if size > MAX_REQUEST_BYTES:
            raise ValueError(f"a request of {size} bytes")
        body = b""
        while len(body) < size:
            chunk = conn.recv(size - len(body))
            if not chunk:
                raise ValueError("the request ended early")
            body += chunk
        try:
            return Request(json.loads(body)), fds
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a request: {exc}") from None
    except (OSError, ValueError):
        for fd in fds:
            os.close(fd)
        raise


def _stdio(fd: int, template: TextIO, *, writing: bool) -> TextIO:
    """A text stream on ``fd`` made as Python made ``template`` at start-up (unbuffered under
    ``python -u`` or PYTHONUNBUFFERED, line-buffered to a terminal and for stderr)."""
    unbuffered = writing and isinstance(getattr(template, "buffer", None), io.FileIO)
    binary = open(fd, "wb" if writing else "rb", buffering=0 if unbuffered else -1, closefd=False)  # noqa: SIM115
    return io.TextIOWrapper(
        binary,
        encoding=template.encoding,
        errors=template.errors,
        line_buffering=writing and (fd == 2 or os.isatty(fd)),
        write_through=unbuffered,
    )


def _take_streams(fds: list[int]) -> None:
    for target, fd in zip((0, 1, 2), fds, strict=True):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    for name, fd in (("stdin", 0), ("stdout", 1), ("stderr", 2)):
        stream = _stdio(fd, getattr(sys, name), writing=fd != 0)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)  # what the streams were at start-up, as Python keeps it


def _send(conn: socket.socket, message: dict[str, int]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")


def _relay_signals(conn: socket.socket, finished: threading.Event) -> None:
    """Signals the client relays go to this run's process group; the client gone before the run
    finished kills the group."""
    for message in read_messages(conn):
        signum = message.get("signal")
        if isinstance(signum, int) and signum in {s.value for s in signal.Signals}:
            os.killpg(os.getpgrp(), signum)
    if not finished.is_set():
        os.killpg(os.getpgrp(), signal.SIGKILL)


def run_copy(conn: socket.socket, request: Request, fds: list[int]) -> None:
    """In the forked copy: become the client's ``ae`` process and run its command; never returns."""
    os.setpgid(0, 0)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _take_streams(fds)
    try:
        os.chdir(request.cwd)
    except OSError as exc:  # gone or closed to us since the client looked: said where it looks
        print(f"ae: cannot work in {request.cwd}: {exc.strerror}", file=sys.stderr, flush=True)
        _send(conn, {"exit": LOST_RUN_EXIT})
        os._exit(LOST_RUN_EXIT)
    os.environ.clear()
    os.environ.update(request.env)
    os.umask(request.umask)
    sys.argv = [request.argv0, *request.argv]
    from tools import timings

    timings.restart()
    _send(conn, {"pid": os.getpid()})
    finished = threading.Event()
    relay = threading.Thread(target=_relay_signals, args=(conn, finished), name="ae-run-signals", daemon=True)
    relay.start()
    code = _run_cli(request.argv)

    def tell_client() -> None:
        finished.set()
        _send(conn, {"exit": code})

    exit_now(code, last=tell_client)


def _run_cli(argv: list[str]) -> int:
    """``agent.cli.main``'s exit code, and what Python's top level would make of anything it raised."""
    try:
        from agent.cli import main as cli_main

        return cli_main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        return 1


class Server:
    """The listening socket, the copies running, and when to preload or leave."""

    def __init__(self, socket_path: Path, keep_alive: float) -> None:
        self.path = socket_path
        self.keep_alive_s = keep_alive
        self.listener, self.inode = listen(socket_path, 64)
        self.code = code_stamp()
        self.started = time.monotonic()
        self.idle_since = self.started
        self.preloaded = False
        #: copies running, and the connection to tell their client if one is killed
        self.copies: dict[int, socket.socket] = {}

    def serve(self) -> None:
        self.listener.settimeout(PRELOAD_WHEN_IDLE_S)  # the first client is already waiting
        while self._wanted():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                self._reap()
                self._maybe_preload()
                self.listener.settimeout(CHECK_EVERY_S if self.preloaded else PRELOAD_WHEN_IDLE_S)
                continue
            self.idle_since = time.monotonic()
            self._take(conn)
            self._reap()
            self._maybe_preload()  # runs back to back leave no idle moment: not before PRELOAD_AFTER_S
        self._leave()

    def _wanted(self) -> bool:
        """Still the socket's server, on the code it imported, and not idle past the keep-alive."""
        idle = not self.copies and time.monotonic() - self.idle_since > self.keep_alive_s
        try:
            ours = self.path.stat().st_ino == self.inode
        except FileNotFoundError:
            ours = False
        return ours and not idle and code_stamp() == self.code

    def _take(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5.0)  # a client sends its request at once; one that does not is dropped
            request, fds = receive(conn)
            conn.settimeout(None)
        except (OSError, ValueError) as exc:
            print(f"ae run server: dropped a connection: {exc}", file=sys.stderr, flush=True)
            conn.close()
            return
        try:
            pid = os.fork()
        except OSError as exc:  # out of processes or memory: the client says its run ended unreported
            print(f"ae run server: cannot fork a run: {exc}", file=sys.stderr, flush=True)
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        if pid == 0:
            try:
                self.listener.close()
                for other in self.copies.values():
                    other.close()
                run_copy(conn, request, fds)
            finally:
                os._exit(1)  # run_copy never returns; this is for an exception before it ran
        for fd in fds:
            os.close(fd)
        self.copies[pid] = conn

    def _reap(self) -> None:
        for pid in list(self.copies):
            with contextlib.suppress(ChildProcessError):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done == 0:
                    continue
                conn = self.copies.pop(pid)
                if os.WIFSIGNALED(status):
                    _send(conn, {"killed_by": os.WTERMSIG(status)})
                conn.close()

    def _maybe_preload(self) -> None:
        if self.preloaded or (self.copies and time.monotonic() - self.started < PRELOAD_AFTER_S):
            return
        self.preloaded = True
        try:
            preload()
        except Exception:  # a copy importing the same fails with its own traceback, to its client
            traceback.print_exc()

    def _leave(self) -> None:
        stop_listening(self.listener, self.path, self.inode)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m agent.run_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", type=Path, required=True, help="the Unix socket to listen on")
    args = parser.parse_args(argv)
    os.chdir("/")  # hold no project folder
    Server(args.socket, keep_alive_s(os.environ)).serve()
    # not sys.exit: the exit handlers imports registered belong to the copies' runs, not to this process
    os._exit(0)


if __name__ == "__main__":
    main()
