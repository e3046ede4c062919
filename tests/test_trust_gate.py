"""Issue 23, items 1-2: the gate judges what dbt resolves a change to, not how it is spelled.

A dev run wrote prod, with no ``--yes`` and no ``--allow-code``: a ``sql_header``, a body that closes
dbt's ``create ... as (`` (its lint rule switched off by the plan), a snapshot's ``target_schema``, a
macro overriding ``duckdb__create_view_as``, and an ``external`` model writing a file outside the
project. End to end here: Claude (the fake Messages API, the real SDK) writes each through ``ae run``
on a copy of the example whose prod schema is built, real dbt compiles it read-only, and the run
ends refused (exit 3) with prod's rows, the project's files and the file outside all as they were.
A ``--yes`` lets the snapshot through, so the gate asks rather than refusing everything. Below them,
the pure checks without dbt: statement counting, override detection, location matching.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.exit_codes import ExitCode
from agent.planners import choose_planner
from agent.runner import Session
from agent.settings import load_settings
from evals.agents import copy_fixture
from graph.lint_scope import ChangeScope, added_disables
from graph.plan_spec import Operation, PlanRequest, PlanSpec
from graph.trust_gate import Reach, review_change
from tests.dbt_project_factory import write_tiny_project
from tests.fake_anthropic import FakeAnthropic, Step, tool_use
from tests.scripted_planner import ScriptedPlanner
from tests.test_trust_boundary import FAKE_KEY, project_files
from tools.context import ToolContext
from tools.engine import DbtCall, DbtEngine, DbtResult
from tools.example_project import create_example_project, warehouse_path
from tools.manifest import Manifest
from tools.protection import Location, ProtectedPlaces, Protection
from tools.resolved_gate import (
    builtin_materializations,
    code_findings,
    location_findings,
    macro_findings,
    overridden,
    sql_dialect,
    statement_escape,
)
from tools.warehouse import quote_identifier, readonly_connection

DUCKDB = sql_dialect("duckdb")

# --- the escapes, end to end ------------------------------------------------------------------------


def model_yml(name: str) -> str:
    return (
        f"version: 2\nmodels:\n  - name: {name}\n    description: One row.\n    columns:\n"
        "      - name: id\n        description: The row.\n        data_tests: [unique, not_null]\n"
    )


def escapes(outside: Path) -> dict[str, dict[str, str]]:
    """Each escape of the issue as the files Claude writes."""
    return {
        "sql_header": {
            "models/marts/audit_header.sql": (
                "{{ config(materialized='table', sql_header=\"create table prod.pwn as select 1 as a; "
                'delete from prod.fct_orders where order_id % 2 = 0;") }}\nselect 1 as id\n'
            ),
            "models/marts/audit_header.yml": model_yml("audit_header"),
        },
        "body_escape": {
            "models/marts/audit_body.sql": (
                "{{ config(materialized='table', meta={'ae_lint_disable': ['AE013']}) }}\n"
                "select 1 as id ); create table prod.pwn as select 1 as a; "
                "delete from prod.fct_orders where order_id % 2 = 0; select (1\n"
            ),
            "models/marts/audit_body.yml": model_yml("audit_body"),
        },
        "snapshot_target_schema": {
            "snapshots/orders_history.sql": (
                "{% snapshot orders_history %}\n"
                "{{ config(target_schema='prod', unique_key='order_id', strategy='check',"
                " check_cols='all') }}\n"
                "select * from {{ ref('stg_orders') }}\n{% endsnapshot %}\n"
            ),
        },
        "adapter_macro_override": {
            "macros/views.sql": (
                "{% macro duckdb__create_view_as(relation, sql) -%}\n"
                "  create view {{ relation }} as ({{ sql }});\n"
                "  delete from prod.fct_orders where order_id % 2 = 0;\n"
                "{%- endmacro %}\n"
            ),
        },
        "external_file": {
            "models/marts/export.sql": (
                f"{{{{ config(materialized='external', location='{outside}') }}}}\nselect 1 as id\n"
            ),
            "models/marts/export.yml": model_yml("export"),
        },
    }


def steps_writing(files: dict[str, str]) -> list[Step]:
    writes = [
        tool_use("write_file", {"path": path, "content": text}, id=f"w{i}")
        for i, (path, text) in enumerate(files.items())
    ]
    return [*writes, tool_use("submit_plan", {"summary": "an audit change"}, id="done")]


def prod_state(db: Path) -> dict[str, tuple[int, str]]:
    """Every relation of schema prod: its row count and a hash of its rows (in order)."""
    with readonly_connection(db) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'prod' order by 1"
            ).fetchall()
        ]
        state: dict[str, tuple[int, str]] = {}
        for table in tables:
            rows = con.execute(f"select * from prod.{quote_identifier(table)} order by all").fetchall()
            state[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return state


SCALED_SQL = "select {{ var('n', 1) }} as id\n"
SCALED_YML = model_yml("scaled")
LEGACY_SQL = "{{ config(meta={'ae_lint_disable': ['AE006']}) }}\nselect 1 as id\n"
LEGACY_YML = (
    "version: 2\nmodels:\n  - name: legacy\n    columns:\n"
    "      - name: id\n        description: The row.\n        data_tests: [unique, not_null]\n"
)


@pytest.fixture(scope="module")
def built_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example with its staging and marts built in dev and prod, a user's model ``legacy``
    whose own ``ae_lint_disable`` switches off AE006 (it has no description), and one, ``scaled``,
    that pastes ``var('n')`` into its SQL."""
    root = create_example_project(tmp_path_factory.mktemp("base") / "shop")
    for fixture in ("staged", "marts"):
        copy_fixture(fixture, root)
    (root / "models" / "legacy.sql").write_text(LEGACY_SQL)
    (root / "models" / "legacy.yml").write_text(LEGACY_YML)
    (root / "models" / "scaled.sql").write_text(SCALED_SQL)
    (root / "models" / "scaled.yml").write_text(SCALED_YML)
    for target in ("prod", None):
        with DbtEngine(root, target=target, timeout_s=300) as engine:
            assert engine.run("build").success
    return root


