"""Finding the profile as dbt does: --profiles-dir, DBT_PROFILES_DIR, the project folder, ~/.dbt."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import load_settings
from tests.real_project import PROFILE_NAME, write_real_project
from tools.errors import ConfigurationError
from tools.profiles import find_profiles, read_target

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
    (project / "ae.yml").write_text("profiles_dir: conf\nprofile: alt\n")
    settings = load_settings(project)
    assert (settings.profiles_dir, settings.profile) == (project / "conf", "alt")  # ae.yml: project-relative
    monkeypatch.setenv("AE_PROFILES_DIR", str(tmp_path / "env"))
    assert load_settings(project).profiles_dir == tmp_path / "env"
    assert load_settings(project, profiles_dir=tmp_path / "flag").profiles_dir == tmp_path / "flag"
