"""Finding the profile as dbt does (--profiles-dir, DBT_PROFILES_DIR, the project folder, ~/.dbt) and
rendering it as dbt does (issue 23 items 4 and 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from agent.cli import main
from agent.exit_codes import ExitCode
from agent.settings import load_settings
from tests.dbt_project_factory import PROFILE, write_tiny_project
from tests.real_project import PROFILE_NAME, write_real_project
from tools.errors import ConfigurationError
from tools.profiles import UNKNOWN, ProfileRenderer, find_profiles, read_target

OTHER_PROFILES = """\
jaffle_shop:
  target: dev
  outputs:
    dev: {{type: duckdb, path: {name}.duckdb}}
    ci: {{type: duckdb, path: {name}-ci.duckdb}}
alt:
  target: main
  outputs:
    main: {{type: duckdb, path: alt-{name}.duckdb}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real-project fixture: its profile only in $HOME/.dbt, no DBT_* variables set."""
    for name in ("DBT_PROFILES_DIR", "DBT_PROFILE", "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return write_real_project(tmp_path / "proj", tmp_path / "home")


def _profiles_in(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(OTHER_PROFILES.format(name=name))
    return folder


def test_profile_in_home_dbt_is_found(project: Path, tmp_path: Path) -> None:
    target = read_target(project)
    assert (target.profile, target.target) == (PROFILE_NAME, "dev")
    assert target.profiles_file == tmp_path / "home" / ".dbt" / "profiles.yml"
    assert target.path == project / "jaffle_shop.duckdb"
    found = find_profiles(project)
    assert found.source == "~/.dbt"
    assert found.looked_at == (project / "profiles.yml", tmp_path / "home" / ".dbt" / "profiles.yml")


def test_precedence_is_flag_then_env_then_project_then_home(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profiles_in(project, "in-project")
    assert read_target(project).path == project / "in-project.duckdb"  # the project beats ~/.dbt
    env_dir = _profiles_in(tmp_path / "env", "from-env")
    monkeypatch.setenv("DBT_PROFILES_DIR", str(env_dir))
    assert read_target(project).path == project / "from-env.duckdb"
    flag_dir = _profiles_in(tmp_path / "flag", "from-flag")
    assert read_target(project, profiles_dir=flag_dir).path == project / "from-flag.duckdb"
    assert find_profiles(project, flag_dir).source == "--profiles-dir"


def test_a_named_folder_without_profiles_is_an_error_not_a_fallback(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dbt looks only where DBT_PROFILES_DIR or --profiles-dir says, so ae does too
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path / "empty"))
    with pytest.raises(ConfigurationError) as caught:
        read_target(project)
    assert f"looked at, in order: {tmp_path / 'empty' / 'profiles.yml'}" in str(caught.value)


def test_the_error_names_every_file_looked_at_in_order(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "nobody"))
    with pytest.raises(ConfigurationError) as caught:
        read_target(project)
    assert (
        f"no profiles.yml found; looked at, in order: {project / 'profiles.yml'}, "
        f"{tmp_path / 'nobody' / '.dbt' / 'profiles.yml'}"
    ) in str(caught.value)


def test_profile_and_target_overrides(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _profiles_in(tmp_path / "flag", "w")
    assert read_target(project, "ci", folder).path == project / "w-ci.duckdb"
    assert read_target(project, profiles_dir=folder, profile="alt").path == project / "alt-w.duckdb"
    monkeypatch.setenv("DBT_TARGET", "ci")
    assert read_target(project, profiles_dir=folder).target == "ci"
    monkeypatch.setenv("DBT_PROFILE", "alt")
    assert read_target(project, "main", folder).profile == "alt"
    with pytest.raises(
        ConfigurationError, match=r"profile 'nope' is not in .*profiles there: jaffle_shop, alt"
    ):
        read_target(project, profiles_dir=folder, profile="nope")


def test_a_broken_profiles_file_is_reported_without_its_contents(project: Path, tmp_path: Path) -> None:
    (tmp_path / "home" / ".dbt" / "profiles.yml").write_text(
        "jaffle_shop:\n  outputs:\n    dev: {type: postgres, password: hunter2-secret\n"
    )
    with pytest.raises(ConfigurationError, match="is not valid YAML at line") as caught:
        read_target(project)
    assert "hunter2" not in str(caught.value)


def test_settings_carry_the_profile_choices(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the profiles folder is the user's choice only (agent/settings.py USER_ONLY_SETTINGS)
    (project / "ae.yml").write_text("profile: alt\n")
    assert load_settings(project).profile == "alt"
    monkeypatch.setenv("AE_PROFILES_DIR", str(tmp_path / "env"))
    assert load_settings(project).profiles_dir == tmp_path / "env"
    assert load_settings(project, profiles_dir=tmp_path / "flag").profiles_dir == tmp_path / "flag"


# --- profile Jinja, rendered as dbt renders it (issue 23 item 4) ----------------------------------

JINJA_PROFILE = """\
tiny:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('TINY_DIR', '.') }}/{{ 'tiny' }}.duckdb"
      schema: "{{ env_var('LIVE_SCHEMA', 'PROD') | lower }}"
      threads: "{{ env_var('TINY_THREADS') | int }}"
      keep_open: "{{ 'False' | as_bool }}"
    pg:
      type: postgres
      host: "{{ env_var('PG_HOST') }}"
      port: "{{ env_var('PG_PORT') | as_number }}"
      user: "{{ env_var('PG_USER', 'ae') }}"
      password: "{{ env_var('PG_PASSWORD') }}"
      dbname: "{{ 'prod' }}"
      schema: "{{ env_var('PG_SCHEMA', 'Analytics') ~ '_' ~ 'x' }}"
      threads: 1
