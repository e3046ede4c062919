"""The tool registry (schemas, validation, error channels, phase restrictions) and the file tools."""

from __future__ import annotations

import inspect
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.errors import CircuitOpen, ConfigurationError, QueryError, WarehouseLocked
from tools.paths import ProjectPaths
from tools.prompt_text import ToolText, tool_text
from tools.registry import (
    ToolRegistry,
    all_tools,
    build_spec,
    builtin_registry,
    invoke,
    is_read_only,
)
from tools.resilience import BreakerPolicy, Resilience, RetryPolicy

FAST_RETRY = Resilience(retry=RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.002))


class Greeting(BaseModel):
    text: str
    repeated: int


def greet(
    ctx: ToolContext,
    name: str,
    count: Annotated[int, Field(ge=1)] = 2,
    style: Literal["plain", "loud"] = "plain",
    tags: list[str] | None = None,
) -> Greeting:
    """A developer's note: what the model reads is in TEXTS, not here."""
    text = " ".join([name.upper() if style == "loud" else name] * count)
    return Greeting(text=text, repeated=count)


def rename(ctx: ToolContext, name: str) -> str:
    """A writing tool."""
    return name


#: the test tools' texts, as prompts/tools/<name>.md gives them for the built-in tools
TEXTS = {
    "greet": ToolText(
        "Greet someone a number of times.",
        {
            "name": "Who to greet.",
            "count": "How many times to greet, at least once.",
            "style": "How to say it.",
            "tags": "Labels to attach.",
        },
    ),
    "rename": ToolText("Rename something (a writing tool).", {"name": "The new name."}),
    "bad_query": ToolText("Run a query.", {"sql": "The query."}),
}


def text_of(name: str) -> ToolText:
    """A test tool's text; the ones without parameters share a stock sentence."""
    return TEXTS.get(name, ToolText(f"The {name} test tool.", {}))


@pytest.fixture
def registry() -> ToolRegistry:
    reg = ToolRegistry(texts=text_of)
    reg.tool(read_only=True, family="demo")(greet)
    reg.tool(read_only=False, family="demo")(rename)
    return reg


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(paths=ProjectPaths.for_project(tmp_path), target="dev", policy=FAST_RETRY)


# --- schemas -----------------------------------------------------------------------------------


def test_schema_comes_from_signature_and_the_prompt_text(registry: ToolRegistry) -> None:
    spec = registry.get("greet")
    schema = spec.input_schema

    assert spec.description == "Greet someone a number of times."
    assert spec.read_only and spec.family == "demo"
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["name"] == {"type": "string", "description": "Who to greet."}
    assert props["count"] == {
        "type": "integer",
        "minimum": 1,
        "default": 2,
        "description": "How many times to greet, at least once.",
    }
    assert props["style"]["enum"] == ["plain", "loud"] and props["style"]["default"] == "plain"
    assert {"type": "array", "items": {"type": "string"}} in props["tags"]["anyOf"]
    assert spec.description == "Greet someone a number of times."


def test_malformed_tools_are_refused_at_registration() -> None:
    def no_ctx(name: str) -> str:
        return name

    def takes_name(ctx: ToolContext, name: str) -> str:
        return name

    def takes_nothing(ctx: ToolContext) -> str:
        return ""

    named = ToolText("Does things.", {"name": "A name."})
    with pytest.raises(TypeError, match="first parameter must be `ctx: ToolContext`"):
        build_spec(no_ctx, read_only=True, family="demo", text=named)
    with pytest.raises(TypeError, match=r"parameter 'name' needs a '- name: \.\.\.' line"):
        build_spec(takes_name, read_only=True, family="demo", text=ToolText("Does things.", {}))
    with pytest.raises(TypeError, match=r"describes arguments it does not have: \['name'\]"):
        build_spec(takes_nothing, read_only=True, family="demo", text=named)
    with pytest.raises(TypeError, match="needs a description for the model"):
        build_spec(takes_nothing, read_only=True, family="demo", text=ToolText("", {}))


def test_every_built_in_tool_reads_its_text_from_its_prompt_file() -> None:
    for spec in all_tools():
        text = tool_text(spec.name)
        assert spec.description == text.description
        described = {k: v["description"] for k, v in spec.input_schema["properties"].items()}
        assert described == text.arguments, spec.name


def test_registering_two_tools_with_one_name_is_refused(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="a tool named 'greet' is already registered"):
        registry.tool(read_only=True, family="other")(greet)


# --- invoke ------------------------------------------------------------------------------------


