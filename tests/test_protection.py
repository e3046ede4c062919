"""Protection by location, settings only the user can weaken, and bad settings as messages (issue 11).

E5: ae.yml with ``protected_targets: []``; E6: a target ``live`` writing to prod's file and schema;
E7: a profile edited so that dev writes to prod. Each runs real dbt on a tiny DuckDB project and
must stop at the approval question with nothing built in prod.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from agent.cli import main
from agent.doctor import check_protection, check_store
from agent.exit_codes import ExitCode
from agent.runner import Session
from agent.settings import load_settings
from graph.progress import ProgressEvent
from tests.dbt_project_factory import PROFILE, write_tiny_project
from tests.scripted_planner import ScriptedPlanner, writes
from tests.test_graph import NEW_MODEL
from tools.errors import ConfigurationError
from tools.paths import ensure_state_dir
from tools.profiles import read_target
from tools.project_lock import file_lock
from tools.protection import Location, schemas_overlap

LIVE = """\
    live:
      type: duckdb
      path: ./tiny.duckdb
      schema: prod
      threads: 1
"""


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's config file is a temp path (absent unless a test writes it)."""
    config = tmp_path / "user" / "config.yml"
    monkeypatch.setenv("AE_CONFIG", str(config))
    for name in ("AE_PROTECTED_TARGETS", "AE_PROTECTED_SCHEMAS", "AE_STORE_URL", "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    return config


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


def schemas(project: Path) -> set[str]:
    with duckdb.connect(str(project / "tiny.duckdb"), read_only=True) as con:
        return {
            row[0] for row in con.execute("select schema_name from information_schema.schemata").fetchall()
        }


def asks_before_building(project: Path, target: str | None) -> str:
    """Run a small change on ``target``: the reason it was protected; fails when it was built."""
    settings = load_settings(project, max_repairs=0)
    with Session(settings, target=target) as session:
        outcome = session.run("add stg_people_names", planner=ScriptedPlanner([writes(NEW_MODEL)]))
    assert outcome.status == "awaiting_approval", outcome.reason
    assert "prod" not in schemas(project)
    return settings.protection(target).reason


# --- the escapes, on real dbt ---------------------------------------------------------------------


def test_e5_ae_yml_cannot_unprotect_prod(project: Path) -> None:
    (project / "ae.yml").write_text("protected_targets: []\n")
    assert "is a protected target" in asks_before_building(project, "prod")


def test_ae_yml_adds_to_the_users_protection(project: Path) -> None:
    (project / "ae.yml").write_text("protected_targets: [dev, prod]\nprotected_schemas: []\n")
    settings = load_settings(project)
    assert settings.protected_targets == ["prod", "production", "dev"]
    assert settings.protected_schemas == ["prod", "production"]
    assert settings.protection("dev").protected


def test_e6_a_target_of_another_name_at_prods_location_is_protected(project: Path) -> None:
    (project / "profiles.yml").write_text(PROFILE + LIVE)
    reason = asks_before_building(project, "live")
    assert f"writes to prod's location duckdb file {project / 'tiny.duckdb'} schema prod" in reason


def test_e7_dev_edited_to_write_to_prod_is_protected_on_the_next_run(project: Path) -> None:
    settings = load_settings(project)
    with Session(settings) as session:  # a chat: the session outlives the profile edit
        assert session.target == "dev"
        (project / "profiles.yml").write_text(
            PROFILE.replace(
                "      path: tiny.duckdb\n      keep_open",
                "      path: tiny.duckdb\n      schema: prod\n      keep_open",
                1,
            )
        )
        outcome = session.run("add stg_people_names", planner=ScriptedPlanner([writes(NEW_MODEL)]))
    assert outcome.status == "awaiting_approval", outcome.reason
    assert "prod" not in schemas(project)
    assert "target 'dev' writes to prod's location" in settings.protection("dev").reason


def test_e7_a_plan_that_points_dev_at_prod_is_asked_about_twice(project: Path) -> None:
    """The same run: the plan rewrites profiles.yml (code, approved) and then must still not build
    into prod without the target's own approval, read after the rewrite."""
    hostile = PROFILE.replace(
        "      path: tiny.duckdb\n      keep_open",
        "      path: tiny.duckdb\n      schema: prod\n      keep_open",
        1,
    )
    settings = load_settings(project, max_repairs=0)
    with Session(settings) as session:
        outcome = session.run(
            "move dev",
            planner=ScriptedPlanner([writes({**NEW_MODEL, "profiles.yml": hostile})]),
            allow_code=True,
        )
    assert outcome.status == "awaiting_approval", outcome.reason
    assert (outcome.question or {}).get("kind") == "target"
    assert "target 'dev' writes to prod's location" in str((outcome.question or {}).get("question"))
    assert "prod" not in schemas(project)


# --- the location model ---------------------------------------------------------------------------


def test_custom_schemas_of_prod_overlap_and_lookalikes_do_not() -> None:
    assert schemas_overlap("prod", "prod_staging") and schemas_overlap("PROD_x", "prod")
    assert not schemas_overlap("prod", "production") and not schemas_overlap("main", "prod")


def test_location_not_name_with_no_protected_schema(project: Path, no_user_config: Path) -> None:
    """Only the location of the target named prod protects here (protected_schemas emptied by the user)."""
    no_user_config.parent.mkdir()
    no_user_config.write_text("protected_schemas: []\n")
    other = project.parent / "other.duckdb"
    (project / "profiles.yml").write_text(
        PROFILE.replace("schema: prod", "schema: analytics")
        + LIVE.replace("schema: prod", "schema: analytics")
        + f"    elsewhere:\n      type: duckdb\n      path: {other}\n      schema: analytics\n"
    )
    settings = load_settings(project)
    assert settings.protection("live").protected
    assert not settings.protection("elsewhere").protected  # another file: another warehouse
    assert not settings.protection("dev").protected  # same file, schema main
    assert Location.of(read_target(project, "dev")).describe().endswith("tiny.duckdb schema main")


def test_the_user_may_unprotect_from_their_own_config(project: Path, no_user_config: Path) -> None:
    no_user_config.parent.mkdir()
    no_user_config.write_text("protected_targets: []\nprotected_schemas: []\n")
    assert not load_settings(project).protection("prod").protected


def test_doctor_says_where_the_target_writes_and_why_it_is_protected(project: Path) -> None:
    (project / "profiles.yml").write_text(PROFILE + LIVE)
    settings = load_settings(project, target="live")
    line = check_protection(settings, read_target(project, "live")).render()
    assert "PROTECTED" in line and "prod's location" in line and "tiny.duckdb schema prod" in line
    assert "not protected" in check_protection(settings, read_target(project, "dev")).render()


# --- bad settings are messages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("max_repairs: -5", "max_repairs = -5: input should be greater than or equal to 0"),
        ("protected_targets: prod", "protected_targets = 'prod': input should be a valid list"),
        ("engine_timeout_s: -1", "engine_timeout_s = -1: input should be greater than 0"),
    ],
)
def test_bad_ae_yml_values_are_errors_naming_file_and_setting(
    project: Path, capsys: pytest.CaptureFixture[str], line: str, expected: str
) -> None:
    (project / "ae.yml").write_text(line + "\n")
    assert main(["doctor", "--project", str(project)]) == ExitCode.ENVIRONMENT
    err = capsys.readouterr().err
    assert f"{project / 'ae.yml'}: {expected}" in err and "Traceback" not in err


