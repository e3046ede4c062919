"""Secrets never reach logs, errors or reports; `ae doctor` says OK/FAIL with what to do."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from tools.example_project import create_example_project
from tools.logs import configure_logging, get_logger, redact, redact_value, register_secret
from tools.profiles import read_target

API_KEY = "sk-ant-api03-abcdefghijklmnop1234567890"
PASSWORD = "hunter2-very-secret"


def test_api_key_and_profile_password_are_redacted_from_json_logs() -> None:
    stream = io.StringIO()
    configure_logging(json=True, level="INFO", stream=stream)
    try:
        log = get_logger("test")
        log.info("calling", api_key=API_KEY, note=f"header x-api-key: {API_KEY}")
        log.warning(
            "profile",
            profile={"type": "postgres", "user": "ae", "password": PASSWORD, "host": "db"},
            url=f"postgresql://ae:{PASSWORD}@127.0.0.1:5432/ae",
            error=f"connection failed for password={PASSWORD}",
        )
    finally:
        configure_logging(json=True, level="WARNING")
    text = stream.getvalue()
    assert API_KEY not in text and PASSWORD not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[1]["profile"]["password"] == "***"
    assert lines[1]["profile"]["user"] == "ae"  # only secrets go
    assert lines[1]["url"] == "postgresql://ae:***@127.0.0.1:5432/ae"


def test_registered_secrets_are_redacted_wherever_they_appear() -> None:
    register_secret("plain-token-without-a-known-shape")
    assert "plain-token" not in redact("error: bad token plain-token-without-a-known-shape given")
    assert redact_value({"nested": ["x plain-token-without-a-known-shape y"]}) == {"nested": ["x *** y"]}


def test_profile_env_var_defaults_are_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # not an AE_* name: the profile is read with the environment the dbt child gets, without those
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    (tmp_path / "profiles.yml").write_text(
        "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('TINY_TEST_DB', 'w.duckdb') }}\"\n"
    )
    monkeypatch.delenv("TINY_TEST_DB", raising=False)
    assert read_target(tmp_path).path == tmp_path / "w.duckdb"
    monkeypatch.setenv("TINY_TEST_DB", "/tmp/other.duckdb")
    assert read_target(tmp_path).path == Path("/tmp/other.duckdb")


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_example_project(tmp_path_factory.mktemp("doctor") / "shop")


def test_doctor_passes_on_the_generated_example(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--project", str(example)]) == 0
    out = capsys.readouterr().out
    for check in ("dbt", "warehouse", "connection", "store", "llm"):
        assert any(line.startswith("OK") and f" {check} " in line for line in out.splitlines()), out
    assert "FAIL" not in out


def test_doctor_fails_on_a_locked_warehouse_and_says_what_to_do(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok',flush=True); time.sleep(60)",
            str(example / "jaffle_shop.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        code = main(["doctor", "--project", str(example)])
    finally:
        holder.kill()
        holder.wait()
    out = capsys.readouterr().out
    assert code == 1
    warehouse = next(line for line in out.splitlines() if " warehouse " in line)
    assert warehouse.startswith("FAIL") and f"locked by PID {holder.pid} (`" in warehouse


def test_cli_bad_inputs_are_clear_and_change_nothing(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "/dbt-model --name x", "--project", str(example)]) == 2
    assert "--type" in capsys.readouterr().err
    assert main(["run", "/dbt-run --select a", "--project", str(example / "nope")]) == 5
    assert "dbt_project.yml" in capsys.readouterr().err
    # reading prod needs no approval (it opens the warehouse read-only); building there does
    assert main(["run", "/dbt-run --select a", "--project", str(example), "--target", "prod"]) == 3
    assert "protected" in capsys.readouterr().err


def test_doctor_names_an_adapter_whose_package_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A snowflake profile on a machine without dbt-snowflake: said once, by the adapter check, and
    dbt (which cannot load the profile without it) is not asked."""
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    project = tmp_path / "shop"
    project.mkdir()
    (project / "dbt_project.yml").write_text("name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\n")
    (project / "profiles.yml").write_text(
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: snowflake\n      account: x\n"
    )
    assert main(["doctor", "--project", str(project)]) == 1
    lines = capsys.readouterr().out.splitlines()
    adapter = next(line for line in lines if " adapter " in line)
    assert adapter.startswith("FAIL") and "snowflake: dbt-snowflake is not installed" in adapter
    assert all(line.startswith("SKIP") for line in lines if " parse " in line or " connection " in line)
