"""Issue 25 item 3: an undo leaves no trace of the run. Its own lines come out of a file a newer run
changed too (three-way), what its ``dbt deps`` installed goes, and memory forgets what it taught.
Real dbt and DuckDB on copies of the example project."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from agent.cli import main
from agent.commands.planner import CommandPlanner
from agent.exit_codes import ExitCode
from agent.runner import Session
from agent.settings import load_settings
from graph.transaction import JOURNAL, PACKAGES_JOURNAL, apply_journaled, journaled_deps, rollback_journaled
from tests.test_trust_undo import digest_tree, journaled_run, relations
from tools.changeset import Changeset
from tools.engine import DbtCall, DbtEngine
from tools.example_project import create_example_project
from tools.paths import ProjectPaths

SCHEMA = "models/marts/schema.yml"
#: a marts folder as people keep it: one shared schema.yml, comments and blank lines included
SHARED = """\
version: 2

# marts of the shop, kept by hand
models:
  - name: placeholder_mart
    description: Kept by hand.  # a comment that must survive

  - name: other_mart
    description: Also by hand.
"""
DIM_STORES = "/dbt-model --name dim_stores --type dimension --from stg_stores"
DIM_CUSTOMERS = "/dbt-model --name dim_customers --type dimension --from stg_customers"


def command(project: Path, request: str) -> str:
    with Session(load_settings(project, max_repairs=0)) as session:
        outcome = session.run(request, planner=CommandPlanner())
    assert outcome.status == "success", outcome.reason
    return outcome.run_id


def parse_warnings(project: Path) -> str:
    """What dbt logs while it parses the project (its warnings included); the parse must succeed."""
    log = project / "logs" / "dbt.log"
    start = log.stat().st_size if log.is_file() else 0
    with DbtEngine(project) as engine:
        parsed = engine.invoke(DbtCall(command="parse"))
    assert parsed.success, parsed
    with log.open("rb") as handle:
        handle.seek(start)
        return handle.read().decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example with stg_stores and stg_customers built and a shared marts schema.yml."""
    project = create_example_project(tmp_path_factory.mktemp("traces") / "shop")
    for table in ("stores", "customers"):
        command(project, f"/dbt-model --name stg_{table} --type staging --source raw.{table}")
    (project / "models" / "marts").mkdir()
    (project / SCHEMA).write_text(SHARED)
    for name in ("placeholder_mart", "other_mart"):
        (project / "models" / "marts" / f"{name}.sql").write_text("select 1 as id\n")
    return project


@pytest.fixture
def project(staged: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(staged, tmp_path / "shop", symlinks=True))


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_example_project(tmp_path_factory.mktemp("example") / "shop")


@pytest.fixture
def fresh(example: Path, tmp_path: Path) -> Path:
    """A copy of the bare example (copying is ten times faster than generating its data)."""
    return Path(shutil.copytree(example, tmp_path / "shop"))


def memories(project: Path) -> str:
    return json.dumps(_memory_list(project))


def _memory_list(project: Path) -> list[dict[str, object]]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["memory", "list", "--json", "--project", str(project)]) == ExitCode.OK
    listed: list[dict[str, object]] = json.loads(out.getvalue())
    return listed


