"""ae on a project set up like a user's (profile in ~/.dbt, dbt-duckdb's default keep_open, no
warehouse file yet): dbt finds the profile, ae never locks itself out, doctor and exit codes say
what is wrong. Real dbt and DuckDB throughout."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from agent.cli import main
from agent.exit_codes import ExitCode
from tests.real_project import write_real_project
from tools.engine import DbtEngine
from tools.engine.process import server_key
from tools.errors import WarehouseLocked
from tools.logs import configure_logging
from tools.resilience import Resilience, RetryPolicy
from tools.warehouse import open_readonly

HOLD_LOCK = "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok',flush=True); time.sleep(60)"


def _user_env(patch: pytest.MonkeyPatch) -> None:
    for name in ("DBT_PROFILES_DIR", "DBT_PROFILE", "DBT_TARGET"):
        patch.delenv(name, raising=False)


def _user_project(root: Path, patch: pytest.MonkeyPatch) -> Path:
    """A fresh fixture project whose profile is in its own $HOME/.dbt, with HOME set to that."""
    home = root.parent / f"{root.name}-home"
    _user_env(patch)
    patch.setenv("HOME", str(home))
    return write_real_project(root, home, db_name=f"{root.name}.duckdb")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbtEngine]:
    with pytest.MonkeyPatch.context() as patch:
        project = _user_project(tmp_path_factory.mktemp("seeded") / "shop", patch)
        with DbtEngine(project, timeout_s=120) as engine:
            assert engine.run("seed").success
            yield engine


def _hold_lock(db: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
    return holder


def test_engine_finds_the_home_profile_and_releases_the_warehouse(seeded: DbtEngine) -> None:
    engine = seeded
    assert engine.profiles.source == "~/.dbt"
    result = engine.run("run", select=["stg_customers"])
    assert result.success
    assert "--target" not in result.args  # an explicit target would spoil the user's partial parse
    assert engine.pid is not None  # the child lives on, warm...
    db = engine.read_target().path
    assert db is not None
    with duckdb.connect(str(db), read_only=True) as con:  # ...and holds no lock on the file
        assert con.execute("select count(*) from stg_customers").fetchall() == [(20,)]


def test_a_lock_names_its_holder_and_each_retry_is_logged(seeded: DbtEngine) -> None:
    engine = seeded
    db = engine.read_target().path
    assert db is not None
    holder = _hold_lock(db)
    stream = io.StringIO()
    configure_logging(json=True, level="WARNING", stream=stream)
    policy = Resilience(retry=RetryPolicy(attempts=3, initial_wait=0.05, max_wait=0.1))
    try:
        with pytest.raises(WarehouseLocked, match=rf"locked by PID {holder.pid} \(`.*duckdb.connect"):
            open_readonly(db)
        with pytest.raises(WarehouseLocked, match=rf"dbt run: the warehouse is locked by PID {holder.pid}"):
            policy.call("dbt", "dev", lambda: engine.run("run", select=["stg_customers"]))
    finally:
        configure_logging(json=True, level="WARNING")
        holder.kill()
        holder.wait()
    waits = [json.loads(line) for line in stream.getvalue().splitlines()]
    retries = [w for w in waits if w["event"] == "retrying"]
    assert len(retries) == 2  # one line per wait, and no more than the policy allows
    assert all(f"locked by PID {holder.pid}" in w["error"] for w in retries)


@pytest.mark.slow
def test_one_shot_processes_share_a_warm_dbt_process_until_it_idles_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _user_project(tmp_path / "shared", monkeypatch)
    first = DbtEngine(project, keep_alive_s=3)
    first.prepare()  # what `ae run` does before its own imports
    try:
        assert first.run("seed").success
        server = first.pid
        first.close()  # the first `ae run` ends; its dbt process stays
        with DbtEngine(project, keep_alive_s=3) as second:
            assert second.run("run", select=["stg_customers"]).success
            assert second.pid == server
        with duckdb.connect(str(project / "shared.duckdb"), read_only=True) as con:
            assert con.execute("select count(*) from stg_customers").fetchall() == [(20,)]
        assert server is not None
        deadline = time.monotonic() + 30
        # it is this process's child (`first` started it), so waitpid sees it end
        while os.waitpid(server, os.WNOHANG)[0] != server:
            assert time.monotonic() < deadline, "the server outlived its keep-alive"
            time.sleep(0.2)
    finally:
        if first.pid is not None:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(first.pid, signal.SIGKILL)


def test_a_changed_environment_gets_a_server_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def key_of(warm_up: list[str]) -> str:
        return server_key(tmp_path, warm_up, dict(os.environ))

    key = key_of(["parse"])
    monkeypatch.setenv("PWD", "/somewhere/else")  # differs between shells, changes nothing for dbt
    assert key_of(["parse"]) == key
    monkeypatch.setenv("DBT_TARGET", "ci")
    assert key_of(["parse"]) != key
    assert key_of(["parse", "--target", "ci"]) != key_of(["parse"])


@pytest.mark.slow
def test_profile_and_target_flags_reach_dbt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _user_project(tmp_path / "flags", monkeypatch)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "profiles.yml").write_text(
        "alt:\n  target: main\n  outputs:\n"
        "    main: {type: duckdb, path: main.duckdb}\n    ci: {type: duckdb, path: ci.duckdb}\n"
    )
    with DbtEngine(project, profile="alt", target="ci", profiles_dir=folder, timeout_s=120) as engine:
        assert engine.run("seed", select=["raw_customers"]).success
    assert (project / "ci.duckdb").exists()
    assert not (project / "main.duckdb").exists() and not (project / "flags.duckdb").exists()


def test_doctor_passes_on_a_fresh_project_and_leaves_no_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _user_project(tmp_path / "fresh", monkeypatch)
    assert main(["doctor", "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert f"from {tmp_path / 'fresh-home' / '.dbt' / 'profiles.yml'} (via ~/.dbt" in out
    assert f"{project / 'fresh.duckdb'} does not exist yet; dbt creates it" in out
    assert "OK   parse        dbt parse passed" in out
    assert not (project / "fresh.duckdb").exists()


def test_doctor_fails_with_the_parse_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _user_project(tmp_path / "broken", monkeypatch)
    (project / "models" / "bad.sql").write_text("select * from {{ ref('no_such_model') }}\n")
    assert main(["doctor", "--project", str(project)]) == 1
    parse = next(line for line in capsys.readouterr().out.splitlines() if " parse " in line)
    assert parse.startswith("FAIL") and "depends on a node named 'no_such_model' which was not found" in parse


@pytest.mark.slow
def test_a_project_that_does_not_parse_exits_1_and_an_uninstalled_package_exits_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing_ref = _user_project(tmp_path / "missing_ref", monkeypatch)
    (missing_ref / "models" / "bad.sql").write_text("select * from {{ ref('no_such_model') }}\n")
    codes = [main(["run", "/dbt-run --select customers", "--project", str(missing_ref)])]
    empty_package = _user_project(tmp_path / "empty_package", monkeypatch)
    (empty_package / "packages.yml").write_text(
        "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n"
    )
    (empty_package / "dbt_packages" / "dbt_utils").mkdir(parents=True)
    codes.append(main(["run", "/dbt-run --select customers", "--project", str(empty_package)]))
    # the project's own error is a failure; a package folder with nothing in it is the environment's
    # (dbt deps was not run to the end), as issue 25 asks: exit 5 with what to do
    assert codes == [ExitCode.FAILED, ExitCode.ENVIRONMENT]


def test_exit_codes_for_ae_usage_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _user_project(tmp_path / "codes", monkeypatch)
    assert main(["run", "/no-such-command", "--project", str(project)]) == ExitCode.USAGE
    assert main(["run", "/dbt-run --select a", "--project", str(tmp_path)]) == ExitCode.ENVIRONMENT
    no_profile = ["run", "/dbt-run", "--project", str(project), "--profiles-dir", str(tmp_path)]
    assert main(no_profile) == ExitCode.ENVIRONMENT
