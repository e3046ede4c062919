"""Issue 23, items 5, 6 and 14b: undo acts on its own project only, in dependency order, never
through a link under .ae. Real dbt and DuckDB on copies of the example project."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent.chat import Conversation, Turn, chat
from agent.cli import main
from agent.exit_codes import ExitCode
from agent.runner import Session
from agent.runs import RunRecord, record_path
from agent.settings import load_settings
from graph.transaction import (
    JOURNAL,
    RELATIONS_JOURNAL,
    apply_journaled,
    built_relations,
    record_built_relations,
)
from tests.scripted_planner import ScriptedPlanner, writes
from tools.changeset import Changeset
from tools.engine import DbtCall, DbtEngine
from tools.example_project import create_example_project, warehouse_path
from tools.journal import save
from tools.paths import ProjectPaths, StateLinkRefused, ensure_state_dir
from tools.warehouse_undo import list_relation_names

STG = {
    "models/staging/stg_customers.sql": (
        "select id as customer_id, name from {{ source('raw', 'customers') }}\n"
    ),
    "models/staging/stg_customers.yml": """\
version: 2
models:
  - name: stg_customers
    description: One row per customer.
    columns:
      - name: customer_id
        description: Primary key of the customer.
        data_tests: [unique, not_null]
      - name: name
        description: Full name of the customer.
""",
}
NAMES = {
    "models/marts/customer_names.sql": "select customer_id, name from {{ ref('stg_customers') }}\n",
    "models/marts/customer_names.yml": """\
version: 2
models:
  - name: customer_names
    description: Customer names for the mailing.
    columns:
      - name: customer_id
        description: Primary key of the customer.
        data_tests: [unique, not_null]
      - name: name
        description: Full name of the customer.
""",
}


def digest_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (warehouse included; dbt's output and ae's data aside)."""
    skip = {"target", "logs", ".ae"}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not skip.intersection(p.relative_to(root).parts)
    }


def relations(project: Path) -> set[str]:
    return list_relation_names(warehouse_path(project))


# --- (a) a planted run folder ------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_example_project(tmp_path_factory.mktemp("template") / "shop")


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the example (copying is ten times faster than generating its data)."""
    return Path(shutil.copytree(template, tmp_path / "shop"))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "victim.txt").write_text("the person's own file\n")
    return folder


def plant(project: Path, run_id: str, journal: str, record: dict[str, Any]) -> Path:
    run_dir = ensure_state_dir(project) / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / journal).write_text(json.dumps(record))
    return run_dir


def prior(path: str, text: str) -> dict[str, Any]:
    """A journal entry saying ``path`` held ``text`` before (an older ae's form: no digest check)."""
    return {"path": path, "existed": True, "content_b64": base64.b64encode(text.encode()).decode()}


def test_a_planted_root_names_no_place_the_undo_acts_on(
    project: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The old attack: an absolute root, a relative path. The root is only the journal's identity now."""
    plant(project, "X", JOURNAL, {"root": str(outside), "priors": [prior("victim.txt", "pwned\n")]})
    assert main(["undo", "X", "--project", str(project)]) == ExitCode.OK
    assert (outside / "victim.txt").read_text() == "the person's own file\n"
    assert (project / "victim.txt").read_text() == "pwned\n"  # the path was read in this project
    assert "rolled the changeset back" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("../home/victim.txt", "climbs with '..'"),
        ("models/../../home/victim.txt", "climbs with '..'"),
        ("/ABSOLUTE/victim.txt", "not a plain path relative to the project"),
        ("models/linked/victim.txt", "goes through a symlink that leads outside"),
        ("models//victim.txt", "not a plain path relative to the project"),
        (".ae/runs/other/applied.json", "inside .ae/"),
        ("jaffle_shop.duckdb", "is the warehouse file"),
    ],
)
def test_a_journal_entry_outside_the_project_refuses_the_whole_undo(
    project: Path, outside: Path, capsys: pytest.CaptureFixture[str], entry: str, why: str
) -> None:
    (project / "models" / "linked").symlink_to(outside, target_is_directory=True)
    entry = entry.replace("/ABSOLUTE", str(outside))
    sources = project / "models" / "staging" / "raw" / "_raw__sources.yml"
    before = digest_tree(project), sources.read_bytes()
    # a good entry first: nothing of the run is undone when one entry is bad
    priors = [prior("models/staging/raw/_raw__sources.yml", "version: 2\n"), prior(entry, "pwned\n")]
    plant(project, "X", JOURNAL, {"root": str(project.resolve()), "priors": priors})
    assert main(["undo", "X", "--project", str(project)]) == ExitCode.ENVIRONMENT
    err = capsys.readouterr().err
    assert f"applied.json names {entry!r}" in err and why in err and "nothing of it was undone" in err
    assert "Traceback" not in err
    assert (outside / "victim.txt").read_text() == "the person's own file\n"
    assert (digest_tree(project), sources.read_bytes()) == before