@pytest.fixture
def shop(built_shop: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "shop"
    shutil.copytree(built_shop, copy, ignore=shutil.ignore_patterns("target", "logs", ".ae"))
    return copy


@pytest.fixture
def claude_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], None]:
    """Claude at ``base_url``; the default protection (prod, production), no repair visits."""
    monkeypatch.setenv("AE_CONFIG", str(tmp_path / "no-user-config.yml"))
    for name in ("AE_PROTECTED_TARGETS", "AE_PROTECTED_SCHEMAS", "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AE_MAX_REPAIRS", "0")

    def point_at(base_url: str) -> None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", base_url)
        monkeypatch.setenv("AE_RETRY_ATTEMPTS", "1")

    return point_at


def ae_run(project: Path, files: dict[str, str], claude_env: Callable[[str], None], *flags: str) -> int:
    with FakeAnthropic(steps_writing(files)) as fake:
        claude_env(fake.base_url)
        code = main(["run", "add an audit model", "--project", str(project), *flags])
        assert len(fake.requests) == len(files) + 1  # Claude really planned it
    return code


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A file in the user's home, outside the project."""
    home = tmp_path / "home"
    home.mkdir()
    target = home / "notes.csv"
    target.write_text("the user's own file\n")
    yield target


@pytest.mark.slow
@pytest.mark.parametrize(
    "escape",
    ["sql_header", "body_escape", "snapshot_target_schema", "adapter_macro_override", "external_file"],
)
def test_a_dev_run_that_would_write_prod_or_outside_is_refused_and_leaves_everything(
    escape: str,
    shop: Path,
    outside: Path,
    claude_env: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = warehouse_path(shop)
    files_before, prod_before = project_files(shop), prod_state(db)
    assert prod_before["fct_orders"][0] > 0

    code = ae_run(shop, escapes(outside)[escape], claude_env)

    printed = capsys.readouterr()
    assert code == ExitCode.REFUSED, printed.out + printed.err
    assert "refused" in printed.out
    assert prod_state(db) == prod_before  # no row deleted, no table added (prod.pwn, prod.orders_history)
    assert project_files(shop) == files_before
    assert outside.read_text() == "the user's own file\n"
    assert not list(outside.parent.glob("*.tmp")) and len(list(outside.parent.iterdir())) == 1


@pytest.mark.slow
def test_with_the_right_approval_the_gate_lets_the_snapshot_into_prod(
    shop: Path, outside: Path, claude_env: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    files = escapes(outside)["snapshot_target_schema"]
    assert ae_run(shop, files, claude_env, "--allow-code") == ExitCode.REFUSED  # code approval is not it
    assert "re-run with --yes" in capsys.readouterr().err  # the flag that approves it is named
    assert "orders_history" not in prod_state(warehouse_path(shop))
    assert ae_run(shop, files, claude_env, "--yes") == ExitCode.OK, capsys.readouterr().err
    assert prod_state(warehouse_path(shop))["orders_history"][0] > 0


@pytest.mark.slow
def test_a_plans_lint_switch_is_ignored_while_the_users_own_still_counts(
    shop: Path, claude_env: Callable[[str], None]
) -> None:
    """The plan copies the user's ``ae_lint_disable: [AE006]`` into its own new model and touches
    the user's model: AE006 blocks on the plan's model only."""
    files = {
        "models/legacy.sql": LEGACY_SQL.replace("select 1", "select 2"),
        "models/newbie.sql": LEGACY_SQL,
        "models/newbie.yml": LEGACY_YML.replace("legacy", "newbie"),
    }
    with FakeAnthropic(steps_writing(files)) as fake:
        claude_env(fake.base_url)
        settings = load_settings(shop, max_repairs=0, anthropic_base_url=fake.base_url)
        planner, describer = choose_planner(settings, "add newbie", "claude")
        with Session(settings) as session:
            outcome = session.run("add newbie", planner=planner, describer=describer)
    assert outcome.status == "failed", outcome.reason
    validation: dict[str, Any] = outcome.state["validation"]
    assert validation["lint_disable_ignored"] == {"model.jaffle_shop.newbie": ["AE006"]}
    flagged = {(f["node"], f["rule_id"]) for f in validation["lint"] + validation["lint_debt"]}
    assert ("model.jaffle_shop.newbie", "AE006") in flagged
    assert not any(node == "model.jaffle_shop.legacy" for node, _ in flagged)
    assert "newbie" in outcome.reason and "AE006" in outcome.reason


@pytest.mark.slow
def test_a_value_in_vars_is_judged_as_the_build_would_paste_it(shop: Path) -> None:
    """No file changes: the plan's ``run --vars`` pastes SQL into the user's own model. Approve sees
    no Jinja in it; compiled with the vars, the body escapes its statement."""
    injected = "1 as id ); delete from prod.fct_orders where order_id % 2 = 0; select (1"

    rebuild = Operation(command="run", select=["scaled"], vars={"n": injected})

    def plan(_request: PlanRequest, _tools: ToolContext) -> PlanSpec:
        return PlanSpec(summary="rebuild scaled", operations=[rebuild])

    prod_before = prod_state(warehouse_path(shop))
    with Session(load_settings(shop, max_repairs=0)) as session:
        outcome = session.run("rebuild scaled", planner=ScriptedPlanner([plan]))
        question = outcome.question or {}
        assert outcome.status == "awaiting_approval" and question.get("kind") == "code"
        assert any("delete from prod.fct_orders" in f["snippet"] for f in question["findings"])
        outcome = session.resume(outcome.run_id, planner=ScriptedPlanner([plan]), approval=False)
    assert outcome.status == "refused", outcome.reason
    assert prod_state(warehouse_path(shop)) == prod_before


def test_an_operation_with_vars_is_placed_where_those_vars_put_it(tmp_path: Path) -> None:
    """Vars change configs: the gate judges the manifest the compile with them wrote, not the one
    parsed without them (the schema here comes from ``var()``)."""
    project = write_tiny_project(tmp_path / "tiny")
    placed = "{{ config(schema=var('where', 'staging')) }}\nselect 1 as id\n"
    (project / "models" / "placed.sql").write_text(placed)
    places = ProtectedPlaces(
        Location("duckdb", str(project / "tiny.duckdb"), "", "main"), "tiny", (), ("main_prod",)
    )
    protection = Protection("dev", places.target, False, "dev is not protected", places)

    with DbtEngine(project) as engine:

        def check(call: DbtCall) -> DbtResult:
            return engine.invoke(call.model_copy(update={"read_only": True}))

        def protected_by(op: Operation) -> list[str]:
            spec = PlanSpec(summary="rebuild placed", operations=[op])
            nothing = Reach(frozenset(), frozenset())
            manifest = Manifest.for_engine(engine)
            found = review_change(
                check, manifest, spec, nothing, build_nodes=[], before=None, protection=protection
            )
            return [f.why for f in found.locations]

        assert check(DbtCall(command="parse")).success
        assert protected_by(Operation(command="run", select=["placed"])) == []
        (why,) = protected_by(Operation(command="run", select=["placed"], vars={"where": "prod"}))
    assert "placed builds" in why and "main_prod" in why


# --- the pure checks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "select 1 as id ); create table prod.x as select 1",
        "select 1; delete from prod.t",
        "select 1 as id\n)\n",
        "select 'a\\' ); drop table x; --'",  # DuckDB's '' strings have no backslash escape
        "select 'unterminated",
    ],
)
def test_bodies_that_run_more_than_their_own_statement(sql: str) -> None:
    assert statement_escape(sql, DUCKDB) is not None


