"""Verify's proof of incremental models on PostgreSQL (graph/incremental_proof.py): upstream rows
are edited in place in a scratch database on the same server, so an append-only model over a table
edited in place fails the proof and a merge on the last-change time passes; the user's database is
left as it was and no scratch database is left behind."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from graph.context import RunContext
from graph.incremental_proof import prove_incrementals
from tests.postgres import POSTGRES_ADMIN_DSN, postgres_database
from tests.scripted_planner import ScriptedPlanner
from tests.test_incremental_proof import INCREMENTAL, MODELS
from tests.warehouse_projects import postgres_project
from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine
from tools.manifest import Manifest
from tools.paths import ProjectPaths

SOURCES = "version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables:\n      - name: accounts\n"


def _state(dsn: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        names = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'public')"
        ).fetchall()
        return {
            f"{s}.{n}": tuple(  # type: ignore[misc]
                conn.execute(
                    f"select count(*), md5(coalesce(string_agg(md5(t::text), '' order by md5(t::text)), '')) "
                    f'from "{s}"."{n}" t'
                ).fetchone()
                or ()
            )
            for s, n in names
        }


def _scratch_databases() -> list[str]:
    with psycopg.connect(POSTGRES_ADMIN_DSN) as conn:
        rows = conn.execute("select datname from pg_database where datname like 'ae_proof_%'").fetchall()
    return [str(r[0]) for r in rows]


@pytest.mark.postgres
def test_append_over_rows_edited_in_place_fails_on_postgres(tmp_path: Path) -> None:
    before_scratch = set(_scratch_databases())
    with postgres_database() as dsn:
        project = postgres_project(tmp_path / "shop", dsn)
        (project / "models" / "sources.yml").write_text(SOURCES)
        for name, config in MODELS.items():
            (project / "models" / f"{name}.sql").write_text(INCREMENTAL.format(config=config))
        with psycopg.connect(dsn) as conn:
            conn.execute("create schema raw")
            conn.execute(
                "create table raw.accounts as select i as id, 'plan ' || i as plan, "
                "timestamp '2024-01-01' + i * interval '1 day' as updated_at from generate_series(1, 40) i"
            )
        with DbtEngine(project, target="dev") as engine:
            built = engine.invoke(DbtCall(command="run", select=list(MODELS)))
            assert built.success, built.summary()
            tools = ToolContext(paths=ProjectPaths.for_project(project), target="dev", engine=engine)
            ctx = RunContext(run_id="r", run_dir=tmp_path / "run", tools=tools, planner=ScriptedPlanner([]))
            # the run's audit is the live schema here: what matters is where the proof writes
            ctx.enter_audit(engine)
            before = _state(dsn)
            proved = {c.model: c for c in prove_incrementals(ctx, None, Manifest.load(project), built.nodes)}
            assert _state(dsn) == before  # nothing written in the user's database
    assert set(_scratch_databases()) == before_scratch  # the scratch database was dropped
    append, merge = proved["accounts_append"], proved["accounts_merge"]
    assert append.incremental == append.full_refresh
    assert list(append.edited.values()) == [4]
    assert not append.matches and "after editing 4 upstream row(s) in place, incremental DIFFERS FROM" in (
        append.describe()
    ), append.describe()
    assert merge.matches, merge.describe()
    assert merge.after_edits_incremental == merge.after_edits_full_refresh is not None