def test_bad_environment_values_name_the_variable(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AE_MAX_REPAIRS", "-1")
    with pytest.raises(ConfigurationError, match="AE_MAX_REPAIRS: max_repairs = '-1'"):
        load_settings(project)
    monkeypatch.delenv("AE_MAX_REPAIRS")
    monkeypatch.setenv("AE_PROTECTED_TARGETS", "prod")
    with pytest.raises(ConfigurationError, match="AE_PROTECTED_TARGETS is not valid JSON"):
        load_settings(project)


@pytest.mark.parametrize(
    ("profiles", "where"),
    [
        (
            "tiny:\n  target: dev\n  outputs:\n    dev: hunter2secret\n",
            "(line 4): tiny.outputs.dev must be a mapping",
        ),
        ("tiny:\n  outputs: [dev]\n", "(line 2): tiny.outputs must be a mapping"),
        ("tiny:\n  outputs:\n    dev: {password: hunter2secret\n", "is not valid YAML at line 4"),
    ],
)
def test_invalid_profiles_yml_names_file_and_line_without_secrets(
    project: Path, profiles: str, where: str
) -> None:
    (project / "profiles.yml").write_text(profiles)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(project).protection()
    assert f"{project / 'profiles.yml'}" in str(caught.value) and where in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_store_password_with_an_unencoded_at_never_leaks(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AE_STORE_URL", "postgresql://ae:Pa@ss@word123@127.0.0.1:1/ae")
    settings = load_settings(project)
    assert settings.store_url == "postgresql://ae:Pa%40ss%40word123@127.0.0.1:1/ae"
    line = check_store(settings).render()  # nothing listens on port 1
    assert "FAIL" in line and "word123" not in line and "ss@" not in line
    monkeypatch.setenv("AE_STORE_URL", "postgresql://ae:Pa@ss@word123@host:notaport/ae")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(project)
    assert "port" in str(caught.value) and "word123" not in str(caught.value)


def test_a_second_run_waits_for_the_project_and_says_who_holds_it(project: Path) -> None:
    """C1: one run per project. While another run holds the project, a run waits and says so; it goes
    on once the holder is done."""
    settings = load_settings(project, max_repairs=0)
    ensure_state_dir(project)
    heard: list[ProgressEvent] = []
    release = threading.Event()
    holding = threading.Event()

    def other_run() -> None:
        with file_lock(settings.state_dir, project, run_id="run-A", wait_s=5, notify=print):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=other_run)
    holder.start()
    holding.wait(10)
    threading.Timer(2.0, release.set).start()
    with Session(settings, emit=heard.append) as session:
        outcome = session.run("add stg_people_names", planner=ScriptedPlanner([writes(NEW_MODEL)]))
    holder.join()
    assert outcome.status == "success", outcome.reason
    waits = [e.message for e in heard if e.phase == "lock"]
    assert waits and "run-A" in waits[0]