@pytest.mark.parametrize(
    "sql",
    [
        "select 1 as id",
        "select 1;",
        "select 1;  -- trailing\n",
        "select ';)' as a, \"b;)\" as c",
        "select (1) -- ); drop table x\n",
        "/* ; ) */ select 1",
        "select 1 /* /* */ ); nested, as DuckDB reads it */",
        "select $$ ); $$ as a",
        "select e'a\\' ); x; --' as a",
        "with t as (select 1 as a) select (select a from t)",
    ],
)
def test_one_statement_whatever_its_strings_and_comments_hold(sql: str) -> None:
    assert statement_escape(sql, DUCKDB) is None


def test_the_line_and_text_of_an_escape() -> None:
    escape = statement_escape("select 1\nfrom t ); drop table prod.x; select (1", DUCKDB)
    assert escape is not None and escape.line == 2 and "drop table prod.x" in escape.snippet


def test_an_unknown_adapter_counts_with_sqlglots_generic_dialect() -> None:
    assert statement_escape("select 1; select 2", sql_dialect("no_such_adapter")) is not None
    assert sql_dialect("sqlserver").__class__.__name__ == "TSQL"


DBT_MACROS = {"create_view_as", "duckdb__create_view_as", "is_incremental", "generate_schema_name"}


@pytest.mark.parametrize(
    "name",
    [
        "duckdb__create_view_as",
        "duckdb__get_columns_in_relation",
        "default__anything",
        "materialization_table_duckdb",
        "create_table_as",
        "get_incremental_append_sql",
        "generate_schema_name",
        "is_incremental",
        "ref",
    ],
)
def test_macros_that_take_over_dbts(name: str) -> None:
    assert overridden(name, DBT_MACROS, "duckdb") is not None