"""


@pytest.fixture
def jinja_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DBT_PROFILES_DIR", "DBT_PROFILE", "DBT_TARGET", "LIVE_SCHEMA", "TINY_DIR", "PG_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TINY_THREADS", "3")
    monkeypatch.setenv("PG_HOST", "db.example.com")
    monkeypatch.setenv("PG_PORT", "5433")
    project = write_tiny_project(tmp_path / "tiny")
    (project / "profiles.yml").write_text(JINJA_PROFILE)
    return project


def _dbt_renders(output: dict[str, object]) -> dict[str, object]:
    """dbt's own rendering of a profile target (dbt.config.renderer.ProfileRenderer)."""
    from dbt.config.renderer import ProfileRenderer as DbtProfileRenderer
    from dbt_common.context import set_invocation_context

    set_invocation_context(dict(os.environ))
    return DbtProfileRenderer({}).render_data(output)


def test_profile_values_render_exactly_as_dbt_renders_them(jinja_project: Path) -> None:
    raw = yaml.safe_load(JINJA_PROFILE)["tiny"]["outputs"]
    ours = ProfileRenderer([jinja_project / "profiles.yml"])
    assert ours.render(raw["dev"]) == _dbt_renders(raw["dev"])
    pg = {k: v for k, v in raw["pg"].items() if k != "password"}  # unset: dbt fails the whole profile
    assert ours.render(pg) == _dbt_renders(pg)
    assert ours.render(raw["dev"])["threads"] == 3 and ours.render(pg)["port"] == 5433  # natively


def test_the_rendered_location_is_what_protection_sees(jinja_project: Path) -> None:
    dev = read_target(jinja_project)
    assert (dev.schema_name, dev.path) == ("prod", jinja_project / "tiny.duckdb")
    pg = read_target(jinja_project, "pg")
    assert (pg.host, pg.port, pg.database, pg.schema_name) == (
        "db.example.com",
        "5433",
        "prod",
        "Analytics_x",
    )
    settings = load_settings(jinja_project)
    assert settings.protection("dev").protected  # schema prod, whatever the profile's spelling
    assert "schema 'prod' is protected" in settings.protection("dev").reason