@pytest.mark.slow
def test_an_older_model_run_comes_out_of_a_shared_schema_yml(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    older = command(project, DIM_STORES)
    after_older = (project / SCHEMA).read_text()
    newer = command(project, DIM_CUSTOMERS)
    both = (project / SCHEMA).read_text()
    assert "name: dim_stores" in both and "name: dim_customers" in both
    assert '"dim_stores"' in memories(project)

    assert main(["undo", older, "--project", str(project)]) == ExitCode.OK, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"took only this run's own lines out of {SCHEMA}" in out and "forgot" in out
    now = (project / SCHEMA).read_text()
    # byte for byte: the person's lines, then the newer run's entry exactly as it wrote it
    assert now == SHARED + both.removeprefix(after_older)
    assert not (project / "models" / "marts" / "dim_stores.sql").exists()
    assert "jaffle_shop.main.dim_stores" not in relations(project)
    assert "jaffle_shop.main.dim_customers" in relations(project)
    assert "Did not find matching node for patch" not in parse_warnings(project)
    remembered = memories(project)
    assert '"key": "dim_stores"' not in remembered and '"key": "dim_customers"' in remembered

    assert main(["undo", newer, "--project", str(project)]) == ExitCode.OK, capsys.readouterr().err
    assert (project / SCHEMA).read_text() == SHARED
    keys = {(m["kind"], m["key"]) for m in _memory_list(project)}
    # the marts conventions were taught by the undone runs only; staging's stay
    assert ("conventions", "folder:marts") not in keys and ("conventions", "prefix:dimension") not in keys
    assert ("conventions", "folder:staging") in keys and ("models", "stg_stores") in keys


@pytest.mark.slow
def test_a_newer_run_that_changed_the_same_lines_still_refuses_the_undo(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    older = command(project, DIM_STORES)
    newer = command(project, "/data-quality-test --model dim_stores --tests not_null")
    before = digest_tree(project)
    assert main(["undo", older, "--project", str(project)]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert "refused, nothing changed" in err and SCHEMA in err and f"run {newer}" in err
    assert digest_tree(project) == before


# --- the same, without dbt: the undo order lets a clean revert through and nothing else -------------


def test_a_clean_revert_passes_the_undo_order_and_a_tangled_one_does_not(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = fresh
    (project / SCHEMA).parent.mkdir()
    (project / SCHEMA).write_text(SHARED)
    a_entry = "\n  - name: dim_a\n    description: A.\n"
    b_entry = "\n  - name: dim_b\n    description: B, about customers.\n"
    journaled_run(project, "A", 1, {SCHEMA: SHARED + a_entry, "models/marts/dim_a.sql": "select 1 as id\n"})
    journaled_run(project, "B", 2, {SCHEMA: SHARED + a_entry + b_entry})
    assert main(["undo", "A", "--project", str(project)]) == ExitCode.OK, capsys.readouterr().err
    assert (project / SCHEMA).read_text() == SHARED + b_entry
    assert not (project / "models" / "marts" / "dim_a.sql").exists()
    assert main(["undo", "B", "--project", str(project)]) == ExitCode.OK
    assert (project / SCHEMA).read_text() == SHARED

    # C's lines edited by D: refused, naming the file and D
    journaled_run(project, "C", 3, {SCHEMA: SHARED + a_entry})
    journaled_run(project, "D", 4, {SCHEMA: SHARED + a_entry.replace("A.", "A, edited.")})
    assert main(["undo", "C", "--project", str(project)]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert f"{SCHEMA}, from run D ('request D'), needs the same file" in err
    # E's revert would leave F's relationships test on the model E removes: refused too
    assert main(["undo", "D", "--project", str(project)]) == ExitCode.OK
    assert main(["undo", "C", "--project", str(project)]) == ExitCode.OK
    uses_e = "\n  - name: dim_f\n    columns:\n      - name: e_id\n        data_tests:\n" + (
        "          - relationships: {to: ref('dim_e'), field: id}\n"
    )
    journaled_run(project, "E", 5, {SCHEMA: SHARED + a_entry, "models/marts/dim_e.sql": "select 1 as id\n"})
    journaled_run(project, "F", 6, {SCHEMA: SHARED + a_entry + uses_e})
    assert main(["undo", "E", "--project", str(project)]) == ExitCode.REFUSED
    assert "from run F" in capsys.readouterr().err
    assert (project / "models" / "marts" / "dim_e.sql").exists()


def test_a_packages_file_a_newer_run_changed_is_never_reverted_past_it(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """B's models may call the package A added: the undo order holds, even though the lines part."""
    journaled_run(fresh, "A", 1, {"packages.yml": "packages:\n  - local: vendor/a\n"})
    journaled_run(fresh, "B", 2, {"packages.yml": "packages:\n  - local: vendor/a\n  - local: vendor/b\n"})
    assert main(["undo", "A", "--project", str(fresh)]) == ExitCode.REFUSED
    assert "packages.yml, from run B ('request B'), needs the same file" in capsys.readouterr().err


# --- what dbt deps installed ---------------------------------------------------------------------

PACKAGE_PROJECT = "name: tiny_pkg\nversion: '1.0.0'\nconfig-version: 2\nmacro-paths: ['macros']\n"
PACKAGES_YML = "packages:\n  - local: vendor/tiny_pkg\n"


def local_package(project: Path) -> Path:
    package = project / "vendor" / "tiny_pkg"
    (package / "macros").mkdir(parents=True)
    (package / "dbt_project.yml").write_text(PACKAGE_PROJECT)
    (package / "macros" / "tiny.sql").write_text("{% macro tiny() %}1{% endmacro %}\n")
    return package


def deps_run(project: Path, run_id: str) -> Path:
    """A run's Validate as it applies packages.yml and installs it: journaled, with real dbt deps."""
    run_dir = project / ".ae" / "runs" / run_id
    changeset = Changeset()
    paths = ProjectPaths.for_project(project)
    changeset.write_file(paths, "packages.yml", PACKAGES_YML)
    apply_journaled(changeset, paths, run_dir)
    with journaled_deps(project, run_dir), DbtEngine(project) as engine:
        assert engine.invoke(DbtCall(command="deps")).success
    assert (project / "package-lock.yml").is_file() and (project / "dbt_packages" / "tiny_pkg").exists()
    return run_dir


def test_undo_removes_what_the_runs_dbt_deps_installed(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = fresh
    package = local_package(project)
    kept = digest_tree(package)
    deps_run(project, "P")
    assert main(["undo", "P", "--project", str(project)]) == ExitCode.OK, capsys.readouterr().err
    assert "removed the package(s) the run's dbt deps installed: tiny_pkg" in capsys.readouterr().out
    assert not (project / "packages.yml").exists()
    assert not (project / "package-lock.yml").exists()
    assert not (project / "dbt_packages").exists()
    assert digest_tree(package) == kept  # the link went, never what it points at
    assert "tiny_pkg" not in parse_warnings(project)


def test_a_failed_runs_rollback_takes_back_its_deps_and_a_lock_it_changed(fresh: Path) -> None:
    project = fresh
    local_package(project)
    lock_before = b"packages: []\nsha1_hash: 0\n"  # a lock the project had: restored byte for byte
    (project / "package-lock.yml").write_bytes(lock_before)
    (project / "dbt_packages").mkdir()
    run_dir = deps_run(project, "R")
    undone = rollback_journaled(None, run_dir)
    assert undone is not None and undone.packages == ["tiny_pkg"]
    assert (project / "package-lock.yml").read_bytes() == lock_before
    assert (project / "dbt_packages").is_dir() and not any((project / "dbt_packages").iterdir())
    assert not (run_dir / PACKAGES_JOURNAL).exists() and not (run_dir / JOURNAL).exists()


@pytest.mark.slow
def test_undoing_dbt_package_leaves_no_lock_file_or_packages_folder(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case end to end: needs Validate to run its dbt deps inside ``journaled_deps``."""
    package = local_package(fresh)
    request = "/dbt-package --name tiny_pkg --local vendor/tiny_pkg"
    assert main(["run", request, "--project", str(fresh), "--allow-code"]) == ExitCode.OK
    run_id = next((fresh / ".ae" / "runs").iterdir()).name
    if not (fresh / ".ae" / "runs" / run_id / PACKAGES_JOURNAL).exists():
        pytest.skip("Validate does not run dbt deps inside graph.transaction.journaled_deps yet")
    assert main(["undo", run_id, "--project", str(fresh)]) == ExitCode.OK, capsys.readouterr().err
    left = {"packages.yml", "package-lock.yml", "dbt_packages"} & {p.name for p in fresh.iterdir()}
    assert not left and (package / "dbt_project.yml").is_file()


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("install_dir", ".ae", "inside .ae/"),
        ("install_dir", "../elsewhere", "climbs with '..'"),
        ("added", ["../../victim"], "is not the name of an entry"),
        ("lock", "../victim.txt", "is not package-lock.yml"),
    ],
)
def test_a_planted_packages_journal_removes_nothing(
    fresh: Path, capsys: pytest.CaptureFixture[str], field: str, value: object, why: str
) -> None:
    project = fresh
    package = local_package(project)
    run_dir = project / ".ae" / "runs" / "X"
    with journaled_deps(project, run_dir):  # what dbt deps leaves for a local package: a link
        (project / "dbt_packages").mkdir()
        (project / "dbt_packages" / "tiny_pkg").symlink_to(package, target_is_directory=True)
    journal = run_dir / PACKAGES_JOURNAL
    record = json.loads(journal.read_text())
    if field == "lock":
        record["lock"]["path"] = value
    else:
        record[field] = value
    journal.write_text(json.dumps(record))
    before = digest_tree(project)
    assert main(["undo", "X", "--project", str(project)]) == ExitCode.ENVIRONMENT
    err = capsys.readouterr().err
    assert "packages.json names" in err and why in err and "Traceback" not in err
    assert digest_tree(project) == before and (project / "dbt_packages" / "tiny_pkg").exists()


def test_a_journal_whose_text_and_digest_disagree_is_not_merged(fresh: Path) -> None:
    """An edited ``after_b64`` cannot make a rollback rewrite a file changed since: it is kept whole."""
    project = fresh
    (project / SCHEMA).parent.mkdir()
    (project / SCHEMA).write_text(SHARED)
    journaled_run(project, "A", 1, {SCHEMA: SHARED + "\n  - name: dim_a\n"})
    (project / SCHEMA).write_text(SHARED + "\n  - name: dim_a\n\n  - name: mine\n")
    journal = project / ".ae" / "runs" / "A" / JOURNAL
    record = json.loads(journal.read_text())
    record["priors"][0]["after_b64"] = base64.b64encode(b"version: 2\n").decode()
    journal.write_text(json.dumps(record))
    undone = rollback_journaled(None, journal.parent)
    assert undone is not None and undone.conflicts == [SCHEMA] and not undone.reverted
    assert (project / SCHEMA).read_text().endswith("  - name: mine\n")