def test_a_successful_call_returns_json_output_and_is_recorded(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    outcome = registry.invoke(ctx, "greet", {"name": "ada", "style": "loud"})

    assert outcome.ok and outcome.error is None and outcome.retries == 0
    assert outcome.output == {"text": "ADA ADA", "repeated": 2}
    [record] = ctx.calls
    assert record.name == "greet" and record.ok
    assert record.arguments == {"name": "ada", "style": "loud"}


def test_bad_arguments_come_back_to_the_model_listing_the_fields(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    outcome = registry.invoke(ctx, "greet", {"count": 0, "colour": "red"})

    assert not outcome.ok and outcome.channel == "model"
    assert outcome.error is not None
    assert "invalid arguments for tool 'greet'" in outcome.error
    assert "name: Field required" in outcome.error
    assert "count: Input should be greater than or equal to 1 (got 0)" in outcome.error
    assert "colour: Extra inputs are not permitted" in outcome.error
    assert "Its parameters are: name (required), count, style, tags" in outcome.error
    assert ctx.calls[0].ok is False


def test_unknown_tools_come_back_listing_the_known_ones(registry: ToolRegistry, ctx: ToolContext) -> None:
    outcome = registry.invoke(ctx, "gret", {})
    assert not outcome.ok and outcome.channel == "model"
    assert outcome.error == "there is no tool named 'gret'; known tools: greet, rename"


def test_a_model_fixable_error_becomes_a_failed_outcome(registry: ToolRegistry, ctx: ToolContext) -> None:
    def bad_query(ctx: ToolContext, sql: str) -> str:
        raise QueryError(f"Parser Error: syntax error at or near {sql!r}")

    registry.tool(read_only=True, family="sql")(bad_query)
    outcome = registry.invoke(ctx, "bad_query", {"sql": "selec"})

    assert not outcome.ok and outcome.channel == "model"
    assert outcome.error == "Parser Error: syntax error at or near 'selec'"
    assert ctx.policy.stats.retries == 0


def test_programmer_and_configuration_errors_propagate(registry: ToolRegistry, ctx: ToolContext) -> None:
    def buggy(ctx: ToolContext) -> str:
        """Has a bug."""
        settings: dict[str, str] = {}
        return settings["missing"]

    def misconfigured(ctx: ToolContext) -> str:
        """Needs configuration."""
        raise ConfigurationError("profiles.yml has no target 'dev'")

    registry.tool(read_only=True, family="demo")(buggy)
    registry.tool(read_only=True, family="demo")(misconfigured)

    with pytest.raises(KeyError):
        registry.invoke(ctx, "buggy", {})
    with pytest.raises(ConfigurationError):
        registry.invoke(ctx, "misconfigured", {})
    assert [(c.name, c.ok, c.error) for c in ctx.calls] == [
        ("buggy", False, "KeyError: 'missing'"),
        ("misconfigured", False, "profiles.yml has no target 'dev'"),
    ]
    assert ctx.policy.stats.retries == 0


def test_transient_errors_are_retried_by_the_policy(registry: ToolRegistry, ctx: ToolContext) -> None:
    failures = {"left": 2}

    def flaky(ctx: ToolContext) -> str:
        """Fails twice, then works."""
        if failures["left"]:
            failures["left"] -= 1
            raise WarehouseLocked("Could not set lock on file")
        return "done"

    def locked(ctx: ToolContext) -> str:
        """Never gets the lock."""
        raise WarehouseLocked("Could not set lock on file")

    registry.tool(read_only=True, family="warehouse")(flaky)
    registry.tool(read_only=True, family="warehouse2")(locked)

    outcome = registry.invoke(ctx, "flaky", {})
    assert outcome.ok and outcome.output == "done" and outcome.retries == 2

    gave_up = registry.invoke(ctx, "locked", {})
    assert not gave_up.ok and gave_up.channel == "retry" and gave_up.retries == 2
    assert gave_up.error is not None and "Could not set lock on file" in gave_up.error


def test_an_open_circuit_stops_the_run(registry: ToolRegistry, ctx: ToolContext) -> None:
    ctx.policy = Resilience(retry=FAST_RETRY.retry, breaker=BreakerPolicy(fail_max=2, reset_timeout=60))

    def locked(ctx: ToolContext) -> str:
        """Never gets the lock."""
        raise WarehouseLocked("Could not set lock on file")

    registry.tool(read_only=True, family="warehouse")(locked)

    # each call fails after its retries and comes back to the model; the second opens the circuit
    for _ in range(2):
        gave_up = registry.invoke(ctx, "locked", {})
        assert not gave_up.ok and gave_up.channel == "retry"
    with pytest.raises(CircuitOpen, match="circuit for warehouse on target 'dev' is open"):
        registry.invoke(ctx, "locked", {})
    assert ctx.calls[-1].channel == "raise" and ctx.calls[-1].retries == 0


def test_a_phase_can_restrict_calls_to_read_only_tools(registry: ToolRegistry, ctx: ToolContext) -> None:
    refused = registry.invoke(ctx, "rename", {"name": "x"}, allowed=is_read_only)
    assert not refused.ok and refused.channel == "model"
    assert refused.error == "tool 'rename' is not allowed in this phase; allowed here: greet"
    unknown = registry.invoke(ctx, "gret", {}, allowed=is_read_only)
    assert unknown.error == "tool 'gret' does not exist; allowed here: greet"  # not every known tool
    assert registry.invoke(ctx, "greet", {"name": "x"}, allowed=is_read_only).ok
    assert [s.name for s in registry.all(is_read_only)] == ["greet"]


def test_recorded_arguments_are_redacted(registry: ToolRegistry, ctx: ToolContext) -> None:
    registry.invoke(ctx, "greet", {"name": "sk-ant-abcdefghijklmnop"})
    assert ctx.calls[0].arguments == {"name": "***"}


# --- the built-in tools ------------------------------------------------------------------------


def test_every_registered_tool_is_described_and_requires_exactly_its_parameters_without_defaults() -> None:
    specs = all_tools()
    assert {"list_files", "read_file", "write_file", "edit_file", "delete_file", "show_changeset"} <= set(
        builtin_registry().names()
    )
    for spec in specs:
        assert spec.description.strip(), spec.name
        params = list(inspect.signature(spec.fn, eval_str=True).parameters.values())[1:]
        without_default = {p.name for p in params if p.default is inspect.Parameter.empty}
        assert set(spec.input_schema.get("required", [])) == without_default, spec.name
        assert set(spec.input_schema["properties"]) == {p.name for p in params}, spec.name
        for prop in spec.input_schema["properties"].values():
            assert prop.get("description"), spec.name


@pytest.fixture
def project_ctx(tmp_path: Path) -> ToolContext:
    root = tmp_path / "proj"
    for rel, text in {
        "dbt_project.yml": "name: demo\n",
        "models/staging/stg_orders.sql": "select\n  id,\n  amount\nfrom raw.orders\n",
        "models/marts/fct.sql": "select 1\n",
        "models/schema.yml": "version: 2\n",
        "target/manifest.json": "{}",
        "logs/dbt.log": "log",
        "dbt_packages/pkg/x.sql": "select 0",
        ".ae/run.json": "{}",
        "models/logs/kept.sql": "select 'a model folder named logs is fine'",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "warehouse.duckdb").write_bytes(b"DUCK")
    (tmp_path / "outside.sql").write_text("select 'not ours'")
    (root / "models" / "leak.sql").symlink_to(tmp_path / "outside.sql")
    return ToolContext(paths=ProjectPaths.for_project(root), target="dev", policy=FAST_RETRY)


def call(ctx: ToolContext, name: str, **arguments: Any) -> Any:
    outcome = invoke(ctx, name, arguments)
    assert outcome.ok, outcome.error
    return outcome.output


def test_list_files_skips_build_output_and_reflects_pending_changes(project_ctx: ToolContext) -> None:
    everything = call(project_ctx, "list_files")
    assert everything["files"] == [
        "dbt_project.yml",
        "models/logs/kept.sql",
        "models/marts/fct.sql",
        "models/schema.yml",
        "models/staging/stg_orders.sql",
    ]

    call(project_ctx, "write_file", path="models/marts/dim.sql", content="select 2\n")
    call(project_ctx, "delete_file", path="models/marts/fct.sql")
    sql = call(project_ctx, "list_files", pattern="models/**/*.sql", limit=2)
    assert sql == {"files": ["models/logs/kept.sql", "models/marts/dim.sql"], "total": 3, "truncated": True}
    assert call(project_ctx, "list_files", pattern="*.yml")["files"] == ["dbt_project.yml"]
    assert call(project_ctx, "list_files", pattern="models/[!a-r]*.y?l")["files"] == ["models/schema.yml"]


def test_read_file_numbers_lines_and_reads_pending_edits(project_ctx: ToolContext) -> None:
    call(
        project_ctx,
        "edit_file",
        path="models/staging/stg_orders.sql",
        old="  amount\n",
        new="  amount,\n  status\n",
    )

    excerpt = call(project_ctx, "read_file", path="models/staging/stg_orders.sql", offset=2, limit=2)

    assert excerpt == {
        "path": "models/staging/stg_orders.sql",
        "total_lines": 5,
        "first_line": 3,
        "last_line": 4,
        "pending": True,
        "text": "     3\t  amount,\n     4\t  status\n",
    }
    missing = invoke(project_ctx, "read_file", {"path": "models/nope.sql"})
    assert not missing.ok and missing.error is not None and "no file at 'models/nope.sql'" in missing.error
    refused = invoke(project_ctx, "read_file", {"path": "warehouse.duckdb"})
    assert not refused.ok and refused.channel == "model"
    assert refused.error is not None and "is the warehouse file" in refused.error


def test_writing_tools_record_into_the_changeset_and_never_touch_disk(project_ctx: ToolContext) -> None:
    root = project_ctx.paths.root
    summary = call(project_ctx, "write_file", path="models/schema.yml", content="version: 2\nmodels: []\n")

    assert summary.startswith("modified models/schema.yml (pending in the changeset)\n")
    assert " version: 2\n+models: []" in summary
    assert (root / "models/schema.yml").read_text() == "version: 2\n"
    assert call(project_ctx, "write_file", path="models/schema.yml", content="version: 2\n").startswith(
        "no change"
    )
    assert call(project_ctx, "show_changeset") == "no pending changes"
    # an existing model is changed in place, never rewritten whole; a new one may be
    rewrite = invoke(project_ctx, "write_file", {"path": "models/marts/fct.sql", "content": "select 2\n"})
    assert not rewrite.ok and rewrite.channel == "model"
    assert "models/marts/fct.sql is an existing model" in (rewrite.error or "")
    assert "edit_file" in (rewrite.error or "") and "make_model_incremental" in (rewrite.error or "")
    assert call(project_ctx, "write_file", path="models/marts/new.sql", content="select 3\n").startswith(
        "created models/marts/new.sql"
    )
    assert call(project_ctx, "write_file", path="models/marts/new.sql", content="select 4\n").startswith(
        "created models/marts/new.sql"
    )
    package = invoke(project_ctx, "edit_file", {"path": "dbt_packages/pkg/x.sql", "old": "0", "new": "1"})
    assert not package.ok and "installed package" in (package.error or "")
    call(project_ctx, "delete_file", path="models/marts/new.sql")

    call(project_ctx, "delete_file", path="models/schema.yml")
    assert (root / "models/schema.yml").exists()
    assert "+++ /dev/null" in call(project_ctx, "show_changeset")

    ambiguous = invoke(project_ctx, "edit_file", {"path": "dbt_project.yml", "old": "e", "new": "E"})
    assert not ambiguous.ok and ambiguous.error is not None and "occurs 2 times" in ambiguous.error


def test_plan_style_read_only_phase_cannot_call_writing_file_tools(project_ctx: ToolContext) -> None:
    refused = invoke(project_ctx, "write_file", {"path": "a.sql", "content": "x"}, allowed=is_read_only)
    assert not refused.ok and refused.error is not None and "not allowed in this phase" in refused.error
    assert project_ctx.changeset.is_empty


# The one list of tools ae offers. A tool added or removed without updating this list (and its
# description in prompts/tools/) fails here on purpose.
EXPECTED_TOOLS = {
    "files": (["list_files", "read_file", "show_changeset"], ["write_file", "edit_file", "delete_file"]),
    "edits": (
        [],
        [
            "make_model_incremental",
            "add_model_column",
            "rename_model_column",
            "set_model_materialization",
            "extract_model_cte",
        ],
    ),
    "dbt": (
        # no tool builds: Execute and Verify run dbt through the run context
        [
            "dbt_parse",
            "dbt_compile",
            "dbt_ls",
            "dbt_show",
            "dbt_debug",
            "dbt_source_freshness",
            "dbt_docs_generate",
        ],
        [],
    ),
    "warehouse": (
        [
            "list_warehouse_relations",
            "describe_warehouse_relation",
            "profile_columns",
            "check_foreign_key",
            "run_query",
        ],
        [],
    ),
    "manifest": (["model_lineage"], []),
    "memory": (["memory_search"], []),
}


def test_the_registry_holds_exactly_the_expected_tools_with_their_read_only_marks() -> None:
    from tools.registry import all_tools

    registered = {(s.family, s.name, s.read_only) for s in all_tools()}
    expected = {
        (family, name, read_only)
        for family, (reads, writes) in EXPECTED_TOOLS.items()
        for read_only, names in ((True, reads), (False, writes))
        for name in names
    }
    assert registered == expected


def test_each_recorded_call_counts_only_its_own_retries(tmp_path: Path) -> None:
    policy = Resilience(retry=RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.002))
    context = ToolContext(paths=ProjectPaths.for_project(tmp_path), target="dev", policy=policy)
    both_started = threading.Barrier(2, timeout=5)
    retried = threading.Event()
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            both_started.wait()
            raise WarehouseLocked("Could not set lock on file")
        retried.set()
        return "ok"

    def steady() -> str:
        # runs from before the other call's retry until after it
        both_started.wait()
        retried.wait(timeout=5)
        return "ok"

    threads = [
        threading.Thread(target=context.call, args=("warehouse", name, fn))
        for name, fn in (("flaky", flaky), ("steady", steady))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    retries = {record.name: record.retries for record in context.calls}
    assert retries == {"flaky": 1, "steady": 0}
    assert policy.stats.retries == 1
