"""What the dbt child process inherits and how long it lives: no secrets, never past its caller; a
shared server only in a folder private to the user, and never on a project that is gone.

Real dbt and real DuckDB in temp dirs; the kill -9 tests kill a real ae-like parent process.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from tests.dbt_project_factory import write_tiny_project
from tools.engine import DbtCall, DbtEngine
from tools.engine.child import in_project
from tools.engine.child_env import child_environment, env_var_names
from tools.engine.process import PrivateChild, server_key
from tools.errors import EngineTimeout
from tools.logs import configure_logging
from tools.private_sockets import SOCKET_FOLDER, SocketFolderRefused, socket_folder
from tools.resilience import Resilience, RetryPolicy

#: a table, so dbt runs the query (a view would only be created, in milliseconds, whatever it selects)
RUNAWAY_SQL = "{{ config(materialized='table') }}\nselect sum(i) as s from range(1000000000000) t(i)\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


# --- the environment ------------------------------------------------------------------------------


def test_env_var_names_come_from_the_jinja_syntax_tree() -> None:
    text = textwrap.dedent(
        """\
        dev:
          password: "{{ env_var( 'WAREHOUSE_PASSWORD' ) }}"
          user: "{{ env_var(\\"WAREHOUSE_USER\\", 'ae') | trim }}"
          host: "{# env_var('COMMENTED_OUT') #}localhost"
          note: "env_var('NOT_JINJA')"
        """
    )
    assert env_var_names(text) == {"WAREHOUSE_PASSWORD", "WAREHOUSE_USER"}
    assert env_var_names("{{ env_var('X') ") == set()  # dbt cannot render it either


def test_the_filter_drops_secrets_but_keeps_what_dbt_needs(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(
        "p:\n  outputs:\n    dev:\n      password: \"{{ env_var('WAREHOUSE_PASSWORD') }}\"\n"
        "      key: \"{{ env_var('ANTHROPIC_API_KEY') }}\"\n"
    )
    parent = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONPATH": "/src",
        "ANTHROPIC_API_KEY": "sk-ant-x",
        "ANTHROPIC_BASE_URL": "http://fake",
        "AE_STORE_URL": "postgresql://u:p@h/db",
        "AE_ENGINE_KEEP_ALIVE_S": "0",
        "OPENAI_API_KEY": "sk-x",
        "GITHUB_TOKEN": "ghp",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "PGPASSWORD": "pg",
        "WAREHOUSE_PASSWORD": "needed",
        "DBT_ENV_SECRET_TOKEN": "dbt's own",
        "DBT_PROFILES_DIR": "/p",
        "STRIPE_KEY": "rk_live_x",  # the same rule as redaction's (tools.secrets.looks_secret)
        "GOOGLE_APPLICATION_CREDENTIALS": str(profiles),  # names a file: where a credential lives
    }
    env = child_environment(parent, [profiles, tmp_path / "missing.yml"])
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONPATH": "/src",
        "WAREHOUSE_PASSWORD": "needed",  # the profile reads it
        "DBT_ENV_SECRET_TOKEN": "dbt's own",
        "DBT_PROFILES_DIR": "/p",
        "GOOGLE_APPLICATION_CREDENTIALS": str(profiles),
        "PYTHONUNBUFFERED": "1",
    }  # ANTHROPIC_API_KEY stays out although the profile asks for it: the agent may have written that


PYTHON_MODEL = """\
import os

NAMES = ["ANTHROPIC_API_KEY", "AE_STORE_URL", "MY_SERVICE_TOKEN", "TINY_DB_PASSWORD", "DBT_TINY_FLAG", "HOME"]


def model(dbt, session):
    seen = ",".join(name for name in NAMES if name in os.environ)
    return session.sql(f"select '{seen}' as seen")