def other_warehouse(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    db = folder / "other.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table main.orders as select 1 as id")
    return db


def test_relations_of_another_warehouse_are_refused_naming_both(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = other_warehouse(tmp_path / "elsewhere")
    before = hashlib.sha256(other.read_bytes()).hexdigest()
    plant(
        project,
        "X",
        RELATIONS_JOURNAL,
        {
            "root": str(project.resolve()),
            "warehouse": str(other),
            "target": "dev",
            "created": ["other.main.orders"],
        },
    )
    assert main(["undo", "X", "--project", str(project)]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert "refused, nothing changed" in err and str(other) in err
    assert str(warehouse_path(project).resolve()) in err  # the warehouse the profile names now
    assert "Point the target back" in err
    assert hashlib.sha256(other.read_bytes()).hexdigest() == before
    assert (project / ".ae" / "runs" / "X" / RELATIONS_JOURNAL).exists()


def test_a_relation_in_a_protected_schema_is_never_dropped_by_an_undo(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dev and prod share the example's file: a planted journal naming prod's table drops nothing."""
    with duckdb.connect(str(warehouse_path(project))) as con:
        con.execute("create schema prod; create table prod.fct_orders as select 1 as id")
    plant(
        project,
        "X",
        RELATIONS_JOURNAL,
        {"warehouse": "jaffle_shop.duckdb", "target": "dev", "created": ["jaffle_shop.prod.fct_orders"]},
    )
    assert main(["undo", "X", "--project", str(project)]) == ExitCode.REFUSED
    assert "protected location" in capsys.readouterr().err
    assert "jaffle_shop.prod.fct_orders" in relations(project)


@pytest.mark.parametrize("where", ["../elsewhere/other.duckdb", "models/../../elsewhere/other.duckdb"])
def test_a_relative_warehouse_that_climbs_out_is_damage(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    other = other_warehouse(tmp_path / "elsewhere")
    plant(project, "X", RELATIONS_JOURNAL, {"warehouse": where, "created": ["other.main.orders"]})
    assert main(["undo", "X", "--project", str(project)]) == ExitCode.ENVIRONMENT
    assert f"relations.json names {where!r}" in capsys.readouterr().err
    assert "other.main.orders" in list_relation_names(other)


def test_an_artifact_mark_pointing_outside_cleans_nothing(
    project: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mark = {"since_ns": 0, "target_dir": str(outside), "log_file": "logs/dbt.log", "log_size": 0}
    plant(project, "X", "artifacts.json", mark)
    plant(project, "X", JOURNAL, {"root": str(project.resolve()), "priors": []})
    assert main(["undo", "X", "--project", str(project)]) == ExitCode.ENVIRONMENT
    assert "artifacts.json names" in capsys.readouterr().err
    assert (outside / "victim.txt").read_text() == "the person's own file\n"


# --- (b) and (c): real runs, a copy, and the undo order ---------------------------------------


def run(project: Path, files: dict[str, str], request: str) -> str:
    with Session(load_settings(project, max_repairs=0)) as session:
        outcome = session.run(request, planner=ScriptedPlanner([writes(files)]))
    assert outcome.status == "success", outcome.reason
    return outcome.run_id


def one_line(line: str) -> Callable[[str], str]:
    """A chat reader that types ``line`` and then ends the input."""
    lines = iter([line])

    def read(_prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    return read


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """Run A adds stg_customers; run B adds customer_names, which refs it. The copy test leaves this
    project as it was (it checks that); the order test undoes both runs, so it comes after it."""
    project = create_example_project(tmp_path_factory.mktemp("undo") / "shop")
    first = run(project, STG, "add stg_customers")
    second = run(project, NAMES, "add customer_names on stg_customers")
    yield project, first, second


@pytest.mark.slow
def test_undo_in_a_copy_acts_on_the_copy_and_leaves_the_original(
    two_runs: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original, _, second = two_runs
    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)
    before = digest_tree(original)
    assert "jaffle_shop.main.customer_names" in relations(copy)

    assert main(["undo", second, "--project", str(copy)]) == ExitCode.OK, capsys.readouterr().err
    assert digest_tree(original) == before  # files and warehouse, byte for byte
    assert "jaffle_shop.main.customer_names" in relations(original)
    assert (original / "models" / "marts" / "customer_names.sql").exists()
    assert not (copy / "models" / "marts" / "customer_names.sql").exists()
    assert "jaffle_shop.main.customer_names" not in relations(copy)
    assert "dropped 1 relation(s)" in capsys.readouterr().out


@pytest.mark.slow
def test_an_older_run_is_undone_only_after_the_newer_one_that_needs_it(
    two_runs: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    project, first, second = two_runs
    before = digest_tree(project), relations(project)

    assert main(["undo", first, "--project", str(project)]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert "refused, nothing changed" in err
    assert f"run {second} ('add customer_names on stg_customers')" in err
    assert "models/marts/customer_names.sql" in err and "stg_customers" in err
    assert f"`ae undo {second} --project {project}`, then `ae undo {first} --project {project}`" in err
    assert (digest_tree(project), relations(project)) == before

    # chat's /undo of a turn that ran A is held to the same order
    settings = load_settings(project)
    Conversation(id="c1", turns=[Turn(request="add stg_customers", run_id=first, status="success")]).save(
        settings.state_dir
    )
    out = io.StringIO()
    chat(settings, target=None, conversation_id="c1", read=one_line("/undo"), out=out, err=io.StringIO())
    assert "could not undo add stg_customers: refused, nothing changed" in out.getvalue()
    assert (digest_tree(project), relations(project)) == before

    assert main(["undo", second, "--project", str(project)]) == ExitCode.OK
    assert main(["undo", first, "--project", str(project)]) == ExitCode.OK
    assert not (project / "models" / "staging" / "stg_customers.sql").exists()
    assert not {"jaffle_shop.main.stg_customers", "jaffle_shop.main.customer_names"} & relations(project)
    with DbtEngine(project) as engine:
        assert engine.invoke(DbtCall(command="parse")).success  # the project still parses


def journaled_run(project: Path, run_id: str, minute: int, files: dict[str, str]) -> None:
    """A run's applied journal and record as Validate and the run store write them (no dbt)."""
    paths = ProjectPaths.for_project(project)
    changeset = Changeset()
    for path, text in files.items():
        changeset.write_file(paths, path, text)
    apply_journaled(changeset, paths, project / ".ae" / "runs" / run_id)
    started = datetime(2026, 1, 1, 12, minute, tzinfo=UTC)
    record = RunRecord(
        run_id=run_id, request=f"request {run_id}", target="dev", started_at=started, pid=1, host="h"
    )
    save(record_path(project / ".ae", run_id), record)


EXTRA_SOURCE = """\
  - name: extra
    schema: raw
    tables:
      - name: events
"""


@pytest.mark.parametrize(
    ("newer", "needs"),
    [
        ({"models/uses_x.sql": "select * from {{ ref('dim_x') }}\n"}, "needs dim_x"),
        ({"models/dim_x.sql": "select 2 as id\n"}, "needs the same file"),
        (
            {"models/events.sql": "select * from {{ source('extra', 'events') }}\n"},
            "needs source extra.events",
        ),
    ],
)
def test_an_older_run_is_refused_while_a_newer_run_needs_what_it_removes(
    project: Path, capsys: pytest.CaptureFixture[str], newer: dict[str, str], needs: str
) -> None:
    sources = project / "models" / "staging" / "raw" / "_raw__sources.yml"
    journaled_run(
        project,
        "A",
        1,
        {
            "models/dim_x.sql": "select 1 as id\n",
            sources.relative_to(project).as_posix(): sources.read_text() + EXTRA_SOURCE,
        },
    )
    journaled_run(project, "B", 2, newer)
    before = digest_tree(project)
    assert main(["undo", "A", "--project", str(project)]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert "from run B ('request B')" in err and needs in err
    assert f"`ae undo B --project {project}`, then `ae undo A --project {project}`" in err
    assert digest_tree(project) == before
    assert main(["undo", "B", "--project", str(project)]) == ExitCode.OK
    assert main(["undo", "A", "--project", str(project)]) == ExitCode.OK
    assert not (project / "models" / "dim_x.sql").exists() and "extra" not in sources.read_text()


def test_an_undo_that_would_break_a_file_no_run_wrote_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journaled_run(project, "A", 1, {"models/dim_x.sql": "select 1 as id\n"})
    journaled_run(project, "OLDER", 0, {"models/unrelated.sql": "select 3 as id\n"})  # older: no matter
    (project / "models" / "mine.sql").write_text('select id from {{ ref("dim_x") }}\n')
    assert main(["undo", "A", "--project", str(project)]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert "models/mine.sql, from a file no later run wrote, needs dim_x" in err
    assert "OLDER" not in err and (project / "models" / "dim_x.sql").exists()


# --- a warehouse outside the project, shared by a copy ------------------------------------------


def test_a_copy_never_drops_the_originals_relations_in_a_shared_warehouse(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared" / "w.duckdb"
    shared.parent.mkdir()
    shutil.move(warehouse_path(project), shared)
    profile = project / "profiles.yml"
    profile.write_text(profile.read_text().replace("path: jaffle_shop.duckdb", f"path: {shared}"))
    # a run's journals as Validate and Execute write them (no dbt needed to write these)
    paths = ProjectPaths.for_project(project)
    run_dir = project / ".ae" / "runs" / "R"
    changeset = Changeset()
    changeset.write_file(paths, "models/new_model.sql", "select 1 as id\n")
    apply_journaled(changeset, paths, run_dir)
    with duckdb.connect(str(shared)) as con:
        con.execute("create table main.new_model as select 1 as id")
    record_built_relations(run_dir, built_relations(project, shared, "dev", ["w.main.new_model"], []))

    copy = tmp_path / "copy"
    shutil.copytree(project, copy, symlinks=True)
    assert main(["undo", "R", "--project", str(copy)]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert f"this project is a copy of {project.resolve()}" in err
    assert f"`ae undo R --project {project.resolve()}`" in err
    assert "w.main.new_model" in list_relation_names(shared)
    assert (copy / "models" / "new_model.sql").exists()  # refused: nothing changed in the copy either

    assert main(["undo", "R", "--project", str(project)]) == ExitCode.OK  # the original may
    assert "w.main.new_model" not in list_relation_names(shared)
    assert not (project / "models" / "new_model.sql").exists()


# --- (d) links under .ae ----------------------------------------------------------------------


SECRET = "SECRET-IN-THE-LINKED-FOLDER"


def linked_run(project: Path, outside: Path) -> None:
    """``.ae/runs/EVIL`` a link to a folder outside holding a run's files full of a secret."""
    target = outside / "evil"
    target.mkdir()
    (target / "report.md").write_text(SECRET)
    (target / "report.json").write_text(json.dumps({"secret": SECRET}))
    record = RunRecord(
        run_id="EVIL", request=SECRET, target="dev", started_at=datetime.now(UTC), pid=1, host="h"
    )
    (target / "run.json").write_text(record.model_dump_json())
    (target / JOURNAL).write_text(json.dumps({"priors": [prior("victim.txt", SECRET)]}))
    (ensure_state_dir(project) / "runs").mkdir()
    (project / ".ae" / "runs" / "EVIL").symlink_to(target, target_is_directory=True)


def test_a_linked_run_folder_is_never_followed(
    project: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    linked_run(project, outside)
    linked_before = digest_tree(outside / "evil")
    good = RunRecord(
        run_id="GOOD", request="a real run", target="dev", started_at=datetime.now(UTC), pid=1, host="h"
    )
    save(record_path(project / ".ae", "GOOD"), good)

    assert main(["show", "EVIL", "--project", str(project)]) == ExitCode.ENVIRONMENT
    shown = capsys.readouterr()
    assert "is a symbolic link" in shown.err and SECRET not in shown.out + shown.err
    assert str(outside) not in shown.err  # where it points is not told either

    assert main(["runs", "--project", str(project)]) == ExitCode.OK
    listed = capsys.readouterr()
    assert "GOOD" in listed.out and "skipped EVIL" in listed.out and SECRET not in listed.out
    assert main(["runs", "--json", "--project", str(project)]) == ExitCode.OK
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["GOOD"]

    for command in ("undo", "resume"):
        assert main([command, "EVIL", "--project", str(project)]) == ExitCode.ENVIRONMENT
        refused = capsys.readouterr()
        assert "is a symbolic link" in refused.err and SECRET not in refused.out + refused.err
    assert not (project / "victim.txt").exists()
    assert digest_tree(outside / "evil") == linked_before  # nothing written through the link


def test_a_linked_report_or_journal_is_refused(
    project: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = ensure_state_dir(project) / "runs" / "R"
    run_dir.mkdir(parents=True)
    (outside / "secret.md").write_text(SECRET)
    (run_dir / "report.md").symlink_to(outside / "secret.md")
    (run_dir / JOURNAL).symlink_to(outside / "secret.md")
    assert main(["show", "R", "--project", str(project)]) == ExitCode.ENVIRONMENT
    assert main(["undo", "R", "--project", str(project)]) == ExitCode.ENVIRONMENT
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert captured.err.count("is a symbolic link") == 2


def test_a_state_folder_linked_out_of_the_project_is_refused(project: Path, outside: Path) -> None:
    (project / ".ae").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StateLinkRefused, match="leads out of the project"):
        ensure_state_dir(project)
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


def test_a_linked_lock_file_is_refused_and_its_target_untouched(
    project: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Taking the project's lock truncates the lock file: through a link, that would be any file."""
    plant(project, "R", JOURNAL, {"priors": []})
    (project / ".ae" / "project.lock").symlink_to(outside / "victim.txt")
    assert main(["undo", "R", "--project", str(project)]) == ExitCode.ENVIRONMENT
    assert "project.lock is a symbolic link" in capsys.readouterr().err
    assert (outside / "victim.txt").read_text() == "the person's own file\n"


def test_ae_never_writes_or_reads_its_stores_conversations_reports_or_transcripts_through_a_link(
    project: Path, outside: Path
) -> None:
    """sqlite, a conversation, a report and a transcript would each follow a planted link."""
    from agent.replay import transcript_of
    from agent.store import RunStore, open_checkpointer
    from graph.report import RunReport, write_report

    state = ensure_state_dir(project)
    victim = outside / "victim.txt"
    before = victim.read_bytes()
    settings = load_settings(project)
    (state / "ae.sqlite").symlink_to(victim)
    with pytest.raises(StateLinkRefused, match=r"ae\.sqlite is a symbolic link"):
        RunStore(None, state)
    (state / "checkpoints.sqlite").symlink_to(victim)
    with pytest.raises(StateLinkRefused, match=r"checkpoints\.sqlite is a symbolic link"):
        open_checkpointer(None, state).__enter__()
    (state / "conversations").mkdir()
    (state / "conversations" / "c1.json").symlink_to(victim)
    with pytest.raises(StateLinkRefused):
        Conversation.load(state, "c1", project)
    with pytest.raises(StateLinkRefused):
        Conversation(id="c1", turns=[Turn(request="/help", run_id="r", status="success")]).save(state)
    run_dir = state / "runs" / "R"
    run_dir.mkdir(parents=True)
    (run_dir / "report.json").symlink_to(victim)
    with pytest.raises(StateLinkRefused):
        write_report(
            RunReport.model_validate(
                {"request": "x", "run_id": "R", "status": "success", "planner": "command", "target": "dev"}
            ),
            run_dir,
        )
    (run_dir / "transcript.jsonl").symlink_to(victim)
    with pytest.raises(StateLinkRefused):
        transcript_of(settings, "R")
    assert victim.read_bytes() == before