@pytest.mark.parametrize("name", ["cents_to_dollars", "postgres_helper", "create_audit", "get_sql"])
def test_a_projects_own_macros_do_not(name: str) -> None:
    assert overridden(name, DBT_MACROS, "duckdb") is None


def manifest(nodes: dict[str, dict[str, Any]], macros: dict[str, dict[str, Any]] | None = None) -> Manifest:
    internal = {
        "macro.dbt.create_view_as": {"name": "create_view_as", "package_name": "dbt"},
        "macro.dbt_duckdb.materialization_table_duckdb": {
            "name": "materialization_table_duckdb",
            "package_name": "dbt_duckdb",
        },
        "macro.dbt_duckdb.materialization_external_duckdb": {
            "name": "materialization_external_duckdb",
            "package_name": "dbt_duckdb",
        },
        "macro.dbt.materialization_view_default": {
            "name": "materialization_view_default",
            "package_name": "dbt",
        },
        "macro.dbt.materialization_table_function_duckdb": {
            "name": "materialization_table_function_duckdb",
            "package_name": "dbt_duckdb",
        },
    }
    return Manifest(
        {
            "metadata": {"adapter_type": "duckdb", "project_name": "shop"},
            "nodes": nodes,
            "macros": {**internal, **(macros or {})},
        }
    )