"""


def test_a_python_model_cannot_read_ae_secrets(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """E8: a dbt-duckdb Python model read ANTHROPIC_API_KEY from the engine child's environment."""
    profiles = project / "profiles.yml"
    profiles.write_text(
        profiles.read_text().replace(
            "threads: 1", "threads: 1\n      password: \"{{ env_var('TINY_DB_PASSWORD') }}\"", 1
        )
    )
    (project / "models" / "env_probe.py").write_text(PYTHON_MODEL)
    for name, value in {
        "ANTHROPIC_API_KEY": "sk-ant-api03-secret",
        "AE_STORE_URL": "postgresql://ae:pw@db/ae",
        "MY_SERVICE_TOKEN": "tok",
        "TINY_DB_PASSWORD": "needed-by-the-profile",
        "DBT_TINY_FLAG": "1",
    }.items():
        monkeypatch.setenv(name, value)
    with DbtEngine(project, timeout_s=120) as engine:
        assert engine.run("run", select=["env_probe"]).success
    with duckdb.connect(str(project / "tiny.duckdb"), read_only=True) as con:
        assert con.execute("select seen from env_probe").fetchall() == [
            ("TINY_DB_PASSWORD,DBT_TINY_FLAG,HOME",)
        ]


# --- time limits ----------------------------------------------------------------------------------


def test_a_timeout_is_not_retried_and_says_what_to_change(project: Path) -> None:
    """With 4 attempts, a runaway model was killed 4 times per phase visit: now once, with a reason."""
    (project / "models" / "runaway.sql").write_text(RUNAWAY_SQL)
    policy = Resilience(retry=RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.02))
    with DbtEngine(project, timeout_s=3) as engine:
        with pytest.raises(EngineTimeout) as raised:
            policy.call("dbt", "dev", lambda: engine.invoke(DbtCall(command="run", select=["runaway"])))
        assert engine.restarts == 1
    assert policy.stats.retries == 0
    message = str(raised.value)
    assert "dbt run --select runaway" in message and "3s time limit" in message
    assert "engine_timeout_s" in message and "AE_ENGINE_TIMEOUT_S" in message


# --- the child dies with its caller ---------------------------------------------------------------

PARENT = """\
import sys, threading, time
from pathlib import Path
from tools.engine import DbtCall, DbtEngine

engine = DbtEngine(Path(sys.argv[1]), keep_alive_s=float(sys.argv[2]), timeout_s=600)
mode = sys.argv[3]
if mode == "worker-thread":
    spawner = threading.Thread(target=engine.prepare)
    spawner.start()
    spawner.join()  # the thread that started the child is gone; the child must live on
    time.sleep(1.0)
else:
    engine.prepare()
if mode == "runaway":
    call = DbtCall(command="show", inline=sys.argv[4])
    threading.Thread(target=engine.invoke, args=(call,), daemon=True).start()
    while engine.pid is None:  # the shared server names its pid once it takes our call
        time.sleep(0.05)
    time.sleep(1.0)
print(engine.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _kill_parent_and_wait_for(project: Path, keep_alive_s: float, mode: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(project), str(keep_alive_s), mode, RUNAWAY_SQL],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while _alive(child):
            assert time.monotonic() < deadline, f"the dbt child {child} outlived its killed parent"
            time.sleep(0.1)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("mode", ["main-thread", "worker-thread"])
def test_a_private_child_dies_with_its_parent(project: Path, mode: str) -> None:
    _kill_parent_and_wait_for(project, keep_alive_s=0, mode=mode)


@pytest.mark.slow
def test_a_shared_server_stops_a_call_whose_caller_was_killed(project: Path) -> None:
    # the server outlives ae processes by design, but not a runaway call nobody waits for
    _kill_parent_and_wait_for(project, keep_alive_s=60, mode="runaway")


# --- the shared engine's socket folder and project (issue 23 item 11) ------------------------------


@pytest.fixture
def private_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short private folder standing for the runtime and cache folders (socket paths are short)."""
    base = Path(tempfile.mkdtemp(prefix="ae-sock-"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base / "runtime"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "cache"))
    (base / "runtime").mkdir(mode=0o700)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_sockets_live_in_the_private_runtime_folder_else_the_cache(private_base: Path) -> None:
    folder = socket_folder()
    assert folder == private_base / "runtime" / SOCKET_FOLDER
    assert stat.S_IMODE(folder.lstat().st_mode) == 0o700
    (private_base / "runtime").chmod(0o755)  # a runtime folder others can enter is not the spec's
    assert socket_folder() == private_base / "cache" / SOCKET_FOLDER


