"""Issue 25 item 9: Ctrl-C at any point of ``ae run`` ends with exit 130, the run recorded
``interrupted`` (resumable), and no dbt process of the run left behind (a shared server busy with
the run's call is stopped; an idle one may stay for the next ae process). Real subprocesses, real
SIGINT to the process group, as a terminal sends it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from agent.ctrl_c import stopping_on_ctrl_c
from agent.runs import read_record
from tests.dbt_project_factory import write_tiny_project
from tools.engine import DbtCall, DbtEngine, DbtResult
from tools.errors import EngineCrashed
from tools.warehouse import run_readonly_query
from tools.warehouse_port.interrupts import interruptible

ROOT = Path(__file__).resolve().parent.parent
AE = Path(sys.executable).parent / "ae"
#: a model whose compile (a run_query) takes as long as CTRL_C_TEST_ROWS says: Plan's dbt call of
#: /dbt-compile; resumed without the variable, it is quick. Read through a var of dbt_project.yml, as
#: dbt's process gets a variable the project reads (and no AE_* one: tools/engine/child_env.py)
SLOW_ROWS = "vars:\n  slow_rows: \"{{ env_var('CTRL_C_TEST_ROWS', '1') }}\"\n"
SLOW_COMPILE = (
    "{% if execute %}{% set rows = var('slow_rows') %}"
    "{% do run_query('select count(*) from range(' ~ rows ~ ') a(i), range(1000) b(j) "
    "where (i * j) % 7 = 3') %}"
    "{% endif %}\nselect 1 as x\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_tiny_project(tmp_path / "tiny")
    (root / "models" / "slow.sql").write_text(SLOW_COMPILE)
    with (root / "dbt_project.yml").open("a") as project_file:
        project_file.write(SLOW_ROWS)
    return root


def engine_processes(project: Path) -> list[int]:
    """dbt engine processes (private children and shared servers) working on ``project``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"tools.engine.child" in argv and str(project).encode() in argv:
            found.append(int(entry.name))
    return found


def interrupt_when(
    argv: list[str], says: str, *, env: dict[str, str], after_s: float = 0.5
) -> tuple[int, str]:
    """Start ``argv``, send SIGINT to its process group ``after_s`` once stderr says ``says``; its
    exit code and stderr."""
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if says in line:
            time.sleep(after_s)
            os.killpg(proc.pid, signal.SIGINT)
            break
    _out, rest = proc.communicate(timeout=120)
    return proc.returncode, "".join(seen) + rest


def run_id_in(err: str) -> str:
    return err.split("ae resume ", 1)[1].split(maxsplit=1)[0]


def stopped_engines(project: Path, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while engine_processes(project) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not engine_processes(project)


@pytest.fixture
def shared_engines() -> dict[str, str]:
    """The environment of a one-shot ``ae run`` outside the tests: a dbt server kept for the next run."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC")} | {
        "AE_ENGINE_KEEP_ALIVE_S": "60"
    }


def test_ctrl_c_during_plans_dbt_call_exits_130_stops_its_server_and_the_run_resumes(
    project: Path, shared_engines: dict[str, str]
) -> None:
    slow = shared_engines | {"CTRL_C_TEST_ROWS": "1000000000"}  # far longer than the test: it must be stopped
    argv = [str(AE), "run", "/dbt-compile --select slow", "--project", str(project)]
    code, err = interrupt_when(argv, "waiting for dbt compile", env=slow, after_s=0.2)
    assert code == 130, err
    run_id = run_id_in(err)
    record = read_record(project / ".ae", run_id)
    assert record is not None and record.status == "interrupted", record
    assert "Traceback" not in err and "Query interrupted" not in err
    assert stopped_engines(project), "the shared dbt server busy with the run's call was left running"
    resumed = subprocess.run(
        [str(AE), "resume", run_id, "--project", str(project)],
        cwd=ROOT,
        env=shared_engines | {"AE_ENGINE_KEEP_ALIVE_S": "0"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    record = read_record(project / ".ae", run_id)
    assert record is not None and record.status == "success"


def test_ctrl_c_during_an_in_process_duckdb_query_of_plan_is_an_interruption_not_a_failure(
    project: Path, shared_engines: dict[str, str]
) -> None:
    """DuckDB turns the SIGINT it sees into RuntimeError("Query interrupted"): once in five tries
    that ended the run ``failed`` with exit 1. The phases now run beside the thread Ctrl-C reaches,
    and the run is stopped between two steps."""
    argv = [sys.executable, "-m", "tests.ctrl_c_entry", "run", "anything", "--project", str(project)]
    code, err = interrupt_when(argv, "querying DuckDB", env=shared_engines, after_s=0.3)
    assert code == 130, err
    record = read_record(project / ".ae", run_id_in(err))
    assert record is not None and record.status == "interrupted", record
    assert "Query interrupted" not in err and "Traceback" not in err


@pytest.mark.slow  # five ae processes: the Plan case above is the one that bit
@pytest.mark.parametrize(
    ("says", "after_s"),
    [
        ("started", 0.0),  # before Plan
        ("planning with", 0.0),
        ("dbt compile", 0.05),  # Validate
        ("dbt run --select", 0.05),  # Execute
        ("testing", 0.0),  # Verify
    ],
)
def test_ctrl_c_at_each_phase_exits_130_with_the_run_interrupted(
    project: Path, shared_engines: dict[str, str], says: str, after_s: float
) -> None:
    argv = [str(AE), "run", "/dbt-run --select stg_people+", "--project", str(project)]
    code, err = interrupt_when(argv, says, env=shared_engines, after_s=after_s)
    assert code == 130, err
    record = read_record(project / ".ae", run_id_in(err))
    assert record is not None and record.status == "interrupted", record
    assert "Traceback" not in err
    # a server left after the run is idle (a busy one was stopped; one warming up, started before the
    # run, settles): it sleeps until the next ae process calls
    deadline = time.monotonic() + 15
    while (busy := [pid for pid in engine_processes(project) if _busy(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not busy, busy


def _busy(pid: int) -> bool:
    """Whether process ``pid`` is using the CPU (an idle server sleeps in accept)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except OSError:
        return False
    return state == "R"


# --- the Ctrl-C path's own parts, in process -------------------------------------------------------

#: DuckDB work far longer than any of these tests (minutes): only an interrupt ends it early
ENDLESS = "select count(*) from range(100000) a(i), range(100000) b(j) where (i * j) % 7 = 3"


class _Calls:
    """An engine watcher that says when a call has started."""

    def __init__(self) -> None:
        self.started = threading.Event()

    def calling(self, _call: DbtCall) -> None:
        self.started.set()

    def still_running(self, _call: DbtCall, _waited_s: float) -> None:
        pass


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, dict[str, object]]:
    """``call`` started in a thread; the dict gets its ``result`` or ``error`` and its ``seconds``."""
    outcome: dict[str, object] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            outcome["result"] = call()
        except Exception as exc:
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _calling(engine: DbtEngine, call: DbtCall) -> tuple[threading.Thread, dict[str, object]]:
    """``engine`` making ``call`` in a thread, returned once the call has started."""
    watcher = _Calls()
    engine.watcher = watcher
    running = _in_thread(lambda: engine.invoke(call))
    assert watcher.started.wait(60)
    time.sleep(0.5)  # into the exchange
    return running


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"