def model(name: str, **config: Any) -> dict[str, Any]:
    return {
        "unique_id": f"model.shop.{name}",
        "package_name": "shop",
        "name": name,
        "resource_type": "model",
        "original_file_path": f"models/{name}.sql",
        "raw_code": f"{{{{ config(materialized='{config.get('materialized', 'view')}') }}}}\nselect 1",
        "compiled_code": "select 1",
        "database": "shop",
        "schema": "main",
        "config": {"materialized": "view", **config},
    }


def test_builtin_materializations_are_dbts_and_the_adapters() -> None:
    names = builtin_materializations(manifest({}, {"macro.shop.materialization_mine_default": {
        "name": "materialization_mine_default", "package_name": "shop"}}))  # fmt: skip
    assert {"table", "view", "external", "table_function", "ephemeral"} <= names and "mine" not in names


def test_code_beside_the_statement_of_a_node_the_change_defines() -> None:
    nodes = {
        "model.shop.hdr": model("hdr", sql_header="delete from prod.t"),
        "model.shop.ext": model("ext", materialized="external", location="/home/u/x.csv"),
        "model.shop.mine": model("mine", materialized="mine"),
        "model.shop.hooked": model(
            "hooked", **{"post-hook": [{"sql": "drop table raw.x", "transaction": True}]}
        ),
        "model.shop.body": {**model("body"), "compiled_code": "select 1 ); drop table prod.t; select (1"},
        "model.shop.plain": model("plain", materialized="table"),
    }
    found = code_findings(manifest(nodes), nodes, None, {})
    kinds = {(f.path, f.kind) for f in found}
    assert kinds == {
        ("models/hdr.sql", "sql_header"),
        ("models/ext.sql", "file_write"),
        ("models/mine.sql", "materialization"),
        ("models/hooked.sql", "hook"),
        ("models/body.sql", "statements"),
    }
    header = next(f for f in found if f.kind == "sql_header")
    assert header.snippet == "delete from prod.t" and "sql_header" in header.why
    assert "/home/u/x.csv" in next(f for f in found if f.kind == "file_write").why


def test_a_setting_the_node_had_before_the_change_is_the_users() -> None:
    before = {"model.shop.hdr": model("hdr", sql_header="set timezone = 'UTC'")}
    now = {"model.shop.hdr": {**model("hdr", sql_header="set timezone = 'UTC'"), "raw_code": "select 2"}}
    assert code_findings(manifest(now), now, manifest(before), {}) == []
    changed = {"model.shop.hdr": model("hdr", sql_header="delete from prod.t")}
    assert [f.kind for f in code_findings(manifest(changed), changed, manifest(before), {})] == ["sql_header"]


def test_macro_overrides_are_found_in_the_changes_own_macros_only() -> None:
    text = (
        "{% macro cents(x) %}{{ x }}/100{% endmacro %}\n"
        "{% macro duckdb__create_view_as(relation, sql) %}{% endmacro %}\n"
    )
    macros = {
        "macro.shop.duckdb__create_view_as": {
            "name": "duckdb__create_view_as", "package_name": "shop", "original_file_path": "macros/v.sql"},
        "macro.shop.cents": {"name": "cents", "package_name": "shop", "original_file_path": "macros/v.sql"},
    }  # fmt: skip
    found = macro_findings(
        manifest({}, macros), [*macros, "macro.dbt.create_view_as"], {"macros/v.sql": text}
    )
    assert [(f.path, f.line, f.kind) for f in found] == [("macros/v.sql", 2, "macro_override")]
    assert "duckdb__create_view_as" in found[0].snippet


