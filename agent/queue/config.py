"""Where the queue lives and the constants every queue process must agree on.

The store is ``AE_QUEUE_URL``, else a SQLite file in the user's state directory
(``$XDG_STATE_HOME/ae/queue.sqlite``, by default ``~/.local/state/ae/queue.sqlite``). Not under a
project's ``.ae/``: one queue holds tasks for several projects (a batch file names a project per
task), and ``ae worker`` starts without a project, so the default must be the same wherever the
command runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from pathlib import Path

from tools.errors import ConfigurationError
from tools.store_urls import normalise_store_url

QUEUE_URL_ENV = "AE_QUEUE_URL"
#: DBOS refuses application names shorter than 3 characters ("ae" is refused)
APP_NAME = "ae-queue"
#: pinned: DBOS recovers only workflows of the running version, and its default is a hash of the code,
#: which would strand every pending task across an upgrade of ae
APP_VERSION = "ae-queue-1"
QUEUE_NAME = "ae"
#: how often a worker looks for a task that nothing announced: a notice (`ae queue add`, retry, a
#: re-queue) or one of its own tasks ending wakes it at once (wake.py), so the poll is only the net
QUEUE_POLL_S = 1.0
WORKFLOW_NAME = "ae_task"
#: lower runs first (DBOS's order); tasks without --priority get this one
DEFAULT_PRIORITY = 100
MAX_PRIORITY = 2_147_483_647
#: a task id (a --key) becomes a folder name under .ae/runs/, so it is kept to safe characters
TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def queue_url() -> str:
    """The queue's store URL: ``AE_QUEUE_URL``, else the SQLite file in the user's state dir."""
    explicit = os.environ.get(QUEUE_URL_ENV)
    if explicit:
        try:
            return normalise_store_url(explicit)
        except ValueError as exc:
            raise ConfigurationError(
                f"{QUEUE_URL_ENV}: {exc}", hint="e.g. sqlite:///PATH or postgresql://USER@HOST/DB"
            ) from None
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    path = base / "ae" / "queue.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def default_executor_id() -> str:
    """A worker id stable across restarts of the same worker and different for two workers: the host
    plus a hash of the folder it runs in. DBOS's default (``local``) made a restarting worker recover
    workflows still running on another live worker, so two ran at once."""
    where = hashlib.sha256(str(Path.cwd().resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}-{where}"


#: attempts of a task whose failures are transient (infrastructure), before it ends ``dead``
MAX_ATTEMPTS = 4
#: the wait before attempt n+1 is RETRY_BASE_S * 2**(n-1), at most RETRY_MAX_S
RETRY_BASE_S_ENV = "AE_QUEUE_RETRY_BASE_S"
RETRY_MAX_S = 60.0
#: times a task may be taken over after its worker died holding it: past this it killed its worker
#: every time (a poison task) and DBOS ends it MAX_RECOVERY_ATTEMPTS_EXCEEDED, shown as ``dead``
MAX_RECOVERY_ATTEMPTS = 3


def retry_wait_s(attempt: int) -> float:
    base = float(os.environ.get(RETRY_BASE_S_ENV) or 2.0)
    wait: float = base * 2 ** (attempt - 1)
    return min(wait, RETRY_MAX_S)


#: a worker writes its heartbeat this often; one silent for DEAD_AFTER_S is dead, and the first live
#: worker to notice re-queues its tasks (measured takeover 12-15 s after a kill -9 with 2 s and 10 s)
HEARTBEAT_S = 2.0
DEAD_AFTER_S = 10.0
#: how long a stopping worker (Ctrl-C, SIGTERM) waits for its running tasks before it exits; a task
#: still running then stays checkpointed and another worker resumes it
STOP_GRACE_S = 60.0
