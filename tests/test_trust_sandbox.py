"""Issue 23 item 3: SQL reaches only the project and what its profile names (real dbt and DuckDB).

A plain model ``select ... from read_text(['/proc/<ae's pid>/environ'])`` stored ANTHROPIC_API_KEY in
the warehouse, and the read-only SQL tool carried it out with ``to_base64()``. Every DuckDB database
the engine's dbt opens is now confined (tools/engine/confine.py), and ae's own connections
(tools/warehouse.py) reach no file at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from tests.dbt_project_factory import write_tiny_project
from tools.engine import DbtCall, DbtEngine
from tools.engine.child import withheld_folders
from tools.engine.confine import profile_named, project_entries
from tools.errors import ReadOnlyViolation
from tools.warehouse import readonly_connection, run_readonly_query

FAKE_KEY = "sk-ant-api03-sandbox-test-not-a-real-key"
HOME_SECRET = "home-secret-0451"
OTHER_SECRET = "other-project-secret-0452"
PROFILE_SECRET = "profile-password-0453"


def _model(sql: str) -> str:
    return "{{ config(materialized='table') }}\n" + sql + "\n"


class Sandbox:
    """A tiny project beside a fake home folder and another project, with hostile models."""

    def __init__(self, base: Path, ae_pid: int) -> None:
        self.home = base / "home"
        self.home.mkdir()
        (self.home / "notes.txt").write_text(HOME_SECRET)
        self.other = base / "other_project"
        self.other.mkdir()
        (self.other / "secret.csv").write_text(f"s\n{OTHER_SECRET}\n")
        self.outside = base / "outside"
        self.outside.mkdir()
        self.root = write_tiny_project(base / "tiny")
        self.pid = ae_pid
        profiles = self.root / "profiles.yml"
        profiles.write_text(profiles.read_text() + f"# password: {PROFILE_SECRET}\n")
        (self.root / "data").mkdir()
        (self.root / "data" / "people.csv").write_text("id,name\n1,ann\n2,bob\n")
        (self.root / "top.csv").write_text("n\n7\n")
        (self.root / ".ae").mkdir()
        (self.root / ".ae" / "state.txt").write_text("ae's own")
        (self.root / "seeds").mkdir()
        (self.root / "seeds" / "countries.csv").write_text("code,name\nfr,France\nde,Germany\n")
        (self.root / "home_link").symlink_to(self.home)
        models = {
            "environ_of_ae": f"select content from read_text(['/proc/{self.pid}/environ'])",
            "environ_of_self": "select content from read_text('/proc/self/environ')",
            "home_file": f"select content from read_text('{self.home / 'notes.txt'}')",
            "home_by_link": "select content from read_text('home_link/notes.txt')",
            "home_by_climbing": "select content from read_text('../home/notes.txt')",
            "other_project": f"select * from read_csv('{self.other / 'secret.csv'}')",
            "profile_file": "select content from read_text('profiles.yml')",
            "ae_state": "select content from read_text('.ae/state.txt')",
            "project_csv": "select * from read_csv('data/people.csv')",
            "project_csv_absolute": f"select * from read_csv('{self.root / 'data' / 'people.csv'}')",
            "top_level_csv": "select * from read_csv('top.csv')",
        }
        for name, sql in models.items():
            (self.root / "models" / f"{name}.sql").write_text(_model(sql))
        (self.root / "models" / "copy_out.sql").write_text(
            "{{ config(materialized='table', post_hook=\"copy (select 1 as x) to '"
            + str(self.outside / "copied.csv")
            + "'\") }}\nselect 1 as x\n"
        )
        (self.root / "models" / "reopen.sql").write_text(
            '{% do run_query("SET enable_external_access = true") %}\nselect 1 as x\n'
        )

    def relations(self) -> set[str]:
        with readonly_connection(self.root / "tiny.duckdb") as con:
            return {
                name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()
            }

    def files_holding(self, text: str) -> list[Path]:
        """Every file of the project (warehouse, target/, logs/, .ae/ included) whose bytes hold ``text``."""
        needle = text.encode()
        return [
            p for p in self.root.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()
        ]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, DbtEngine]]:
    # stands for ae: a process of this user started with the API key (/proc/<pid>/environ shows
    # the environment a process started with)
    ae = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env={**os.environ, "ANTHROPIC_API_KEY": FAKE_KEY},
    )
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
            box = Sandbox(tmp_path_factory.mktemp("sandbox"), ae.pid)
            with DbtEngine(box.root, timeout_s=120) as engine:
                yield box, engine
    finally:
        ae.kill()
        ae.wait()


def _errors(engine: DbtEngine, *models: str) -> dict[str, str]:
    result = engine.run("run", select=list(models))
    return {node.name: node.message or "" for node in result.nodes if node.status == "error"}


def test_a_model_reading_ae_s_environment_fails_and_the_key_lands_nowhere(
    sandbox: tuple[Sandbox, DbtEngine],
) -> None:
    box, engine = sandbox
    assert FAKE_KEY.encode() in Path(f"/proc/{box.pid}/environ").read_bytes()  # there to be stolen
    errors = _errors(engine, "environ_of_ae", "environ_of_self")
    assert set(errors) == {"environ_of_ae", "environ_of_self"}
    assert all("Permission Error" in message for message in errors.values()), errors
    assert not {"environ_of_ae", "environ_of_self"} & box.relations()
    assert FAKE_KEY not in "".join(errors.values())
    assert box.files_holding(FAKE_KEY) == []


def test_the_home_folder_and_other_projects_are_unreadable(sandbox: tuple[Sandbox, DbtEngine]) -> None:
    box, engine = sandbox
    refused = ["home_file", "home_by_link", "home_by_climbing", "other_project"]
    errors = _errors(engine, *refused)
    assert set(errors) == set(refused)
    assert all("Permission Error" in message for message in errors.values()), errors
    assert not set(refused) & box.relations()
    assert box.files_holding(HOME_SECRET) == [] and box.files_holding(OTHER_SECRET) == []


def test_the_profile_and_ae_s_state_in_the_project_are_unreadable(sandbox: tuple[Sandbox, DbtEngine]) -> None:
    box, engine = sandbox
    errors = _errors(engine, "profile_file", "ae_state")
    assert set(errors) == {"profile_file", "ae_state"}
    assert not {"profile_file", "ae_state"} & box.relations()


def test_files_under_the_project_and_seeds_still_load(sandbox: tuple[Sandbox, DbtEngine]) -> None:
    box, engine = sandbox
    assert engine.run("seed").success
    result = engine.run("run", select=["project_csv", "project_csv_absolute", "top_level_csv"])
    assert result.success, [n.message for n in result.nodes]
    with readonly_connection(box.root / "tiny.duckdb") as con:
        assert con.execute("select count(*) from project_csv").fetchall() == [(2,)]
        assert con.execute("select n from top_level_csv").fetchall() == [(7,)]
        assert con.execute("select count(*) from countries").fetchall() == [(2,)]


def test_sql_can_neither_write_outside_nor_turn_access_back_on(sandbox: tuple[Sandbox, DbtEngine]) -> None:
    box, engine = sandbox
    errors = _errors(engine, "copy_out", "reopen")
    assert set(errors) == {"copy_out", "reopen"}
    assert "Permission Error" in errors["copy_out"]
    assert "Cannot enable external access" in errors["reopen"]
    assert not (box.outside / "copied.csv").exists()


def test_run_query_cannot_carry_the_environment_out(sandbox: tuple[Sandbox, DbtEngine]) -> None:
    box, _ = sandbox
    db = box.root / "tiny.duckdb"
    steal = f"select to_base64(encode(content)) as b from read_text(['/proc/{box.pid}/environ'])"
    with pytest.raises(ReadOnlyViolation, match="read_text"):
        run_readonly_query(db, steal)
    # and past the SQL guard, the connection itself reaches no file
    with readonly_connection(db) as con, pytest.raises(duckdb.PermissionException):
        con.execute(steal).fetchall()


def test_the_project_listing_leaves_out_state_secrets_and_links(sandbox: tuple[Sandbox, DbtEngine]) -> None:
    box, _ = sandbox
    (box.root / ".env").write_text("TOKEN=x")
    (box.root / "conf").mkdir(exist_ok=True)  # a --profiles-dir inside the project
    allowed = project_entries(
        box.root, withheld_folders(["--project-dir", str(box.root), "--profiles-dir", "conf"])
    )
    names = {Path(p).name for p in (*allowed.directories, *allowed.paths)}
    assert {"models", "seeds", "data", "top.csv", "dbt_project.yml"} <= names
    assert not names & {".ae", "profiles.yml", ".env", "tiny.duckdb", "home_link", "target", "logs", "conf"}
    assert all(d.endswith("/") for d in allowed.directories)  # /p/data must not allow /p/data-x


PROFILE_WITH_SETTINGS = """\
tiny:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: tiny.duckdb
      keep_open: false
      threads: 1
      external_root: out
      attach:
        - path: {attached}
          alias: shared
      settings:
        temp_directory: {spill}
        allowed_directories: ['{extra}']