def test_stop_call_ends_a_shared_server_only_once_it_serves_our_call(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: Ctrl-C ended the process of any engine whose lock was held, so an ae process waiting in
    the shared server's queue killed the server in the middle of another ae process's call."""
    monkeypatch.setenv("CTRL_C_TEST_ROWS", "1000000000")  # the compile of slow: minutes
    with DbtEngine(project, keep_alive_s=5) as ours, DbtEngine(project, keep_alive_s=5) as theirs:
        assert ours.invoke(DbtCall(command="parse")).success  # ours knows the server's pid
        server = ours.pid
        assert server is not None
        their_thread, their_call = _calling(theirs, DbtCall(command="compile", select=["slow"]))
        our_thread, our_call = _calling(ours, DbtCall(command="parse"))  # queued behind theirs

        assert ours.stop_call() is False  # waiting in the queue: their call is not ours to end
        time.sleep(0.3)
        assert _alive(server) and their_thread.is_alive()

        assert theirs.stop_call() is True  # the server works on their call: it ends
        their_thread.join(30)
        assert isinstance(their_call.get("error"), EngineCrashed)
        our_thread.join(120)  # ours then runs on a fresh server
        result = our_call.get("result")
        assert isinstance(result, DbtResult) and result.success, our_call
        assert ours.stop_call() is False and theirs.stop_call() is False  # idle: nothing to end


def test_stop_call_ends_a_private_child_during_a_call_and_leaves_an_idle_one(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTRL_C_TEST_ROWS", "1000000000")
    with DbtEngine(project) as engine:
        assert engine.stop_call() is False  # not even started
        assert engine.invoke(DbtCall(command="parse")).success
        idle = engine.pid
        assert engine.stop_call() is False and idle is not None and _alive(idle)
        thread, outcome = _calling(engine, DbtCall(command="compile", select=["slow"]))
        assert engine.stop_call() is True
        thread.join(30)
        assert isinstance(outcome.get("error"), EngineCrashed) and float(str(outcome["seconds"])) < 20


def _ctrl_c_while(engine: DbtEngine, body: Callable[[], None]) -> None:
    """``body`` inside the Ctrl-C handling of a run, with a real SIGINT sent to this process."""
    with pytest.raises(KeyboardInterrupt), stopping_on_ctrl_c(engine, stop=lambda: None):
        body()


def test_ctrl_c_interrupts_in_process_duckdb_statements_at_once(project: Path, tmp_path: Path) -> None:
    """Before: Ctrl-C left a statement running in a worker thread to its end (a profile: 5-9 s)."""

    def query() -> None:
        with duckdb.connect() as con, interruptible(con):
            con.execute("set enable_progress_bar = false")
            con.execute(ENDLESS).fetchall()

    thread, outcome = _in_thread(query)

    def press_ctrl_c() -> None:
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)
        thread.join(30)

    with DbtEngine(project) as engine:
        _ctrl_c_while(engine, press_ctrl_c)
    assert isinstance(outcome.get("error"), duckdb.InterruptException), outcome
    assert float(str(outcome["seconds"])) < 5


def test_ctrl_c_interrupts_a_query_of_tools_warehouse(project: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    thread, outcome = _in_thread(lambda: run_readonly_query(db, ENDLESS, timeout_s=4))

    def press_ctrl_c() -> None:
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)
        thread.join(30)

    with DbtEngine(project) as engine:
        _ctrl_c_while(engine, press_ctrl_c)
    assert float(str(outcome["seconds"])) < 3, outcome