def test_a_cache_folder_too_deep_for_a_socket_records_a_private_temp_folder(
    private_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    deep = private_base / ("d" * 100)
    monkeypatch.setenv("XDG_CACHE_HOME", str(deep))
    folder = socket_folder()
    try:
        assert len(str(folder)) < 80 and folder.name.startswith(f"{SOCKET_FOLDER}-")
        assert stat.S_IMODE(folder.lstat().st_mode) == 0o700 and not folder.is_symlink()
        assert socket_folder() == folder  # recorded in the private cache folder, reused
        # the temp cleaner removed it and someone planted a link under that name: replaced
        folder.rmdir()
        folder.symlink_to(private_base)
        replaced = socket_folder()
        assert replaced != folder and not replaced.is_symlink()
        assert (deep / SOCKET_FOLDER / "temp-folder").read_text() == str(replaced)
        replaced.rmdir()
    finally:
        if folder.is_symlink():
            folder.unlink()


def _refuse_by_link(folder: Path) -> None:
    elsewhere = folder.parent / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    folder.symlink_to(elsewhere)


def _refuse_by_owner(folder: Path) -> None:
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)  # what another local user who made it first would leave


def _refuse_by_mode(folder: Path) -> None:
    folder.mkdir(mode=0o700)
    folder.chmod(0o770)


@pytest.mark.parametrize(
    ("plant", "reason"),
    [
        (_refuse_by_link, "it is a symbolic link"),
        (_refuse_by_owner, "belongs to user id 65534"),
        (_refuse_by_mode, "other users may reach it (mode drwxrwx---)"),
    ],
)
def test_a_socket_folder_that_is_not_private_is_refused(
    private_base: Path, plant: Callable[[Path], None], reason: str
) -> None:
    if plant is _refuse_by_owner and os.getuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    plant(private_base / "runtime" / SOCKET_FOLDER)
    with pytest.raises(SocketFolderRefused, match=re.escape(reason)):
        socket_folder()


def test_a_refused_socket_folder_costs_only_the_sharing(private_base: Path, project: Path) -> None:
    """It made every `ae run` exit 5; now the run gets a dbt process of its own, and says why."""
    _refuse_by_link(private_base / "runtime" / SOCKET_FOLDER)
    stream = io.StringIO()
    configure_logging(json=True, level="WARNING", stream=stream)
    try:
        with DbtEngine(project, keep_alive_s=60, timeout_s=120) as engine:
            assert engine.run("compile", select=["adults"]).success
            assert isinstance(engine._process, PrivateChild)
    finally:
        configure_logging(json=True, level="WARNING")
    (warning,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert warning["event"] == "engine_not_shared" and "symbolic link" in warning["reason"]
    assert not any((private_base / "runtime" / "elsewhere").iterdir())  # no socket went through the link


def test_a_project_recreated_at_the_same_path_is_another_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_tiny_project(tmp_path / "tiny")
    key = server_key(project, ["parse"], {})
    monkeypatch.chdir(project)  # where a server started on it works
    assert in_project(str(project))
    shutil.rmtree(project)
    write_tiny_project(project)
    assert not in_project(str(project))  # the server sees it and leaves
    assert server_key(project, ["parse"], {}) != key  # clients start a new one


@pytest.mark.slow
def test_a_server_on_a_deleted_project_leaves_and_the_next_run_works(
    private_base: Path, tmp_path: Path
) -> None:
    """It kept the deleted folder as its working directory: every run failed `[Errno 2]` for 300 s."""
    project = write_tiny_project(tmp_path / "tiny")
    first = DbtEngine(project, keep_alive_s=120, timeout_s=120)
    assert first.run("compile", select=["adults"]).success
    old_server = first.pid
    assert old_server is not None
    first.close()
    second_server = None
    try:
        shutil.rmtree(project)
        write_tiny_project(project)
        with DbtEngine(project, keep_alive_s=120, timeout_s=120) as second:
            assert second.run("compile", select=["adults"]).success
            second_server = second.pid
        assert second_server not in (None, old_server)
        deadline = time.monotonic() + 10
        while _alive(old_server):
            assert time.monotonic() < deadline, "the server on the deleted folder stayed"
            time.sleep(0.2)
    finally:
        for pid in (old_server, second_server):
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGKILL)