"""


def test_what_the_profile_names_stays_reachable(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "tiny")
    attached, extra, spill = tmp_path / "shared.duckdb", tmp_path / "extra", tmp_path / "spill"
    with duckdb.connect(str(attached)) as con:
        con.execute("create table t as select 42 as x")
    extra.mkdir()
    (extra / "rows.csv").write_text("y\n5\n")
    (root / "out").mkdir()  # dbt-duckdb writes into external_root, it does not create it
    (root / "profiles.yml").write_text(
        PROFILE_WITH_SETTINGS.format(attached=attached, extra=extra, spill=spill)
    )
    models = {
        "from_attached": "select x from shared.t",
        "from_extra": f"select y from read_csv('{extra / 'rows.csv'}')",
    }
    for name, sql in models.items():
        (root / "models" / f"{name}.sql").write_text(_model(sql))
    (root / "models" / "exported.sql").write_text(
        "{{ config(materialized='external', format='csv') }}\nselect 3 as z\n"
    )
    with DbtEngine(root, timeout_s=120) as engine:
        result = engine.run("run", select=["from_attached", "from_extra", "exported"])
        assert result.success, [n.message for n in result.nodes]
        temp = engine.run("show", inline="select current_setting('temp_directory') as t").preview
    assert (root / "out" / "exported.csv").read_text().split() == ["z", "3"]
    assert temp is not None and temp.rows == [[str(spill)]]


def test_a_profile_cannot_turn_external_access_on(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "tiny")
    profiles = root / "profiles.yml"
    profiles.write_text(
        profiles.read_text().replace(
            "threads: 1", "threads: 1\n      settings:\n        enable_external_access: true", 1
        )
    )
    with DbtEngine(root, timeout_s=120) as engine:
        result = engine.run("run", select=["stg_people"])
    assert not result.success
    text = " ".join(
        filter(None, [result.error.message if result.error else None, *(n.message for n in result.nodes)])
    )
    assert "enable_external_access" in text and "allowed_directories" in text


def test_a_read_only_call_still_reaches_no_file(sandbox: tuple[Sandbox, DbtEngine]) -> None:
    _, engine = sandbox
    sql = "select count(*) as n from read_csv('data/people.csv')"
    result = engine.invoke(DbtCall(command="show", inline=sql, read_only=True))
    assert result.error is not None and "Permission Error" in result.error.message
    assert engine.run("show", inline=sql).preview is not None  # the same, not read-only: allowed


def test_what_a_profile_names_is_resolved_against_the_project(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    creds = SimpleNamespace(
        attach=[
            SimpleNamespace(path="raw.duckdb"),
            SimpleNamespace(path="md:shared"),
            SimpleNamespace(path="s3://b/x.db"),
        ],
        external_root=".",
        settings={"extension_directory": "~/.duckdb/ext", "allowed_paths": str(tmp_path / "one.csv")},
    )
    named = profile_named(creds, project)
    assert named.paths == (
        str(project / "raw.duckdb"),
        str(project / "raw.duckdb.wal"),
        "s3://b/x.db",
        str(tmp_path / "one.csv"),
    )
    # the project folder as external_root (dbt-duckdb's default) would open .ae/ and profiles.yml
    assert named.directories == (str(Path("~/.duckdb/ext").expanduser()) + "/",)
    creds.external_root = "exports"
    assert profile_named(creds, project).directories[0] == f"{project / 'exports'}/"