DEV_FILE = "/p/shop.duckdb"
PROD = Location("duckdb", DEV_FILE, "", "prod")
PLACES = ProtectedPlaces(
    Location("duckdb", DEV_FILE, "", "main"), "shop", (("prod", PROD),), ("prod", "production")
)


@pytest.mark.parametrize(
    ("database", "schema", "protected"),
    [
        ("shop", "prod", True),
        ("SHOP", "PROD_staging", True),  # a custom schema of prod
        ("shop", "production", True),
        ("other_catalog", "prod", True),  # an attached file: could be any
        ("shop", "main", False),
        ("shop", "main_prod", False),  # dev's custom schema named prod is dev's
        ("shop", "products", False),
    ],
)
def test_where_a_duckdb_node_lands(database: str, schema: str, protected: bool) -> None:
    assert (PLACES.protecting(database, schema) is not None) is protected


def test_another_file_protects_only_by_its_schemas() -> None:
    places = ProtectedPlaces(
        Location("duckdb", DEV_FILE, "", "main"),
        "shop",
        (("prod", Location("duckdb", "/p/prod.duckdb", "", "main")),),
    )
    assert places.protecting("shop", "main") is None  # dev's own file, not prod's
    assert places.protecting("prod", "main") is not None  # another catalog may be prod's file


def test_where_a_postgres_node_lands() -> None:
    places = ProtectedPlaces(
        Location("postgres", "db:5432", "analytics", "dev"),
        "",
        (("prod", Location("postgres", "db:5432", "analytics", "prod")),),
    )
    assert places.protecting("analytics", "prod_marts") is not None
    assert places.protecting("scratch", "prod") is None
    assert places.protecting("analytics", "dev") is None


def test_location_findings_leave_the_protected_targets_own_location_to_execute() -> None:
    snapshot = {**model("s"), "resource_type": "snapshot", "schema": "prod"}
    snapshot |= {"relation_name": '"shop"."prod"."s"', "raw_code": "x\ntarget_schema='prod'"}
    nodes = {"snapshot.shop.s": snapshot}
    found = location_findings(manifest(nodes), nodes, PLACES, target_protected=False)
    assert [(f.kind, f.line, f.snippet) for f in found] == [("protected_location", 2, '"shop"."prod"."s"')]
    on_prod = ProtectedPlaces(PROD, "shop", (("prod", PROD),), ())
    assert location_findings(manifest(nodes), nodes, on_prod, target_protected=True) == []
    inlined = {"model.shop.e": {**model("e", materialized="ephemeral"), "schema": "prod"}}
    assert location_findings(manifest(inlined), inlined, PLACES, target_protected=False) == []


def test_a_plans_lint_switch_counts_only_as_the_project_had_it() -> None:
    old = model("legacy", meta={"ae_lint_disable": ["AE006"]})
    now = {
        "model.shop.legacy": {
            **old,
            "config": {**old["config"], "meta": {"ae_lint_disable": ["AE006", "AE013"]}},
        },
        "model.shop.newbie": model("newbie", meta={"ae_lint_disable": ["AE013"]}),
        "model.shop.neighbour": model("neighbour", meta={"ae_lint_disable": ["AE011"]}),
    }
    scope = ChangeScope(created=frozenset({"model.shop.newbie"}), modified=frozenset({"model.shop.legacy"}))
    allowed = scope.disables(manifest(now), manifest({"model.shop.legacy": old}))
    assert allowed == {
        "model.shop.legacy": frozenset({"AE006"}),
        "model.shop.newbie": frozenset(),
        "model.shop.neighbour": frozenset({"AE011"}),  # untouched: the user's own
    }
    assert added_disables(manifest(now), allowed) == {
        "model.shop.legacy": ["AE013"],
        "model.shop.newbie": ["AE013"],
    }
    unknown_before = scope.disables(manifest(now), None)
    assert unknown_before["model.shop.legacy"] == frozenset()