def test_one_value_that_cannot_render_leaves_only_that_value_unknown(
    jinja_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PG_HOST")
    pg = read_target(jinja_project, "pg")  # PG_PASSWORD is unset too: still no error
    assert pg.host == "" and pg.database == "prod"  # "" is unknown: protection matches it to anything
    monkeypatch.setenv("LIVE_SCHEMA", "{{ 'x' }}")  # a value is data, never rendered twice
    assert read_target(jinja_project).schema_name == "{{ 'x' }}".lower()
    assert ProfileRenderer([]).render("{{ modules.datetime.date.today() }}") is UNKNOWN  # not offered
    assert ProfileRenderer([]).render("{{ 'prod' if nothing_known else 'dev' }}") is UNKNOWN


def test_env_var_sees_what_the_dbt_child_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-not-for-dbt")
    monkeypatch.setenv("DBT_ENV_SECRET_SCHEMA", "Hidden")
    renderer = ProfileRenderer([])
    assert renderer.render("{{ env_var('ANTHROPIC_API_KEY', 'none') }}") == "none"
    assert renderer.render("{{ env_var('ANTHROPIC_API_KEY') | lower }}") is UNKNOWN
    assert renderer.render("{{ env_var('DBT_ENV_SECRET_SCHEMA') }}") == "Hidden"
    assert renderer.render("s_{{ env_var('DBT_ENV_SECRET_SCHEMA') }}") == "s_Hidden"


def test_a_plain_profile_does_not_load_dbt_s_jinja(project: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from tools.profiles import read_target; "
        f"read_target(Path({str(project)!r})); print('dbt_common.clients.jinja' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("spelling", ["{{ env_var('LIVE_SCHEMA', 'PROD') | lower }}", "{{ 'prod' }}"])
def test_ae_run_on_a_dev_target_that_renders_to_prod_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    for name in ("DBT_PROFILES_DIR", "DBT_PROFILE", "DBT_TARGET", "LIVE_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AE_CONFIG", str(tmp_path / "no-user-config.yml"))
    project = write_tiny_project(tmp_path / "tiny")
    (project / "profiles.yml").write_text(
        PROFILE.replace(
            "      path: tiny.duckdb\n      keep_open",
            f'      path: tiny.duckdb\n      schema: "{spelling}"\n      keep_open',
            1,
        )
    )
    assert main(["run", "/dbt-run --select stg_people", "--project", str(project)]) == ExitCode.REFUSED
    assert "--yes" in capsys.readouterr().err
    with duckdb.connect(str(project / "tiny.duckdb"), read_only=True) as con:
        schemas = {
            row[0] for row in con.execute("select schema_name from information_schema.schemata").fetchall()
        }
    assert "prod" not in schemas


# --- undecodable configuration files (issue 23 item 13) ------------------------------------------


@pytest.mark.parametrize("name", ["profiles.yml", "dbt_project.yml"])
def test_a_binary_config_file_is_a_configuration_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.setenv("AE_CONFIG", str(tmp_path / "no-user-config.yml"))
    project = write_tiny_project(tmp_path / "tiny")
    (project / name).write_bytes(b"\xff\xfe\x00garbage\x89PNG\r\n\x1a\n" * 8)
    with pytest.raises(ConfigurationError, match=rf"{project / name} is not UTF-8 text"):
        read_target(project)
    code = main(["run", "/dbt-compile --select stg_people", "--project", str(project)])
    err = capsys.readouterr().err
    assert code == ExitCode.ENVIRONMENT, err
    assert str(project / name) in err and "Traceback" not in err and "UnicodeDecodeError" not in err


def test_an_unknown_duckdb_schema_is_protected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # dbt renders modules.datetime (so it writes to prod); ae does not offer it, so the value is unknown
    monkeypatch.setenv("AE_CONFIG", str(tmp_path / "no-user-config.yml"))
    project = write_tiny_project(tmp_path / "tiny")
    (project / "profiles.yml").write_text(
        PROFILE.replace(
            "      path: tiny.duckdb\n      keep_open",
            "      path: tiny.duckdb\n      schema: \"{{ 'prod' if modules.datetime else 'dev' }}\"\n"
            "      keep_open",
            1,
        )
    )
    assert read_target(project).schema_name == ""
    assert load_settings(project).protection("dev").protected
